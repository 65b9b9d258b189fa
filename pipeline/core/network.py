"""Stage 3's network: a stacked (bi)directional RNN with a centre head and a scale head. No I/O."""

from __future__ import annotations

import copy
import math
import warnings

import torch
from torch import nn

from pipeline.config import ModelConfig

_CELLS: dict[str, type[nn.RNNBase]] = {"RNN": nn.RNN, "GRU": nn.GRU, "LSTM": nn.LSTM}
RANGE_LAMBDA = 0.94  # the range start's EWMA decay: RiskMetrics' daily value, as the baselines


class StockRNN(nn.Module):
    """Read a (batch, window, features) tensor; return the scaled log returns over 1..H days.

    ``forward`` gives (batch, horizon): column ``h - 1`` is the log return from
    the window's last Close to the Close ``h`` trading days later, in the units
    of the one-day training scale. The head reads the last layer's final hidden
    state of both directions (``hidden[-2]`` and ``hidden[-1]``). It starts at
    zero, so the untrained network forecasts a return of 0 at every horizon:
    the Close in h days equals today's, the persistence forecast. Training has
    to earn every move away from it.

    ``log_scale`` gives the log of the spread of that return (in the same
    scaled units) from a second head, trained after the centre (see
    ``models/scale_head.py``). It reads the same recurrent layers, or its own copy of
    them (``scale_rnn``) when those were fine-tuned for the spread; either way
    ``forward``, the centre, never depends on it. With a range start
    (``start_from_range``) the head learns a correction to the log of a
    range-based spread read off the window itself (``range_log_scale``).
    """

    def __init__(self, cfg: ModelConfig, n_features: int, horizon: int = 1) -> None:
        super().__init__()
        self.cfg = cfg
        self.horizon = horizon
        self.rnn = _CELLS[cfg.cell](
            input_size=n_features,
            hidden_size=cfg.hidden_size,
            num_layers=cfg.num_layers,
            bidirectional=cfg.bidirectional,
            dropout=cfg.dropout if cfg.num_layers > 1 else 0.0,
            batch_first=True,
        )
        directions = 2 if cfg.bidirectional else 1
        self.head = nn.Linear(directions * cfg.hidden_size, horizon)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)
        # Created last, with the random state put back afterwards: the centre's
        # initial weights and every later draw (dropout, say) are what they were
        # before the scale head existed. Zero weights and a bias of log sqrt(h)
        # start it at the training days' spread grown as a random walk's (a
        # scale of sqrt(h) in the one-day units), the way the centre starts at
        # persistence.
        with torch.random.fork_rng(devices=[]):
            self.scale_head = nn.Linear(directions * cfg.hidden_size, horizon)
        nn.init.zeros_(self.scale_head.weight)
        with torch.no_grad():
            self.scale_head.bias.copy_(0.5 * torch.log(torch.arange(1.0, horizon + 1.0)))
        self.scale_rnn: nn.RNNBase | None = None  # own recurrent layers for the scale, if tuned
        # The range start: 1 when on; the High and Low columns' scaler means and scales,
        # and the log of the factor from range variance to the scaled return's variance.
        self.register_buffer("scale_base_on", torch.zeros(()))
        self.register_buffer("scale_base_params", torch.zeros(5))

    def last_hidden(self, x: torch.Tensor, rnn: nn.RNNBase | None = None) -> torch.Tensor:
        """The last layer's final hidden state (both directions) of ``rnn`` (default: ours).

        Under autocast the recurrent layers run in its dtype and the state comes
        back in float32 (``_run_recurrent``); otherwise everything is float32.
        """
        _, hidden = _run_recurrent(self.rnn if rnn is None else rnn, x)
        if isinstance(hidden, tuple):  # LSTM returns (h, c)
            hidden = hidden[0]
        hidden = hidden.float()  # no-op without autocast
        if self.cfg.bidirectional:
            return torch.cat([hidden[-2], hidden[-1]], dim=1)
        return hidden[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _in_float32(self.head, self.last_hidden(x))

    def log_scale(self, x: torch.Tensor) -> torch.Tensor:
        """Log of the forecast spread of each horizon's scaled log return: (batch, horizon)."""
        return (
            _in_float32(self.scale_head, self.last_hidden(x, self.scale_rnn))
            + (self.range_log_scale(x)[:, None])
        )

    def start_from_range(
        self, x_mean: torch.Tensor, x_scale: torch.Tensor, log_factor: float
    ) -> None:
        """Add the window's range spread to the scale head's output (``range_log_scale``).

        ``x_mean`` and ``x_scale`` are the input scaler's per-column parameters
        (Open, High, Low, Close), ``log_factor`` the log of the training days'
        squared one-day return over their Parkinson variance, in the scaled units.
        """
        high, low = 1, 2
        params = [x_mean[high], x_mean[low], x_scale[high], x_scale[low], log_factor]
        self.scale_base_params.copy_(torch.tensor([float(p) for p in params]))
        self.scale_base_on.fill_(1.0)

    def range_log_scale(self, x: torch.Tensor) -> torch.Tensor:
        """Log of a range-based spread of the next day's scaled return, one per window (0 when
        the range start is off).

        An EWMA (lambda 0.94, newest day heaviest) of the window's Parkinson
        variances ``(ln H/L)^2 / (4 ln 2)``, times the training days' factor
        from range variance to close-to-close variance: what the range
        baselines forecast, from the window alone.
        """
        if not bool(self.scale_base_on):
            return torch.zeros(x.shape[0], device=x.device)
        mean_h, mean_l, scale_h, scale_l, log_factor = self.scale_base_params
        x = x.float()
        spread = (x[..., 1] * scale_h + mean_h) - (x[..., 2] * scale_l + mean_l)
        parkinson = spread**2 / (4.0 * math.log(2.0))
        window = x.shape[1]
        weights = RANGE_LAMBDA ** torch.arange(window - 1, -1, -1, device=x.device)
        variance = parkinson @ (weights / weights.sum())
        return 0.5 * (torch.log(variance.clamp_min(1e-12)) + log_factor)

    def own_scale_trunk(self) -> None:
        """Give the scale head its own copy of the recurrent layers, to fine-tune apart."""
        self.scale_rnn = copy.deepcopy(self.rnn)
        self.scale_rnn.flatten_parameters()  # a copy's weights are apart; cuDNN wants one chunk


def _run_recurrent(
    rnn: nn.RNNBase, x: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor | tuple[torch.Tensor, torch.Tensor]]:
    """``rnn(x)``; under autocast, in autocast's dtype, cast here rather than by autocast.

    Autocast's own cuDNN RNN wrapper casts the weights and inputs to float16
    whatever dtype autocast was given: with ``--amp`` (bfloat16) on CUDA the
    recurrent layers ran in float16, without loss scaling, and a gradient
    overflowed to inf in the backward pass (NaN weights after clipping). Cast
    to the requested dtype explicitly, with autocast off inside; the casts are
    part of the graph, so the float32 weights get the gradients.
    """
    device = x.device.type
    if not torch.is_autocast_enabled(device):
        return rnn(x)
    dtype = torch.get_autocast_dtype(device)
    weights = {name: w.to(dtype) for name, w in rnn.named_parameters()}
    with torch.autocast(device, enabled=False), warnings.catch_warnings():
        # The cast weights are separate tensors, which cuDNN copies into one
        # chunk at every call and says so; that copy is the price of the cast.
        warnings.filterwarnings("ignore", "RNN module weights are not part of single contiguous")
        return torch.func.functional_call(rnn, weights, (x.to(dtype),))


def _in_float32(head: nn.Linear, hidden: torch.Tensor) -> torch.Tensor:
    """``head(hidden)`` in float32 even under autocast: forecasts and spreads feed the losses."""
    device = hidden.device.type
    if not torch.is_autocast_enabled(device):
        return head(hidden)
    with torch.autocast(device, enabled=False):
        return head(hidden.float())
