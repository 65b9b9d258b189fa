import json

import numpy as np
import pandas as pd
import pytest
import torch

from pipeline.config import FeatureConfig, IntervalConfig, ModelConfig, TrainConfig
from pipeline.core.bands import aci_alpha
from pipeline.core.features import build_features, to_price
from pipeline.models.conformal import AdaptiveRNN
from pipeline.models.rnn import RNNForecaster
from pipeline.models.training import fit, forecast_log_returns
from pipeline.serving.forecaster import SPEC, WEIGHTS, Forecaster

TRAIN = TrainConfig(epochs=3, lr=0.01, patience=5)
INTERVALS = IntervalConfig(levels=(0.8, 0.9), scale_trunk="finetune", scale_epochs=3)


@pytest.fixture(scope="module")
def trained():
    from helpers import make_prices

    prices = make_prices(300)
    features = build_features(prices, FeatureConfig(window=10))
    result = fit(features, ModelConfig(hidden_size=8), TRAIN)
    return prices, features, Forecaster(result.model, features.x_scaler, features.y_scaler, 10)


@pytest.fixture(scope="module")
def with_intervals():
    from helpers import make_prices

    prices = make_prices(300)
    features = build_features(prices, FeatureConfig(window=10))
    rnn = RNNForecaster(ModelConfig(hidden_size=8), TRAIN, INTERVALS).fit(features)
    fc = Forecaster(
        rnn.intervals.model, features.x_scaler, features.y_scaler, 10,
        multipliers=rnn.intervals.multipliers, residuals=rnn.intervals.residuals,
    )  # fmt: skip
    return prices, features, rnn, fc


def test_raw_rows_give_the_same_forecasts_as_the_training_path(trained):
    prices, features, forecaster = trained
    ends = features.split.test
    rows = prices.iloc[ends[0] - 9 : ends[-1] + 1]
    from_rows = forecaster.forecast(rows)
    scaled = forecast_log_returns(forecaster.model, features, ends, 64)
    for h in range(1, features.horizon + 1):
        expected = to_price(features.log_prices[ends, 3], scaled[:, h - 1], features.y_scaler)
        np.testing.assert_allclose(forecaster.forecast(rows, h), expected, rtol=1e-5)
    np.testing.assert_array_equal(from_rows, forecaster.forecast(rows, 1))


def test_raw_rows_give_the_same_bands_as_the_training_path(with_intervals):
    prices, features, rnn, forecaster = with_intervals
    ends = features.split.test
    rows = prices.iloc[ends[0] - 9 : ends[-1] + 1]
    served, trained = forecaster.forecast_bands(rows), rnn.bands(features, ends)
    assert served.levels == trained.levels == (0.8, 0.9)
    np.testing.assert_array_equal(served.median, forecaster.forecast(rows))
    np.testing.assert_allclose(served.median, trained.median, rtol=1e-5)
    np.testing.assert_allclose(served.lower, trained.lower, rtol=1e-5)
    np.testing.assert_allclose(served.upper, trained.upper, rtol=1e-5)
    # The 90% interval holds the 80% one, which holds the median.
    assert (served.lower[:, 1] <= served.lower[:, 0]).all()
    assert (served.lower[:, 0] < served.median).all() and (served.median < served.upper[:, 0]).all()
    assert (served.upper[:, 0] <= served.upper[:, 1]).all()


def test_answer_has_the_forecast_and_each_levels_bounds(with_intervals):
    prices, _, _, forecaster = with_intervals
    answer = forecaster.answer(prices.tail(30))
    assert list(answer.columns) == [
        "predicted_close", "lower_80", "upper_80", "lower_90", "upper_90"
    ]  # fmt: skip
    assert len(answer) == 1
    assert answer["predicted_close"].iloc[0] == pytest.approx(
        forecaster.forecast(prices.tail(30))[-1]
    )


def test_save_and_load_round_trip(with_intervals, tmp_path):
    prices, _, _, forecaster = with_intervals
    forecaster.save(tmp_path / "f")
    spec = json.loads((tmp_path / "f" / SPEC).read_text())
    assert spec["intervals"]["levels"] == [0.8, 0.9]
    assert spec["intervals"]["scale_trunk"] == "finetune"
    back = Forecaster.load(tmp_path / "f")
    rows = prices.tail(25)
    np.testing.assert_array_equal(back.forecast(rows), forecaster.forecast(rows))
    assert len(back.forecast(rows)) == 25 - 10 + 1
    assert back.multipliers == forecaster.multipliers
    np.testing.assert_array_equal(
        back.forecast_bands(rows).upper, forecaster.forecast_bands(rows).upper
    )


def test_a_model_saved_before_intervals_still_gives_point_forecasts(trained, tmp_path):
    prices, _, forecaster = trained
    forecaster.save(tmp_path / "old")
    # What an older version saved: no scale head in the weights, no intervals in the spec.
    state = {k: v for k, v in forecaster.model.state_dict().items() if "scale" not in k}
    torch.save(state, tmp_path / "old" / WEIGHTS)
    spec = json.loads((tmp_path / "old" / SPEC).read_text())
    assert "intervals" not in spec
    old = Forecaster.load(tmp_path / "old")
    assert old.multipliers is None
    np.testing.assert_array_equal(
        old.forecast(prices.tail(20)), forecaster.forecast(prices.tail(20))
    )
    assert list(old.answer(prices.tail(20)).columns) == ["predicted_close"]
    with pytest.raises(ValueError, match="saved before forecast intervals"):
        old.forecast_bands(prices.tail(20))


def test_weights_that_do_not_match_are_refused(trained, tmp_path):
    _, _, forecaster = trained
    forecaster.save(tmp_path / "bad")
    state = {k: v for k, v in forecaster.model.state_dict().items() if not k.startswith("head")}
    torch.save(state, tmp_path / "bad" / WEIGHTS)
    with pytest.raises(ValueError, match="does not match"):
        Forecaster.load(tmp_path / "bad")


def test_bad_rows_are_refused(trained):
    prices, _, forecaster = trained
    with pytest.raises(ValueError, match="at least 10 rows"):
        forecaster.forecast(prices.tail(9))
    with pytest.raises(ValueError, match="missing column"):
        forecaster.forecast(prices.tail(20).drop(columns="Low"))
    bad = prices.tail(20).copy()
    bad.iloc[3, 0] = -1.0
    with pytest.raises(ValueError, match="positive"):
        forecaster.forecast(bad)


def test_online_aci_in_serving_matches_the_backtests_aci_day_by_day(with_intervals):
    """Fed the misses of its own earlier answers, the served model gives the same bands
    as the backtest's ACI (models.conformal.AdaptiveRNN) on the same days."""
    prices, features, rnn, forecaster = with_intervals
    gamma, ends = 0.05, features.split.test
    expected = AdaptiveRNN(rnn, gamma).bands(features, ends)
    close = prices["Close"].to_numpy()
    misses: dict[float, list[bool]] = {0.8: [], 0.9: []}
    for i, end in enumerate(ends):
        alphas = {level: aci_alpha(level, gamma, misses[level]) for level in misses}
        answer = forecaster.answer(prices.iloc[end - 9 : end + 1], alphas).iloc[0]
        for j, (level, p) in enumerate(((0.8, "80"), (0.9, "90"))):
            lower, upper = answer[f"lower_{p}"], answer[f"upper_{p}"]
            assert lower == pytest.approx(expected.lower[i, j], rel=1e-5)
            assert upper == pytest.approx(expected.upper[i, j], rel=1e-5)
            misses[level].append(not lower <= close[end + 1] <= upper)
    assert any(misses[0.8]) and not all(misses[0.8])  # the history did move the bands


def test_without_history_online_aci_gives_the_calibrated_bands(with_intervals):
    prices, _, _, forecaster = with_intervals
    rows = prices.tail(10)
    calibrated = forecaster.answer(rows)
    no_history = forecaster.answer(rows, {0.8: aci_alpha(0.8, 0.05, []), 0.9: 0.1})
    pd.testing.assert_frame_equal(no_history, calibrated)
    wider = forecaster.answer(rows, {0.9: 0.02})  # after misses: a lower miss rate
    assert wider["lower_90"].iloc[0] < calibrated["lower_90"].iloc[0]
    assert wider["upper_90"].iloc[0] > calibrated["upper_90"].iloc[0]
    assert wider["lower_80"].iloc[0] == calibrated["lower_80"].iloc[0]


def test_calibration_residuals_are_saved_with_the_model(with_intervals, tmp_path):
    _, _, rnn, forecaster = with_intervals
    forecaster.save(tmp_path)
    back = Forecaster.load(tmp_path)
    np.testing.assert_array_equal(back.residuals, rnn.intervals.residuals)
