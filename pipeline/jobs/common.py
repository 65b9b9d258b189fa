"""What every job shares: stage timing and the summary a job hands back to the driver."""

from __future__ import annotations

import math
import os
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TypeVar

T = TypeVar("T")


class StageClock:
    """Seconds spent per stage, summed over tickers; a nested stage pauses its parent."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self._stack: list[tuple[str, float]] = []

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        now = time.perf_counter()
        if self._stack:
            parent, since = self._stack[-1]
            self.seconds[parent] += now - since
        self._stack.append((name, now))
        try:
            yield
        finally:
            _, since = self._stack.pop()
            now = time.perf_counter()
            self.seconds[name] += now - since
            if self._stack:
                self._stack[-1] = (self._stack[-1][0], now)

    def timed(self, name: str, func: Callable[[T], None]) -> Callable[[T], None]:
        """Wrap a callback so that its time counts towards stage ``name``."""

        def wrapper(arg: T) -> None:
            with self.stage(name):
                func(arg)

        return wrapper

    def add(self, seconds: dict[str, float]) -> None:
        """Add another clock's seconds (a ticker's, from a worker) to this one."""
        for name, value in seconds.items():
            self.seconds[name] += value


def tickers_label(tickers: tuple[str, ...]) -> str:
    """The tickers as a job's shared runs (a sweep, a summary) name them: all, unless many."""
    if len(tickers) <= 4:
        return ",".join(tickers)
    return f"{tickers[0]}..{tickers[-1]} ({len(tickers)})"


@dataclass
class Summary:
    """What a job returns for one ticker: the text to print and a few facts."""

    ticker: str
    text: str  # printed by the driver, in ticker order
    run_id: str | None = None
    seconds: dict[str, float] = field(default_factory=dict)  # by stage
    facts: dict[str, object] = field(default_factory=dict)  # job-specific values


def idle_cores(sample_s: float = 0.25) -> int:
    """How many of this process's cores were idle over the last ``sample_s`` seconds (>= 1).

    From the kernel's CPU counters (``/proc/stat``: idle and iowait time over all time);
    elsewhere from the one-minute load average. A CPU-bound process beside us makes it
    1 on a 2-core box, where a second torch thread would make training ~11x slower.
    """
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    cores = cores or 1
    try:
        before = _cpu_times()
        time.sleep(sample_s)
        after = _cpu_times()
        total = sum(after) - sum(before)
        idle = (after[3] + after[4]) - (before[3] + before[4])
        busy = (os.cpu_count() or cores) * (1 - idle / total) if total > 0 else 0.0
    except OSError:  # no /proc (macOS, Windows)
        busy = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    return max(1, min(cores, math.floor(cores - busy + 0.5)))


def _cpu_times() -> list[int]:
    """The machine's CPU time by kind (user, nice, system, idle, iowait, ...), in ticks."""
    with open("/proc/stat") as stat:
        return [int(x) for x in stat.readline().split()[1:]]
