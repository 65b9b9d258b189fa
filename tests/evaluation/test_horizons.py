"""Forecasts 1..H days ahead in the backtest: the same target days for every model at each h."""

import numpy as np
import pandas as pd
import pytest
from helpers import make_prices

from pipeline.config import FeatureConfig
from pipeline.core.features import features_for_split
from pipeline.core.splits import default_split
from pipeline.evaluation.horizons import fold_horizons, horizon_table
from pipeline.metrics.dm import diebold_mariano
from pipeline.models.point import Drift, Persistence
from pipeline.models.volatility import BaselineBands, EWMAVolatility


@pytest.fixture
def frames():
    prices = make_prices(300)
    features = features_for_split(prices, default_split(300, FeatureConfig(window=10)), 10, 4)
    models = [Persistence(), Drift(), BaselineBands("ewma", EWMAVolatility(), (0.9,))]
    for model in models:
        model.fit(features)
    return features, fold_horizons(features, models)


def test_each_horizon_forecasts_the_test_days_whose_target_is_a_test_day(frames):
    features, by_h = frames
    test = features.split.test
    assert sorted(by_h) == [1, 2, 3, 4]
    for h, frame in by_h.items():
        ends = test[: len(test) - (h - 1)]
        assert list(frame.index) == list(features.dates[ends + h])
        assert list(frame["as_of"]) == list(features.dates[ends])
        np.testing.assert_array_equal(frame["actual"], features.close[ends + h])
        np.testing.assert_array_equal(frame["persistence_median"], features.close[ends])
        # The EWMA interval made on the same day widens as sqrt(h) around persistence.
        width = np.log(frame["ewma_upper_90"] / frame["ewma_lower_90"]).to_numpy()
        one_day = np.log(by_h[1]["ewma_upper_90"] / by_h[1]["ewma_lower_90"]).to_numpy()
        np.testing.assert_allclose(width, np.sqrt(h) * one_day[: len(width)], rtol=1e-9)


def test_the_table_tests_each_model_against_the_rnn_with_the_horizons_overlap(frames):
    _, by_h = frames
    frame = by_h[4].copy()
    frame["rnn_median"] = frame["drift_median"] * 1.001  # a stand-in for the RNN's forecast
    table = horizon_table(frame, (0.9,), 4)
    assert set(table.index) == {"persistence", "drift", "ewma", "rnn"}
    assert (table["horizon"] == 4).all()
    errors = {m: frame[f"{m}_median"] - frame["actual"] for m in ("rnn", "persistence")}
    expected = diebold_mariano(errors["rnn"].to_numpy(), errors["persistence"].to_numpy(), 4)
    assert table.loc["persistence", "dm_pvalue_rmse"] == pytest.approx(expected.pvalue)
    assert table.loc["rnn", "rmse"] == pytest.approx(np.sqrt(np.mean(errors["rnn"] ** 2)))
    # Median-only models have no interval columns; the RNN here has no bounds either.
    assert pd.isna(table.loc["drift", "coverage_90"]) and pd.isna(table.loc["rnn", "coverage_90"])
    assert 0 < table.loc["ewma", "coverage_90"] <= 1
