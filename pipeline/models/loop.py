"""The one training loop: shuffled batches each epoch, early stopping on the validation loss.

The point model (``training.fit``) and the scale head (``scale_head.fit_scale``)
both train through ``train_loop``, and the sweep's objective follows the same
rule (``BestEpoch``) to know, after each epoch, which one training will keep.
Epoch 0 is the model as it starts (the point model's is persistence); a later
epoch is kept only when its validation loss beats the best so far by
``min_delta`` (a fraction of it); training stops ``patience`` epochs after the
last kept one, or after ``epochs``, and restores the kept epoch's weights.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

import torch
from torch import nn
from tqdm.auto import tqdm

from pipeline.errors import TrainingError

R = TypeVar("R")  # one epoch's record (``training.Epoch``, ``scale_head.ScaleEpoch``)


@dataclass(frozen=True)
class EarlyStopping:
    """How long a training runs: at most ``epochs``, fewer once validation stops improving."""

    epochs: int  # the most epochs after epoch 0
    patience: int  # stop after this many epochs without a kept one
    min_delta: float = 0.0  # a kept epoch beats the best validation loss by this fraction of it


class BestEpoch:
    """The epoch early stopping keeps so far: epoch 0 until a later one beats it."""

    def __init__(self, rule: EarlyStopping, val_loss: float) -> None:
        self.rule, self.val_loss, self.epoch = rule, val_loss, 0

    def offer(self, epoch: int, val_loss: float) -> bool:
        """Keep ``epoch`` if its validation loss beats the best by ``min_delta``; say if it did."""
        if not val_loss < self.val_loss * (1.0 - self.rule.min_delta):
            return False
        self.val_loss, self.epoch = val_loss, epoch
        return True

    def stop(self, epoch: int) -> bool:
        """Whether ``patience`` epochs have passed since the kept one."""
        return epoch - self.epoch >= self.rule.patience


@dataclass(frozen=True)
class Batches:
    """An epoch's walk over the training samples: a fresh random order, cut into batches."""

    samples: torch.Tensor  # the training samples' indices, on the model's device
    size: int  # samples per batch
    generator: torch.Generator  # draws each epoch's order (on the CPU, so that runs repeat)


def train_batches(
    module: nn.Module,
    optimizer: torch.optim.Optimizer,
    batches: Batches,
    batch_loss: Callable[[torch.Tensor], torch.Tensor],
    clip_norm: float,
) -> float:
    """One pass over ``batches``; return the mean of ``batch_loss`` over the samples.

    Each step clips the gradient of the parameters ``optimizer`` steps to ``clip_norm``.
    """
    module.train()
    samples = batches.samples
    order = samples[torch.randperm(len(samples), generator=batches.generator).to(samples.device)]
    params = [p for group in optimizer.param_groups for p in group["params"]]
    total = torch.zeros((), device=samples.device)
    for start in range(0, len(order), batches.size):
        idx = order[start : start + batches.size]
        loss = batch_loss(idx)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(params, clip_norm)
        optimizer.step()
        total += loss.detach() * len(idx)  # stays on the device: no sync per batch
    return (total / len(order)).item()


@dataclass
class Epochs(Generic[R]):
    """What ``train_loop`` ran: every epoch's record, epoch 0 first, and the one it kept."""

    history: list[R]
    best_epoch: int  # 0: no epoch beat the starting model


def train_loop(
    module: nn.Module,
    rule: EarlyStopping,
    first: R,
    next_epoch: Callable[[int], R],
    losses: Callable[[R], tuple[float, float]],
    *,
    on_epoch: Callable[[R], None] | None = None,
    label: str = "",
    hint: str = "--lr",
    progress: bool = False,
) -> Epochs[R]:
    """Run ``next_epoch`` (train epoch n, return its record) until ``rule`` stops training.

    ``first`` is epoch 0's record and ``losses`` gives a record's training and
    validation loss. Every record goes to ``on_epoch``. ``module`` ends with
    the kept epoch's weights, in eval mode. A non-finite loss is a
    TrainingError naming ``label`` and the option to lower (``hint``);
    ``progress`` shows a bar, on a terminal only, described by ``label``.
    """
    history = [first]
    best = BestEpoch(rule, losses(first)[1])
    best_state = copy.deepcopy(module.state_dict())
    if on_epoch:
        on_epoch(first)
    # disable=None: a bar only when stderr is a terminal, so a log file gets no redrawn bars.
    bar = tqdm(range(1, rule.epochs + 1), desc=f"train {label}".strip(), unit="epoch",
               disable=None if progress else True, leave=True, dynamic_ncols=True)  # fmt: skip
    with bar:
        for epoch in bar:
            record = next_epoch(epoch)
            train_loss, val_loss = losses(record)
            if not (math.isfinite(train_loss) and math.isfinite(val_loss)):
                bad = train_loss if not math.isfinite(train_loss) else val_loss
                raise TrainingError(
                    f"{label or 'training'}: loss became {bad} at epoch {epoch} "
                    f"(training diverged); try a lower {hint}"
                )
            history.append(record)
            if on_epoch:
                on_epoch(record)
            if best.offer(epoch, val_loss):
                best_state = copy.deepcopy(module.state_dict())
            bar.set_postfix(train=f"{train_loss:.4f}", val=f"{val_loss:.4f}", best=best.epoch)
            if best.stop(epoch):
                break
    module.load_state_dict(best_state)
    module.eval()
    return Epochs(history, best.epoch)
