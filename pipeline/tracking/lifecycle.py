"""A run's life: opened with its tags, ended FINISHED, FAILED or KILLED whatever happens.

``run`` opens (or resumes) one in an experiment given by id (created by the
driver, see ``store.py``); ``end_runs`` closes what a dead worker left open.
"""

from __future__ import annotations

import contextlib
import logging
from collections import defaultdict
from collections.abc import Iterator, Mapping

import mlflow
from mlflow.entities import RunStatus

from pipeline.config import Config, flatten
from pipeline.errors import Interrupted

log = logging.getLogger("stockcast")

# MLflow's futures for what was logged in the background (``synchronous=False``), by run id.
_in_flight: dict[str, list] = defaultdict(list)


@contextlib.contextmanager
def run(
    cfg: Config,
    ticker: str,
    *,
    experiment_id: str,
    kind: str,
    command: str = "all",
    run_id: str | None = None,
    nested: bool = False,
    run_name: str | None = None,
    tags: Mapping[str, str] | None = None,
    log_config: bool = True,
) -> Iterator[mlflow.ActiveRun]:
    """Open (or resume) a run tagged with the ticker; end it FINISHED, FAILED or KILLED.

    ``tags`` go on every run the job opens (its job and task ids, a parent
    run): passed in by the caller, never read from global state. A new run logs
    the whole config as params once, and names its source after
    the command (``stockcast all``) rather than Python's ``__main__`` (a sweep's
    parent passes ``log_config=False`` and logs the best config at the end). Whatever
    escapes the block (an error, Ctrl-C, SIGTERM) ends the run with the
    matching status, so no run is left RUNNING.
    """
    new_tags = {
        "ticker": ticker,
        "kind": kind,
        "source": cfg.data.source,
        "mlflow.source.name": f"stockcast {command}",
        "mlflow.source.type": "LOCAL",
        **(tags or {}),
    }
    active = mlflow.start_run(
        run_id=run_id,
        experiment_id=None if run_id else experiment_id,
        run_name=None if run_id else (run_name or f"{ticker}-{kind}"),
        nested=nested,
        tags=None if run_id else new_tags,
    )
    try:
        if run_id is None and log_config:
            mlflow.log_params({"ticker": ticker, **flatten(cfg)})
        yield active
        wait_logged(active.info.run_id)  # a write that failed in the background fails the run
    except (KeyboardInterrupt, Interrupted):
        _end_run(RunStatus.KILLED)
        raise
    except BaseException:
        _end_run(RunStatus.FAILED)
        raise
    else:
        mlflow.end_run(RunStatus.to_string(RunStatus.FINISHED))


def _end_run(status: int) -> None:
    """End the active run with ``status`` without hiding the error that got us here.

    A signal can land inside MLflow's own call to the store (a half-done
    transaction), so a failed ``end_run`` is tried once more on a fresh client.
    """
    name = RunStatus.to_string(status)
    active = mlflow.active_run()
    try:
        mlflow.end_run(name)
        return
    except Exception as exc:  # the store itself may be what failed
        first = exc
    try:
        if active is not None:
            mlflow.MlflowClient().set_terminated(active.info.run_id, name)
            if mlflow.active_run() is active:
                mlflow.end_run(name)  # pops the ended run off MLflow's stack
    except Exception as exc:
        log.warning("could not mark the MLflow run %s: %s (then: %s)", name, first, exc)


def log_in_background(metrics: Mapping[str, float], step: int) -> None:
    """Log metrics of the active run without waiting for the store (MLflow's async logging).

    MLflow's thread sends them while the job goes on; ``wait_logged`` (called before the
    model is logged and when the run ends) waits for them and raises the first failure, so
    a run ends FINISHED only with every metric stored.
    """
    active = mlflow.active_run()
    operations = mlflow.log_metrics(dict(metrics), step=step, synchronous=False)
    if active is not None and operations is not None:
        _in_flight[active.info.run_id].append(operations)


def wait_logged(run_id: str) -> None:
    """Wait until what ``log_in_background`` sent for ``run_id`` is stored; raise its failure."""
    for operations in _in_flight.pop(run_id, []):
        operations.wait()


def end_runs(experiment_id: str, status: str, **tags: str) -> int:
    """End every RUNNING run with these tags as ``status``; return how many.

    A worker killed mid-task cannot end its own run: the retried task marks it
    FAILED, and the driver marks its job's runs KILLED when it is interrupted.
    """
    client = mlflow.MlflowClient()
    where = " and ".join(f"tags.{key} = '{value}'" for key, value in tags.items())
    found = client.search_runs([experiment_id], f"{where} and attributes.status = 'RUNNING'")
    for found_run in found:
        client.set_terminated(found_run.info.run_id, status)
    return len(found)


def log_tags(tags: dict[str, str]) -> None:
    """Set tags on the active run."""
    mlflow.set_tags(tags)
