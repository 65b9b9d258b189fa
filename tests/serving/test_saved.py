"""A Forecaster saved and loaded: its calibrations, and models saved in older formats."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from helpers import make_prices
from helpers.served import INTERVALS, TRAIN, served

from pipeline.config import FeatureConfig, ModelConfig
from pipeline.core.bands import ConformalMultipliers
from pipeline.core.calibration import Calibration
from pipeline.core.features import build_features
from pipeline.models.rnn import RNNForecaster
from pipeline.serving.forecaster import SPEC, WEIGHTS, Forecaster, aci_params


def _spec(folder: Path) -> dict:
    return json.loads((folder / SPEC).read_text())


def _old_block(multipliers: tuple[ConformalMultipliers, ...], residuals: tuple) -> dict:
    """A calibration as the Forecaster and the global model's meta saved it before the
    calibration value: horizon 1 at the top, then ``later_horizons``; each horizon's
    residuals (all of them, or none before online ACI)."""
    blocks = [{"lower": list(m.lower), "upper": list(m.upper)} for m in multipliers]
    for block, r in zip(blocks, residuals, strict=False):
        block["residuals"] = r.tolist()
    first, *later = blocks
    return {"levels": list(multipliers[0].levels), **first, "later_horizons": later}


def _save_old(forecaster: Forecaster, folder: Path, own: dict[str, Calibration]) -> None:
    """``forecaster`` saved in the older format: its calibration in an ``intervals`` block,
    the tickers' ``own`` in ``meta["calibration"]`` (as the global model wrote them)."""
    forecaster.save(folder)
    spec = _spec(folder)
    for key in ("calibration", "calibrations", "scale_trunk"):
        del spec[key]
    c = forecaster.calibration
    spec["intervals"] = {**_old_block(c.multipliers, c.residuals), "scale_trunk": "finetune"}
    if own:
        spec["meta"]["calibration"] = {
            t: _old_block(o.multipliers, o.residuals) for t, o in own.items()
        }
    (folder / SPEC).write_text(json.dumps(spec))


def _own(forecaster: Forecaster, shift: float) -> Calibration:
    """Another series' calibration at the same levels and horizons."""
    residuals = [r + shift for r in forecaster.calibration.residuals]
    return Calibration.from_residuals(residuals, forecaster.calibration.levels)


def test_save_and_load_round_trip(with_intervals, tmp_path):
    prices, _, _, forecaster = with_intervals
    forecaster.save(tmp_path / "f")
    spec = _spec(tmp_path / "f")
    assert spec["calibration"]["levels"] == [0.8, 0.9] and len(spec["calibration"]["horizons"]) == 5
    assert spec["scale_trunk"] == "finetune" and spec["calibrations"] == {}
    back = Forecaster.load(tmp_path / "f")
    rows = prices.tail(25)
    np.testing.assert_array_equal(back.forecast(rows), forecaster.forecast(rows))
    assert len(back.forecast(rows)) == 25 - 10 + 1
    assert back.calibration == forecaster.calibration and back.calibrations == {}
    np.testing.assert_array_equal(
        back.forecast_bands(rows).upper, forecaster.forecast_bands(rows).upper
    )


def test_calibration_residuals_are_saved_with_the_model(with_intervals, tmp_path):
    _, _, rnn, forecaster = with_intervals
    forecaster.save(tmp_path)
    back = Forecaster.load(tmp_path)
    for h in range(5):
        np.testing.assert_array_equal(
            back.calibration.residuals[h], rnn.intervals.horizon_residuals[h]
        )


def test_each_tickers_calibration_is_saved_and_answers_for_it(with_intervals, tmp_path):
    prices, _, _, forecaster = with_intervals
    own = {"ACME": _own(forecaster, 0.3), "BOLT": _own(forecaster, -0.2)}
    universe = forecaster.with_calibrations(own)
    universe.save(tmp_path)
    back = Forecaster.load(tmp_path)
    assert back.calibrations == own and back.calibration == forecaster.calibration
    rows = prices.tail(12)
    acme = back.for_ticker("ACME")
    assert acme.calibration == own["ACME"] and acme.calibrations == own
    assert acme.meta == back.meta and acme.model is back.model
    pd.testing.assert_frame_equal(
        acme.answer(rows), forecaster.with_calibration(own["ACME"]).answer(rows)
    )
    assert not acme.answer(rows).equals(back.answer(rows))  # not the pooled bounds
    with pytest.raises(KeyError, match="CODA"):
        back.for_ticker("CODA")
    # A ticker with its own calibration gets it; another is calibrated on its recent rows.
    got, days = back.calibrated_for("BOLT", prices)
    assert got.calibration == own["BOLT"] and days is None
    got, days = back.calibrated_for("CODA", prices, days=100)
    assert days == 100 and got.calibration == back.recalibrated(prices, 100)[0].calibration
    assert got.calibration.adaptable == 5 and got.calibrations == own


def test_a_model_saved_in_the_older_format_loads_the_same(with_intervals, tmp_path):
    prices, _, _, forecaster = with_intervals
    _save_old(forecaster, tmp_path / "old", {})
    assert "intervals" in _spec(tmp_path / "old")
    old = Forecaster.load(tmp_path / "old")
    assert old.calibration == forecaster.calibration and old.calibrations == {}
    rows = prices.tail(12)
    params = {"aci_alpha_90": 0.03, "aci_alpha_80_h4": 0.3}
    pd.testing.assert_frame_equal(
        old.answer(rows, old.alphas_from_params(params)),
        forecaster.answer(rows, forecaster.alphas_from_params(params)),
    )
    old.save(tmp_path / "new")  # saved again: the new format, the same model
    assert "intervals" not in _spec(tmp_path / "new")
    assert Forecaster.load(tmp_path / "new").calibration == forecaster.calibration


def test_a_global_model_saved_in_the_older_format_keeps_each_tickers_calibration(
    with_intervals, tmp_path
):
    prices, _, _, forecaster = with_intervals
    own = {"ACME": _own(forecaster, 0.3), "BOLT": _own(forecaster, -0.2)}
    _save_old(forecaster, tmp_path, own)
    assert sorted(_spec(tmp_path)["meta"]["calibration"]) == ["ACME", "BOLT"]
    old = Forecaster.load(tmp_path)
    assert old.calibrations == own and old.calibration == forecaster.calibration
    assert "calibration" not in old.meta  # moved out of the meta, into the calibrations
    rows = prices.tail(12)
    pd.testing.assert_frame_equal(
        old.for_ticker("ACME").answer(rows), forecaster.with_calibration(own["ACME"]).answer(rows)
    )
    # Saved before the global model kept residuals: its tickers' intervals cannot adapt.
    bare = {"ACME": Calibration(own["ACME"].multipliers)}
    _save_old(forecaster, tmp_path / "bare", bare)
    acme = Forecaster.load(tmp_path / "bare").for_ticker("ACME")
    assert acme.calibration == bare["ACME"] and acme.adaptable_horizons() == 0


def test_a_model_of_one_horizon_answers_one_row(tmp_path):
    prices = make_prices(300)
    features = build_features(prices, FeatureConfig(window=10, horizon=1))
    one = served(
        RNNForecaster(ModelConfig(hidden_size=8), TRAIN, INTERVALS).fit(features), features
    )
    # As a model saved before horizons wrote it: no horizon, no later horizons.
    _save_old(one, tmp_path / "one", {})
    spec = _spec(tmp_path / "one")
    del spec["horizon"], spec["intervals"]["later_horizons"]
    (tmp_path / "one" / SPEC).write_text(json.dumps(spec))
    back = Forecaster.load(tmp_path / "one")
    rows = prices.tail(10).set_axis(pd.bdate_range(end="2013-03-28", periods=10, name="Date"))
    answer = back.answer(rows, back.alphas_from_params(aci_params((0.8, 0.9))))
    assert back.horizon == 1 and answer["horizon"].tolist() == [1]
    assert answer["target_date"].tolist() == [pd.Timestamp("2013-04-01")]
    pd.testing.assert_frame_equal(answer, one.answer(rows))
    assert back.alphas_from_params({"aci_alpha_90_h2": 0.01}) == {}


def test_a_model_saved_before_intervals_still_gives_point_forecasts(trained, tmp_path):
    prices, _, forecaster = trained
    forecaster.save(tmp_path / "old")
    # What an older version saved: no scale head in the weights, no intervals in the spec.
    state = {k: v for k, v in forecaster.model.state_dict().items() if "scale" not in k}
    torch.save(state, tmp_path / "old" / WEIGHTS)
    spec = _spec(tmp_path / "old")
    assert "calibration" not in spec and "intervals" not in spec
    old = Forecaster.load(tmp_path / "old")
    assert old.calibration is None and old.multipliers is None
    np.testing.assert_array_equal(
        old.forecast(prices.tail(20)), forecaster.forecast(prices.tail(20))
    )
    answer = old.answer(prices.tail(20))
    assert list(answer.columns) == ["horizon", "target_date", "predicted_close"]
    assert answer["predicted_close"].tolist() == [
        old.forecast(prices.tail(20), h)[-1] for h in range(1, old.horizon + 1)
    ]
    with pytest.raises(ValueError, match="saved before forecast intervals"):
        old.forecast_bands(prices.tail(20))


def test_weights_that_do_not_match_are_refused(trained, tmp_path):
    _, _, forecaster = trained
    forecaster.save(tmp_path / "bad")
    state = {k: v for k, v in forecaster.model.state_dict().items() if not k.startswith("head")}
    torch.save(state, tmp_path / "bad" / WEIGHTS)
    with pytest.raises(ValueError, match="does not match"):
        Forecaster.load(tmp_path / "bad")
