"""The sections that say how jobs run: backtest, retrain, cluster, sweep, and the folders.

Declared and checked like the model's sections (``sections.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pipeline.config.fields import require, setting
from pipeline.config.sections import ENGINES, SCOPES

RETRAIN_WHEN = ("always", "drift")


@dataclass(frozen=True)
class BacktestConfig:
    folds: int = setting(5, "walk-forward folds, each with its own test block")
    test_share: float = setting(0.30, "later share of the days cut into the folds' test blocks")
    val_frac: float = setting(
        0.15, "share of each fold's history kept for validation", flag="--backtest-val-frac"
    )

    def __post_init__(self) -> None:
        require(
            [
                (self.folds >= 1, f"--folds must be at least 1, not {self.folds}"),
                (
                    0 < self.test_share < 1,
                    f"--test-share must lie between 0 and 1, not {self.test_share}",
                ),
                (
                    0 < self.val_frac < 1,
                    f"--backtest-val-frac must lie between 0 and 1, not {self.val_frac}",
                ),
            ]
        )


@dataclass(frozen=True)
class RetrainConfig:
    holdout: int = setting(60, "most recent days that score challenger and champion")
    when: str = setting(
        "always",
        "always: train a challenger at every run; drift: only when the champion drifted "
        "(its stored forecasts' live scores) or there is none",
        choices=RETRAIN_WHEN,
        flag="--retrain-when",
    )

    def __post_init__(self) -> None:
        require(
            [
                (self.holdout >= 1, f"--holdout must be at least 1 day, not {self.holdout}"),
                (
                    self.when in RETRAIN_WHEN,
                    f"--retrain-when must be one of {', '.join(RETRAIN_WHEN)}, not {self.when!r}",
                ),
            ]
        )


@dataclass(frozen=True)
class ClusterConfig:
    """How a job's work is grouped and run: logged with each run, never saved as the model's
    config (the registered model's name says its scope)."""

    # The default scope, in this one place (the Makefile's SCOPE passes --scope only when set):
    # global, measured better on the development universe (docs/results.md, "Per-ticker or
    # global") and on the sample (README).
    scope: str = setting(
        "global",
        "ticker: a group per ticker, a network each; global: one group, one network for all "
        "tickers, calibrated per ticker",
        choices=SCOPES,
    )
    engine: str = setting(
        "local", "local: one group after another here; ray: a Ray task per group", choices=ENGINES
    )
    cpus_per_task: float = setting(1.0, "CPUs a Ray task reserves; torch gets as many threads")

    def __post_init__(self) -> None:
        require(
            [
                (
                    self.scope in SCOPES,
                    f"--scope must be one of {', '.join(SCOPES)}, not {self.scope!r}",
                ),
                (self.cpus_per_task > 0, "--cpus-per-task must be above 0"),
            ]
        )


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

    def __post_init__(self) -> None:
        require(
            [
                (self.trials >= 1, f"--trials must be at least 1, not {self.trials}"),
                (
                    self.concurrency >= 1,
                    f"--concurrency must be at least 1, not {self.concurrency}",
                ),
                (self.folds >= 1, f"--sweep-folds must be at least 1, not {self.folds}"),
                (
                    self.max_layers >= 1,
                    f"--sweep-max-layers must be at least 1, not {self.max_layers}",
                ),
                (
                    len(self.hidden_sizes) >= 1 and min(self.hidden_sizes) >= 1,
                    "--sweep-hidden-sizes needs sizes of at least 1",
                ),
                (
                    len(self.batch_sizes) >= 1 and min(self.batch_sizes) >= 1,
                    "--sweep-batch-sizes needs sizes of at least 1",
                ),
                (
                    len(self.lr_range) == 2 and 0 < self.lr_range[0] < self.lr_range[1],
                    f"--sweep-lr-range needs two rates, lowest first, above 0: not {self.lr_range}",
                ),
            ]
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
class StoreConfig:
    url: str = setting(
        "sqlite:///forecasts.db",
        "forecast store: a SQLAlchemy URL, a SQLite file or the PostgreSQL database "
        "`make tracking-server` prints",
        flag="--store-url",
    )

    def __post_init__(self) -> None:
        require(
            [(bool(self.url.strip()), "--store-url is empty: give e.g. sqlite:///forecasts.db")]
        )


@dataclass(frozen=True)
class MonitorConfig:
    """How stored forecasts are scored live, adapted online and judged for drift."""

    window: int = setting(60, "sessions in the rolling live scores", flag="--live-window")
    aci: bool = setting(
        True, "adapt the printed and stored intervals to the store's outcomes (online ACI)"
    )
    aci_gamma: float = setting(
        0.005,
        "step of online adaptive conformal inference per session (the backtest's)",
        flag="--live-aci-gamma",
    )
    drift_alpha: float = setting(
        0.01, "level of the binomial test that live coverage left its band (drift)"
    )
    drift_margin: float = setting(
        1.0,
        "drift when the live interval score (in percent of the Close) exceeds the test days' by "
        "this share (1.0: twice theirs)",
    )
    drift_min_sessions: int = setting(20, "scored sessions a champion needs before drift is judged")

    def __post_init__(self) -> None:
        require(
            [
                (self.window >= 2, f"--live-window must be at least 2, not {self.window}"),
                (
                    0 <= self.aci_gamma < 1,
                    f"--live-aci-gamma must lie in [0, 1), not {self.aci_gamma}",
                ),
                (
                    0 < self.drift_alpha < 1,
                    f"--drift-alpha must lie between 0 and 1, not {self.drift_alpha}",
                ),
                (
                    self.drift_margin >= 0,
                    f"--drift-margin must be 0 or more, not {self.drift_margin}",
                ),
                (
                    self.drift_min_sessions >= 1,
                    f"--drift-min-sessions must be at least 1, not {self.drift_min_sessions}",
                ),
            ]
        )


@dataclass(frozen=True)
class BackfillConfig:
    first: str | None = setting(
        None, "first as-of session to replay (YYYY-MM-DD; None: 252 sessions before the last)",
        flag="--from",
    )  # fmt: skip
    last: str | None = setting(
        None, "last as-of session to replay (YYYY-MM-DD; None: the last with a known next Close)",
        flag="--to",
    )  # fmt: skip
