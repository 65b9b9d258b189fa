"""Backtests side by side (per-ticker against global, say): interval scores from their forecasts.

    python -m benchmarks.scopes --runs ticker=sqlite:///a.db --runs global=sqlite:///b.db \
        --reference global --horizon 5

Reads each ticker's latest ``kind=backtest`` parent run from each named
tracking store, downloads its ``backtest_forecasts.csv`` and scores every run
on the target dates they all forecast at the chosen horizon (on a universe
where a ticker's history is shorter than the calendar, its per-ticker folds
start later). Prints a Markdown table: per series, the pooled interval score
(coverage in brackets) of the RNN and its ACI variant of each run and of
every interval baseline (from the reference run's file), and the DM test
(HLN, for the horizon's overlap) of the reference run's RNN against each.
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


def at_horizon(rows: pd.DataFrame, horizon: int) -> pd.DataFrame:
    """The rows of one horizon (a file from before horizons holds horizon 1 only)."""
    if "horizon" not in rows:
        return rows if horizon == 1 else rows.iloc[:0]
    return rows[rows["horizon"] == horizon]


def daily_scores(rows: pd.DataFrame, model: str, dates: pd.DatetimeIndex, level: float) -> tuple:
    """One model's per-day interval scores and its coverage on ``dates``."""
    p = f"{100 * level:g}"
    own = rows[rows["model"] == model].set_index("date").loc[dates]
    lower, upper, close = own[f"lower_{p}"], own[f"upper_{p}"], own["close"]
    return interval_score(close, lower, upper, level), coverage(close, lower, upper)


def compare(runs: dict[str, pd.DataFrame], reference: str, level: float, horizon: int) -> dict:
    """The scores of one series on the dates every run forecast at ``horizon``."""
    runs = {name: at_horizon(rows, horizon) for name, rows in runs.items()}
    dates = set.intersection(*(set(rows["date"]) for rows in runs.values()))
    dates = pd.DatetimeIndex(sorted(dates), name="date")
    scores: dict[str, tuple] = {}
    for name, rows in runs.items():
        for model in ("rnn", "rnn_aci"):
            scores[f"{model} ({name})"] = daily_scores(rows, model, dates, level)
    own = runs[reference]
    interval_models = [
        m for m in dict.fromkeys(own["model"]) if m not in (*POINT_ONLY, "rnn", "rnn_aci")
    ]
    for model in interval_models:
        scores[model] = daily_scores(own, model, dates, level)
    key = f"rnn ({reference})"
    dm = {
        name: diebold_mariano_losses(scores[key][0], daily, horizon)
        for name, (daily, _) in scores.items()
        if name != key
    }
    return {"days": len(dates), "scores": scores, "dm": dm, "reference": key}


def markdown(results: dict[str, dict]) -> str:
    """Two tables: scores with coverage per series; DM of the reference RNN against each."""
    first = next(iter(results.values()))
    names, key = list(first["scores"]), first["reference"]
    head = "| series (days) | " + " | ".join(names) + " |"
    lines = [head, "|---|" + "---:|" * len(names)]
    for ticker, r in results.items():
        cells = [f"{np.mean(d):.3f} ({c:.3f})" for d, c in r["scores"].values()]
        lines.append(f"| {ticker} ({r['days']}) | " + " | ".join(cells) + " |")
    others = [n for n in names if n != key]
    lines += ["", f"DM of {key} against each:", ""]
    lines += ["| series | " + " | ".join(f"vs {n}" for n in others) + " |"]
    lines.append("|---|" + "---:|" * len(others))
    for ticker, r in results.items():
        cells = []
        for n in others:
            dm = r["dm"][n]
            p = "<0.001" if dm.pvalue < 0.001 else f"{dm.pvalue:.3f}"
            cells.append(f"{dm.statistic:.2f} (p {p})")
        lines.append(f"| {ticker} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def coverage_markdown(
    found: dict[str, dict[str, pd.DataFrame]], level: float, models: tuple[str, ...]
) -> str:
    """Each run's coverage of ``models`` per series and horizon: one row per run, model and
    series, one column per horizon (every test day the run forecast at that horizon)."""
    p = f"{100 * level:g}"
    rows = []
    for name, by_ticker in found.items():
        for model in models:
            for ticker, frame in sorted(by_ticker.items()):
                own = frame[frame["model"] == model]
                if "horizon" not in own:
                    own = own.assign(horizon=1)
                cells = {
                    h: coverage(part["close"], part[f"lower_{p}"], part[f"upper_{p}"])
                    for h, part in own.groupby("horizon")
                }
                rows.append((f"{model} ({name})", ticker, cells))
    horizons = sorted({h for *_, cells in rows for h in cells})
    lines = ["| model | series | " + " | ".join(f"h={h}" for h in horizons) + " |"]
    lines.append("|---|---|" + "---:|" * len(horizons))
    for label, ticker, cells in rows:
        values = [f"{cells[h]:.3f}" if h in cells else "–" for h in horizons]
        lines.append(f"| {label} | {ticker} | " + " | ".join(values) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.scopes", description=__doc__)
    p.add_argument(
        "--runs", action="append", required=True, metavar="NAME=URI",
        help="a named tracking store holding backtests (give two or more)",
    )  # fmt: skip
    p.add_argument("--reference", help="the run whose RNN is tested against the rest (the last)")
    p.add_argument("--horizon", type=int, default=1, help="days ahead scored (default 1)")
    p.add_argument("--level", type=float, default=0.9, help="interval level (default 0.9)")
    p.add_argument(
        "--coverage", action="store_true", help="also each run's RNN coverage at every horizon"
    )
    p.add_argument("--out", type=Path, help="also write the tables to this Markdown file")
    args = p.parse_args(argv)
    named = dict(item.split("=", 1) for item in args.runs)
    reference = args.reference or list(named)[-1]
    if reference not in named:
        print(f"error: --reference {reference} is not one of the --runs", file=sys.stderr)
        return 2
    found = {name: latest_forecasts(uri) for name, uri in named.items()}
    common = sorted(set.intersection(*(set(f) for f in found.values())))
    if not common:
        print("error: no ticker has a backtest in every store", file=sys.stderr)
        return 2
    results = {
        t: compare({n: f[t] for n, f in found.items()}, reference, args.level, args.horizon)
        for t in common
    }
    text = markdown(results)
    if args.coverage:
        text += "\n\n" + coverage_markdown(found, args.level, ("rnn", "rnn_aci"))
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
