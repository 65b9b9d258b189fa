"""Where a group's job logs: the run its network trains in, and each ticker's.

A ticker's own model (a group of one, named by its ticker) has the per-ticker
layout: one run for the ticker, in which the network trains and the ticker's
scores are logged (a backtest: a parent run with a nested run per fold, the
network training in the fold's run). A model for several tickers (the global
one) trains in a run of the group (tagged with the tickers), and each ticker's
scores go to a run of the ticker nested under it (a backtest: a run of the
group per fold for training, then each ticker's parent and fold runs).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import mlflow

from pipeline.config import Config
from pipeline.evaluation.backtest import FoldResult
from pipeline.tracking import lifecycle

PARENT = "mlflow.parentRunId"


@dataclass(frozen=True)
class GroupRuns:
    """The runs of one group's job of one kind (``train``, ``retrain``, ``backtest``)."""

    cfg: Config
    name: str  # the group's: its ticker, or "global"
    tickers: tuple[str, ...]
    label: str  # the tickers, as the group's run tags them
    experiment_id: str
    kind: str
    command: str
    tags: Mapping[str, str] = field(default_factory=dict)  # on every run
    nested_name: str = "{ticker}-{group}-{kind}"  # a ticker's run under the group's

    @property
    def shared(self) -> bool:
        """Whether the group's run is its ticker's (a ticker's own model)."""
        return self.tickers == (self.name,)

    def group(
        self, *, run_id: str | None = None, kind: str | None = None, **tags: str
    ) -> contextlib.AbstractContextManager[mlflow.ActiveRun]:
        """The run the group's network trains in (``run_id``: resumed); a ticker's own run."""
        kind = kind or self.kind
        if self.shared:
            return lifecycle.run(
                self.cfg, self.name, experiment_id=self.experiment_id, kind=kind,
                command=self.command, run_id=run_id, tags={**self.tags, **tags},
            )  # fmt: skip
        return lifecycle.run(
            self.cfg, self.label, experiment_id=self.experiment_id, kind=kind,
            command=self.command, run_id=run_id, run_name=f"{self.name}-{kind}",
            tags={**self.tags, **tags},
        )  # fmt: skip

    @contextlib.contextmanager
    def ticker(self, ticker: str, **tags: str) -> Iterator[None]:
        """Inside the group's run: the run ``ticker``'s scores go to (with ``tags``)."""
        if self.shared:
            if tags:
                lifecycle.log_tags(tags)
            yield
            return
        name = self.nested_name.format(ticker=ticker, group=self.name, kind=self.kind)
        # Nested under the group's run, whatever parent the group's run was given.
        inherited = {k: v for k, v in self.tags.items() if k != PARENT}
        with lifecycle.run(
            self.cfg, ticker, experiment_id=self.experiment_id, kind=self.kind,
            command=self.command, nested=True, run_name=name, tags={**inherited, **tags},
        ):  # fmt: skip
            yield


@dataclass(frozen=True)
class BacktestRuns:
    """A group backtest's runs: per ticker a parent run (kind ``backtest``) with a nested
    run per fold (``backtest-fold``); the network of each fold trains in the ticker's fold
    run (a ticker's own model) or in a run of the group (``backtest-global``)."""

    runs: GroupRuns  # kind "backtest"

    @contextlib.contextmanager
    def job(self) -> Iterator[None]:
        """The whole job: a ticker's own parent run stays open through it."""
        if not self.runs.shared:
            yield
            return
        with self.runs.group():
            yield

    def fold(self, fold: int) -> contextlib.AbstractContextManager[mlflow.ActiveRun]:
        """The run fold ``fold``'s network trains in."""
        r = self.runs
        tags = {**r.tags, "fold": str(fold)}
        if r.shared:
            return lifecycle.run(
                r.cfg, r.name, experiment_id=r.experiment_id, kind="backtest-fold",
                command=r.command, nested=True, run_name=f"{r.name}-fold-{fold}", tags=tags,
            )  # fmt: skip
        return lifecycle.run(
            r.cfg, r.label, experiment_id=r.experiment_id, kind="backtest-global",
            command=r.command, run_name=f"{r.name}-fold-{fold}", tags=tags,
        )  # fmt: skip

    def fold_done(self, log_fold: Callable[[], None]) -> None:
        """Inside ``fold``: a ticker's own fold run logs its results now (``log_fold``);
        another ticker's are logged in its own runs (``ticker``)."""
        if self.runs.shared:
            log_fold()

    @contextlib.contextmanager
    def ticker(
        self, ticker: str, results: Sequence[FoldResult], log_fold: Callable[[FoldResult], None]
    ) -> Iterator[str]:
        """The parent run of ``ticker``'s pooled results (yields its id): a ticker's own is
        open already, its folds logged; another's is opened, with a nested run per fold
        in which ``log_fold(result)`` logs its result."""
        r = self.runs
        if r.shared:
            yield mlflow.active_run().info.run_id
            return
        with lifecycle.run(
            r.cfg, ticker, experiment_id=r.experiment_id, kind="backtest", command=r.command,
            tags=r.tags,
        ) as active:  # fmt: skip
            for result in results:
                with lifecycle.run(
                    r.cfg, ticker, experiment_id=r.experiment_id, kind="backtest-fold",
                    command=r.command, nested=True, run_name=f"{ticker}-fold-{result.fold}",
                    tags={**r.tags, "fold": str(result.fold)},
                ):  # fmt: skip
                    log_fold(result)
            yield active.info.run_id
