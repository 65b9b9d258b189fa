"""One typed configuration for every stage, with its defaults in one place.

The CLI and the Makefile override fields; the whole config is logged to MLflow
as params and stored beside each model, so any run can be rebuilt from it.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.errors import ConfigError

# The checkout this package lives in: the shipped sample is read from here so
# that the pipeline finds it whatever the working folder.
PROJECT_ROOT = Path(__file__).resolve().parents[1]

SOURCES = ("sample", "yfinance", "csv")
CELLS = ("RNN", "GRU", "LSTM")
DEVICES = ("auto", "cpu", "cuda", "mps")
_TICKER = re.compile(r"^[A-Z0-9][A-Z0-9.^=-]{0,14}$")


@dataclass(frozen=True)
class DataConfig:
    source: str = "sample"  # where prices come from: sample | yfinance | csv
    csv_path: Path | None = None  # the CSV file for source=csv; its stem is the ticker
    start: str = "2000-01-01"  # first day asked of yfinance on a cold cache
    retries: int = 3  # yfinance attempts before falling back to the cache
    backoff_s: float = 2.0  # first wait between yfinance attempts; doubles each time


@dataclass(frozen=True)
class FeatureConfig:
    window: int = 30  # trading days of Open/High/Low/Close in one input window
    train_frac: float = 0.70  # first share of days for training (and for fitting scalers)
    val_frac: float = 0.15  # next share for early stopping; the rest is the test set


@dataclass(frozen=True)
class ModelConfig:
    cell: str = "RNN"  # recurrent cell: RNN | GRU | LSTM
    num_layers: int = 2  # stacked recurrent layers
    hidden_size: int = 64  # units per layer and direction
    bidirectional: bool = True  # read each window forwards and backwards
    dropout: float = 0.0  # dropout between stacked layers (needs num_layers > 1)


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 60  # upper bound; early stopping usually ends sooner
    batch_size: int = 64  # windows per optimiser step
    lr: float = 1e-3  # Adam learning rate
    weight_decay: float = 0.0  # Adam L2 penalty
    clip_norm: float = 1.0  # gradient-norm clipping threshold
    patience: int = 10  # epochs without a better validation loss before stopping
    min_delta: float = 0.002  # relative drop in validation loss that counts as better
    shrink: bool = True  # shrink forecasts towards persistence by what validation supports
    shrink_z: float = 1.5  # standard errors taken off the validation slope before shrinking
    device: str = "auto"  # auto picks CUDA, then Apple MPS, then the CPU
    seed: int = 42  # seeds torch and numpy so a CPU run repeats exactly
    amp: bool = False  # bfloat16 autocast on CUDA (ignored elsewhere)
    progress: bool = True  # show a progress bar per ticker


@dataclass(frozen=True)
class BacktestConfig:
    folds: int = 5  # walk-forward folds, each with its own test block
    test_share: float = 0.30  # later share of the days cut into the folds' test blocks
    val_frac: float = 0.15  # share of each fold's history kept for validation


@dataclass(frozen=True)
class Paths:
    data_dir: Path = Path("data")  # caches and stage outputs, relative to the working folder
    sample_dir: Path = PROJECT_ROOT / "data" / "sample"  # the shipped public-domain prices
    reports_dir: Path = Path("reports")  # backtest tables and plots

    @property
    def raw_dir(self) -> Path:
        """yfinance cache: one self-checking CSV per ticker."""
        return self.data_dir / "raw"

    @property
    def retrain_lock(self) -> Path:
        """Held while a retrain job runs, so that two never overlap."""
        return self.data_dir / "retrain.lock"

    def processed_dir(self, ticker: str) -> Path:
        """Stage outputs for one ticker (prices, features, checkpoint)."""
        return self.data_dir / "processed" / ticker


@dataclass(frozen=True)
class Config:
    tickers: tuple[str, ...] = ("AAPL", "MSFT")  # symbols to run, in order
    data: DataConfig = field(default_factory=DataConfig)
    features: FeatureConfig = field(default_factory=FeatureConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    backtest: BacktestConfig = field(default_factory=BacktestConfig)
    paths: Paths = field(default_factory=Paths)
    experiment: str = "stockcast"  # MLflow experiment name

    def __post_init__(self) -> None:
        validate(self)

    def replace(self, **sections: Any) -> Config:
        """Return a copy with top-level fields or whole sections replaced."""
        return dataclasses.replace(self, **sections)


def parse_tickers(text: str) -> tuple[str, ...]:
    """Turn 'AAPL,MSFT' (commas or spaces) into ('AAPL', 'MSFT'), or raise ConfigError."""
    parts = [p for p in re.split(r"[,\s]+", text.strip()) if p]
    if not parts:
        raise ConfigError("--tickers is empty: give symbols separated by commas, e.g. AAPL,MSFT")
    tickers = tuple(p.upper() for p in parts)
    for ticker in tickers:
        if not _TICKER.match(ticker):
            raise ConfigError(
                f"--tickers: {ticker!r} is not a ticker symbol; "
                "give symbols separated by commas, e.g. AAPL,MSFT"
            )
    if len(set(tickers)) != len(tickers):
        raise ConfigError(f"--tickers lists a symbol twice: {text!r}")
    return tickers


def validate(cfg: Config) -> None:
    """Reject options that cannot work, before any data is read or trained on."""
    f, m, t, d, b = cfg.features, cfg.model, cfg.train, cfg.data, cfg.backtest
    checks = [
        (d.source in SOURCES, f"--source must be one of {', '.join(SOURCES)}, not {d.source!r}"),
        (d.source != "csv" or d.csv_path is not None, "--source csv needs --data PATH to a CSV"),
        (d.retries >= 1, "retries must be at least 1"),
        (f.window >= 2, f"--window must be at least 2 days, not {f.window}"),
        (0 < f.train_frac < 1, f"--train-frac must lie between 0 and 1, not {f.train_frac}"),
        (f.val_frac > 0, "--val-frac must be above 0: early stopping needs validation days"),
        (
            f.train_frac + f.val_frac < 1,
            f"--train-frac + --val-frac is {f.train_frac + f.val_frac:g}: "
            "it must stay below 1 to leave test days",
        ),
        (m.cell in CELLS, f"--cell must be one of {', '.join(CELLS)}, not {m.cell!r}"),
        (m.num_layers >= 1, f"--num-layers must be at least 1, not {m.num_layers}"),
        (m.hidden_size >= 1, f"--hidden-size must be at least 1, not {m.hidden_size}"),
        (0 <= m.dropout < 1, f"--dropout must lie in [0, 1), not {m.dropout}"),
        (t.epochs >= 0, f"--epochs must be 0 or more, not {t.epochs}"),
        (t.batch_size >= 1, f"--batch-size must be at least 1, not {t.batch_size}"),
        (t.lr > 0, f"--lr must be above 0, not {t.lr}"),
        (t.patience >= 1, f"--patience must be at least 1, not {t.patience}"),
        (0 <= t.min_delta < 1, f"min_delta must lie in [0, 1), not {t.min_delta}"),
        (t.shrink_z >= 0, f"shrink_z must be 0 or more, not {t.shrink_z}"),
        (t.device in DEVICES, f"--device must be one of {', '.join(DEVICES)}, not {t.device!r}"),
        (b.folds >= 1, f"--folds must be at least 1, not {b.folds}"),
        (0 < b.test_share < 1, f"--test-share must lie between 0 and 1, not {b.test_share}"),
        (0 < b.val_frac < 1, f"backtest val_frac must lie between 0 and 1, not {b.val_frac}"),
        (len(cfg.tickers) >= 1, "no tickers given"),
    ]
    for ok, message in checks:
        if not ok:
            raise ConfigError(message)


def flatten(cfg: Config) -> dict[str, str]:
    """Flatten the config to 'section.field' -> text, for MLflow params."""
    out: dict[str, str] = {}
    for top in dataclasses.fields(cfg):
        value = getattr(cfg, top.name)
        if dataclasses.is_dataclass(value):
            for sub in dataclasses.fields(value):
                out[f"{top.name}.{sub.name}"] = _text(getattr(value, sub.name))
        else:
            out[top.name] = _text(value)
    return out


def _text(value: Any) -> str:
    if isinstance(value, tuple):
        return ",".join(map(str, value))
    return str(value)
