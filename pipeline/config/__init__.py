"""One typed configuration for every job, with its defaults in one place.

The sections (``sections.py``) hold the settings and check themselves; here
they are put together into ``Config``, listed for the CLI (``settings``),
flattened for MLflow params and the model's meta (``flatten``), and read back
from a JSON file (``--config``), so any run can be rebuilt from what it logged.
"""

from __future__ import annotations

import dataclasses
import json
import re
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.config.fields import setting
from pipeline.config.jobs import (
    BackfillConfig,
    BacktestConfig,
    ClusterConfig,
    MonitorConfig,
    Paths,
    RetrainConfig,
    StoreConfig,
    SweepConfig,
)
from pipeline.config.sections import (
    CELLS,
    DEVICES,
    ENGINES,
    SCALE_TRUNKS,
    SCOPES,
    SOURCES,
    TICKER,
    BaselineConfig,
    DataConfig,
    FeatureConfig,
    IntervalConfig,
    ModelConfig,
    RuntimeConfig,
    TrainConfig,
)
from pipeline.errors import ConfigError

__all__ = [
    "CELLS", "DEVICES", "ENGINES", "SCALE_TRUNKS", "SCOPES", "SOURCES", "BackfillConfig",
    "BacktestConfig", "BaselineConfig", "ClusterConfig", "Config", "DataConfig", "FeatureConfig",
    "IntervalConfig", "ModelConfig", "MonitorConfig", "Paths", "RetrainConfig", "RuntimeConfig",
    "StoreConfig", "SweepConfig", "TrainConfig", "flatten",
    "load_config_file", "parse_tickers", "parse_value", "setting", "settings",
]  # fmt: skip


# How a job runs, not what it computes: logged with the runs, never saved as the model's config.
RUN_SECTIONS = ("runtime.", "cluster.")


@dataclass(frozen=True)
class Config:
    tickers: tuple[str, ...] = setting(("AAPL", "MSFT"), "symbols, comma-separated", cli=False)
    data: DataConfig = field(default_factory=DataConfig)
    features: FeatureConfig = field(default_factory=FeatureConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)
    intervals: IntervalConfig = field(default_factory=IntervalConfig)
    baselines: BaselineConfig = field(default_factory=BaselineConfig)
    backtest: BacktestConfig = field(default_factory=BacktestConfig)
    retrain: RetrainConfig = field(default_factory=RetrainConfig)
    cluster: ClusterConfig = field(default_factory=ClusterConfig)
    sweep: SweepConfig = field(default_factory=SweepConfig)
    store: StoreConfig = field(default_factory=StoreConfig)
    monitor: MonitorConfig = field(default_factory=MonitorConfig)
    backfill: BackfillConfig = field(default_factory=BackfillConfig)
    paths: Paths = field(default_factory=Paths)
    experiment: str = setting("stockcast", "MLflow experiment name")

    def __post_init__(self) -> None:
        if not self.tickers:
            raise ConfigError("no tickers given")

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
        if not TICKER.match(ticker):
            raise ConfigError(
                f"--tickers: {ticker!r} is not a ticker symbol; "
                "give symbols separated by commas, e.g. AAPL,MSFT"
            )
    if len(set(tickers)) != len(tickers):
        raise ConfigError(f"--tickers lists a symbol twice: {text!r}")
    return tickers


def flatten(cfg: Config, runtime: bool = True) -> dict[str, str]:
    """Flatten the config to 'section.field' -> text, for MLflow params and JSON files.

    ``runtime=False`` leaves out how the job ran (the runtime and cluster sections: devices,
    threads, the engine, the scope): what a saved model records as its config.
    """
    keys = [key for key, _, _ in settings() if runtime or not key.startswith(RUN_SECTIONS)]
    values = {key: _value(cfg, key) for key in keys}
    # A password in the store's URL never reaches the logged params (PGPASSFILE keeps it out).
    values["store.url"] = re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", values["store.url"])
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
