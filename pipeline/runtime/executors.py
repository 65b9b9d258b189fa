"""Run one job function over many items: in this process, or as Ray tasks.

Both executors have the same shape, so a job is written once::

    with make_executor(engine) as executor:
        for outcome in executor.map(run_one, tickers):
            print(outcome.item, outcome.error or outcome.value)

``map`` yields an ``Outcome`` as each item ends, in the order they end. One
item's failure arrives as its ``Outcome.error`` (the exception the job raised,
of its own type) and never stops the others. Ctrl-C or SIGTERM while waiting
stops the work that has not ended and is raised again.

``fn`` must be a top-level function (Ray pickles it by name) that takes one
item and returns a small picklable value. Ray is imported only by
``RayExecutor``, so the local engine never loads it.

What Ray 2.60 does that shapes this module:

- A local Ray (no address) turns token auth on by itself; the token is read from
  ``RAY_AUTH_TOKEN``, the file named by ``RAY_AUTH_TOKEN_PATH``, or
  ``~/.ray/auth_token``, which Ray writes (mode 0644) when none exists.
- A cluster started with ``ray start --head`` has auth on only when
  ``RAY_AUTH_MODE=token`` is set, or a token is found as above. Every other node
  and every driver then needs ``RAY_AUTH_MODE=token`` *and* the token in their
  environment; without the former they send none and get ``InvalidAuthToken``.
- Workers run in their node's folder, with the driver's folder on ``sys.path``
  (which on another machine holds nothing), so on joining a cluster the
  executor ships the ``pipeline`` package with the job (``py_modules``).
- ``ray.init`` replaces the process's SIGTERM handler, and Ray's blocking calls
  (``ray.wait``, ``ray.get``) in the main thread let only KeyboardInterrupt and
  SystemExit out of a signal handler: another exception, such as the CLI's
  ``Interrupted``, is held until the wait ends (a SystemError). So the executor
  puts the caller's handler back, and waits for Ray in a thread of its own.
"""

from __future__ import annotations

import logging
import os
import queue
import signal
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from pipeline.errors import ConfigError
from pipeline.runtime.tasks import (
    CANCEL_GRACE_S,
    MAX_RETRIES,
    RETRY_DELAY_S,
    Attempts,
    Outcome,
    cancel,
    run_task,
)

log = logging.getLogger("stockcast")

Item = TypeVar("Item")
Value = TypeVar("Value")

ENGINES = ("local", "ray")
__all__ = ["CANCEL_GRACE_S", "MAX_RETRIES", "RETRY_DELAY_S", "LocalExecutor", "Outcome",
           "RayExecutor", "make_executor"]  # fmt: skip
PACKAGE_DIR = Path(__file__).resolve().parents[1]  # the pipeline package, shipped to a cluster


class LocalExecutor:
    """Runs the items one after another in this process (the default engine)."""

    def __enter__(self) -> LocalExecutor:
        return self

    def __exit__(self, *exc_info: object) -> None:
        return None

    def map(
        self,
        fn: Callable[[Item], Value],
        items: Iterable[Item],
        *,
        name: Callable[[Item], str] = str,
    ) -> Iterator[Outcome[Item, Value]]:
        """Yield each item's outcome as it ends; ``name`` only matters to Ray."""
        for item in items:
            try:
                value = fn(item)
            except Exception as exc:  # KeyboardInterrupt and Interrupted still stop the loop
                yield Outcome(item, error=exc)
            else:
                yield Outcome(item, value=value)


class RayExecutor:
    """Runs each item as a Ray task, on a local Ray or on a cluster.

    On enter it joins the Ray this process is already connected to, or connects
    to ``address`` (else ``RAY_ADDRESS``), or starts a local Ray on all cores;
    on exit it cancels the tasks of any map left unfinished, and shuts down only
    a Ray it started or connected to itself.
    """

    def __init__(
        self,
        *,
        num_cpus_per_task: float = 1,
        address: str | None = None,
        max_retries: int = MAX_RETRIES,
    ) -> None:
        if num_cpus_per_task <= 0:
            raise ConfigError(f"num_cpus_per_task must be positive, got {num_cpus_per_task}")
        self.num_cpus_per_task = num_cpus_per_task
        self.address = address
        self.max_retries = max_retries
        self._owns_ray = False
        self._maps: list[Iterator[Outcome]] = []

    def __enter__(self) -> RayExecutor:
        import ray

        if not ray.is_initialized():
            sigterm = signal.getsignal(signal.SIGTERM)
            try:
                self._connect(ray)
            finally:
                if callable(sigterm) and threading.current_thread() is threading.main_thread():
                    signal.signal(signal.SIGTERM, sigterm)
            self._owns_ray = True
        return self

    def __exit__(self, *exc_info: object) -> None:
        import ray

        try:
            # A map left suspended (an exception in the caller's loop body)
            # still has tasks running: closing it cancels them.
            for outcomes in self._maps:
                outcomes.close()
        finally:
            self._maps.clear()
            if self._owns_ray:
                ray.shutdown()
                self._owns_ray = False

    def _connect(self, ray: Any) -> None:
        address = self.address or os.environ.get("RAY_ADDRESS")
        quiet = {"logging_level": logging.WARNING}
        if address is None:
            # "local" rather than None: None would join whatever cluster
            # /tmp/ray/ray_current_cluster names, even one left by a killed head.
            # No num_cpus: Ray counts the cores itself, heeding a container's CPU
            # limit, which os.cpu_count() does not.
            ray.init(address="local", include_dashboard=False, **quiet)
            return
        code = {"py_modules": [str(PACKAGE_DIR)], "excludes": ["__pycache__"]}
        try:
            ray.init(address=address, runtime_env=code, **quiet)
        except (ConnectionError, ray.exceptions.AuthenticationError) as exc:
            raise ConfigError(
                f"cannot join the Ray cluster at {address}: {exc} "
                "(check the address, and that RAY_AUTH_MODE=token and RAY_AUTH_TOKEN "
                "or RAY_AUTH_TOKEN_PATH give the cluster's token)"
            ) from exc

    def map(
        self,
        fn: Callable[[Item], Value],
        items: Iterable[Item],
        *,
        name: Callable[[Item], str] = str,
    ) -> Iterator[Outcome[Item, Value]]:
        """Submit every item as a task (named ``name(item)``), then yield each
        outcome as its task ends. Nothing is submitted before the first ``next``."""
        outcomes = self._run(fn, items, name)
        self._maps.append(outcomes)
        return outcomes

    def _run(
        self, fn: Callable[[Item], Value], items: Iterable[Item], name: Callable[[Item], str]
    ) -> Iterator[Outcome[Item, Value]]:
        import ray

        remote = ray.remote(run_task)
        cpus = self.num_cpus_per_task

        def submit(item: Item) -> Any:
            # max_retries=0: the watcher retries a crashed worker itself, and never after a stop.
            options = {"name": name(item), "num_cpus": cpus, "max_retries": 0}
            return remote.options(**options, retry_exceptions=False).remote(fn, item, cpus)

        attempts = Attempts(submit, self.max_retries)
        pending: dict[int, Item] = {}  # item number -> item, for the items not yet reported
        ended: queue.SimpleQueue = queue.SimpleQueue()
        stop = threading.Event()
        watcher = None
        try:
            for number, item in enumerate(items):
                attempts.start(number, item)
                pending[number] = item
            watcher = threading.Thread(target=attempts.watch, args=(ray, ended, stop), daemon=True)
            watcher.start()
            while pending:
                number, outcome = ended.get()  # unlike ray.wait, lets any signal's exception out
                del pending[number]
                yield outcome
        finally:
            # Tasks are left only after Ctrl-C, SIGTERM, or a caller that stopped early.
            try:
                attempts.close()  # first, so that no task is started again from here on
                cancel(ray, attempts, pending, ended if watcher else None)
            finally:
                stop.set()
                if watcher:
                    watcher.join()


def make_executor(
    engine: str, *, num_cpus_per_task: float = 1, address: str | None = None
) -> LocalExecutor | RayExecutor:
    """The executor for ``engine``: "local" (one item after another here) or "ray"."""
    if engine == "local":
        return LocalExecutor()
    if engine == "ray":
        return RayExecutor(num_cpus_per_task=num_cpus_per_task, address=address)
    raise ConfigError(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}")
