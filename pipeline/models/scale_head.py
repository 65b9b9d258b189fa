"""The scale head: how far the log return over each of the next H days may stray from the centre.

Trained after the point model is finished (its early stopping and shrinkage
included) and on a copy of it, so the point forecasts cannot change: the
centre is computed once and held fixed, and only the scale parameters are in
the optimiser. The loss is the Gaussian negative log-likelihood of the
training targets around that centre; early stopping keeps the epoch with the
lowest validation NLL (epoch 0 is the untrained head: the training days'
spread on every day, times ``sqrt(h)`` at horizon h). Every horizon's
output is one term of the mean NLL. The shape of the tails is left to the conformal
calibration that follows (``models/calibration.py``), which only needs
the scale to rank days by how volatile they will be. The epochs run in the
one training loop (``loop.train_loop``), as the point model's do.

Two trunks for the head:

- ``frozen``: a linear head on the point network's final hidden state. The
  hidden states are computed once, so an epoch costs next to nothing.
- ``finetune``: the head on its own copy of the recurrent layers, trained
  together, so the features can adapt to the spread.

Two starts (``--scale-start``): ``constant``, the training days' spread on
every day, or ``range``, the window's own range-based spread (an EWMA of its
Parkinson variances, scaled to close-to-close variance on the training days:
``StockRNN.range_log_scale``), which the head then learns to correct, as the
centre starts from persistence.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from pipeline.config import IntervalConfig, RuntimeConfig, TrainConfig
from pipeline.core.features import CLOSE, Features, next_log_returns, usable_ends
from pipeline.core.network import StockRNN
from pipeline.models.loop import Batches, EarlyStopping, train_batches, train_loop
from pipeline.models.losses import gaussian_nll
from pipeline.models.range_volatility import parkinson_variance
from pipeline.models.training import DeviceData, autocast_for, predict_scaled

TRUNKS = ("frozen", "finetune")


@dataclass(frozen=True)
class ScaleEpoch:
    """Mean Gaussian NLL (scaled units, constant dropped) after one scale-head epoch."""

    trunk: str  # which candidate head ("frozen" or "finetune")
    epoch: int
    train_nll: float
    val_nll: float


@dataclass
class ScaleResult:
    model: StockRNN  # a copy of the point model: the same centre, a trained scale head
    trunk: str  # "frozen" or "finetune"
    history: list[ScaleEpoch] = field(default_factory=list)
    best_epoch: int = 0  # 0: the untrained head (constant spread) was never beaten


class _Part:
    """One split's fixed centre and targets, and how to get the log scale of its samples."""

    def __init__(self, net: StockRNN, data: DeviceData, ends: np.ndarray, trunk: str, batch: int):
        self.ends = data.ends(usable_ends(ends, data.horizon))
        self.centre = predict_scaled(net, data, self.ends, batch).float()
        self.target = data.targets[self.ends]
        self.hidden = self.base = None
        if trunk == "frozen":  # the features never change: compute them once
            with torch.no_grad():
                net.eval()
                chunks = [
                    data.batch(self.ends[i : i + batch]) for i in range(0, len(self.ends), batch)
                ]
                self.hidden = torch.cat([net.last_hidden(x) for x in chunks])
                self.base = torch.cat([net.range_log_scale(x) for x in chunks])

    def log_scale(self, net: StockRNN, data: DeviceData, pos: torch.Tensor) -> torch.Tensor:
        if self.hidden is not None:  # a float32 head on float32 features, even under autocast
            with torch.autocast(self.hidden.device.type, enabled=False):
                return net.scale_head(self.hidden[pos]) + self.base[pos, None]
        return net.log_scale(data.batch(self.ends[pos]))

    def nll(self, net: StockRNN, data: DeviceData, batch: int) -> float:
        net.eval()
        with torch.no_grad():
            total = 0.0
            for i in range(0, len(self.ends), batch):
                pos = torch.arange(i, min(i + batch, len(self.ends)), device=self.ends.device)
                loss = gaussian_nll(
                    self.centre[pos], self.target[pos], self.log_scale(net, data, pos)
                )
                total += loss.item() * len(pos)
        return total / len(self.ends)


def fit_scale(
    model: StockRNN,
    features: Features,
    trunk: str,
    cfg: IntervalConfig,
    train_cfg: TrainConfig,
    on_epoch: Callable[[ScaleEpoch], None] | None = None,
    runtime: RuntimeConfig | None = None,
) -> ScaleResult:
    """Train a scale head on a copy of ``model``; early-stop on the validation NLL."""
    if trunk not in TRUNKS:
        raise ValueError(f"trunk must be one of {TRUNKS}, not {trunk!r}")
    runtime = runtime or RuntimeConfig()
    device = next(model.parameters()).device
    net = copy.deepcopy(model)
    net.rnn.flatten_parameters()  # a deep copy's weights are apart; cuDNN wants one chunk
    if trunk == "finetune":
        net.own_scale_trunk()
    if cfg.scale_start == "range":
        start_from_range(net, features)
    params = [*net.scale_head.parameters()]
    if net.scale_rnn is not None:
        params += [*net.scale_rnn.parameters()]
    data = DeviceData(features, device)
    batch = runtime.eval_batch
    train = _Part(net, data, features.split.train, trunk, batch)
    val = _Part(net, data, features.split.val, trunk, batch)
    # A linear head on fixed features converges slowly at the recurrent network's step size.
    optimizer = torch.optim.Adam(
        params, lr=cfg.scale_frozen_lr if trunk == "frozen" else cfg.scale_lr
    )
    batches = Batches(
        torch.arange(len(train.ends), device=device),  # positions in ``train``'s arrays
        train_cfg.batch_size,
        torch.Generator().manual_seed(train_cfg.seed),
    )

    def batch_nll(pos: torch.Tensor) -> torch.Tensor:
        with autocast_for(device, runtime.amp):
            log_scale = train.log_scale(net, data, pos)
        return gaussian_nll(train.centre[pos], train.target[pos], log_scale)

    def next_epoch(epoch: int) -> ScaleEpoch:
        train_nll = train_batches(net, optimizer, batches, batch_nll, train_cfg.clip_norm)
        return ScaleEpoch(trunk, epoch, train_nll, val.nll(net, data, batch))

    first = ScaleEpoch(trunk, 0, train.nll(net, data, batch), val.nll(net, data, batch))
    epochs = train_loop(
        net, EarlyStopping(cfg.scale_epochs, cfg.scale_patience), first, next_epoch,
        lambda e: (e.train_nll, e.val_nll), on_epoch=on_epoch, label="scale head",
        hint="--scale-lr",
    )  # fmt: skip
    return ScaleResult(net, trunk, epochs.history, epochs.best_epoch)


def range_log_factor(features: Features) -> float | None:
    """Log of the training days' mean squared next-day return over their mean Parkinson
    variance, in the scaled units (None when the prices carry no range: High equals Low)."""
    train = features.split.train
    squared = next_log_returns(features.log_prices[:, CLOSE], train) ** 2
    parkinson = parkinson_variance(features.log_prices[train + 1])
    if not parkinson.mean() > 0:
        return None
    unit = float(features.y_scaler.scale_[0])
    return math.log(float(squared.mean()) / float(parkinson.mean())) - 2.0 * math.log(unit)


def start_from_range(net: StockRNN, features: Features) -> None:
    """Start ``net``'s scale head from the window's range spread (``StockRNN.range_log_scale``);
    prices without a range (High equal to Low on every training day) keep the constant start."""
    factor = range_log_factor(features)
    if factor is not None:
        scaler = features.x_scaler
        net.start_from_range(torch.as_tensor(scaler.mean_), torch.as_tensor(scaler.scale_), factor)


@torch.no_grad()
def forecast_spread(
    model: StockRNN, features: Features, ends: np.ndarray, batch: int
) -> tuple[np.ndarray, np.ndarray]:
    """Centre and scale of the log return over 1..H days for ``ends``: two (n, horizon) arrays
    in log-return units (column ``h - 1``: from the end day's Close to the Close h days on)."""
    device = next(model.parameters()).device
    data = DeviceData(features, device)
    idx = data.ends(ends)
    model.eval()
    centre, log_scale = [], []
    for i in range(0, len(idx), batch):
        x = data.batch(idx[i : i + batch])
        centre.append(model(x))
        log_scale.append(model.log_scale(x))
    unit = float(features.y_scaler.scale_[0])
    empty = np.empty((0, model.horizon))
    c = torch.cat(centre).double().cpu().numpy() if centre else empty
    s = torch.exp(torch.cat(log_scale).double()).cpu().numpy() if log_scale else empty
    return c * unit, s * unit
