"""The figures logged with each run, drawn with matplotlib's object-oriented API.

``Figure`` objects need no pyplot, no display and no global backend choice,
so importing this module changes nothing outside it. Every title names the
ticker and every axis its units (prices are in the source's price units).
"""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure

from pipeline.evaluation.evaluate import IDENTICAL, identical_to_persistence
from pipeline.evaluation.summary import interval_level

PRICE = "Close (price units)"


def forecast_figure(forecasts: pd.DataFrame, title: str, models: list[str]) -> Figure:
    """Actual Close against each model's forecast over the given target days."""
    fig = Figure(figsize=(11, 5), dpi=100)
    ax = fig.add_subplot()
    ax.plot(forecasts.index, forecasts["actual"], color="black", lw=1.6, label="actual Close")
    for name in models:
        ax.plot(forecasts.index, forecasts[name], lw=1.0, alpha=0.85, label=name)
    ax.set_title(title)
    ax.set_ylabel(PRICE)
    ax.legend(loc="best", fontsize=8)
    ax.grid(alpha=0.3)
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig


def fold_error_figure(per_fold: pd.DataFrame, ticker: str) -> Figure:
    """RMSE of each model in each fold."""
    fig = Figure(figsize=(9, 4.5), dpi=100)
    ax = fig.add_subplot()
    for name in per_fold.columns:
        ax.plot(per_fold.index, per_fold[name], marker="o", lw=1.2, label=name)
    ax.set_xlabel("fold")
    ax.set_xticks(per_fold.index)
    ax.set_ylabel("RMSE (price units)")
    ax.set_title(f"{ticker}, walk-forward: RMSE of each model in each fold (price units)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def band_figure(
    forecasts: pd.DataFrame,
    bands: pd.DataFrame,
    level: float,
    title: str,
    model: str = "rnn",
    others: tuple[str, ...] = ("ewma",),
    days: int = 120,
) -> Figure:
    """The last ``days`` target days: actual Close, the model's median and its interval band.

    Days the actual Close fell outside the band are marked; ``others``' bands
    are drawn as thin lines for comparison.
    """
    p = f"{100.0 * level:g}"
    tail, frame = forecasts.iloc[-days:], bands.iloc[-days:]
    lower, upper = frame[f"{model}_lower_{p}"], frame[f"{model}_upper_{p}"]
    fig = Figure(figsize=(11, 5), dpi=100)
    ax = fig.add_subplot()
    ax.fill_between(
        frame.index, lower, upper, color="tab:blue", alpha=0.2, lw=0, label=f"{model} {p}% interval"
    )
    ax.plot(
        frame.index, frame[f"{model}_median"], color="tab:blue", lw=1.0, label=f"{model} median"
    )
    for name in others:
        if f"{name}_lower_{p}" in frame:
            for side in ("lower", "upper"):
                ax.plot(
                    frame.index,
                    frame[f"{name}_{side}_{p}"],
                    color="tab:orange",
                    lw=0.8,
                    ls="--",
                    label=f"{name} {p}% interval" if side == "lower" else None,
                )
    ax.plot(tail.index, tail["actual"], color="black", lw=1.4, label="actual Close")
    missed = (tail["actual"] < lower) | (tail["actual"] > upper)
    ax.scatter(
        tail.index[missed],
        tail["actual"][missed],
        color="tab:red",
        s=18,
        zorder=3,
        label=f"outside ({int(missed.sum())} of {len(tail)} days)",
    )
    ax.set_title(title)
    ax.set_ylabel(PRICE)
    ax.legend(loc="best", fontsize=8)
    ax.grid(alpha=0.3)
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig


def rolling_coverage_figure(
    actual: pd.Series,
    bands: pd.DataFrame,
    level: float,
    models: list[str],
    ticker: str,
    window: int = 60,
    breaks: list[pd.Timestamp] | None = None,
) -> Figure:
    """Share of the last ``window`` days inside each model's interval, against the nominal level."""
    p = f"{100.0 * level:g}"
    fig = Figure(figsize=(11, 4.5), dpi=100)
    ax = fig.add_subplot()
    for name in models:
        inside = (actual >= bands[f"{name}_lower_{p}"]) & (actual <= bands[f"{name}_upper_{p}"])
        ax.plot(bands.index, inside.astype(float).rolling(window).mean(), lw=1.1, label=name)
    ax.axhline(level, color="black", ls="--", lw=1.0, label=f"nominal {p}%")
    for day in breaks or []:
        ax.axvline(day, color="grey", lw=0.6, alpha=0.5)
    ax.set_ylabel(f"share of the last {window} days inside")
    ax.set_title(f"{ticker}: rolling coverage of the {p}% intervals over {window} days")
    ax.legend(loc="lower left", fontsize=8)
    ax.grid(alpha=0.3)
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig


def cumulative_error_figure(
    forecasts: pd.DataFrame,
    models: list[str],
    ticker: str,
    breaks: list[pd.Timestamp] | None = None,
) -> Figure:
    """Cumulative squared error of persistence minus each model's: rising means beating it.

    A model whose forecasts are persistence's has the zero line for its line: the
    legend and a note on the plot say so, rather than leaving a line nobody sees.
    """
    fig = Figure(figsize=(11, 4.5), dpi=100)
    ax = fig.add_subplot()
    base = (forecasts["previous"] - forecasts["actual"]) ** 2
    ax.axhline(0.0, color="black", lw=1.0)
    same = [name for name in models if identical_to_persistence(forecasts, name)]
    for name in models:
        gain = (base - (forecasts[name] - forecasts["actual"]) ** 2).cumsum()
        label = f"{name} ({IDENTICAL})" if name in same else name
        ax.plot(forecasts.index, gain, lw=2.0 if name in same else 1.1, label=label)
    if same:
        ax.text(
            0.01, 0.97, f"{' and '.join(same)}: {IDENTICAL}; its line is the zero line",
            transform=ax.transAxes, va="top", fontsize=9,
            bbox={"facecolor": "white", "edgecolor": "grey", "alpha": 0.9},
        )  # fmt: skip
    for day in breaks or []:
        ax.axvline(day, color="grey", lw=0.6, alpha=0.5)
    ax.set_ylabel("cumulative SE(persistence) - SE(model)\n(price units squared)")
    ax.set_title(
        f"{ticker}: squared error of persistence minus each model's, summed over the test days "
        "(rising: beats persistence)"
    )
    ax.legend(loc="best", fontsize=8)
    ax.grid(alpha=0.3)
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig


def summary_figure(table: pd.DataFrame, title: str) -> Figure:
    """One row per ticker: the RNN (dot) against the best baseline (square).

    Left, Theil's U (persistence is 1); right, the RNN's interval score over the
    best interval baseline's (1 is that baseline), when the table has intervals.
    Each marker carries its value to four decimals, the RNN's above, the
    baseline's below, since the two often differ in the third decimal.
    """
    level = interval_level(table)
    panels = 1 if level is None else 2
    fig = Figure(figsize=(7 * panels, 2.0 + 0.9 * len(table)), dpi=100)
    axes = fig.subplots(1, panels, sharey=True, squeeze=False)[0]
    rows = range(len(table))[::-1]  # the first ticker on top
    notes = table["note"] if "note" in table else pd.Series("", index=table.index)
    rnn = [
        f"RNN {u:.4f}" + (f" ({note})" if note else "")
        for u, note in zip(table["rnn_theil_u"], notes, strict=True)
    ]
    base = [
        f"{b} {u:.4f}" for b, u in zip(table["baseline"], table["baseline_theil_u"], strict=True)
    ]
    _summary_panel(
        axes[0], rows, table["rnn_theil_u"], table["baseline_theil_u"], rnn, base,
        "Theil's U: RMSE over persistence's (below 1: beats persistence)", "persistence",
    )  # fmt: skip
    if level is not None:
        score = table[f"rnn_interval_score_{level}"] / table[f"baseline_interval_score_{level}"]
        rnn = [
            f"RNN {s:.4f}, coverage {c:.4f}"
            for s, c in zip(
                table[f"rnn_interval_score_{level}"], table[f"rnn_coverage_{level}"], strict=True
            )
        ]
        base = [
            f"{b} {s:.4f}; DM p-value {p:.4f}"
            for b, s, p in zip(
                table["interval_baseline"], table[f"baseline_interval_score_{level}"],
                table[f"dm_pvalue_{level}"], strict=True,
            )
        ]  # fmt: skip
        _summary_panel(
            axes[1], rows, score, pd.Series(1.0, index=table.index), rnn, base,
            f"{level}% interval score over the best interval baseline's (below 1: RNN better)",
            "best interval baseline",
        )  # fmt: skip
    axes[0].set_yticks(list(rows), list(table.index))
    axes[0].set_ylim(-0.7, len(table) - 0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    if panels == 2:
        labels[0] = "1: persistence (left), the best interval baseline (right)"
    fig.legend(handles, labels, loc="lower center", ncol=3, fontsize=8, frameon=False)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    return fig


def _summary_panel(ax, rows, rnn, baseline, rnn_text, baseline_text, xlabel, one) -> None:
    """One panel of ``summary_figure``: a dot and a square per row, each with its label."""
    ax.axvline(1.0, color="black", ls="--", lw=1.0, label=f"1: {one}")
    ax.scatter(
        baseline, rows, marker="s", s=40, color="tab:orange", zorder=3, label="best baseline"
    )
    ax.scatter(rnn, rows, marker="o", s=40, color="tab:blue", zorder=4, label="RNN")
    for y, x, text in zip(rows, rnn, rnn_text, strict=True):
        ax.annotate(text, (x, y), xytext=(0, 7), textcoords="offset points", ha="center",
                    fontsize=8, color="tab:blue")  # fmt: skip
    for y, x, text in zip(rows, baseline, baseline_text, strict=True):
        ax.annotate(text, (x, y), xytext=(0, -13), textcoords="offset points", ha="center",
                    fontsize=8, color="tab:orange")  # fmt: skip
    values = [*rnn, *baseline, 1.0]
    span = max(max(values) - min(values), 0.01)
    ax.set_xlim(min(values) - 0.6 * span, max(values) + 0.6 * span)
    ax.set_xlabel(xlabel, fontsize=9)
    ax.grid(axis="x", alpha=0.3)


def live_figure(live: pd.DataFrame, level: float, ticker: str, window: int) -> Figure:
    """Live coverage and interval score of the stored forecasts, session by session.

    ``live`` is ``evaluation.live.live_scores``'s frame; a vertical line marks
    each session where another model version took over.
    """
    p = f"{100.0 * level:g}"
    fig = Figure(figsize=(11, 6.5), dpi=100)
    cover, score = fig.subplots(2, 1, sharex=True)
    cover.plot(live.index, live["live_coverage"], lw=1.3, label=f"last {window} sessions")
    cover.plot(live.index, live["since_promotion_coverage"], lw=1.0, label="since promotion")
    cover.axhline(level, color="black", ls="--", lw=1.0, label=f"nominal {p}%")
    cover.set_ylabel("share of Closes inside")
    cover.set_title(f"{ticker}: live coverage and interval score of the stored {p}% forecasts")
    score.plot(live.index, live["live_interval_score"], lw=1.3, label=f"last {window} sessions")
    score.plot(live.index, live["since_promotion_interval_score"], lw=1.0, label="since promotion")
    score.set_ylabel(f"{p}% interval score (price units)")
    changes = live.index[live["model_version"].ne(live["model_version"].shift()).to_numpy()][1:]
    for ax in (cover, score):
        for day in changes:
            ax.axvline(day, color="grey", lw=0.8, alpha=0.7)
        ax.legend(loc="best", fontsize=8)
        ax.grid(alpha=0.3)
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig
