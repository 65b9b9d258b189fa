"""What every job shares: the group it works on, stage timing and the summaries it hands back
to the driver."""

from __future__ import annotations

import math
import os
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TypeVar

import pandas as pd

from pipeline.errors import DataError, FetchError, RegistryError, StockcastError, TrainingError

T = TypeVar("T")

# Failures of one ticker (or group) that leave the others worth running.
TICKER_FAILURES = (DataError, FetchError, TrainingError, RegistryError)

GLOBAL = "global"  # the group of the whole universe: its model is stockcast-global


@dataclass(frozen=True)
class Group:
    """Tickers a job works on as one: one network, registered as ``stockcast-<name>``.

    ``--scope ticker`` makes a group of each ticker, named by it (the ticker's own
    model); ``--scope global`` one group of every ticker, named ``global``
    (``groups_of``). A job is written once, for a group.
    """

    name: str  # the registered model's key: a ticker's own, or GLOBAL
    tickers: tuple[str, ...]
    # Each ticker's prices, fetched by the driver; empty for a stage job reading its own files.
    prices: Mapping[str, pd.DataFrame] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """The tickers as the group's runs name them (``tickers_label``)."""
        return tickers_label(self.tickers)


def groups_of(tickers: Sequence[str], scope: str) -> list[Group]:
    """The groups of a job over ``tickers``: one per ticker (``ticker``), or one of them all."""
    if scope == GLOBAL:
        return [Group(GLOBAL, tuple(tickers))]
    return [Group(ticker, (ticker,)) for ticker in tickers]


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
    """What a job returns for one ticker (or its group): the text to print and a few facts."""

    ticker: str
    text: str  # printed by the driver, in ticker order
    run_id: str | None = None
    # By stage; a group's stages are counted once, on its first summary.
    seconds: dict[str, float] = field(default_factory=dict)
    facts: dict[str, object] = field(default_factory=dict)  # job-specific values
    error: StockcastError | None = None  # the ticker failed alone (the driver reports it)


def each_ticker(tickers: Sequence[str], work: Callable[[str], Summary]) -> list[Summary]:
    """``work`` for each of a group's tickers; a ticker that fails alone (``TICKER_FAILURES``)
    gets a summary carrying its error, and the others go on."""
    summaries = []
    for ticker in tickers:
        try:
            summaries.append(work(ticker))
        except TICKER_FAILURES as exc:
            summaries.append(Summary(ticker, "", error=exc))
    return summaries


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
