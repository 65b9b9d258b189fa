"""Training: the RNN with Adam, gradient clipping and early stopping.

The data live on the device once: the log-price array and the targets are
copied there (through pinned memory on CUDA) and every batch is gathered from
a strided view by index, with no per-item Dataset or DataLoader. Epoch 0 is
the untrained network, which forecasts persistence; early stopping restores
the weights with the best validation loss, so training keeps persistence
unless it finds something better on the validation days.
"""

from __future__ import annotations

import contextlib
import copy
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from pipeline.config import ModelConfig, RuntimeConfig, TrainConfig
from pipeline.core.features import CLOSE, N_FEATURES, Features, make_batch, usable_ends
from pipeline.core.network import StockRNN
from pipeline.errors import ConfigError, TrainingError


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
        self.weights = 1.0 / torch.arange(1, self.horizon + 1, dtype=torch.float32, device=device)
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


def horizon_loss(pred: torch.Tensor, target: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Mean squared error over samples and horizons, each horizon's divided by h.

    An h-day return spreads about ``sqrt(h)`` times as wide as a one-day one,
    so unweighted the far horizons would dominate the loss; with one horizon
    this is the plain mean squared error.
    """
    return ((pred.float() - target) ** 2 * weights).mean()


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
    """One pass over the training samples in a random order; return the mean loss."""
    model.train()
    order = ends[torch.randperm(len(ends), generator=generator).to(ends.device)]
    total = torch.zeros((), device=ends.device)
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        with autocast_for(data.device, amp):
            pred = model(data.batch(idx))
        loss = horizon_loss(pred, data.targets[idx], data.weights)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), clip_norm)
        optimizer.step()
        total += loss.detach() * len(idx)  # stays on the device: no sync per batch
    return (total / len(order)).item()


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

    def test_loss() -> float | None:
        return None if test_ends is None else mean_loss(model, data, test_ends, batch)

    first = Epoch(
        0,
        mean_loss(model, data, train_ends, batch),
        mean_loss(model, data, val_ends, batch),
        test_loss(),
    )
    history = [first]
    best_val, best_epoch = first.val_loss, 0
    best_state = copy.deepcopy(model.state_dict())
    if on_epoch:
        on_epoch(first)
    bar = tqdm(
        range(1, train_cfg.epochs + 1),
        desc=f"train {name}".strip(),
        unit="epoch",
        # None: only when stderr is a terminal, so a log file gets no redrawn bars.
        disable=None if runtime.progress else True,
        leave=True,
        dynamic_ncols=True,
    )
    for epoch in bar:
        train_loss = train_epoch(
            model,
            optimizer,
            data,
            train_ends,
            train_cfg.batch_size,
            train_cfg.clip_norm,
            generator,
            runtime.amp,
        )
        val_loss = mean_loss(model, data, val_ends, batch)
        if not (math.isfinite(train_loss) and math.isfinite(val_loss)):
            bar.close()
            bad = train_loss if not math.isfinite(train_loss) else val_loss
            raise TrainingError(
                f"{name or 'training'}: loss became {bad} at epoch {epoch} "
                "(training diverged); try a lower --lr"
            )
        record = Epoch(epoch, train_loss, val_loss, test_loss())
        history.append(record)
        if on_epoch:
            on_epoch(record)
        if val_loss < best_val * (1.0 - train_cfg.min_delta):
            best_val, best_epoch = val_loss, epoch
            best_state = copy.deepcopy(model.state_dict())
        bar.set_postfix(train=f"{train_loss:.4f}", val=f"{val_loss:.4f}", best=best_epoch)
        if epoch - best_epoch >= train_cfg.patience:
            break
    bar.close()
    model.load_state_dict(best_state)
    model.eval()
    factors = (1.0,) * horizon
    if train_cfg.shrink:
        factors = shrink_to_validation(model, data, val_ends, train_cfg.shrink_z, batch)
    return TrainResult(
        model=model,
        history=history,
        best_epoch=best_epoch,
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
