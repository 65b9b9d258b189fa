"""A task's outcome, and what running tasks on Ray takes: retrying a task whose worker
died, fetching its result as the job's own exception, cancelling what is left.

``executors.py`` runs the tasks; Ray itself is handed in (``ray``), so that only
the executors import it.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

log = logging.getLogger("stockcast")

Item = TypeVar("Item")
Value = TypeVar("Value")

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


class Attempts:
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
                    outcome = fetch(ray, ref, item)
                    if (
                        crashed(ray, outcome.error)
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


def run_task(fn: Callable[[Any], Any], item: Any, num_cpus: float) -> Any:
    """Run ``fn(item)`` inside a Ray worker, with torch using only the task's CPU share."""
    import torch

    # Ray reserves CPUs but leaves torch's thread count to OMP_NUM_THREADS, which a
    # reused worker read when it first imported torch, maybe for another task's
    # share; threads beyond the reserved cores slow small ops down badly.
    torch.set_num_threads(max(1, int(num_cpus)))
    return fn(item)


def crashed(ray: Any, error: Exception | None) -> bool:
    """Whether the task died with its worker or node, rather than raising or being cancelled."""
    crashes = (
        ray.exceptions.WorkerCrashedError,
        ray.exceptions.NodeDiedError,
        ray.exceptions.LocalRayletDiedError,
        ray.exceptions.OutOfMemoryError,
        ray.exceptions.ObjectLostError,
    )
    return isinstance(error, crashes)


def fetch(ray: Any, ref: Any, item: Any) -> Outcome:
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


def cancel(
    ray: Any, attempts: Attempts, pending: dict[int, Any], ended: queue.SimpleQueue | None
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
