"""Which scale head? Both trunks, and the volatility baselines, on every walk-forward fold.

    python -m benchmarks.scale_heads [--tickers AAPL,MSFT] [--source csv --data FILE] [--out F]

For each fold the point model is trained once (exactly as the backtest does);
then a scale head on the frozen network and one on a fine-tuned copy are
trained and calibrated on the validation days. Printed per fold: the
validation interval score that ``--scale-trunk auto`` chooses by (log-return
units, calibrated on the days it scores) for both heads and for EWMA, and the
test-day coverage and interval score (price units) of each head's
split-conformal interval and of the EWMA and GARCH baselines. The test days
choose nothing here; they only show whether the validation choice held up.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.cli import build_parser, config_from_args
from pipeline.core.bands import conformal_bands
from pipeline.core.features import CLOSE, features_for_split
from pipeline.core.splits import calendar_splits
from pipeline.data.sources import load_prices
from pipeline.evaluation.evaluate import forecast_interval_baselines
from pipeline.evaluation.tables import band_frame, interval_table
from pipeline.models.calibration import fit_intervals
from pipeline.models.scale_head import TRUNKS, forecast_spread
from pipeline.models.training import fit
from pipeline.models.volatility import interval_baselines
from pipeline.runtime.driver import tickers_for


def measure(cfg, ticker: str, prices: pd.DataFrame) -> list[dict]:
    """One row per fold: validation scores of each candidate, test scores of each model."""
    window = cfg.features.window
    rows = []
    folds = calendar_splits({ticker: prices.index}, window, cfg.backtest)
    splits = [fold.splits[ticker] for fold in folds]
    for fold, split in enumerate(splits, start=1):
        features = features_for_split(prices, split, window)
        result = fit(features, cfg.model, cfg.train)
        ends = split.test
        log_close = features.log_prices[:, CLOSE]
        row: dict = {"ticker": ticker, "fold": fold, "shrink": result.shrink}
        bands = {}
        for trunk in TRUNKS:
            icfg = dataclasses.replace(cfg.intervals, scale_trunk=trunk)
            got = fit_intervals(result.model, features, icfg, cfg.train)
            row[f"val_{trunk}"] = got.val_scores[trunk]
            row["val_ewma"] = got.val_scores["ewma"]
            row[f"epochs_{trunk}"] = got.scale.best_epoch
            centre, scale = forecast_spread(got.model, features, ends, cfg.runtime.eval_batch)
            centre, scale = centre[:, 0], scale[:, 0]  # day 1
            bands[trunk] = conformal_bands(log_close[ends], centre, scale, got.multipliers)
        levels = tuple(cfg.intervals.levels)
        bands |= forecast_interval_baselines(features, ends, interval_baselines(levels))
        close = features.close
        frame = band_frame(bands, features.dates[ends + 1])
        table = interval_table(close[ends + 1], close[ends], frame, levels)
        p = f"{100 * levels[0]:g}"
        for name in table.index:
            row[f"test_cov_{name}"] = table.loc[name, f"coverage_{p}"]
            row[f"test_is_{name}"] = table.loc[name, f"interval_score_{p}"]
        print(json.dumps(row), flush=True)
        rows.append(row)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="write the rows as CSV here")
    own, rest = parser.parse_known_args(argv)
    args = build_parser().parse_args(["backtest", "--no-progress", *rest])
    cfg = config_from_args(args)
    rows = []
    for ticker in tickers_for(cfg):
        rows += measure(cfg, ticker, load_prices(ticker, cfg.data, cfg.paths))
    table = pd.DataFrame(rows)
    pd.set_option("display.width", 200)
    print(table.round(4).to_string(index=False))
    picks = np.where(table["val_frozen"] <= table["val_finetune"], "frozen", "finetune")
    print("validation picks:", dict(zip(*np.unique(picks, return_counts=True), strict=True)))
    if own.out:
        table.to_csv(own.out, index=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
