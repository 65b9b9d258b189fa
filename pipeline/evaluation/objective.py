"""The sweep's objective: a loss over walk-forward folds on the days before the test days.

Days. Per group (one ticker, or the universe) only the default split's
training and validation days are used; its test days (cut by calendar date for
the group) are cut off before anything else, so a sweep never sees them. Those
days are cut into folds exactly as the backtest cuts a group
(``core.splits.calendar_splits``, with ``sweep.folds`` folds): each fold trains
one network on the group's history before its block (its tickers' windows
pooled), early-stops on the last ``backtest.val_frac`` of that history, and is
scored on its block, which training never touches.

Loss. A fold's loss is the block's loss of the epoch early stopping keeps
(``fit``'s rule, ``models.loop.BestEpoch``, on the fold's validation part),
divided by persistence's loss on the block: epoch 0 of ``fit``'s history, since
the untrained network forecasts persistence (a group's block: its tickers'
pooled). So folds and groups of different volatility weigh the same; 1.0 means
"as good as persistence", above 1 worse. Choosing the epoch on
the validation part rather than on the block keeps the score honest: the best
of many epochs on the block would favour configurations whose loss merely
jumps about. (The shrinkage ``fit`` applies afterwards is left out: it is the
same rule for every configuration.) The objective is the mean over every
group's folds; lower is better.

Progress. ``fit`` owns the epoch loop, so the folds are trained one after
another rather than side by side. After every epoch ``report`` gets the
iteration (epochs so far, over all folds) and the running objective: the mean
over the folds done, the current one at the epoch early stopping would keep so
far. A fold that early stopping ends before ``train.epochs`` is padded with its
final loss, so that iteration ``i`` is the same fold and epoch in every trial
and a scheduler compares like with like; with milestones at multiples of
``train.epochs`` it judges whole folds, where the running objective is a plain
mean of fold losses.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import pandas as pd

from pipeline.config import Config, ModelConfig, RuntimeConfig, TrainConfig
from pipeline.core.features import Features, features_for_split, pool_features
from pipeline.core.splits import calendar_splits, days_before_test, union_calendar
from pipeline.models.loop import BestEpoch
from pipeline.models.rnn import Hooks, train_forecaster
from pipeline.models.training import Epoch, point_stopping


@dataclass(frozen=True)
class Fold:
    """One group's fold: its tickers' features pooled, whose test part is the fold's block."""

    ticker: str  # the group's name (a ticker's own group: the ticker)
    number: int  # 1-based
    features: Features


@dataclass(frozen=True)
class Progress:
    """Where a trial stands after one epoch (padded epochs included)."""

    iteration: int  # epochs so far over all folds, 1-based
    objective: float  # mean fold loss so far, the current fold at the epoch kept so far
    ticker: str
    fold: int
    epoch: int  # within the fold, 1 .. train.epochs
    fold_loss: float  # the block's loss at the epoch kept so far / persistence's
    fold_done: bool  # the fold's last iteration: fold_loss is final


def sweep_folds(groups: Mapping[str, Mapping[str, pd.DataFrame]], cfg: Config) -> list[Fold]:
    """Every group's folds (``groups``: name -> each ticker's prices), fold 1 of every group
    first; DataError if a ticker's history is too short."""
    window = cfg.features.window
    scheme = dataclasses.replace(cfg.backtest, folds=cfg.sweep.folds)
    by_group: dict[str, list[Features]] = {}
    for name, prices in groups.items():
        dates = {t: pd.DatetimeIndex(p.index) for t, p in prices.items()}
        calendar = union_calendar(dates)
        test_from = calendar[days_before_test(len(calendar), cfg.features)]
        history = {t: p.loc[p.index < test_from] for t, p in prices.items()}  # no test day
        folds = calendar_splits(
            {t: pd.DatetimeIndex(p.index) for t, p in history.items()}, window, scheme, "sweep"
        )
        by_group[name] = [
            pool_features(
                [
                    features_for_split(history[t], fold.splits[t], window, cfg.features.horizon)
                    for t in sorted(history)
                ]
            )
            for fold in folds
        ]
    return [
        Fold(name, number + 1, folds[number])
        for number in range(scheme.folds)
        for name, folds in by_group.items()
    ]


def iterations(n_folds: int, train_cfg: TrainConfig) -> int:
    """Reports a complete trial makes: one per epoch of every fold, padded ones included."""
    return n_folds * train_cfg.epochs


def sweep_objective(
    folds: list[Fold],
    model_cfg: ModelConfig,
    train_cfg: TrainConfig,
    report: Callable[[Progress], None] | None = None,
    runtime: RuntimeConfig | None = None,
) -> float:
    """Train every fold, point model only; return the mean fold loss (see the module's doc)."""
    if train_cfg.epochs < 1:
        raise ValueError("a sweep needs at least one epoch per fold")
    running = _Running(train_cfg, report)
    for fold in folds:
        running.start(fold)
        name = f"{fold.ticker} fold {fold.number}"
        train_forecaster(fold.features, model_cfg, train_cfg, runtime=runtime, label=name,
                         hooks=Hooks(on_epoch=running.on_epoch), watch_test=True)  # fmt: skip
        running.finish()
    return sum(running.losses) / len(running.losses)


class _Running:
    """The running objective of one trial, told every epoch of every fold."""

    def __init__(self, train_cfg: TrainConfig, report: Callable[[Progress], None] | None) -> None:
        self.epochs, self.report = train_cfg.epochs, report
        self.rule = point_stopping(train_cfg)  # the rule ``fit`` stops by
        self.losses: list[float] = []  # final loss of each fold done
        self.iteration = 0

    def start(self, fold: Fold) -> None:
        self.fold, self.epoch = fold, 0
        self.best: BestEpoch | None = None  # the epoch kept so far
        self.persistence = math.nan  # the block's loss at epoch 0
        self.kept = 1.0  # the block's loss ratio at the epoch kept so far (0: persistence)

    def on_epoch(self, record: Epoch) -> None:
        block = math.nan if record.test_loss is None else record.test_loss
        if record.epoch == 0:
            self.best, self.persistence = BestEpoch(self.rule, record.val_loss), block
            return
        if self.best.offer(record.epoch, record.val_loss):
            self.kept = block / self.persistence if self.persistence > 0 else 1.0
        self._tell(record.epoch)

    def finish(self) -> None:
        for epoch in range(self.epoch + 1, self.epochs + 1):  # early stopping ended it: pad
            self._tell(epoch)
        self.losses.append(self.kept)

    def _tell(self, epoch: int) -> None:
        self.iteration += 1
        self.epoch = epoch
        if self.report is None:
            return
        objective = (sum(self.losses) + self.kept) / (len(self.losses) + 1)
        done = epoch == self.epochs
        f = self.fold
        self.report(Progress(self.iteration, objective, f.ticker, f.number, epoch, self.kept, done))
