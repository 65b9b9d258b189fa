"""Real daily OHLC series beyond the shipped sample, as CSVs for ``--source csv --data FILE``.

    python -m benchmarks.series bokeh OUT_DIR [--tickers IBM,GOOG]   # needs bokeh-sampledata

Writes split-adjusted IBM and GOOG (or ``--tickers``) from the same
public-domain source as the sample (Quandl WIKI prices via
``bokeh-sampledata``; see ``pipeline/data/sample/regenerate.py``). Synthetic
series come from ``make synthetic`` (``benchmarks/synthetic.py``); the ``garch``
kind that wrote GARCHRW of docs/results.md is retired (``git show
d0989dd:benchmarks/series.py``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=("bokeh",), help="the source (bokeh-sampledata)")
    parser.add_argument("out", type=Path, help="folder for the CSVs")
    parser.add_argument("--tickers", default="IBM,GOOG")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    from bokeh_sampledata import stocks

    from pipeline.data.sample.regenerate import adjusted_frame

    for ticker in args.tickers.split(","):
        path = args.out / f"{ticker}.csv"
        adjusted_frame(getattr(stocks, ticker)).to_csv(path, index=False)
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
