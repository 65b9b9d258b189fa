"""Where prices come from: the shipped sample, a user's CSV (or a folder of them), yfinance.

Every source returns a frame that passed ``validate_prices``. The sample ships
inside the package (``pipeline/data/sample/``) and is read through
``importlib.resources``, so an installed ``stockcast`` finds it from any folder.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pandas as pd

from pipeline.config import DataConfig, Paths
from pipeline.data.validate import read_price_csv
from pipeline.data.yahoo import load_yfinance
from pipeline.errors import DataError

SAMPLE_PACKAGE = "pipeline.data"  # the sample CSVs live in its folder sample/


def sample_tickers() -> list[str]:
    """The tickers of the shipped sample."""
    folder = resources.files(SAMPLE_PACKAGE) / "sample"
    return sorted(p.name.removesuffix(".csv") for p in folder.iterdir() if p.name.endswith(".csv"))


def load_sample(ticker: str) -> pd.DataFrame:
    """The shipped sample's prices for ``ticker``, or DataError listing what there is."""
    entry = resources.files(SAMPLE_PACKAGE) / "sample" / f"{ticker}.csv"
    if not entry.is_file():
        raise DataError(
            f"no sample prices for {ticker}: the sample has "
            f"{', '.join(sample_tickers()) or 'nothing'}; "
            "use --source yfinance or --source csv --data PATH"
        )
    with resources.as_file(entry) as path:
        return read_price_csv(path)


def load_prices(ticker: str, data: DataConfig, paths: Paths, **yf_options) -> pd.DataFrame:
    """Return validated daily prices for ``ticker`` from the configured source."""
    if data.source == "sample":
        return load_sample(ticker)
    if data.source == "csv":
        return read_price_csv(csv_file(data.csv_path, ticker))
    return load_yfinance(ticker, data, paths.raw_dir, **yf_options)


def csv_ticker(path: Path) -> str:
    """The ticker a user's CSV stands for: its file name without extension."""
    return Path(path).stem.upper()


def csv_tickers(path: Path) -> tuple[str, ...]:
    """The tickers behind ``--data``: the file's stem, or every CSV's stem in a folder."""
    path = Path(path)
    if path.is_dir():
        found = tuple(sorted(csv_ticker(p) for p in path.glob("*.csv")))
        if not found:
            raise DataError(f"{path}: the folder holds no .csv files")
        return found
    return (csv_ticker(path),)


def csv_file(path: Path, ticker: str) -> Path:
    """The CSV of ``ticker`` under ``--data``: the file itself, or ``<folder>/<ticker>.csv``."""
    path = Path(path)
    if not path.is_dir():
        return path
    for candidate in path.glob("*.csv"):
        if csv_ticker(candidate) == ticker:
            return candidate
    raise DataError(f"{path}: no CSV for {ticker}")


def source_uri(data: DataConfig, ticker: str) -> str:
    """Where the prices came from, as recorded with the MLflow dataset."""
    if data.source == "sample":
        return str(resources.files(SAMPLE_PACKAGE) / "sample" / f"{ticker}.csv")
    if data.source == "csv":
        return str(csv_file(data.csv_path, ticker))
    return f"yfinance:{ticker}"
