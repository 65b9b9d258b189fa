"""Stage 3's network: a stacked (bi)directional RNN with a linear head. No I/O here."""

from __future__ import annotations

import torch
from torch import nn

from pipeline.config import ModelConfig

_CELLS: dict[str, type[nn.RNNBase]] = {"RNN": nn.RNN, "GRU": nn.GRU, "LSTM": nn.LSTM}


class StockRNN(nn.Module):
    """Read a (batch, window, features) tensor; return one scaled log return per window.

    The head reads the last layer's final hidden state of both directions
    (``hidden[-2]`` and ``hidden[-1]``). It starts at zero, so the untrained
    network forecasts a return of 0: tomorrow's Close equals today's, the
    persistence forecast. Training has to earn every move away from it.
    """

    def __init__(self, cfg: ModelConfig, n_features: int) -> None:
        super().__init__()
        self.cfg = cfg
        self.rnn = _CELLS[cfg.cell](
            input_size=n_features,
            hidden_size=cfg.hidden_size,
            num_layers=cfg.num_layers,
            bidirectional=cfg.bidirectional,
            dropout=cfg.dropout if cfg.num_layers > 1 else 0.0,
            batch_first=True,
        )
        directions = 2 if cfg.bidirectional else 1
        self.head = nn.Linear(directions * cfg.hidden_size, 1)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, hidden = self.rnn(x)
        if isinstance(hidden, tuple):  # LSTM returns (h, c)
            hidden = hidden[0]
        last = torch.cat([hidden[-2], hidden[-1]], dim=1) if self.cfg.bidirectional else hidden[-1]
        return self.head(last).squeeze(-1)
