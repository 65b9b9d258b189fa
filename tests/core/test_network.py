import pytest
import torch

from pipeline.config import ModelConfig
from pipeline.core.network import StockRNN


@pytest.mark.parametrize("cell", ["RNN", "GRU", "LSTM"])
@pytest.mark.parametrize("bidirectional", [True, False])
def test_one_output_per_window(cell, bidirectional):
    cfg = ModelConfig(cell=cell, hidden_size=8, num_layers=2, bidirectional=bidirectional)
    model = StockRNN(cfg, n_features=4)
    assert model.rnn.batch_first and model.rnn.num_layers == 2
    assert model.head.in_features == (16 if bidirectional else 8)
    out = model(torch.randn(5, 30, 4))
    assert out.shape == (5,)


def test_untrained_model_forecasts_zero_return_which_is_persistence():
    model = StockRNN(ModelConfig(), n_features=4)
    assert torch.equal(model(torch.randn(7, 30, 4)), torch.zeros(7))


def test_head_reads_last_layer_of_both_directions():
    cfg = ModelConfig(hidden_size=3, num_layers=2)
    model = StockRNN(cfg, n_features=4)
    torch.nn.init.ones_(model.head.weight)
    x = torch.randn(2, 6, 4)
    _, hidden = model.rnn(x)
    expected = torch.cat([hidden[-2], hidden[-1]], dim=1).sum(dim=1)
    torch.testing.assert_close(model(x), expected)
