import warnings

import pytest
import torch

from pipeline.config import ModelConfig
from pipeline.core.network import StockRNN


@pytest.mark.parametrize("cell", ["RNN", "GRU", "LSTM"])
@pytest.mark.parametrize("bidirectional", [True, False])
def test_one_output_per_window_and_horizon(cell, bidirectional):
    cfg = ModelConfig(cell=cell, hidden_size=8, num_layers=2, bidirectional=bidirectional)
    model = StockRNN(cfg, n_features=4, horizon=3)
    assert model.rnn.batch_first and model.rnn.num_layers == 2
    assert model.head.in_features == (16 if bidirectional else 8)
    x = torch.randn(5, 30, 4)
    assert model(x).shape == model.log_scale(x).shape == (5, 3)


def test_untrained_model_forecasts_zero_return_which_is_persistence():
    model = StockRNN(ModelConfig(), n_features=4, horizon=5)
    assert torch.equal(model(torch.randn(7, 30, 4)), torch.zeros(7, 5))


def test_untrained_scale_grows_as_a_random_walks_with_the_horizon():
    model = StockRNN(ModelConfig(), n_features=4, horizon=4)
    scale = torch.exp(model.log_scale(torch.randn(3, 30, 4)))
    torch.testing.assert_close(scale, torch.tensor([[1.0, 2**0.5, 3**0.5, 2.0]] * 3))


def test_head_reads_last_layer_of_both_directions():
    cfg = ModelConfig(hidden_size=3, num_layers=2)
    model = StockRNN(cfg, n_features=4)
    torch.nn.init.ones_(model.head.weight)
    x = torch.randn(2, 6, 4)
    _, hidden = model.rnn(x)
    expected = torch.cat([hidden[-2], hidden[-1]], dim=1).sum(dim=1)
    torch.testing.assert_close(model(x), expected[:, None])


@pytest.mark.parametrize("cell", ["RNN", "GRU", "LSTM"])
def test_under_bfloat16_autocast_the_recurrent_layers_run_in_it_and_the_heads_in_float32(cell):
    model = StockRNN(ModelConfig(cell=cell, hidden_size=8), n_features=4)
    model.own_scale_trunk()
    torch.nn.init.normal_(model.head.weight)
    torch.nn.init.normal_(model.scale_head.weight)
    seen = []
    for rnn in (model.rnn, model.scale_rnn):
        rnn.register_forward_hook(lambda _module, _inputs, out: seen.append(out[0].dtype))
    x = torch.randn(5, 10, 4)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        centre, log_scale = model(x), model.log_scale(x)
    assert seen == [torch.bfloat16, torch.bfloat16]
    assert centre.dtype == log_scale.dtype == torch.float32  # what the losses read
    torch.testing.assert_close(centre, model(x), rtol=0.05, atol=0.05)  # bfloat16 rounding only
    (centre.sum() + log_scale.sum()).backward()
    for name, weight in model.named_parameters():
        assert weight.grad is not None and weight.grad.dtype == torch.float32, name
        assert weight.grad.isfinite().all(), name


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_bfloat16_autocast_on_cuda_runs_the_recurrent_layers_in_bfloat16_not_float16():
    # Autocast's own cuDNN RNN wrapper casts to float16 whatever dtype it was given,
    # and float16 gradients overflowed in training (--amp, the sample's MSFT, epoch 6).
    model = StockRNN(ModelConfig(hidden_size=8), n_features=4).cuda()
    seen = []
    model.rnn.register_forward_hook(lambda _module, _inputs, out: seen.append(out[0].dtype))
    x = torch.randn(5, 10, 4, device="cuda")
    with torch.autocast("cuda", dtype=torch.bfloat16):
        out = model(x)
    assert seen == [torch.bfloat16] and out.dtype == torch.float32
    model.own_scale_trunk()  # a copy, whose weights cuDNN wants in one chunk
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.log_scale(x)
