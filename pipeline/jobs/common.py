"""What every job shares: stage timing and the summary a job hands back to the driver."""

from __future__ import annotations

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
