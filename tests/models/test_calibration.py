"""The RNN's interval calibration: validation days only, and the choice it makes."""

import dataclasses

import numpy as np
import pytest
from helpers import make_prices
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.config import BacktestConfig, IntervalConfig, ModelConfig, TrainConfig
from pipeline.core.calibration import calibrate_conformal
from pipeline.core.features import features_for_split
from pipeline.core.splits import walk_forward_splits
from pipeline.errors import DataError
from pipeline.models.calibration import check_calibration_days, fit_intervals, validation_score
from pipeline.models.training import fit

MODEL = ModelConfig(hidden_size=8)
TRAIN = TrainConfig(epochs=2, lr=0.01, patience=5, seed=5)
AUTO = IntervalConfig(levels=(0.8, 0.9), scale_trunk="auto", scale_epochs=4, scale_lr=0.01)


def _calibrated(prices, split):
    features = features_for_split(prices, split, 10)
    return fit_intervals(fit(features, MODEL, TRAIN).model, features, AUTO, TRAIN)


@given(seed=st.integers(0, 10_000), factor=st.floats(0.3, 3.0), fold=st.integers(0, 2))
@settings(max_examples=4, suppress_health_check=[HealthCheck.too_slow], deadline=None)
def test_calibration_never_reads_a_test_day(seed, factor, fold):
    prices = make_prices(360, seed=seed)
    split = walk_forward_splits(len(prices), 10, BacktestConfig(folds=3))[fold]
    changed = prices.copy()
    changed.iloc[split.val.max() + 2 :, :4] *= factor  # every day after the last val target
    changed.iloc[split.val.max() + 2 :: 3, :4] *= 1.05  # and a few test days' moves
    a, b = _calibrated(prices, split), _calibrated(changed, split)
    assert a.trunk == b.trunk
    assert a.val_scores == b.val_scores
    assert a.multipliers == b.multipliers
    np.testing.assert_array_equal(a.residuals, b.residuals)


def test_auto_keeps_the_candidate_with_the_lower_validation_score(prices):
    split = walk_forward_splits(len(prices), 10, BacktestConfig(folds=2))[1]
    got = _calibrated(prices, split)
    assert set(got.val_scores) == {"frozen", "finetune", "ewma"}
    assert got.val_scores[got.trunk] == min(got.val_scores["frozen"], got.val_scores["finetune"])
    assert (got.model.scale_rnn is not None) == (got.trunk == "finetune")
    # The multipliers are split-conformal on the normalised validation residuals.
    assert got.multipliers == calibrate_conformal(got.residuals, (0.8, 0.9))
    assert len(got.residuals) == len(split.val)


def test_a_single_trunk_trains_only_that_head(prices):
    split = walk_forward_splits(len(prices), 10, BacktestConfig(folds=2))[1]
    features = features_for_split(prices, split, 10)
    cfg = dataclasses.replace(AUTO, scale_trunk="frozen")
    got = fit_intervals(fit(features, MODEL, TRAIN).model, features, cfg, TRAIN)
    assert got.trunk == "frozen" and set(got.val_scores) == {"frozen", "ewma"}


def test_validation_score_prefers_the_scale_that_tracks_the_spread():
    rng = np.random.default_rng(0)
    sigma = np.where(np.arange(2000) % 100 < 50, 0.005, 0.03)
    actual = sigma * rng.standard_normal(2000)
    centre = np.zeros(2000)
    tracking = validation_score(actual, centre, sigma, (0.9,))
    constant = validation_score(actual, centre, np.full(2000, sigma.mean()), (0.9,))
    assert tracking < 0.8 * constant


def test_too_few_validation_days_for_a_level_is_a_data_error():
    check_calibration_days(19, (0.9,))  # ceil(20 * 0.95) = 19: finite
    with pytest.raises(DataError, match=r"18 validation days are too few .* 0.9 interval"):
        check_calibration_days(18, (0.8, 0.9))
    with pytest.raises(DataError, match="at least 199 are needed"):
        check_calibration_days(150, (0.99,))
