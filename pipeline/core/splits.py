"""Chronological splits: which samples train, validate and test.

A sample is named by its *end* day ``t``: its window is days ``t - window + 1 ..
t`` and its target is day ``t + 1``; it belongs to the part its target day falls
in. One function, ``split_by_target_day``, makes every split: the default
70/15/15 split, each walk-forward fold and the retrain holdout only choose the
boundaries (a ``Cut``, in days of a calendar). The fewest days each needs is
computed from the same boundaries.

A universe (a group of tickers, one ticker being a universe of one) is cut by
calendar date: the boundaries are chosen on the union of the tickers' trading
days, and each ticker's samples fall in the part their target *date* lies in
(``cut_by_date``), so that no ticker's training or validation target lies on or
after another's first test date. A ticker that traded on every day of the
calendar (a universe of one always) gets exactly the split of its own days.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
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


@dataclass(frozen=True)
class Cut:
    """The boundaries of a split in days of a calendar: validation targets from day
    ``val_from``, test targets from ``test_from`` up to ``test_to`` (exclusive; None: the end)."""

    val_from: int
    test_from: int
    test_to: int | None = None


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


# --------------------------------------------------------------------------- the cuts


def default_cut(n_days: int, cfg: FeatureConfig) -> Cut:
    """The first ``train_frac`` of the days train, the next ``val_frac`` validate, the rest test."""
    return Cut(int(n_days * cfg.train_frac), days_before_test(n_days, cfg))


def history_cut(window: int, val_frac: float, test_from: int, test_to: int | None = None) -> Cut:
    """Everything before ``test_from`` is history; its last ``val_frac`` validates."""
    n_val = int((test_from - window) * val_frac)
    return Cut(test_from - n_val, test_from, test_to)


def fold_cuts(n_days: int, window: int, cfg: BacktestConfig) -> list[Cut]:
    """Each fold's cut: the last ``test_share`` of the days cut into ``folds`` test blocks."""
    first_test_day = n_days - int(n_days * cfg.test_share)
    bounds = np.linspace(first_test_day, n_days, cfg.folds + 1).round().astype(int)
    return [
        history_cut(window, cfg.val_frac, int(start), int(stop) if stop < n_days else None)
        for start, stop in itertools.pairwise(bounds)
    ]


def holdout_cut(n_days: int, window: int, holdout: int, val_frac: float) -> Cut:
    """Training and validation before the last ``holdout`` days, which are the test part."""
    return history_cut(window, val_frac, n_days - holdout)


def days_before_test(n_days: int, cfg: FeatureConfig) -> int:
    """How many days come before the default split's first test day."""
    return int(n_days * cfg.train_frac) + int(n_days * cfg.val_frac)


# --------------------------------------------------------------------------- one series' own days


def default_split(n_days: int, cfg: FeatureConfig) -> Split:
    """The default split of one series' ``n_days`` days (``default_cut``)."""
    return split_by_target_day(n_days, cfg.window, *_bounds(default_cut(n_days, cfg)))


def walk_forward_splits(n_days: int, window: int, cfg: BacktestConfig) -> list[Split]:
    """Each walk-forward fold's split of one series' ``n_days`` days (``fold_cuts``)."""
    return [
        split_by_target_day(n_days, window, *_bounds(cut)) for cut in fold_cuts(n_days, window, cfg)
    ]


def holdout_split(n_days: int, window: int, holdout: int, val_frac: float) -> Split:
    """The retrain split of one series' ``n_days`` days (``holdout_cut``)."""
    return split_by_target_day(
        n_days, window, *_bounds(holdout_cut(n_days, window, holdout, val_frac))
    )


def _bounds(cut: Cut) -> tuple[int, int, int | None]:
    return cut.val_from, cut.test_from, cut.test_to


# --------------------------------------------------------------------------- a universe


@dataclass(frozen=True)
class CalendarFold:
    """One cut of a universe: the same calendar dates for every ticker."""

    val_from: pd.Timestamp  # first validation target date
    test_from: pd.Timestamp  # first test target date
    test_to: pd.Timestamp | None  # first date after the test block (None: to the end)
    splits: dict[str, Split]  # each ticker's end days, by its own day index


def union_calendar(dates: Mapping[str, pd.DatetimeIndex]) -> pd.DatetimeIndex:
    """Every date on which at least one ticker traded, ascending."""
    return pd.DatetimeIndex(sorted(set().union(*(set(d) for d in dates.values()))))


def cut_by_date(
    dates: Mapping[str, pd.DatetimeIndex], window: int, cut: Cut, calendar: pd.DatetimeIndex
) -> CalendarFold:
    """Each ticker's split by the dates of ``cut`` on ``calendar``: a sample goes by its
    target's date."""
    val_from, test_from = calendar[cut.val_from], calendar[cut.test_from]
    test_to = None if cut.test_to is None else calendar[cut.test_to]
    splits = {}
    for ticker, own in dates.items():
        own = pd.Index(own)
        bounds = [int(own.searchsorted(d)) for d in (val_from, test_from)]
        end = len(own) if test_to is None else int(own.searchsorted(test_to))
        splits[ticker] = split_by_target_day(len(own), window, *bounds, end)
    return CalendarFold(val_from, test_from, test_to, splits)


def calendar_default_split(
    dates: Mapping[str, pd.DatetimeIndex], cfg: FeatureConfig
) -> dict[str, Split]:
    """The default split of a universe, cut by calendar date; DataError for a ticker short
    of a part."""
    calendar = union_calendar(dates)
    fold = cut_by_date(dates, cfg.window, default_cut(len(calendar), cfg), calendar)
    check_splits(
        [fold.splits], dates, f"; with a {cfg.window}-day window and a {cfg.train_frac:g}/"
        f"{cfg.val_frac:g} split at least {min_days(cfg)} days are needed",
    )  # fmt: skip
    return fold.splits


def calendar_folds(
    dates: Mapping[str, pd.DatetimeIndex], window: int, cfg: BacktestConfig
) -> list[CalendarFold]:
    """Walk-forward folds of a universe: ``fold_cuts`` on the union calendar, unchecked."""
    calendar = union_calendar(dates)
    return [
        cut_by_date(dates, window, cut, calendar) for cut in fold_cuts(len(calendar), window, cfg)
    ]


def calendar_splits(
    dates: Mapping[str, pd.DatetimeIndex], window: int, cfg: BacktestConfig, what: str = "backtest"
) -> list[CalendarFold]:
    """Walk-forward folds of a universe (``calendar_folds``); DataError for a ticker short of
    a part in a fold (``what``: the job that asks, for the message)."""
    folds = calendar_folds(dates, window, cfg)
    check_splits(
        [f.splits for f in folds], dates, f" for a {cfg.folds}-fold {what} with a {window}-day "
        f"window; at least {min_backtest_days(window, cfg)} days are needed",
    )  # fmt: skip
    return folds


def calendar_holdout_split(
    dates: Mapping[str, pd.DatetimeIndex], window: int, holdout: int, val_frac: float
) -> CalendarFold:
    """Each ticker's retrain split, the universe's last ``holdout`` sessions its test part;
    DataError for a ticker short of a part."""
    calendar = union_calendar(dates)
    if len(calendar) - holdout <= window:
        raise DataError(
            f"the {len(calendar)} sessions of prices are too few to hold out the last "
            f"{holdout} with a {window}-day window; use a smaller --holdout or more history"
        )
    fold = cut_by_date(
        dates, window, holdout_cut(len(calendar), window, holdout, val_frac), calendar
    )
    check_splits(
        [fold.splits], dates,
        f" to train on all but the last {holdout} days with a {window}-day window",
    )  # fmt: skip
    return fold


def check_splits(
    splits: Sequence[Mapping[str, Split]], dates: Mapping[str, pd.DatetimeIndex], problem: str
) -> None:
    """DataError for the first ticker with too few samples in a part of one of ``splits``:
    ``"<TICKER>: <n> days of prices is too little history<problem>"``, naming the
    universe's calendar when the ticker did not trade on all of its days."""
    n_calendar = len(union_calendar(dates)) if len(dates) > 1 else None
    for split in splits:
        for ticker, own in split.items():
            if min(own.sizes()) >= MIN_SPLIT_SAMPLES:
                continue
            n = len(dates[ticker])
            text = f"{ticker}: {n} days of prices is too little history{problem}"
            if n_calendar is not None and n < n_calendar:
                text += (
                    f" (cut by the dates of the universe's {n_calendar} sessions: leave "
                    f"{ticker} out or use --scope ticker)"
                )
            raise DataError(text)


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
