"""Helpers shared by the tests: tiny deterministic prices and the shrunk settings."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

SAMPLE_DIR = Path(str(resources.files("pipeline.data") / "sample"))

# Every Ray this test process starts uses this token: Ray reads a process's token once, so a
# second ray.init with another token in the same process fails with InvalidAuthToken.
RAY_TOKEN = "0123456789abcdef" * 4

# The shrunk config of every end-to-end test, as CLI options: seconds, not minutes.
SHRUNK = ["--window", "10", "--hidden-size", "8", "--epochs", "1", "--batch-size", "256",
          "--scale-epochs", "3", "--no-progress", "--device", "cpu", "--threads", "1"]  # fmt: skip


def make_prices(days: int = 260, seed: int = 0, start: str = "2020-01-01") -> pd.DataFrame:
    """A positive random-walk OHLCV frame on business days, valid by construction."""
    rng = np.random.default_rng(seed)
    close = 50.0 * np.exp(np.cumsum(rng.normal(0.0005, 0.015, days)))
    open_ = close * np.exp(rng.normal(0, 0.005, days))
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0, 0.005, days)))
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0, 0.005, days)))
    index = pd.bdate_range(start, periods=days, name="Date")
    return pd.DataFrame(
        {"Open": open_, "High": high, "Low": low, "Close": close, "Volume": 1e6},
        index=index,
    )


def write_csvs(folder: Path, tickers: tuple[str, ...], days: int = 300) -> Path:
    """One ``make_prices`` CSV per ticker in ``folder`` (seeded by position), for --data DIR."""
    folder.mkdir(parents=True, exist_ok=True)
    for seed, ticker in enumerate(tickers):
        make_prices(days, seed=seed).to_csv(folder / f"{ticker}.csv", index_label="Date")
    return folder
