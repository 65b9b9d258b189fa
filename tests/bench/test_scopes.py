"""The per-ticker against global comparison reads only the logged per-day forecasts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from benchmarks.scopes import compare, coverage_markdown, markdown
from pipeline.metrics.dm import diebold_mariano_losses
from pipeline.metrics.intervals import interval_score


def _rows(dates, models, rng):
    frames = []
    close = 100 + rng.standard_normal(len(dates)).cumsum()
    for model, width in models.items():
        median = close + rng.normal(0, 1, len(dates))
        frames.append(pd.DataFrame({
            "ticker": "ACME", "fold": 1, "date": dates, "model": model, "close": close,
            "previous": close, "median": median, "lower_90": median - width,
            "upper_90": median + width,
        }))  # fmt: skip
    return pd.concat(frames, ignore_index=True)


def test_both_scopes_are_scored_on_the_dates_they_share():
    rng = np.random.default_rng(0)
    days = pd.bdate_range("2020-01-01", periods=80)
    per_ticker = _rows(days[20:], {"rnn": 1.5, "rnn_aci": 1.6}, rng)  # a shorter history
    pooled = _rows(days, {"rnn": 2.0, "ewma": 1.8, "rnn_aci": 2.1, "ridge": 0.0}, rng)
    result = compare({"ticker": per_ticker, "global": pooled}, "global", 0.9, 1)
    assert result["days"] == 60
    assert list(result["scores"]) == [
        "rnn (ticker)",
        "rnn_aci (ticker)",
        "rnn (global)",
        "rnn_aci (global)",
        "ewma",
    ]  # fmt: skip  (a point model has no interval)
    own = pooled[(pooled["model"] == "ewma") & (pooled["date"] >= days[20])]
    expected = interval_score(own["close"], own["lower_90"], own["upper_90"], 0.9)
    assert np.mean(result["scores"]["ewma"][0]) == pytest.approx(expected.mean())
    assert "rnn (global)" not in result["dm"] and 0 <= result["dm"]["ewma"].pvalue <= 1
    table = markdown({"ACME": result})
    assert "| ACME (60) |" in table and "vs rnn (ticker)" in table


def test_a_horizon_is_scored_on_its_own_rows_with_the_hln_overlap():
    rng = np.random.default_rng(1)
    days = pd.bdate_range("2020-01-01", periods=80)
    one = _rows(days, {"rnn": 2.0, "rnn_aci": 2.0, "ewma": 1.8}, rng).assign(horizon=1)
    five = _rows(days[4:], {"rnn": 3.0, "rnn_aci": 3.0, "ewma": 2.5}, rng).assign(horizon=5)
    both = pd.concat([one, five], ignore_index=True)
    result = compare({"a": both, "b": both}, "b", 0.9, 5)
    assert result["days"] == 76
    own = five[five["model"] == "ewma"]
    expected = interval_score(own["close"], own["lower_90"], own["upper_90"], 0.9)
    assert np.mean(result["scores"]["ewma"][0]) == pytest.approx(expected.mean())
    rnn = five[five["model"] == "rnn"]
    ours = interval_score(rnn["close"], rnn["lower_90"], rnn["upper_90"], 0.9)
    dm = diebold_mariano_losses(np.asarray(ours), np.asarray(expected), 5)
    assert result["dm"]["ewma"].pvalue == pytest.approx(dm.pvalue)


def test_the_coverage_table_has_a_row_per_run_model_and_series_and_a_column_per_horizon():
    rng = np.random.default_rng(2)
    days = pd.bdate_range("2020-01-01", periods=40)
    rows = pd.concat(
        [
            _rows(days, {"rnn": 50.0, "rnn_aci": 50.0}, rng).assign(horizon=1),
            _rows(days, {"rnn": 0.0, "rnn_aci": 50.0}, rng).assign(horizon=2),
        ]
    )
    table = coverage_markdown({"global": {"ACME": rows}}, 0.9, ("rnn", "rnn_aci"))
    assert "| h=1 | h=2 |" in table
    assert "| rnn (global) | ACME | 1.000 | 0.000 |" in table
    assert "| rnn_aci (global) | ACME | 1.000 | 1.000 |" in table
