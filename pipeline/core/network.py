"""Stage 3's network: a stacked (bi)directional RNN with a centre head and a scale head. No I/O."""

from __future__ import annotations

import copy

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

    ``log_scale`` gives the log of the spread of that return (in the same
    scaled units) from a second head, trained after the centre (see
    ``models/scale_head.py``). It reads the same recurrent layers, or its own copy of
    them (``scale_rnn``) when those were fine-tuned for the spread; either way
    ``forward``, the centre, never depends on it.
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
        # Created last, with the random state put back afterwards: the centre's
        # initial weights and every later draw (dropout, say) are what they were
        # before the scale head existed. Zero weights start it at the training
        # days' spread (a scale of 1 in the scaled units), the way the centre
        # starts at persistence.
        with torch.random.fork_rng(devices=[]):
            self.scale_head = nn.Linear(directions * cfg.hidden_size, 1)
        nn.init.zeros_(self.scale_head.weight)
        nn.init.zeros_(self.scale_head.bias)
        self.scale_rnn: nn.RNNBase | None = None  # own recurrent layers for the scale, if tuned

    def last_hidden(self, x: torch.Tensor, rnn: nn.RNNBase | None = None) -> torch.Tensor:
        """The last layer's final hidden state (both directions) of ``rnn`` (default: ours)."""
        _, hidden = (self.rnn if rnn is None else rnn)(x)
        if isinstance(hidden, tuple):  # LSTM returns (h, c)
            hidden = hidden[0]
        if self.cfg.bidirectional:
            return torch.cat([hidden[-2], hidden[-1]], dim=1)
        return hidden[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.last_hidden(x)).squeeze(-1)

    def log_scale(self, x: torch.Tensor) -> torch.Tensor:
        """Log of the forecast spread of the scaled next-day log return, one per window."""
        return self.scale_head(self.last_hidden(x, self.scale_rnn)).squeeze(-1)

    def own_scale_trunk(self) -> None:
        """Give the scale head its own copy of the recurrent layers, to fine-tune apart."""
        self.scale_rnn = copy.deepcopy(self.rnn)
