"""Daily OHLC series beyond the shipped sample, as CSVs for ``--source csv --data FILE``.

    python -m benchmarks.series garch OUT_DIR [--days 3270] [--seed 11]
    python -m benchmarks.series bokeh OUT_DIR [--tickers IBM,GOOG]   # needs bokeh-sampledata

``garch`` writes ``GARCHRW.csv``: a random walk whose daily log returns follow
a GARCH(1,1) with Student-t(5) shocks (omega 2e-6, alpha 0.08, beta 0.90: a
1% daily volatility in the long run, in clusters), on business days. The
Open gaps from the previous Close and the High-Low range both grow with that
day's volatility, as in real prices. ``bokeh`` writes split-adjusted IBM and
GOOG from the same public-domain source as the sample (Quandl WIKI prices via
``bokeh-sampledata``; see ``pipeline/data/sample/regenerate.py``).
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd

OMEGA, ALPHA, BETA, NU = 2e-6, 0.08, 0.90, 5.0


def garch_prices(days: int = 3270, seed: int = 11, start: str = "2000-03-01") -> pd.DataFrame:
    """OHLC prices of a GARCH(1,1)-t random walk starting at 50, one row per business day."""
    rng = np.random.default_rng(seed)
    shocks = rng.standard_t(NU, days) * math.sqrt((NU - 2.0) / NU)  # unit variance
    returns, sigma = np.empty(days), np.empty(days)
    variance = OMEGA / (1.0 - ALPHA - BETA)
    for t in range(days):
        sigma[t] = math.sqrt(variance)
        returns[t] = sigma[t] * shocks[t]
        variance = OMEGA + ALPHA * returns[t] ** 2 + BETA * variance
    close = 50.0 * np.exp(np.cumsum(returns))
    previous = np.concatenate(([50.0], close[:-1]))
    open_ = previous * np.exp(0.2 * sigma * rng.standard_normal(days))
    high = np.maximum(open_, close) * np.exp(0.5 * sigma * np.abs(rng.standard_normal(days)))
    low = np.minimum(open_, close) * np.exp(-0.5 * sigma * np.abs(rng.standard_normal(days)))
    return pd.DataFrame(
        {"Open": open_, "High": high, "Low": low, "Close": close, "Volume": 1_000_000},
        index=pd.bdate_range(start, periods=days, name="Date"),
    ).round(6)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=("garch", "bokeh"))
    parser.add_argument("out", type=Path, help="folder for the CSVs")
    parser.add_argument("--days", type=int, default=3270)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--tickers", default="IBM,GOOG")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.kind == "garch":
        path = args.out / "GARCHRW.csv"
        garch_prices(args.days, args.seed).to_csv(path)
        print(f"wrote {path}")
        return 0
    from bokeh_sampledata import stocks

    from pipeline.data.sample.regenerate import adjusted_frame

    for ticker in args.tickers.split(","):
        path = args.out / f"{ticker}.csv"
        adjusted_frame(getattr(stocks, ticker)).to_csv(path, index=False)
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
