"""The figures logged with each run, drawn with matplotlib's object-oriented API.

``Figure`` objects need no pyplot, no display and no global backend choice,
so importing this module changes nothing outside it.
"""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure


def forecast_figure(forecasts: pd.DataFrame, title: str, models: list[str]) -> Figure:
    """Actual Close against each model's forecast over the given target days."""
    fig = Figure(figsize=(11, 5), dpi=100)
    ax = fig.add_subplot()
    ax.plot(forecasts.index, forecasts["actual"], color="black", lw=1.6, label="actual Close")
    for name in models:
        ax.plot(forecasts.index, forecasts[name], lw=1.0, alpha=0.85, label=name)
    ax.set_title(title)
    ax.set_ylabel("price")
    ax.legend(loc="best", fontsize=8)
    ax.grid(alpha=0.3)
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig


def fold_error_figure(per_fold: pd.DataFrame) -> Figure:
    """RMSE of each model in each fold."""
    fig = Figure(figsize=(9, 4.5), dpi=100)
    ax = fig.add_subplot()
    for name in per_fold.columns:
        ax.plot(per_fold.index, per_fold[name], marker="o", lw=1.2, label=name)
    ax.set_xlabel("fold")
    ax.set_xticks(per_fold.index)
    ax.set_ylabel("RMSE (price units)")
    ax.set_title("walk-forward: error per fold")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig
