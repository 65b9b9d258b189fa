"""Training the point model: the RNN with Adam, gradient clipping and early stopping.

The data live on the device once: the log-price array and the targets are
copied there (through pinned memory on CUDA) and every batch is gathered from
a strided view by index, with no per-item Dataset or DataLoader. Epoch 0 is
the untrained network, which forecasts persistence; early stopping restores
the weights with the best validation loss, so training keeps persistence
unless it finds something better on the validation days. The epochs run
in the one training loop (``loop.train_loop``) on the horizon-weighted
squared error (``losses.horizon_loss``).
"""

from __future__ import annotations

import contextlib
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from pipeline.config import ModelConfig, RuntimeConfig, TrainConfig
from pipeline.core.features import CLOSE, N_FEATURES, Features, make_batch, usable_ends
from pipeline.core.network import StockRNN
from pipeline.errors import ConfigError
from pipeline.models.loop import Batches, EarlyStopping, train_batches, train_loop
from pipeline.models.losses import horizon_loss, horizon_weights


@dataclass(frozen=True)
class Epoch:
    """Losses after one epoch (epoch 0 is the untrained, persistence-equivalent network)."""

    epoch: int
    train_loss: float
    val_loss: float
    test_loss: float | None = None  # only when ``fit`` is asked to watch the test part


@dataclass
class TrainResult:
    model: StockRNN  # best weights restored, in eval mode, on the training device
    history: list[Epoch] = field(default_factory=list)
    best_epoch: int = 0  # 0 means no epoch beat the untrained (persistence) network
    shrink: float = 1.0  # factor folded into the head at day 1: forecasts were scaled by it
    shrinks: tuple[float, ...] = (1.0,)  # the factor of each horizon 1..H (``shrink`` is the first)
    device: str = "cpu"
    seconds: float = 0.0


def pick_device(name: str) -> torch.device:
    """CUDA, then Apple MPS, then the CPU for 'auto'; a named device must exist."""
    mps = getattr(torch.backends, "mps", None)
    has_mps = bool(mps and mps.is_available())
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps" if has_mps else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda: no CUDA GPU is visible here; use --device auto or cpu")
    if name == "mps" and not has_mps:
        raise ConfigError("--device mps: Apple MPS is not available here; use --device auto or cpu")
    return torch.device(name)


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and torch so that a CPU run repeats exactly."""
    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002 - seeds code that uses the global generator
    torch.manual_seed(seed)


class DeviceData:
    """The features resident on one device: a strided view of windows, targets, scaler.

    ``targets`` is (days, horizon): each end day's scaled log returns over 1..H
    days (0 where a horizon runs past the last day: such end days are never
    trained or scored on, see ``usable_ends``). ``weights`` (1/h) puts every
    horizon's squared error on the one-day scale in ``horizon_loss``.
    """

    def __init__(self, features: Features, device: torch.device) -> None:
        self.window = features.window
        self.horizon = features.horizon
        self.device = device
        log_prices = _to_device(features.log_prices.astype(np.float32), device)
        self.windows = log_prices.unfold(0, self.window, 1).transpose(1, 2)  # a view
        self.log_close = log_prices[:, CLOSE]
        targets = np.nan_to_num(features.horizon_targets).astype(np.float32)
        self.targets = _to_device(targets, device)
        self.weights = horizon_weights(self.horizon, device)
        self.mean = _to_device(features.x_scaler.mean_.astype(np.float32), device)
        self.scale = _to_device(features.x_scaler.scale_.astype(np.float32), device)

    def ends(self, ends: np.ndarray) -> torch.Tensor:
        """Sample end days as an index tensor on the device."""
        return torch.as_tensor(ends, dtype=torch.long).to(self.device)

    def batch(self, ends: torch.Tensor) -> torch.Tensor:
        """Scaled input windows for the samples ending on ``ends``."""
        return make_batch(self.windows, self.log_close, ends, self.window, self.mean, self.scale)


def _to_device(array: np.ndarray, device: torch.device) -> torch.Tensor:
    tensor = torch.from_numpy(np.ascontiguousarray(array))
    if device.type == "cuda":
        return tensor.pin_memory().to(device, non_blocking=True)
    return tensor.to(device)


def autocast_for(device: torch.device, amp: bool) -> contextlib.AbstractContextManager:
    """bfloat16 autocast on CUDA when asked for; a no-op elsewhere.

    Under it ``StockRNN`` runs its recurrent layers in bfloat16 and its heads in
    float32; losses and targets stay float32 because they are computed outside it.
    """
    if amp and device.type == "cuda":
        return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def train_epoch(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    data: DeviceData,
    ends: torch.Tensor,
    batch_size: int,
    clip_norm: float,
    generator: torch.Generator,
    amp: bool = False,
) -> float:
    """One pass over the training samples ``ends`` in a random order; return the mean loss."""

    def batch_loss(idx: torch.Tensor) -> torch.Tensor:
        with autocast_for(data.device, amp):
            pred = model(data.batch(idx))
        return horizon_loss(pred, data.targets[idx], data.weights)

    return train_batches(
        model, optimizer, Batches(ends, batch_size, generator), batch_loss, clip_norm
    )


@torch.no_grad()
def predict_scaled(
    model: nn.Module, data: DeviceData, ends: torch.Tensor, batch: int
) -> torch.Tensor:
    """The model's scaled log-return forecasts for the samples ending on ``ends``: (n, horizon)."""
    model.eval()
    out = [model(data.batch(ends[i : i + batch])) for i in range(0, len(ends), batch)]
    return torch.cat(out) if out else torch.empty(0, data.horizon, device=data.device)


def mean_loss(model: nn.Module, data: DeviceData, ends: torch.Tensor, batch: int) -> float:
    """``horizon_loss`` on the scaled targets of ``ends``."""
    pred = predict_scaled(model, data, ends, batch)
    return horizon_loss(pred, data.targets[ends], data.weights).item()


def point_stopping(train_cfg: TrainConfig) -> EarlyStopping:
    """The point model's early-stopping rule (``fit``'s, and the sweep objective's)."""
    return EarlyStopping(train_cfg.epochs, train_cfg.patience, train_cfg.min_delta)


def fit(
    features: Features,
    model_cfg: ModelConfig,
    train_cfg: TrainConfig,
    runtime: RuntimeConfig | None = None,
    *,
    name: str = "",
    on_epoch: Callable[[Epoch], None] | None = None,
    watch_test: bool = False,
) -> TrainResult:
    """Train a StockRNN on the training split with early stopping on the validation split.

    With ``watch_test`` each epoch's record also holds the loss on the test part,
    which training never uses: the sweep scores its folds' blocks that way.
    Every part is read through ``usable_ends``: with a horizon of H days, the
    last H - 1 end days of a part, whose far targets lie in the next part,
    neither train nor stop it.
    """
    began = time.perf_counter()
    runtime = runtime or RuntimeConfig()
    device = pick_device(runtime.device)
    seed_everything(train_cfg.seed)
    model = StockRNN(model_cfg, N_FEATURES, features.horizon).to(device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    data = DeviceData(features, device)
    horizon = features.horizon
    train_ends = data.ends(usable_ends(features.split.train, horizon))
    val_ends = data.ends(usable_ends(features.split.val, horizon))
    optimizer = torch.optim.Adam(
        model.parameters(), lr=train_cfg.lr, weight_decay=train_cfg.weight_decay
    )
    generator = torch.Generator().manual_seed(train_cfg.seed)

    batch = runtime.eval_batch
    test_ends = data.ends(usable_ends(features.split.test, horizon)) if watch_test else None

    def record(epoch: int, train_loss: float) -> Epoch:
        val_loss = mean_loss(model, data, val_ends, batch)
        test_loss = None if test_ends is None else mean_loss(model, data, test_ends, batch)
        return Epoch(epoch, train_loss, val_loss, test_loss)

    def next_epoch(epoch: int) -> Epoch:
        return record(epoch, train_epoch(model, optimizer, data, train_ends, train_cfg.batch_size,
                                         train_cfg.clip_norm, generator, runtime.amp))  # fmt: skip

    epochs = train_loop(
        model, point_stopping(train_cfg), record(0, mean_loss(model, data, train_ends, batch)),
        next_epoch, lambda e: (e.train_loss, e.val_loss),
        on_epoch=on_epoch, label=name, hint="--lr", progress=runtime.progress,
    )  # fmt: skip
    factors = (1.0,) * horizon
    if train_cfg.shrink:
        factors = shrink_to_validation(model, data, val_ends, train_cfg.shrink_z, batch)
    return TrainResult(
        model=model,
        history=epochs.history,
        best_epoch=epochs.best_epoch,
        shrink=factors[0],
        shrinks=factors,
        device=str(device),
        seconds=time.perf_counter() - began,
    )


@torch.no_grad()
def shrink_to_validation(
    model: StockRNN, data: DeviceData, val_ends: torch.Tensor, z: float, batch: int
) -> tuple[float, ...]:
    """Scale the head so that forecasts shrink towards persistence by what validation supports.

    Each horizon's output gets its own factor, from its own column of forecasts
    and targets, as follows.

    Regressing the validation targets ``y`` on the forecasts ``f`` (through the
    origin) gives the slope ``b = <f, y> / <f, f>`` with standard error
    ``se = s / sqrt(<f, f>)``, ``s`` the residual standard deviation. The
    factor is ``b - z * se`` clipped to [0, 1]: forecasts keep only the part of
    their scale that validation supports with some confidence. A network whose
    forecasts barely relate to the validation days falls back to persistence
    (factor 0), which bounds how much worse than persistence it can be on days
    it never saw. Returns the factors (0 for a network that already forecasts 0).
    """
    preds = predict_scaled(model, data, val_ends, batch).double()
    targets = data.targets[val_ends].double()
    factors = []
    for h in range(preds.shape[1]):
        factor = _shrink_factor(preds[:, h], targets[:, h], z)
        model.head.weight[h].mul_(factor)
        model.head.bias[h].mul_(factor)
        factors.append(factor)
    return tuple(factors)


def _shrink_factor(pred: torch.Tensor, target: torch.Tensor, z: float) -> float:
    power = float(pred @ pred)
    if power == 0.0 or len(pred) < 2:
        return 0.0
    slope = float(pred @ target) / power
    resid = target - slope * pred
    se = math.sqrt(float(resid @ resid) / (len(pred) - 1) / power)
    return min(max(slope - z * se, 0.0), 1.0)


def forecast_log_returns(
    model: nn.Module, features: Features, ends: np.ndarray, batch: int
) -> np.ndarray:
    """Scaled log-return forecasts for ``ends``, (n, horizon) float64 (on the model's device)."""
    device = next(model.parameters()).device
    data = DeviceData(features, device)
    return predict_scaled(model, data, data.ends(ends), batch).double().cpu().numpy()
