"""Write N synthetic tickers as CSVs: OHLC with a realistic intraday range.

    python -m benchmarks.synthetic --tickers 8 --out data/synthetic [--days 3270]
    make synthetic N=8 ARGS="--days 3270"
    make all ENGINE=ray SOURCE=csv DATA=data/synthetic

The prices come from ``pipeline.data.synthetic`` (GARCH(1,1)-t daily variance,
an overnight gap, High and Low the extremes of a Brownian path through the
session), the one synthetic generator the benchmarks and the tests use too.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from pipeline import storage
from pipeline.data.synthetic import synthetic_universe


def write_synthetic(folder: Path, n_tickers: int, days: int, seed: int) -> Path:
    """N synthetic tickers as CSV files (SYN000.csv, ...), the ``--source csv --data DIR`` way."""
    for ticker, frame in synthetic_universe(n_tickers, days, seed).items():
        text = frame.to_csv(index_label="Date", date_format="%Y-%m-%d")
        storage.write_text(folder / f"{ticker}.csv", text)
    return folder


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.synthetic", description=__doc__)
    p.add_argument("--tickers", type=int, default=8, help="how many tickers (default 8)")
    p.add_argument("--days", type=int, default=1500, help="trading days each (default 1500)")
    p.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    p.add_argument("--out", type=Path, default=Path("data/synthetic"), help="folder to write")
    args = p.parse_args(argv)
    write_synthetic(args.out, args.tickers, args.days, args.seed)
    print(f"wrote {args.tickers} tickers of {args.days} days to {args.out}/")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
