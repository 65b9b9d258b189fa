"""The sweep's objective: folds before the test days, block losses relative to persistence."""

from __future__ import annotations

import dataclasses

import pytest
from helpers import make_prices

from pipeline.config import BacktestConfig, Config, FeatureConfig, ModelConfig, SweepConfig
from pipeline.core.splits import days_before_test, default_split
from pipeline.errors import DataError
from pipeline.evaluation.objective import iterations, sweep_folds, sweep_objective
from pipeline.models.training import fit

CFG = Config(
    features=FeatureConfig(window=10),
    model=ModelConfig(hidden_size=4),
    backtest=BacktestConfig(test_share=0.3),
    sweep=SweepConfig(folds=2),
)
TRAIN = dataclasses.replace(CFG.train, epochs=4, patience=1, lr=0.03)
PRICES = {"AAA": make_prices(300, seed=1), "BBB": make_prices(280, seed=2)}
GROUPS = {ticker: {ticker: prices} for ticker, prices in PRICES.items()}  # --scope ticker


def test_folds_lie_before_the_test_days_and_follow_the_backtest_cut():
    folds = sweep_folds(GROUPS, CFG)
    assert [(f.ticker, f.number) for f in folds] == [("AAA", 1), ("BBB", 1), ("AAA", 2), ("BBB", 2)]
    for ticker, prices in PRICES.items():
        n_history = days_before_test(len(prices), CFG.features)
        first_test_day = default_split(len(prices), CFG.features).test[0] + 1
        assert n_history == first_test_day
        one, two = [f.features for f in folds if f.ticker == ticker]
        for features in (one, two):
            assert len(features.dates) == n_history  # the test days are not even loaded
            split = features.split
            assert split.train.max() < split.val.min() <= split.val.max() < split.test.min()
        # Blocks: consecutive, together the last 30% of the history, up to its last day.
        assert one.split.test[-1] + 1 == two.split.test[0]
        assert two.split.test[-1] + 2 == n_history
        assert one.split.test[0] + 1 == n_history - int(n_history * 0.3)
        # Each fold trains on everything before its own block.
        assert two.split.val.max() + 1 == one.split.test[-1] + 1


def test_too_little_history_names_the_ticker_and_the_minimum():
    with pytest.raises(DataError, match=r"SHORT: 25 days .* 2-fold sweep .* at least \d+"):
        sweep_folds({"SHORT": {"SHORT": make_prices(30)}}, CFG)


def test_a_global_group_pools_its_tickers_folds_cut_on_the_same_dates():
    folds = sweep_folds({"global": PRICES}, CFG)
    assert [(f.ticker, f.number) for f in folds] == [("global", 1), ("global", 2)]
    # The group's test days start on the same date for both tickers: the universe's calendar
    # (AAA's 300 days; BBB trades its first 280) cut as one series of 300 days.
    n_history = days_before_test(300, CFG.features)
    for fold in folds:
        pooled = fold.features
        assert len(pooled.log_prices) == 2 * n_history  # both tickers' days before the test
        # No training or validation target on or after the block's first date, any ticker.
        first_test = pooled.dates[pooled.split.test + 1].min()
        for part in (pooled.split.train, pooled.split.val):
            assert pooled.dates[part + 1].max() < first_test


def test_objective_is_the_mean_block_loss_of_the_kept_epochs_with_padded_reports():
    folds = sweep_folds(GROUPS, CFG)
    reports = []
    value = sweep_objective(folds, CFG.model, TRAIN, reports.append)

    # One report per epoch of every fold, padded where early stopping ended a fold.
    assert [r.iteration for r in reports] == list(range(1, iterations(len(folds), TRAIN) + 1))
    assert [r.epoch for r in reports] == [1, 2, 3, 4] * len(folds)
    done = [r for r in reports if r.fold_done]
    assert [(r.ticker, r.fold) for r in done] == [(f.ticker, f.number) for f in folds]

    # Each fold's loss, recomputed from fit's own history: the block's loss at the
    # epoch early stopping kept, over persistence's (epoch 0).
    expected, epochs_run = [], []
    for fold in folds:
        result = fit(fold.features, CFG.model, TRAIN, watch_test=True)
        epochs_run.append(len(result.history) - 1)
        expected.append(result.history[result.best_epoch].test_loss / result.history[0].test_loss)
    assert min(epochs_run) < TRAIN.epochs  # some fold did stop early and was padded
    assert [r.fold_loss for r in done] == pytest.approx(expected)
    assert value == pytest.approx(sum(expected) / len(expected))
    assert reports[-1].objective == pytest.approx(value)
    # The running objective at a fold's end is the mean of the folds done.
    assert done[1].objective == pytest.approx((expected[0] + expected[1]) / 2)
