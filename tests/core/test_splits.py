"""One split function for the default split, the backtest folds and the retrain holdout."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.config import BacktestConfig, FeatureConfig
from pipeline.core.splits import (
    MIN_SPLIT_SAMPLES,
    check_history,
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
    check_history(need, cfg, "AAPL")  # exactly enough passes
    with pytest.raises(DataError, match=rf"AAPL: {need - 1} days .* at least {need} days"):
        check_history(need - 1, cfg, "AAPL")


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
