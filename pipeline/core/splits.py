"""Chronological splits: which samples train, validate and test.

A sample is named by its *end* day ``t``: its window is days ``t - window + 1 ..
t`` and its target is day ``t + 1``; it belongs to the part its target day falls
in. One function, ``split_by_target_day``, makes every split: the default
70/15/15 split, each walk-forward fold and the retrain holdout only choose the
boundaries. The fewest days each needs is computed from the same boundaries.

For a universe trained as one (a global model), ``calendar_splits`` cuts the
folds by calendar date for every ticker at once, so that no ticker's training
or validation target lies on or after the fold's first test date.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipeline.config import BacktestConfig, FeatureConfig
from pipeline.errors import DataError

MIN_SPLIT_SAMPLES = 2  # fewest windows a part may hold


@dataclass(frozen=True)
class Split:
    """End days of the samples in each part (arrays of day indices, ascending)."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray

    def sizes(self) -> tuple[int, int, int]:
        """Number of samples in training, validation and test."""
        return len(self.train), len(self.val), len(self.test)


def split_by_target_day(
    n_days: int, window: int, val_from: int, test_from: int, test_to: int | None = None
) -> Split:
    """Training targets before ``val_from``, validation up to ``test_from``, test to ``test_to``.

    Only end days with a full window and a next day exist (``window - 1 ..
    n_days - 2``); ``test_to`` (exclusive, a day index) defaults to the last day.
    """
    ends = np.arange(window - 1, n_days - 1)
    target = ends + 1
    test_to = n_days if test_to is None else test_to
    return Split(
        train=ends[target < val_from],
        val=ends[(target >= val_from) & (target < test_from)],
        test=ends[(target >= test_from) & (target < test_to)],
    )


def default_split(n_days: int, cfg: FeatureConfig) -> Split:
    """The first ``train_frac`` of the days train, the next ``val_frac`` validate, the rest test."""
    n_train = int(n_days * cfg.train_frac)
    return split_by_target_day(n_days, cfg.window, n_train, days_before_test(n_days, cfg))


def history_split(
    n_days: int, window: int, val_frac: float, test_from: int, test_to: int | None = None
) -> Split:
    """Everything before ``test_from`` is history; its last ``val_frac`` validates."""
    n_val = int((test_from - window) * val_frac)
    return split_by_target_day(n_days, window, test_from - n_val, test_from, test_to)


def walk_forward_splits(n_days: int, window: int, cfg: BacktestConfig) -> list[Split]:
    """Each fold's split: the last ``test_share`` of the days cut into ``folds`` test blocks."""
    first_test_day = n_days - int(n_days * cfg.test_share)
    bounds = np.linspace(first_test_day, n_days, cfg.folds + 1).round().astype(int)
    return [
        history_split(n_days, window, cfg.val_frac, int(start), int(stop))
        for start, stop in itertools.pairwise(bounds)
    ]


@dataclass(frozen=True)
class CalendarFold:
    """One walk-forward fold of a universe: the same calendar cut for every ticker."""

    val_from: pd.Timestamp  # first validation target date
    test_from: pd.Timestamp  # first test target date
    test_to: pd.Timestamp | None  # first date after the test block (None: to the end)
    splits: dict[str, Split]  # each ticker's end days, by its own day index


def calendar_splits(
    dates: Mapping[str, pd.DatetimeIndex], window: int, cfg: BacktestConfig
) -> list[CalendarFold]:
    """Walk-forward folds cut by calendar date on the union of the tickers' trading days.

    The cuts are ``walk_forward_splits``'s, made on the union calendar (so a
    ticker traded on every day of it gets exactly its per-ticker folds); each
    ticker's samples then fall in the part their target *date* lies in.
    """
    calendar = union_calendar(dates)
    n = len(calendar)
    first_test_day = n - int(n * cfg.test_share)
    bounds = np.linspace(first_test_day, n, cfg.folds + 1).round().astype(int)
    folds = []
    for start, stop in itertools.pairwise(bounds):
        n_val = int((start - window) * cfg.val_frac)
        val_from, test_from = calendar[start - n_val], calendar[start]
        test_to = calendar[stop] if stop < n else None
        splits = cut_by_date(dates, window, val_from, test_from, test_to)
        folds.append(CalendarFold(val_from, test_from, test_to, splits))
    return folds


def cut_by_date(
    dates: Mapping[str, pd.DatetimeIndex],
    window: int,
    val_from: pd.Timestamp,
    test_from: pd.Timestamp,
    test_to: pd.Timestamp | None = None,
) -> dict[str, Split]:
    """Each ticker's split with the same calendar cuts: a sample goes by its target's date."""
    splits = {}
    for ticker, own in dates.items():
        own = pd.DatetimeIndex(own)
        cut = [int(own.searchsorted(d)) for d in (val_from, test_from)]
        end = len(own) if test_to is None else int(own.searchsorted(test_to))
        splits[ticker] = split_by_target_day(len(own), window, *cut, end)
    return splits


def union_calendar(dates: Mapping[str, pd.DatetimeIndex]) -> pd.DatetimeIndex:
    """Every date on which at least one ticker traded, ascending."""
    return pd.DatetimeIndex(sorted(set().union(*(set(d) for d in dates.values()))))


def calendar_default_split(
    dates: Mapping[str, pd.DatetimeIndex], cfg: FeatureConfig
) -> dict[str, Split]:
    """The default train/validation/test split, cut by calendar date for a whole universe."""
    calendar = union_calendar(dates)
    n = len(calendar)
    val_from, test_from = calendar[int(n * cfg.train_frac)], calendar[days_before_test(n, cfg)]
    return cut_by_date(dates, cfg.window, val_from, test_from)


def check_calendar_sizes(folds: list[CalendarFold], window: int) -> None:
    """DataError naming the first ticker and fold with too few samples in a part."""
    for k, fold in enumerate(folds, start=1):
        for ticker, split in fold.splits.items():
            if min(split.sizes()) < MIN_SPLIT_SAMPLES:
                train, val, test = split.sizes()
                raise DataError(
                    f"{ticker}: too little history in fold {k} of a backtest cut by calendar "
                    f"date (test from {fold.test_from.date()}; training {train}, validation "
                    f"{val}, test {test} windows of {window} days); leave the ticker out "
                    "or use --scope ticker"
                )


def days_before_test(n_days: int, cfg: FeatureConfig) -> int:
    """How many days come before the default split's first test day."""
    return int(n_days * cfg.train_frac) + int(n_days * cfg.val_frac)


def holdout_split(n_days: int, window: int, holdout: int, val_frac: float) -> Split:
    """Training and validation before the last ``holdout`` days, which are the test part."""
    return history_split(n_days, window, val_frac, n_days - holdout)


# --------------------------------------------------------------------------- history needed


def _at_least(count: float, share: float) -> int:
    """Fewest ``n`` with ``int(n * share) >= count``."""
    n = math.ceil(count / share - 1e-9)
    return n if int(n * share) >= count else n + 1


def _history_days(window: int, val_frac: float) -> int:
    """Fewest days before the first test day that leave enough training and validation."""
    # int((h - window) * val_frac) >= MIN validates; the rest of h - window trains.
    val = _at_least(MIN_SPLIT_SAMPLES, val_frac)
    train = math.ceil(MIN_SPLIT_SAMPLES / (1 - val_frac) - 1e-9)
    return window + max(val, train)


def min_days(cfg: FeatureConfig) -> int:
    """Fewest days of prices that leave every part of the default split enough windows."""
    k = MIN_SPLIT_SAMPLES
    return max(
        _at_least(cfg.window + k, cfg.train_frac),  # training targets lie in window .. n_train
        _at_least(k, cfg.val_frac),
        math.ceil(k / (1 - cfg.train_frac - cfg.val_frac)),  # the rest is at least this share
    )


def min_backtest_days(window: int, cfg: BacktestConfig) -> int:
    """Enough days for every fold: a full history before the first block, blocks of 2+ days."""
    # Rounded block bounds differ by floor or ceil of (test days / folds).
    blocks = _at_least(cfg.folds * MIN_SPLIT_SAMPLES, cfg.test_share)
    return max(blocks, math.ceil(_history_days(window, cfg.val_frac) / (1 - cfg.test_share)))


def check_sizes(split: Split | list[Split], problem: str) -> None:
    """Raise DataError with ``problem`` unless every part of every split has enough samples."""
    splits = split if isinstance(split, list) else [split]
    if min(min(s.sizes()) for s in splits) < MIN_SPLIT_SAMPLES:
        raise DataError(problem)


def check_history(n_days: int, cfg: FeatureConfig, ticker: str) -> Split:
    """The default split of ``n_days``, or DataError if a part is too small."""
    split = default_split(n_days, cfg)
    check_sizes(
        split,
        f"{ticker}: {n_days} days of prices is too little history; with a "
        f"{cfg.window}-day window and a {cfg.train_frac:g}/{cfg.val_frac:g} split "
        f"at least {min_days(cfg)} days are needed",
    )
    return split
