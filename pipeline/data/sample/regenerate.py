"""Rebuild the shipped sample CSVs from the `bokeh-sampledata` package.

Run once by a maintainer (``pip install bokeh-sampledata``; then
``python data/sample/regenerate.py``); the pipeline itself only reads the CSVs.
Quandl's Open/High/Low/Close are unadjusted, so each is multiplied by
``adj_close / close`` to give split- and dividend-adjusted prices, the same
convention as yfinance's default ``auto_adjust=True``.
"""

from pathlib import Path

import pandas as pd
from bokeh_sampledata import stocks

HERE = Path(__file__).resolve().parent
TICKERS = ("AAPL", "MSFT")


def adjusted_frame(raw: dict) -> pd.DataFrame:
    """Return split-adjusted OHLCV rows for one ticker of the bokeh sample."""
    frame = pd.DataFrame(raw)
    factor = frame["adj_close"] / frame["close"]
    out = pd.DataFrame({"Date": frame["date"]})
    for name in ("open", "high", "low", "close"):
        out[name.capitalize()] = (frame[name] * factor).round(6)
    # Volume stays as reported (unadjusted): the pipeline does not model it.
    out["Volume"] = frame["volume"]
    return out


def main() -> None:
    for ticker in TICKERS:
        path = HERE / f"{ticker}.csv"
        adjusted_frame(getattr(stocks, ticker)).to_csv(path, index=False)
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
