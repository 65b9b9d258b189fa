"""Write N synthetic tickers as CSVs, to try ENGINE=ray on many tickers offline.

    python -m benchmarks.synthetic --tickers 8 --out data/synthetic
    make all ENGINE=ray SOURCE=csv DATA=data/synthetic

The series are random walks (no signal to find): they cost what real tickers
cost to train, which is what a scaling run needs.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from benchmarks.bench import synthetic_prices
from pipeline import storage


def write_synthetic(folder: Path, n_tickers: int, days: int, seed: int) -> Path:
    """N synthetic tickers as CSV files (SYN000.csv, ...), the ``--source csv --data DIR`` way."""
    for i, frame in enumerate(synthetic_prices(n_tickers, days, seed)):
        text = frame.to_csv(index_label="Date", date_format="%Y-%m-%d")
        storage.write_text(folder / f"SYN{i:03d}.csv", text)
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
