import numpy as np
import pandas as pd

from pipeline.evaluation.evaluate import IDENTICAL
from pipeline.tracking.plots import (
    band_figure,
    cumulative_error_figure,
    fold_error_figure,
    rolling_coverage_figure,
    summary_figure,
)


def _days(n: int = 200):
    dates = pd.bdate_range("2020-01-01", periods=n, name="Date")
    actual = 100 + np.sin(np.arange(n) / 5.0)
    forecasts = pd.DataFrame(
        {"actual": actual, "previous": np.roll(actual, 1), "rnn": actual + 0.1}, index=dates
    )
    bands = pd.DataFrame(
        {"rnn_median": actual + 0.1, "rnn_lower_90": actual - 0.5, "rnn_upper_90": actual + 0.5},
        index=dates,
    )
    return forecasts, bands


def test_band_figure_shows_the_last_days_and_counts_the_misses():
    forecasts, bands = _days()
    bands.iloc[-10:, 1] = forecasts["actual"].iloc[-10:] + 0.2  # the last 10 days miss low
    fig = band_figure(forecasts, bands, 0.9, "t", days=120)
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "outside (10 of 120 days)" in labels
    line = next(line for line in ax.get_lines() if line.get_label() == "actual Close")
    assert len(line.get_xdata()) == 120


def test_rolling_coverage_and_cumulative_error_figures_draw_each_model():
    forecasts, bands = _days()
    cov = rolling_coverage_figure(forecasts["actual"], bands, 0.9, ["rnn"], "ACME", window=20)
    labels = [line.get_label() for line in cov.axes[0].get_lines()]
    assert labels[:2] == ["rnn", "nominal 90%"]
    covered = cov.axes[0].get_lines()[0].get_ydata()
    assert np.nanmax(covered) == 1.0  # every day inside
    gain = cumulative_error_figure(forecasts, ["rnn"], "ACME")
    line = next(line for line in gain.axes[0].get_lines() if line.get_label() == "rnn")
    expected = ((forecasts["previous"] - forecasts["actual"]) ** 2 - 0.01).cumsum()
    np.testing.assert_allclose(line.get_ydata(), expected)
    assert not gain.axes[0].texts  # a model unlike persistence gets no note


def test_every_title_names_the_ticker_and_the_units():
    forecasts, bands = _days()
    per_fold = pd.DataFrame({"rnn": [1.0, 1.2], "persistence": [1.1, 1.2]}, index=[1, 2])
    figures = [
        rolling_coverage_figure(forecasts["actual"], bands, 0.9, ["rnn"], "ACME"),
        cumulative_error_figure(forecasts, ["rnn"], "ACME"),
        fold_error_figure(per_fold, "ACME"),
    ]
    for fig in figures:
        ax = fig.axes[0]
        assert "ACME" in ax.get_title()
        assert "price units" in ax.get_title() + ax.get_ylabel() or "share" in ax.get_ylabel()
    assert "price units" in band_figure(forecasts, bands, 0.9, "ACME").axes[0].get_ylabel()


def test_a_model_identical_to_persistence_is_said_so_on_the_cumulative_error_plot():
    forecasts, _ = _days()
    forecasts["rnn"] = forecasts["previous"]  # the model fell back to persistence
    ax = cumulative_error_figure(forecasts, ["rnn"], "MSFT").axes[0]
    line = next(line for line in ax.get_lines() if line.get_label().startswith("rnn"))
    assert line.get_label() == f"rnn ({IDENTICAL})"
    np.testing.assert_array_equal(line.get_ydata(), 0.0)  # hidden on the zero line ...
    (note,) = ax.texts  # ... so the plot says where it is
    assert note.get_text() == f"rnn: {IDENTICAL}; its line is the zero line"


def test_the_summary_figure_has_a_row_per_ticker_with_four_decimals():
    table = pd.DataFrame(
        {
            "rnn_theil_u": [0.99761, 1.0],
            "baseline": ["persistence", "persistence"],
            "baseline_theil_u": [1.0, 1.0],
            "rnn_coverage_90": [0.8859, 0.8697],
            "rnn_interval_score_90": [5.0973, 1.4212],
            "interval_baseline": ["ewma", "garch"],
            "baseline_interval_score_90": [5.3238, 1.4535],
            "dm_pvalue_90": [0.0365, 0.1458],
            "note": ["", "identical to persistence"],
        },
        index=["AAPL", "MSFT"],
    )
    fig = summary_figure(table, "AAPL,MSFT: the RNN against the best baseline")
    theil, interval = fig.axes
    assert [t.get_text() for t in theil.get_yticklabels()] == ["AAPL", "MSFT"]
    assert theil.get_yticks().tolist() == [1, 0]  # the first ticker on top
    texts = [t.get_text() for t in theil.texts]
    # 0.9976 and 1.0000 apart, where two decimals would show 1.00 twice.
    assert texts[:2] == ["RNN 0.9976", "RNN 1.0000 (identical to persistence)"]
    assert texts[2:] == ["persistence 1.0000", "persistence 1.0000"]
    assert "RNN 5.0973, coverage 0.8859" in [t.get_text() for t in interval.texts]
    assert "ewma 5.3238; DM p-value 0.0365" in [t.get_text() for t in interval.texts]
    assert fig.get_suptitle().startswith("AAPL,MSFT")
    (legend,) = fig.legends  # one for both panels, below them, covering no label
    assert [t.get_text() for t in legend.get_texts()][1:] == ["best baseline", "RNN"]


def test_the_summary_figure_without_intervals_has_one_panel():
    table = pd.DataFrame(
        {"rnn_theil_u": [0.99], "baseline": ["drift"], "baseline_theil_u": [1.01]}, index=["ACME"]
    )
    assert len(summary_figure(table, "ACME").axes) == 1
