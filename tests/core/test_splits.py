"""One split function for the default split, the backtest folds and the retrain holdout."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.config import BacktestConfig, FeatureConfig
from pipeline.core.splits import (
    MIN_SPLIT_SAMPLES,
    calendar_default_split,
    calendar_folds,
    calendar_holdout_split,
    calendar_splits,
    default_split,
    holdout_split,
    min_backtest_days,
    min_days,
    split_by_target_day,
    walk_forward_splits,
)
from pipeline.errors import DataError


def test_split_by_target_day_known_answer():
    # 20 days, window 3: ends 2..18; train days 0..13 (14), val 14..16 (3), test 17..19.
    s = default_split(20, FeatureConfig(window=3, train_frac=0.7, val_frac=0.15))
    assert s.train.tolist() == list(range(2, 13))  # targets 3..13
    assert s.val.tolist() == [13, 14, 15]  # targets 14..16
    assert s.test.tolist() == [16, 17, 18]  # targets 17..19
    direct = split_by_target_day(20, 3, val_from=14, test_from=17)
    assert [p.tolist() for p in (direct.train, direct.val, direct.test)] == [
        p.tolist() for p in (s.train, s.val, s.test)
    ]


def test_splits_are_chronological_disjoint_and_cover_every_end():
    s = default_split(500, FeatureConfig())
    assert s.train.max() < s.val.min() <= s.val.max() < s.test.min()
    ends = np.concatenate([s.train, s.val, s.test])
    assert ends.tolist() == list(range(29, 499))


def test_holdout_split_keeps_the_last_days_out_of_training():
    s = holdout_split(500, 30, 60, 0.15)
    assert (s.test + 1).tolist() == list(range(440, 500))
    assert s.train.max() < s.val.min() and s.val.max() + 1 < 440
    # The holdout is the last walk-forward fold of a one-fold backtest with the same history.
    fold = walk_forward_splits(500, 30, BacktestConfig(folds=1, test_share=60 / 500))[0]
    assert [p.tolist() for p in (fold.train, fold.val, fold.test)] == [
        p.tolist() for p in (s.train, s.val, s.test)
    ]


def test_too_little_history_names_the_minimum():
    cfg = FeatureConfig()
    need = min_days(cfg)
    assert need == 46  # int(46 * 0.7) = 32 = window + 2 training targets
    days = pd.bdate_range("2020-01-01", periods=need)
    calendar_default_split({"AAPL": days}, cfg)  # exactly enough passes
    with pytest.raises(DataError, match=rf"AAPL: {need - 1} days .* at least {need} days"):
        calendar_default_split({"AAPL": days[1:]}, cfg)


@settings(max_examples=200, deadline=None)
@given(
    window=st.integers(2, 60),
    train_frac=st.floats(0.3, 0.8),
    val_frac=st.floats(0.05, 0.3),
)
def test_min_days_is_enough_for_any_config(window, train_frac, val_frac):
    if train_frac + val_frac >= 0.95:
        return
    cfg = FeatureConfig(window=window, train_frac=train_frac, val_frac=val_frac)
    assert min(default_split(min_days(cfg), cfg).sizes()) >= MIN_SPLIT_SAMPLES


@settings(max_examples=200, deadline=None)
@given(
    window=st.integers(2, 60),
    folds=st.integers(1, 8),
    test_share=st.floats(0.05, 0.6),
    val_frac=st.floats(0.05, 0.5),
)
def test_min_backtest_days_is_enough_for_every_fold(window, folds, test_share, val_frac):
    cfg = BacktestConfig(folds=folds, test_share=test_share, val_frac=val_frac)
    splits = walk_forward_splits(min_backtest_days(window, cfg), window, cfg)
    assert min(min(s.sizes()) for s in splits) >= MIN_SPLIT_SAMPLES


CALENDAR = pd.bdate_range("2000-01-03", periods=600)


@st.composite
def universes(draw):
    """Up to 4 tickers, each trading its own stretch of a calendar with its own gaps."""
    tickers = {}
    for i in range(draw(st.integers(1, 4))):
        first = draw(st.integers(0, 300))
        last = draw(st.integers(first + 50, len(CALENDAR)))
        days = CALENDAR[first:last]
        gaps = draw(st.sets(st.integers(0, len(days) - 1), max_size=20))
        tickers[f"T{i}"] = days.delete(sorted(gaps))
    return tickers


@settings(max_examples=60, deadline=None)
@given(dates=universes(), window=st.integers(2, 30), folds=st.integers(1, 5))
def test_calendar_folds_keep_every_training_target_before_the_first_test_date(dates, window, folds):
    cfg = BacktestConfig(folds=folds, test_share=0.3, val_frac=0.15)
    cuts = calendar_folds(dates, window, cfg)
    assert len(cuts) == folds
    for k, fold in enumerate(cuts):
        assert fold.val_from <= fold.test_from
        if k + 1 < len(cuts):  # blocks follow each other without overlap
            assert fold.test_to == cuts[k + 1].test_from
        for ticker, split in fold.splits.items():
            target = dates[ticker]  # the target date of end day t is day t + 1's
            # No training or validation target on or after the first test date, any ticker.
            for ends in (split.train, split.val):
                assert (target[ends + 1] < fold.test_from).all()
            assert (target[split.train + 1] < fold.val_from).all()
            assert (target[split.val + 1] >= fold.val_from).all()
            tested = target[split.test + 1]
            assert (tested >= fold.test_from).all()
            if fold.test_to is not None:
                assert (tested < fold.test_to).all()
            # Every target day of the ticker inside the block is tested, with a full window.
            before_end = (
                np.ones(len(target), bool) if fold.test_to is None else (target < fold.test_to)
            )
            inside = (target >= fold.test_from) & before_end
            expected = np.flatnonzero(inside)
            assert (split.test + 1).tolist() == expected[expected >= window].tolist()
            # Inputs end on the end day: no window reads a day at or after its target.
            assert (split.train - window + 1 >= 0).all()


def test_calendar_folds_match_the_per_ticker_folds_on_a_shared_calendar():
    dates = {"A": CALENDAR, "B": CALENDAR}
    cfg = BacktestConfig()
    per_ticker = walk_forward_splits(600, 30, cfg)
    for fold, split in zip(calendar_splits(dates, 30, cfg), per_ticker, strict=True):
        for own in fold.splits.values():
            for part in ("train", "val", "test"):
                np.testing.assert_array_equal(getattr(own, part), getattr(split, part))


def test_a_ticker_without_history_before_the_test_block_is_named():
    dates = {"OLD": CALENDAR, "NEW": CALENDAR[-100:]}
    with pytest.raises(
        DataError, match=r"NEW: 100 days .* 5-fold backtest .* universe's 600 sessions: leave NEW"
    ):
        calendar_splits(dates, 30, BacktestConfig())


def _same(a, b) -> bool:
    return all(np.array_equal(getattr(a, p), getattr(b, p)) for p in ("train", "val", "test"))


@settings(max_examples=40, deadline=None)
@given(n=st.integers(120, 900), window=st.integers(2, 30), folds=st.integers(1, 5))
def test_a_universe_of_one_is_cut_exactly_as_its_own_days(n, window, folds):
    """One split: the calendar cut of a ticker alone is the split of its own days."""
    days = {"ONE": pd.bdate_range("2001-01-01", periods=n)}
    features = FeatureConfig(window=window)
    if min(default_split(n, features).sizes()) >= MIN_SPLIT_SAMPLES:
        assert _same(calendar_default_split(days, features)["ONE"], default_split(n, features))
    backtest = BacktestConfig(folds=folds)
    for fold, own in zip(
        calendar_folds(days, window, backtest),
        walk_forward_splits(n, window, backtest),
        strict=True,
    ):
        assert _same(fold.splits["ONE"], own)
    if n - 60 > window:
        assert _same(
            calendar_holdout_split(days, window, 60, 0.15).splits["ONE"],
            holdout_split(n, window, 60, 0.15),
        )


def test_a_ticker_on_every_session_gets_its_own_holdout_split():
    full = CALENDAR[:200]
    late = full[50:].delete(-5)  # starts later, and did not trade on one holdout session
    splits = calendar_holdout_split({"FULL": full, "LATE": late}, 10, 30, 0.15).splits
    assert _same(splits["FULL"], holdout_split(200, 10, 30, 0.15))
    # The other ticker is cut on the same dates: its holdout targets are the universe's last
    # 30 sessions it traded on, and its first validation target is the same date.
    assert list(late[splits["LATE"].test + 1]) == list(full[-30:].delete(-5))
    assert late[splits["LATE"].val[0] + 1] == full[splits["FULL"].val[0] + 1]
