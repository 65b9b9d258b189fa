"""The driver: what a command does around its group jobs.

It forms the groups (``cluster.scope``: a group per ticker, or one for the
universe) and owns everything shared: the tracking store and the experiment
(created once, their id handed to every job), the prices (fetched here and
passed to the job as values), the engine that runs the jobs (this process, or
a Ray task per group on this machine or a cluster), the order of the output and
the exit code. One group's expected failure is reported and the others go on.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Protocol

import pandas as pd

from pipeline.config import Config
from pipeline.data.sources import csv_tickers, load_prices
from pipeline.errors import ConfigError, Interrupted, StockcastError
from pipeline.evaluation.report import text_table
from pipeline.evaluation.summary import summary_heading, summary_table
from pipeline.runtime.common import (
    TICKER_FAILURES,
    Group,
    StageClock,
    Summary,
    groups_of,
    idle_cores,
    tickers_label,
)
from pipeline.runtime.executors import make_executor
from pipeline.tracking import lifecycle, store, summary_log


class Job(Protocol):
    """One group's job: config, group (its prices as values) and experiment; ``tags`` go on
    its runs. A summary per ticker (and one for the group, when it has its own line)."""

    def __call__(
        self,
        cfg: Config,
        group: Group,
        experiment_id: str | None,
        *,
        tags: Mapping[str, str] | None = None,
    ) -> list[Summary]: ...


def prepare(cfg: Config, tracking_uri: str | None = None) -> str:
    """Check the device, point MLflow at its store and create the experiment once; its id."""
    from pipeline.models.training import pick_device

    pick_device(cfg.runtime.device)  # a missing GPU is an option error, before any work
    store.configure(tracking_uri)
    experiment_id = store.prepare_experiment(cfg.experiment)
    store.prepare_registry()
    return experiment_id


def prepare_store(cfg: Config) -> None:
    """Open the forecast store once, before any group, migrating its schema (or refusing
    one from a newer stockcast); each job then opens it by its URL."""
    from pipeline.store.forecasts import ForecastStore

    ForecastStore(cfg.store.url).close()


def tickers_for(cfg: Config) -> tuple[str, ...]:
    """The tickers a run covers: the CSVs' stems for source=csv, else cfg.tickers."""
    if cfg.data.source == "csv":
        return csv_tickers(cfg.data.csv_path)
    return cfg.tickers


def fetch_prices(cfg: Config, ticker: str) -> pd.DataFrame:
    """A ticker's prices from the configured source (the driver's default loader)."""
    return load_prices(ticker, cfg.data, cfg.paths)


@dataclass(frozen=True)
class Task:
    """One group's job, with everything it needs as values (it may run on another machine)."""

    job: Job
    cfg: Config
    group: Group
    experiment_id: str | None
    tracking_uri: str
    registry_uri: str
    job_id: str

    @property
    def task_id(self) -> str:
        return f"{self.job_id}-{self.group.name}"


def run_task(task: Task) -> list[Summary]:
    """Run one task, in this process or in a Ray worker."""
    store.configure(task.tracking_uri, task.registry_uri)
    if task.cfg.cluster.engine != "local" and task.experiment_id is not None:
        # A retried task (its worker was killed) first closes what the dead attempt left open.
        lifecycle.end_runs(task.experiment_id, "FAILED", task_id=task.task_id)
    tags = {"job_id": task.job_id, "task_id": task.task_id, "scope": task.cfg.cluster.scope}
    return task.job(task.cfg, task.group, task.experiment_id, tags=tags)


def run_groups(
    cfg: Config,
    job: Job,
    experiment_id: str | None = None,
    clock: StageClock | None = None,
    on_summary: Callable[[Summary], None] | None = None,
    prices: Mapping[str, pd.DataFrame] | None = None,
    job_id: str | None = None,
    *,
    load: Callable[[Config, str], pd.DataFrame] | None = fetch_prices,
    whole: bool = False,
) -> int:
    """Form the groups (``cluster.scope``), fetch their prices here and run ``job`` on each
    group with the configured engine; return the exit code.

    ``prices`` already fetched (by the sweep) are used instead of fetching again;
    ``load=None`` gives the jobs no prices (the stage jobs read their own files). A ticker
    whose prices fail to load is reported and left out of its group, or, with ``whole``,
    its group is not run (a champion is compared on the universe it was trained on).
    ``job_id`` (tagged on every run) is a new one unless given. Summaries are printed as
    they come (in ticker order with the local engine). Ctrl-C or SIGTERM cancels the tasks,
    and the runs they had open end KILLED.
    """
    clock = clock or StageClock()
    tickers = tuple(prices) if prices is not None else tickers_for(cfg)
    failed: list[StockcastError] = []
    n_failed = [0]  # tickers whose job did not run or failed
    cfg, tracking_uri, registry_uri = for_engine(cfg)
    job_id = job_id or new_job_id()

    def fail(exc: StockcastError, n_tickers: int = 1) -> None:
        report_failure(exc)
        failed.append(exc)
        n_failed[0] += n_tickers

    def loaded(group: Group) -> Group | None:
        if prices is not None:
            return Group(group.name, group.tickers, {t: prices[t] for t in group.tickers})
        if load is None:
            return group
        found = {}
        for ticker in group.tickers:
            try:
                with clock.stage("fetch"):
                    found[ticker] = load(cfg, ticker)
            except TICKER_FAILURES as exc:
                fail(exc)
        if found and whole and len(found) < len(group.tickers):
            n_failed[0] += len(found)  # loaded, but their group does not run short of a ticker
            return None
        return Group(group.name, tuple(found), found) if found else None

    def tasks() -> Iterator[Task]:
        for group in groups_of(tickers, cfg.cluster.scope):
            ready = loaded(group)
            if ready is not None:
                yield Task(job, cfg, ready, experiment_id, tracking_uri, registry_uri, job_id)

    executor = make_executor(cfg.cluster.engine, num_cpus_per_task=cfg.cluster.cpus_per_task)
    try:
        with executor:
            for outcome in executor.map(run_task, tasks(), name=lambda t: t.task_id):
                if outcome.error is None:
                    for summary in outcome.value:
                        clock.add(summary.seconds)
                        if summary.error is not None:
                            fail(summary.error)
                            continue
                        if on_summary:
                            on_summary(summary)
                        print(summary.text, flush=True)
                elif isinstance(outcome.error, TICKER_FAILURES):
                    fail(outcome.error, len(outcome.item.group.tickers))
                else:
                    raise outcome.error
    except (KeyboardInterrupt, Interrupted):
        # Killed workers could not end their runs, and a signal inside MLflow's own call
        # may have left one open here: every run of the job still open ends KILLED.
        if experiment_id is not None:
            lifecycle.end_runs(experiment_id, "KILLED", job_id=job_id)
        raise
    return exit_code(failed, n_failed[0], len(tickers))


def new_job_id() -> str:
    """The id tagged on every run of one job (``job_id``)."""
    return uuid.uuid4().hex[:12]


def report_summary(
    cfg: Config,
    summaries: list[Summary],
    experiment_id: str,
    *,
    command: str,
    days: str,
    job_id: str,
) -> None:
    """Print the table across tickers and log it as the job's summary run.

    Built from the ``scores`` each ticker's summary carries, in the tickers' order;
    nothing when every ticker failed.
    """
    if not summaries:
        return
    order = {ticker: i for i, ticker in enumerate(tickers_for(cfg))}
    ordered = sorted(summaries, key=lambda s: order.get(s.ticker, len(order)))
    table = summary_table({s.ticker: s.facts["scores"] for s in ordered})
    heading = summary_heading(table, days)
    print(f"\n{heading}\n{text_table(table, index_name='ticker')}", flush=True)
    summary_log.log_summary(
        cfg, table, heading, days=days, label=tickers_label(tuple(table.index)),
        experiment_id=experiment_id, command=command, tags={"job_id": job_id},
    )  # fmt: skip


def for_engine(cfg: Config) -> tuple[Config, str, str]:
    """The config, tracking URI and registry URI as the tasks should see them.

    In-process, torch gets ``runtime.threads`` threads (0: the cores idle now, and the
    config says how many, so that each run logs its thread count). Ray tasks get as many as
    their CPU share (the executor sets it) and no progress bars; on a local
    Ray, relative paths and a relative SQLite store are made absolute, since
    workers may run in another folder. A cluster needs a tracking server that
    every node reaches: a SQLite file or folder here is refused, for the runs or
    for the model registry (``MLFLOW_REGISTRY_URI``). A relative SQLite forecast
    store is made absolute too.
    """
    uri, registry = store.tracking_uri(), store.registry_uri()
    if cfg.cluster.engine == "local":
        import torch

        threads = cfg.runtime.threads or idle_cores()
        torch.set_num_threads(threads)
        return cfg.replace(runtime=dataclasses.replace(cfg.runtime, threads=threads)), uri, registry
    if os.environ.get("RAY_ADDRESS"):
        if not uri.startswith(("http://", "https://")):
            raise ConfigError(
                f"ENGINE=ray on a cluster (RAY_ADDRESS) needs a tracking server every node can "
                f"reach, not {uri}: run `make tracking-server` and set MLFLOW_TRACKING_URI"
            )
        if store.is_local(registry):
            raise ConfigError(
                f"ENGINE=ray on a cluster (RAY_ADDRESS) needs a model registry every node can "
                f"reach, not {registry}: unset MLFLOW_REGISTRY_URI to use the tracking server's"
            )
        return cfg.replace(runtime=dataclasses.replace(cfg.runtime, progress=False)), uri, registry
    paths = dataclasses.replace(
        cfg.paths,
        data_dir=cfg.paths.data_dir.absolute(),
        reports_dir=cfg.paths.reports_dir.absolute(),
    )
    runtime = dataclasses.replace(cfg.runtime, progress=False)
    forecasts = dataclasses.replace(cfg.store, url=store.absolute_uri(cfg.store.url))
    return (
        cfg.replace(paths=paths, runtime=runtime, store=forecasts),
        store.absolute_uri(uri),
        store.absolute_uri(registry),
    )


def report_failure(exc: StockcastError) -> None:
    """One ``error:`` line on stderr."""
    print(f"error: {exc}", file=sys.stderr, flush=True)


def exit_code(failed: list[StockcastError], n_failed: int, n_tickers: int) -> int:
    """0, or the first failure's code (saying how many of several tickers failed: a failed
    group's tickers all did)."""
    if not failed:
        return 0
    if n_tickers > 1:
        print(f"error: {n_failed} of {n_tickers} tickers failed", file=sys.stderr)
    return failed[0].exit_code
