"""One typed configuration for every job, with its defaults in one place.

Each field is declared with ``setting(default, "help")``: the help line is the
field's documentation, and the CLI builds its option (name, type, default,
choices, help) from it, so a new setting is one edit here. The whole config is
logged to MLflow as params, saved beside each model, and can be read back from
a JSON file (``--config``), so any run can be rebuilt from what it logged.
"""

from __future__ import annotations

import dataclasses
import json
import re
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.errors import ConfigError

SOURCES = ("sample", "yfinance", "csv")
ENGINES = ("local", "ray")
CELLS = ("RNN", "GRU", "LSTM")
DEVICES = ("auto", "cpu", "cuda", "mps")
SCALE_TRUNKS = ("frozen", "finetune", "auto")
_TICKER = re.compile(r"^[A-Z0-9][A-Z0-9.^=-]{0,14}$")


def setting(
    default: Any,
    help: str,
    *,
    flag: str | None = None,
    choices: tuple[str, ...] | None = None,
    cli: bool = True,
) -> Any:
    """A config field whose CLI option is derived from it (``--field-name`` unless ``flag``)."""
    meta = {"help": help, "flag": flag, "choices": choices, "cli": cli}
    if isinstance(default, list | dict):
        raise TypeError("config defaults must be immutable (use a tuple)")
    return field(default=default, metadata=meta)


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


@dataclass(frozen=True)
class FeatureConfig:
    window: int = setting(30, "trading days of Open/High/Low/Close in one input window")
    train_frac: float = setting(0.70, "first share of days for training (and fitting scalers)")
    val_frac: float = setting(0.15, "next share for early stopping; the rest is the test set")


@dataclass(frozen=True)
class ModelConfig:
    cell: str = setting("RNN", "recurrent cell", choices=CELLS)
    num_layers: int = setting(2, "stacked recurrent layers")
    hidden_size: int = setting(64, "units per layer and direction")
    bidirectional: bool = setting(True, "read each window forwards and backwards")
    dropout: float = setting(0.0, "dropout between stacked layers (needs num_layers > 1)")


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
    eval_batch: int = setting(4096, "windows per forward pass when only predicting")
    threads: int = setting(
        1, "torch CPU threads in this process (1: safe beside other jobs; see README, Benchmarks)"
    )
    device: str = setting("auto", "auto picks CUDA, then Apple MPS, then the CPU", choices=DEVICES)
    seed: int = setting(42, "seeds torch and numpy so that a CPU run repeats exactly")
    amp: bool = setting(False, "bfloat16 autocast on CUDA (ignored elsewhere)")
    progress: bool = setting(True, "show a progress bar per ticker")


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
    aci_gamma: float = setting(0.005, "step of adaptive conformal inference in the backtest")


@dataclass(frozen=True)
class BaselineConfig:
    ridge_alphas: tuple[float, ...] = setting(
        (0.1, 1.0, 10.0, 100.0, 1000.0), "Ridge penalties tried; the best on validation days wins"
    )
    hgb_max_iter: int = setting(200, "gradient boosting: boosting rounds")
    hgb_learning_rate: float = setting(0.05, "gradient boosting: learning rate")
    hgb_max_leaf_nodes: int = setting(15, "gradient boosting: leaves per tree")


@dataclass(frozen=True)
class BacktestConfig:
    folds: int = setting(5, "walk-forward folds, each with its own test block")
    test_share: float = setting(0.30, "later share of the days cut into the folds' test blocks")
    val_frac: float = setting(
        0.15, "share of each fold's history kept for validation", flag="--backtest-val-frac"
    )


@dataclass(frozen=True)
class RetrainConfig:
    holdout: int = setting(60, "most recent days that score challenger and champion")


@dataclass(frozen=True)
class ClusterConfig:
    engine: str = setting(
        "local", "local: one ticker after another here; ray: Ray tasks", choices=ENGINES
    )
    cpus_per_task: float = setting(1.0, "CPUs a Ray task reserves; torch gets as many threads")


@dataclass(frozen=True)
class SweepConfig:
    trials: int = setting(20, "configurations the sweep tries (Optuna's TPE picks each)")
    concurrency: int = setting(2, "trials run at once, each on cpus_per_task CPUs")
    folds: int = setting(
        3, "walk-forward folds cut from the days before the test days", flag="--sweep-folds"
    )
    hidden_sizes: tuple[int, ...] = setting(
        (16, 32, 64, 128), "hidden sizes the sweep chooses from", flag="--sweep-hidden-sizes"
    )
    max_layers: int = setting(3, "most stacked layers the sweep tries", flag="--sweep-max-layers")
    batch_sizes: tuple[int, ...] = setting(
        (32, 64, 128, 256), "batch sizes the sweep chooses from", flag="--sweep-batch-sizes"
    )
    lr_range: tuple[float, ...] = setting(
        (1e-4, 1e-2), "lowest,highest learning rate (log-uniform)", flag="--sweep-lr-range"
    )
    storage: str | None = setting(
        None, "Tune's results: folder, NFS path or s3:// URI (None: <reports-dir>/sweep/tune)"
    )
    out: Path | None = setting(
        None, "JSON file for the best config (None: <reports-dir>/sweep/best.json)"
    )


@dataclass(frozen=True)
class Paths:
    data_dir: Path = setting(Path("data"), "folder for caches and stage outputs")
    reports_dir: Path = setting(Path("reports"), "folder for backtest tables")

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
    tickers: tuple[str, ...] = setting(("AAPL", "MSFT"), "symbols, comma-separated", cli=False)
    data: DataConfig = field(default_factory=DataConfig)
    features: FeatureConfig = field(default_factory=FeatureConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    intervals: IntervalConfig = field(default_factory=IntervalConfig)
    baselines: BaselineConfig = field(default_factory=BaselineConfig)
    backtest: BacktestConfig = field(default_factory=BacktestConfig)
    retrain: RetrainConfig = field(default_factory=RetrainConfig)
    cluster: ClusterConfig = field(default_factory=ClusterConfig)
    sweep: SweepConfig = field(default_factory=SweepConfig)
    paths: Paths = field(default_factory=Paths)
    experiment: str = setting("stockcast", "MLflow experiment name")

    def __post_init__(self) -> None:
        validate(self)

    def replace(self, **sections: Any) -> Config:
        """Return a copy with top-level fields or whole sections replaced."""
        return dataclasses.replace(self, **sections)

    def with_values(self, values: dict[str, Any]) -> Config:
        """A copy with ``{"section.field": value}`` (or top-level ``"field"``) replaced."""
        sections: dict[str, dict[str, Any]] = {}
        top: dict[str, Any] = {}
        for key, value in values.items():
            section, _, name = key.rpartition(".")
            if section:
                sections.setdefault(section, {})[name] = value
            else:
                top[name] = value
        for section, changes in sections.items():
            top[section] = dataclasses.replace(getattr(self, section), **changes)
        return dataclasses.replace(self, **top)


def settings() -> list[tuple[str, dataclasses.Field, type]]:
    """Every setting as ``(key, field, type)``, key ``section.field`` or a top-level name."""
    out = []
    hints = typing.get_type_hints(Config)
    for top in dataclasses.fields(Config):
        kind = hints[top.name]
        if dataclasses.is_dataclass(kind):
            sub = typing.get_type_hints(kind)
            out += [(f"{top.name}.{f.name}", f, sub[f.name]) for f in dataclasses.fields(kind)]
        else:
            out.append((top.name, top, kind))
    return out


def parse_value(text: str, kind: Any, key: str) -> Any:
    """Turn a setting's text (CLI or JSON string) into its typed value, or raise ConfigError."""
    args = typing.get_args(kind)
    if type(None) in args:  # X | None
        if str(text) == "None":
            return None
        (kind,) = [a for a in args if a is not type(None)]
    try:
        if kind is bool:
            if str(text).lower() not in ("true", "false", "1", "0"):
                raise ValueError
            return str(text).lower() in ("true", "1")
        if typing.get_origin(kind) is tuple:
            (item,) = {a for a in typing.get_args(kind) if a is not Ellipsis}
            return tuple(item(x) for x in re.split(r"[,\s]+", str(text).strip()) if x)
        return kind(text)
    except (TypeError, ValueError):
        raise ConfigError(f"{key}: {text!r} is not {_kind_name(kind)}") from None


def _kind_name(kind: Any) -> str:
    if typing.get_origin(kind) is tuple:
        item = next(a for a in typing.get_args(kind) if a is not Ellipsis)
        return f"a comma-separated list of {item.__name__}"
    return f"a valid {getattr(kind, '__name__', kind)}"


def parse_tickers(text: str) -> tuple[str, ...]:
    """Turn 'AAPL,MSFT' (commas or spaces) or '@file' into ('AAPL', 'MSFT'), or raise ConfigError.

    A file of symbols (``@watchlist.txt``) holds them separated by commas, spaces
    or new lines; ``#`` starts a comment.
    """
    if text.startswith("@"):
        path = Path(text[1:])
        try:
            lines = path.read_text().splitlines()
        except OSError as exc:
            raise ConfigError(f"--tickers {text}: cannot read {path} ({exc.strerror})") from None
        text = " ".join(line.split("#", 1)[0] for line in lines)
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
    f, m, t, d, b, s = cfg.features, cfg.model, cfg.train, cfg.data, cfg.backtest, cfg.sweep
    i = cfg.intervals
    checks = [
        (d.source in SOURCES, f"--source must be one of {', '.join(SOURCES)}, not {d.source!r}"),
        (d.source != "csv" or d.csv_path is not None, "--source csv needs --data PATH to a CSV"),
        (d.retries >= 1, "--retries must be at least 1"),
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
        (t.eval_batch >= 1, f"--eval-batch must be at least 1, not {t.eval_batch}"),
        (t.threads >= 1, f"--threads must be at least 1, not {t.threads}"),
        (cfg.cluster.cpus_per_task > 0, "--cpus-per-task must be above 0"),
        (t.lr > 0, f"--lr must be above 0, not {t.lr}"),
        (t.patience >= 1, f"--patience must be at least 1, not {t.patience}"),
        (0 <= t.min_delta < 1, f"--min-delta must lie in [0, 1), not {t.min_delta}"),
        (t.shrink_z >= 0, f"--shrink-z must be 0 or more, not {t.shrink_z}"),
        (t.device in DEVICES, f"--device must be one of {', '.join(DEVICES)}, not {t.device!r}"),
        (len(i.levels) >= 1, "--levels needs at least one level, e.g. 0.9"),
        (
            all(0 < level < 1 for level in i.levels),
            f"--levels must each lie strictly between 0 and 1 (0.9 is a 90% interval), "
            f"not {','.join(map(str, i.levels))}",
        ),
        (len(set(i.levels)) == len(i.levels), "--levels lists a level twice"),
        (i.scale_trunk in SCALE_TRUNKS, f"--scale-trunk must be one of {', '.join(SCALE_TRUNKS)}"),
        (i.scale_epochs >= 0, f"--scale-epochs must be 0 or more, not {i.scale_epochs}"),
        (i.scale_lr > 0, f"--scale-lr must be above 0, not {i.scale_lr}"),
        (i.scale_frozen_lr > 0, f"--scale-frozen-lr must be above 0, not {i.scale_frozen_lr}"),
        (i.scale_patience >= 1, f"--scale-patience must be at least 1, not {i.scale_patience}"),
        (0 <= i.aci_gamma < 1, f"--aci-gamma must lie in [0, 1), not {i.aci_gamma}"),
        (bool(d.calendar.strip()), "--calendar is empty: give an exchange code such as XNYS"),
        (len(cfg.baselines.ridge_alphas) >= 1, "--ridge-alphas needs at least one penalty"),
        (b.folds >= 1, f"--folds must be at least 1, not {b.folds}"),
        (0 < b.test_share < 1, f"--test-share must lie between 0 and 1, not {b.test_share}"),
        (0 < b.val_frac < 1, f"--backtest-val-frac must lie between 0 and 1, not {b.val_frac}"),
        (s.trials >= 1, f"--trials must be at least 1, not {s.trials}"),
        (s.concurrency >= 1, f"--concurrency must be at least 1, not {s.concurrency}"),
        (s.folds >= 1, f"--sweep-folds must be at least 1, not {s.folds}"),
        (s.max_layers >= 1, f"--sweep-max-layers must be at least 1, not {s.max_layers}"),
        (
            len(s.hidden_sizes) >= 1 and min(s.hidden_sizes) >= 1,
            "--sweep-hidden-sizes needs sizes of at least 1",
        ),
        (
            len(s.batch_sizes) >= 1 and min(s.batch_sizes) >= 1,
            "--sweep-batch-sizes needs sizes of at least 1",
        ),
        (
            len(s.lr_range) == 2 and 0 < s.lr_range[0] < s.lr_range[1],
            f"--sweep-lr-range needs two rates, lowest first, above 0: not {s.lr_range}",
        ),
        (cfg.retrain.holdout >= 1, f"--holdout must be at least 1 day, not {cfg.retrain.holdout}"),
        (len(cfg.tickers) >= 1, "no tickers given"),
    ]
    for ok, message in checks:
        if not ok:
            raise ConfigError(message)


def flatten(cfg: Config) -> dict[str, str]:
    """Flatten the config to 'section.field' -> text, for MLflow params and JSON files."""
    values = {key: _value(cfg, key) for key, _, _ in settings()}
    return {key: _text(value) for key, value in values.items()}


def load_config_file(path: Path, base: Config) -> Config:
    """``base`` overridden by a JSON file of ``{"section.field": value}`` (as ``flatten`` writes).

    Unknown keys are refused, so a typo never passes silently.
    """
    try:
        raw = json.loads(Path(path).read_text())
    except OSError as exc:
        raise ConfigError(f"--config {path}: cannot read it ({exc.strerror})") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"--config {path}: not valid JSON ({exc.msg}, line {exc.lineno})"
        ) from None
    kinds = {key: kind for key, _, kind in settings()}
    unknown = sorted(set(raw) - set(kinds))
    if not isinstance(raw, dict) or unknown:
        raise ConfigError(f"--config {path}: unknown setting(s) {', '.join(unknown)}")
    values = {key: parse_value(str(value), kinds[key], key) for key, value in raw.items()}
    if "tickers" in values:
        values["tickers"] = parse_tickers(",".join(values["tickers"]))
    return base.with_values(values)


def _value(cfg: Config, key: str) -> Any:
    obj: Any = cfg
    for part in key.split("."):
        obj = getattr(obj, part)
    return obj


def _text(value: Any) -> str:
    if isinstance(value, tuple):
        return ",".join(map(str, value))
    return str(value)
