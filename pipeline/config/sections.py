"""The sections a model is built from (data, features, network, training, runtime,
intervals, baselines): one frozen dataclass each, with its defaults and its own checks.

Each field is declared with ``setting(default, "help")``: the help line is the
field's documentation, and the CLI builds its option (name, type, default,
choices, help) from it, so a new setting is one edit here. Each section checks
its own fields when it is built (``__post_init__``) and raises ``ConfigError``
with a message that names the option, before any data is read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from pipeline.config.fields import require, setting

SOURCES = ("sample", "yfinance", "csv")
ENGINES = ("local", "ray")
CELLS = ("RNN", "GRU", "LSTM")
DEVICES = ("auto", "cpu", "cuda", "mps")
SCALE_TRUNKS = ("frozen", "finetune", "auto")
SCALE_STARTS = ("constant", "range")
SCOPES = ("ticker", "global")
TICKER = re.compile(r"^[A-Z0-9][A-Z0-9.^=-]{0,14}$")


@dataclass(frozen=True)
class DataConfig:
    source: str = setting("sample", "where prices come from", choices=SOURCES)
    csv_path: Path | None = setting(
        None, "CSV file, or folder of CSVs, for --source csv (file name = ticker)", flag="--data"
    )
    start: str = setting("2000-01-01", "first day asked of yfinance on a cold cache (YYYY-MM-DD)")
    retries: int = setting(3, "yfinance attempts before falling back to the cache")
    backoff_s: float = setting(2.0, "first wait between yfinance attempts; doubles each time")
    calendar: str = setting(
        "XNYS", "exchange calendar of the trading days (exchange_calendars code; XNYS is NYSE)"
    )

    def __post_init__(self) -> None:
        require(
            [
                (
                    self.source in SOURCES,
                    f"--source must be one of {', '.join(SOURCES)}, not {self.source!r}",
                ),
                (
                    self.source != "csv" or self.csv_path is not None,
                    "--source csv needs --data PATH to a CSV",
                ),
                (self.retries >= 1, "--retries must be at least 1"),
                (
                    bool(self.calendar.strip()),
                    "--calendar is empty: give an exchange code such as XNYS",
                ),
            ]
        )


@dataclass(frozen=True)
class FeatureConfig:
    window: int = setting(30, "trading days of Open/High/Low/Close in one input window")
    train_frac: float = setting(0.70, "first share of days for training (and fitting scalers)")
    val_frac: float = setting(0.15, "next share for early stopping; the rest is the test set")
    horizon: int = setting(
        5, "trading days ahead to forecast: a forecast and its interval for each of days 1..H"
    )

    def __post_init__(self) -> None:
        require(
            [
                (self.window >= 2, f"--window must be at least 2 days, not {self.window}"),
                (self.horizon >= 1, f"--horizon must be at least 1 day, not {self.horizon}"),
                (
                    0 < self.train_frac < 1,
                    f"--train-frac must lie between 0 and 1, not {self.train_frac}",
                ),
                (
                    self.val_frac > 0,
                    "--val-frac must be above 0: early stopping needs validation days",
                ),
                (
                    self.train_frac + self.val_frac < 1,
                    f"--train-frac + --val-frac is {self.train_frac + self.val_frac:g}: "
                    "it must stay below 1 to leave test days",
                ),
            ]
        )


@dataclass(frozen=True)
class ModelConfig:
    cell: str = setting("RNN", "recurrent cell", choices=CELLS)
    num_layers: int = setting(2, "stacked recurrent layers")
    hidden_size: int = setting(64, "units per layer and direction")
    bidirectional: bool = setting(True, "read each window forwards and backwards")
    dropout: float = setting(0.0, "dropout between stacked layers (needs num_layers > 1)")

    def __post_init__(self) -> None:
        require(
            [
                (
                    self.cell in CELLS,
                    f"--cell must be one of {', '.join(CELLS)}, not {self.cell!r}",
                ),
                (self.num_layers >= 1, f"--num-layers must be at least 1, not {self.num_layers}"),
                (
                    self.hidden_size >= 1,
                    f"--hidden-size must be at least 1, not {self.hidden_size}",
                ),
                (0 <= self.dropout < 1, f"--dropout must lie in [0, 1), not {self.dropout}"),
            ]
        )


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = setting(60, "most epochs; early stopping usually ends sooner")
    batch_size: int = setting(64, "windows per optimiser step")
    lr: float = setting(1e-3, "Adam learning rate")
    weight_decay: float = setting(0.0, "Adam L2 penalty")
    clip_norm: float = setting(1.0, "gradient-norm clipping threshold")
    patience: int = setting(10, "epochs without a better validation loss before stopping")
    min_delta: float = setting(0.002, "relative drop in validation loss that counts as better")
    shrink: bool = setting(True, "shrink forecasts towards persistence by what validation supports")
    shrink_z: float = setting(1.5, "standard errors taken off the validation slope when shrinking")
    seed: int = setting(42, "seeds torch and numpy so that a CPU run repeats exactly")

    def __post_init__(self) -> None:
        require(
            [
                (self.epochs >= 0, f"--epochs must be 0 or more, not {self.epochs}"),
                (self.batch_size >= 1, f"--batch-size must be at least 1, not {self.batch_size}"),
                (self.lr > 0, f"--lr must be above 0, not {self.lr}"),
                (self.patience >= 1, f"--patience must be at least 1, not {self.patience}"),
                (0 <= self.min_delta < 1, f"--min-delta must lie in [0, 1), not {self.min_delta}"),
                (self.shrink_z >= 0, f"--shrink-z must be 0 or more, not {self.shrink_z}"),
            ]
        )


@dataclass(frozen=True)
class RuntimeConfig:
    """How and where a job runs, not what it computes: logged with each run, never saved
    as the model's config (a model trained on a GPU is the same model on a CPU)."""

    device: str = setting("auto", "auto picks CUDA, then Apple MPS, then the CPU", choices=DEVICES)
    threads: int = setting(
        0,
        "torch CPU threads in this process; 0: as many as cores were idle at the start "
        "(at least 1: fast on a free box, safe on a busy one; see docs/benchmarks.md)",
    )
    amp: bool = setting(False, "bfloat16 autocast on CUDA (ignored elsewhere)")
    eval_batch: int = setting(4096, "windows per forward pass when only predicting")
    progress: bool = setting(True, "allow a progress bar per ticker (shown only on a terminal)")
    async_logging: bool = setting(
        True, "log per-epoch metrics in the background; each run waits for them before it ends"
    )

    def __post_init__(self) -> None:
        require(
            [
                (
                    self.device in DEVICES,
                    f"--device must be one of {', '.join(DEVICES)}, not {self.device!r}",
                ),
                (self.threads >= 0, f"--threads must be 0 (auto) or more, not {self.threads}"),
                (self.eval_batch >= 1, f"--eval-batch must be at least 1, not {self.eval_batch}"),
            ]
        )


@dataclass(frozen=True)
class IntervalConfig:
    levels: tuple[float, ...] = setting(
        (0.9,), "central interval levels, e.g. 0.8,0.9 (each adds a lower and an upper bound)"
    )
    scale_trunk: str = setting(
        "auto",
        "scale head on the frozen point RNN, on a fine-tuned copy, or the better on validation",
        choices=SCALE_TRUNKS,
    )
    scale_epochs: int = setting(100, "most epochs of the scale head; early stopping ends sooner")
    scale_lr: float = setting(1e-3, "Adam learning rate of the scale head on a fine-tuned trunk")
    scale_frozen_lr: float = setting(
        1e-2, "Adam learning rate of the scale head on the frozen trunk (a linear model)"
    )
    scale_patience: int = setting(10, "scale-head epochs without a better validation NLL")
    scale_start: str = setting(
        "constant",
        "what the untrained scale head gives: the training days' spread (constant), or an "
        "EWMA of the window's High-Low range (range), which training then corrects",
        choices=SCALE_STARTS,
    )
    aci_gamma: float = setting(0.005, "step of adaptive conformal inference in the backtest")

    def __post_init__(self) -> None:
        require(
            [
                (len(self.levels) >= 1, "--levels needs at least one level, e.g. 0.9"),
                (
                    all(0 < level < 1 for level in self.levels),
                    f"--levels must each lie strictly between 0 and 1 (0.9 is a 90% interval), "
                    f"not {','.join(map(str, self.levels))}",
                ),
                (len(set(self.levels)) == len(self.levels), "--levels lists a level twice"),
                (
                    self.scale_trunk in SCALE_TRUNKS,
                    f"--scale-trunk must be one of {', '.join(SCALE_TRUNKS)}",
                ),
                (
                    self.scale_start in SCALE_STARTS,
                    f"--scale-start must be one of {', '.join(SCALE_STARTS)}",
                ),
                (
                    self.scale_epochs >= 0,
                    f"--scale-epochs must be 0 or more, not {self.scale_epochs}",
                ),
                (self.scale_lr > 0, f"--scale-lr must be above 0, not {self.scale_lr}"),
                (
                    self.scale_frozen_lr > 0,
                    f"--scale-frozen-lr must be above 0, not {self.scale_frozen_lr}",
                ),
                (
                    self.scale_patience >= 1,
                    f"--scale-patience must be at least 1, not {self.scale_patience}",
                ),
                (0 <= self.aci_gamma < 1, f"--aci-gamma must lie in [0, 1), not {self.aci_gamma}"),
            ]
        )


@dataclass(frozen=True)
class BaselineConfig:
    ridge_alphas: tuple[float, ...] = setting(
        (0.1, 1.0, 10.0, 100.0, 1000.0), "Ridge penalties tried; the best on validation days wins"
    )
    hgb_max_iter: int = setting(200, "gradient boosting: boosting rounds")
    hgb_learning_rate: float = setting(0.05, "gradient boosting: learning rate")
    hgb_max_leaf_nodes: int = setting(15, "gradient boosting: leaves per tree")

    def __post_init__(self) -> None:
        require(
            [
                (len(self.ridge_alphas) >= 1, "--ridge-alphas needs at least one penalty"),
            ]
        )
