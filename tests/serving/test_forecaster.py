"""The served Forecaster: raw rows give the training path's forecasts and bands; its answer."""

import numpy as np
import pandas as pd
import pytest

from pipeline.core.calibration import aci_alpha
from pipeline.core.features import to_price
from pipeline.models.adaptive_rnn import AdaptiveRNN
from pipeline.models.training import forecast_log_returns
from pipeline.serving.forecaster import Forecaster, aci_params


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


def test_answer_has_a_row_per_horizon_with_the_forecast_and_each_levels_bounds(with_intervals):
    prices, _, _, forecaster = with_intervals
    rows = prices.tail(30)
    answer = forecaster.answer(rows)
    assert list(answer.columns) == [
        "horizon", "target_date", "predicted_close", "lower_80", "upper_80", "lower_90", "upper_90"
    ]  # fmt: skip
    assert forecaster.horizon == 5 and answer["horizon"].tolist() == [1, 2, 3, 4, 5]
    for h in range(1, 6):
        row = answer.iloc[h - 1]
        assert row["predicted_close"] == forecaster.forecast(rows, h)[-1]
        bands = forecaster.forecast_bands(rows, horizon=h)
        assert (row["lower_90"], row["upper_90"]) == (bands.lower[-1, 1], bands.upper[-1, 1])
    # Dated rows: the next five NYSE sessions after the last row (Tuesday 2021-02-23).
    assert rows.index[-1] == pd.Timestamp("2021-02-23")
    assert list(answer["target_date"]) == list(
        pd.to_datetime(["2021-02-24", "2021-02-25", "2021-02-26", "2021-03-01", "2021-03-02"])
    )


def _ending(rows: pd.DataFrame, last: str) -> pd.DataFrame:
    """``rows`` re-dated on business days ending on ``last``."""
    return rows.set_axis(pd.bdate_range(end=last, periods=len(rows), name="Date"))


def test_target_dates_skip_weekends_and_exchange_holidays(with_intervals):
    prices, _, _, forecaster = with_intervals
    # Thursday 2013-03-28; Good Friday 2013-03-29 the NYSE is closed, then a weekend.
    rows = _ending(prices.tail(12), "2013-03-28")
    expected = pd.to_datetime(
        ["2013-04-01", "2013-04-02", "2013-04-03", "2013-04-04", "2013-04-05"]
    )
    assert list(forecaster.answer(rows)["target_date"]) == list(expected)
    # The same dates from a Date column (as the served model gets them), or a date column.
    dated = rows.reset_index()
    assert list(forecaster.answer(dated)["target_date"]) == list(expected)
    as_text = dated.rename(columns={"Date": "date"}).assign(date=lambda d: d.date.astype(str))
    assert list(forecaster.answer(as_text)["target_date"]) == list(expected)
    # No dates: no target dates, the same forecasts.
    undated = forecaster.answer(rows.reset_index(drop=True))
    assert undated["target_date"].isna().all()
    pd.testing.assert_frame_equal(
        undated.drop(columns="target_date"), forecaster.answer(rows).drop(columns="target_date")
    )
    # A model trained on London's calendar: Easter Monday closed too.
    london = Forecaster(
        forecaster.model, forecaster.x_scaler, forecaster.y_scaler, 10,
        {"config": {"data.calendar": "XLON"}}, forecaster.calibration,
    )  # fmt: skip
    assert london.answer(rows)["target_date"].iloc[0] == pd.Timestamp("2013-04-02")


def test_per_horizon_aci_rates_move_only_their_horizon(with_intervals):
    prices, _, _, forecaster = with_intervals
    rows = prices.tail(10)
    calibrated = forecaster.answer(rows)
    # The parameters' defaults (the calibrated miss rates) give the calibrated bands.
    defaults = forecaster.alphas_from_params(aci_params((0.8, 0.9), horizons=5))
    assert sorted(defaults) == [1, 2, 3, 4, 5]
    pd.testing.assert_frame_equal(forecaster.answer(rows, defaults), calibrated)
    params = {"aci_alpha_90_h2": 0.02, "aci_alpha_80": None}
    assert forecaster.alphas_from_params(params) == {2: {0.9: 0.02}}
    wider = forecaster.answer(rows, forecaster.alphas_from_params(params))
    assert wider["lower_90"].iloc[1] < calibrated["lower_90"].iloc[1]
    assert wider["upper_90"].iloc[1] > calibrated["upper_90"].iloc[1]
    unchanged = [0, 2, 3, 4]
    pd.testing.assert_frame_equal(wider.iloc[unchanged], calibrated.iloc[unchanged])
    assert wider["lower_80"].equals(calibrated["lower_80"])


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
