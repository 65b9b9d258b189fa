"""Per-ticker against global: the interval scores of two backtests, from their logged forecasts.

    python -m benchmarks.scopes --ticker-runs sqlite:///a.db --global-runs sqlite:///b.db

Reads each ticker's latest ``kind=backtest`` parent run from each tracking
store (the first made with ``--scope ticker``, the second with ``--scope
global``), downloads its ``backtest_forecasts.csv`` and scores both on the
target dates they share (on a universe where a ticker's history is shorter
than the calendar, its per-ticker folds start later). Prints a Markdown table:
per series, the pooled 90% interval score (coverage in brackets) of the RNN
and its ACI variant under each scope and of every interval baseline (from the
global run's file), and the DM test (HLN) of the global RNN's daily interval
score against the per-ticker RNN's and against each baseline's.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd

from pipeline.metrics.dm import diebold_mariano_losses
from pipeline.metrics.intervals import coverage, interval_score

FORECASTS = "backtest_forecasts.csv"
POINT_ONLY = ("persistence", "drift", "ma5", "ridge", "hgb")


def latest_forecasts(uri: str) -> dict[str, pd.DataFrame]:
    """Each ticker's per-day forecasts from its latest backtest parent run in the store."""
    client = mlflow.MlflowClient(tracking_uri=uri)
    found: dict[str, pd.DataFrame] = {}
    for experiment in client.search_experiments():
        runs = client.search_runs(
            [experiment.experiment_id], "tags.kind = 'backtest'", order_by=["start_time DESC"]
        )
        for run in runs:
            ticker = run.data.tags["ticker"]
            if ticker not in found:
                path = client.download_artifacts(run.info.run_id, FORECASTS)
                found[ticker] = pd.read_csv(path, parse_dates=["date"])
    return found


def daily_scores(rows: pd.DataFrame, model: str, dates: pd.DatetimeIndex, level: float) -> tuple:
    """One model's per-day interval scores and its coverage on ``dates``."""
    p = f"{100 * level:g}"
    own = rows[rows["model"] == model].set_index("date").loc[dates]
    lower, upper, close = own[f"lower_{p}"], own[f"upper_{p}"], own["close"]
    return interval_score(close, lower, upper, level), coverage(close, lower, upper)


def compare(ticker_rows: pd.DataFrame, global_rows: pd.DataFrame, level: float) -> dict:
    """The scores of one series on the dates both backtests forecast."""
    dates = pd.DatetimeIndex(
        sorted(set(ticker_rows["date"]) & set(global_rows["date"])), name="date"
    )
    scores: dict[str, tuple] = {
        "rnn (ticker)": daily_scores(ticker_rows, "rnn", dates, level),
        "rnn_aci (ticker)": daily_scores(ticker_rows, "rnn_aci", dates, level),
        "rnn (global)": daily_scores(global_rows, "rnn", dates, level),
        "rnn_aci (global)": daily_scores(global_rows, "rnn_aci", dates, level),
    }
    interval_models = [
        m for m in dict.fromkeys(global_rows["model"]) if m not in (*POINT_ONLY, "rnn", "rnn_aci")
    ]
    for model in interval_models:
        scores[model] = daily_scores(global_rows, model, dates, level)
    reference = scores["rnn (global)"][0]
    dm = {
        name: diebold_mariano_losses(reference, daily)
        for name, (daily, _) in scores.items()
        if name != "rnn (global)"
    }
    return {"days": len(dates), "scores": scores, "dm": dm}


def markdown(results: dict[str, dict]) -> str:
    """Two tables: scores with coverage per series; DM of the global RNN against each."""
    names = list(next(iter(results.values()))["scores"])
    head = "| series (days) | " + " | ".join(names) + " |"
    lines = [head, "|---|" + "---:|" * len(names)]
    for ticker, r in results.items():
        cells = [f"{np.mean(d):.3f} ({c:.3f})" for d, c in r["scores"].values()]
        lines.append(f"| {ticker} ({r['days']}) | " + " | ".join(cells) + " |")
    others = [n for n in names if n != "rnn (global)"]
    lines += ["", "| series | " + " | ".join(f"vs {n}" for n in others) + " |"]
    lines.append("|---|" + "---:|" * len(others))
    for ticker, r in results.items():
        cells = []
        for n in others:
            dm = r["dm"][n]
            p = "<0.001" if dm.pvalue < 0.001 else f"{dm.pvalue:.3f}"
            cells.append(f"{dm.statistic:.2f} (p {p})")
        lines.append(f"| {ticker} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.scopes", description=__doc__)
    p.add_argument("--ticker-runs", required=True, help="tracking URI of the per-ticker backtest")
    p.add_argument("--global-runs", required=True, help="tracking URI of the global backtest")
    p.add_argument("--level", type=float, default=0.9, help="interval level (default 0.9)")
    p.add_argument("--out", type=Path, help="also write the tables to this Markdown file")
    args = p.parse_args(argv)
    per_ticker, pooled = latest_forecasts(args.ticker_runs), latest_forecasts(args.global_runs)
    common = [t for t in pooled if t in per_ticker]
    if not common:
        print("error: no ticker has a backtest in both stores", file=sys.stderr)
        return 2
    results = {t: compare(per_ticker[t], pooled[t], args.level) for t in sorted(common)}
    text = markdown(results)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
