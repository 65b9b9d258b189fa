import numpy as np
import pandas as pd

from pipeline.tracking.plots import band_figure, cumulative_error_figure, rolling_coverage_figure


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
    cov = rolling_coverage_figure(forecasts["actual"], bands, 0.9, ["rnn"], window=20)
    labels = [line.get_label() for line in cov.axes[0].get_lines()]
    assert labels[:2] == ["rnn", "nominal 90%"]
    covered = cov.axes[0].get_lines()[0].get_ydata()
    assert np.nanmax(covered) == 1.0  # every day inside
    gain = cumulative_error_figure(forecasts, ["rnn"])
    ydata = gain.axes[0].get_lines()[0].get_ydata()
    expected = ((forecasts["previous"] - forecasts["actual"]) ** 2 - 0.01).cumsum()
    np.testing.assert_allclose(ydata, expected)
