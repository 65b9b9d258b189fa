import numpy as np
import pytest

from pipeline.config import FeatureConfig, ModelConfig, TrainConfig
from pipeline.core.features import build_features, to_price
from pipeline.core.train import fit, forecast_log_returns
from pipeline.serving.forecaster import Forecaster


@pytest.fixture(scope="module")
def trained():
    from helpers import make_prices

    prices = make_prices(300)
    features = build_features(prices, FeatureConfig(window=10))
    result = fit(
        features,
        ModelConfig(hidden_size=8),
        TrainConfig(epochs=3, lr=0.01, patience=5, device="cpu", progress=False),
    )
    return prices, features, Forecaster(result.model, features.x_scaler, features.y_scaler, 10)


def test_raw_rows_give_the_same_forecasts_as_the_training_path(trained):
    prices, features, forecaster = trained
    ends = features.split.test
    rows = prices.iloc[ends[0] - 9 : ends[-1] + 1]
    from_rows = forecaster.forecast(rows)
    scaled = forecast_log_returns(forecaster.model, features, ends, 64)
    expected = to_price(features.log_prices[ends, 3], scaled, features.y_scaler)
    np.testing.assert_allclose(from_rows, expected, rtol=1e-5)


def test_save_and_load_round_trip(trained, tmp_path):
    prices, _, forecaster = trained
    forecaster.save(tmp_path / "f")
    back = Forecaster.load(tmp_path / "f")
    rows = prices.tail(25)
    np.testing.assert_array_equal(back.forecast(rows), forecaster.forecast(rows))
    assert len(back.forecast(rows)) == 25 - 10 + 1


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
