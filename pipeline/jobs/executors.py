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
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from pipeline.errors import ConfigError

log = logging.getLogger("stockcast")

Item = TypeVar("Item")
Value = TypeVar("Value")

ENGINES = ("local", "ray")
PACKAGE_DIR = Path(__file__).resolve().parents[1]  # the pipeline package, shipped to a cluster
# Worker crashes (a killed process, a lost node) a task survives; exceptions the
# job raises are never retried, since the same inputs would fail the same way.
MAX_RETRIES = 3
# A crashed task waits this long before it starts again: a SIGTERM to the whole process
# group kills the workers as it reaches the driver, and that stop must win.
RETRY_DELAY_S = 1.0
# After Ctrl-C or SIGTERM, running tasks get this long to stop on their own (a
# KeyboardInterrupt inside the task, so a job can end its MLflow run as KILLED)
# before their worker processes are killed.
CANCEL_GRACE_S = 3.0


@dataclass(frozen=True)
class Outcome(Generic[Item, Value]):
    """How one item ended: the job's return value, or the exception it raised."""

    item: Item
    value: Value | None = None
    error: Exception | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


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

        remote = ray.remote(_run_task)
        cpus = self.num_cpus_per_task

        def submit(item: Item) -> Any:
            # max_retries=0: the watcher retries a crashed worker itself, and never after a stop.
            options = {"name": name(item), "num_cpus": cpus, "max_retries": 0}
            return remote.options(**options, retry_exceptions=False).remote(fn, item, cpus)

        attempts = _Attempts(submit, self.max_retries)
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
                _cancel(ray, attempts, pending, ended if watcher else None)
            finally:
                stop.set()
                if watcher:
                    watcher.join()


class _Attempts:
    """The running attempt of each item, and the one rule for starting another.

    Ray retries nothing itself (``max_retries=0``): a task whose worker died (killed,
    out of memory, its node lost) is started again here after ``RETRY_DELAY_S``,
    at most ``retries`` times, and never once ``close`` was called. So a task
    cancelled by Ctrl-C or SIGTERM, or one whose worker died in the same stop (a
    process group's SIGTERM reaches the workers as well), is never run again.
    """

    def __init__(self, submit: Callable[[Any], Any], retries: int) -> None:
        self._submit = submit
        self._retries = retries
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._live: dict[Any, tuple[int, Any, int]] = {}  # ref -> (item number, item, attempt)

    def start(self, number: int, item: Any, attempt: int = 0) -> bool:
        """Submit an attempt of ``item``, unless closed; say whether it was submitted."""
        with self._lock:
            if self._closed.is_set():
                return False
            self._live[self._submit(item)] = (number, item, attempt)
            return True

    def close(self) -> None:
        with self._lock:
            self._closed.set()

    def refs(self) -> list[Any]:
        with self._lock:
            return list(self._live)

    def watch(self, ray: Any, ended: queue.SimpleQueue, stop: threading.Event) -> None:
        """Put ``(item number, outcome)`` on ``ended`` as each item ends, until all have or
        ``stop``; start a crashed item again while retries are left.

        Runs in a thread of its own: there, Ray's waits run no signal handlers, and the
        main thread waits on ``ended``, where any handler's exception gets out at once.
        """
        try:
            while not stop.is_set():
                refs = self.refs()
                if not refs:
                    return
                done, _ = ray.wait(refs, num_returns=1, timeout=0.2)
                for ref in done:
                    with self._lock:
                        number, item, attempt = self._live.pop(ref)
                    outcome = _fetch(ray, ref, item)
                    if (
                        _crashed(ray, outcome.error)
                        and attempt < self._retries
                        and not self._closed.wait(RETRY_DELAY_S)  # a stop on its way
                        and self.start(number, item, attempt + 1)
                    ):
                        log.warning("%s: its worker died; starting it again", outcome.item)
                        continue
                    ended.put((number, outcome))
        except Exception as exc:  # Ray failed (the cluster went away): so did every task left
            with self._lock:
                left, self._live = list(self._live.values()), {}
            for number, item, _ in left:
                ended.put((number, Outcome(item, error=exc)))


def _run_task(fn: Callable[[Any], Any], item: Any, num_cpus: float) -> Any:
    """Run ``fn(item)`` inside a Ray worker, with torch using only the task's CPU share."""
    import torch

    # Ray reserves CPUs but leaves torch's thread count to OMP_NUM_THREADS, which a
    # reused worker read when it first imported torch, maybe for another task's
    # share; threads beyond the reserved cores slow small ops down badly.
    torch.set_num_threads(max(1, int(num_cpus)))
    return fn(item)


def _crashed(ray: Any, error: Exception | None) -> bool:
    """Whether the task died with its worker or node, rather than raising or being cancelled."""
    crashes = (
        ray.exceptions.WorkerCrashedError,
        ray.exceptions.NodeDiedError,
        ray.exceptions.LocalRayletDiedError,
        ray.exceptions.OutOfMemoryError,
        ray.exceptions.ObjectLostError,
    )
    return isinstance(error, crashes)


def _fetch(ray: Any, ref: Any, item: Any) -> Outcome:
    """The outcome of a finished task, with the job's own exception unwrapped."""
    try:
        return Outcome(item, value=ray.get(ref))
    except ray.exceptions.RayTaskError as exc:
        # ray.get raises a RayTaskError subclass of the job's exception type;
        # .cause is the job's exception itself, so the caller sees exactly what
        # the local engine would. The remote traceback stays on __cause__.
        cause = exc.cause
        if isinstance(cause, Exception) and cause is not exc:
            cause.__cause__ = exc
            return Outcome(item, error=cause)
        return Outcome(item, error=exc)
    except Exception as exc:  # the worker crashed, was cancelled, ran out of memory
        return Outcome(item, error=exc)


def _cancel(
    ray: Any, attempts: _Attempts, pending: dict[int, Any], ended: queue.SimpleQueue | None
) -> None:
    """Stop the items in ``pending``: queued tasks never start, running ones get a
    KeyboardInterrupt, and those still running CANCEL_GRACE_S later lose their worker."""
    for ref in attempts.refs():
        ray.cancel(ref)
    deadline = time.monotonic() + CANCEL_GRACE_S
    try:
        while pending and ended is not None and time.monotonic() < deadline:
            try:
                number, _ = ended.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            pending.pop(number, None)
    finally:  # a second Ctrl-C cuts the grace period short
        if pending:
            for ref in attempts.refs():
                ray.cancel(ref, force=True)


def make_executor(
    engine: str, *, num_cpus_per_task: float = 1, address: str | None = None
) -> LocalExecutor | RayExecutor:
    """The executor for ``engine``: "local" (one item after another here) or "ray"."""
    if engine == "local":
        return LocalExecutor()
    if engine == "ray":
        return RayExecutor(num_cpus_per_task=num_cpus_per_task, address=address)
    raise ConfigError(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}")
