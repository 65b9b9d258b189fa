"""The scheduled retrain job's logic: holdout split, champion/challenger decision, lock.

A challenger is trained on every day but the most recent ``holdout`` trading
days (its own validation part is the end of that history). The challenger and
the current champion forecast the same holdout days; the challenger takes the
``champion`` alias only if its RMSE is lower, or if there is no champion.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.errors import DataError, LockedError, StorageError
from pipeline.features import MIN_SPLIT_SAMPLES, Split
from pipeline.forecaster import Forecaster

HOLDOUT_DAYS = 60  # most recent trading days kept out of training to compare the models


@dataclass(frozen=True)
class Decision:
    promote: bool
    reason: str


def holdout_split(n_days: int, window: int, holdout: int, val_frac: float, ticker: str) -> Split:
    """Training and validation ends before the holdout; the holdout's targets as test."""
    ends = np.arange(window - 1, n_days - 1)
    target = ends + 1
    start = n_days - holdout
    val_from = start - int((start - window) * val_frac)
    split = Split(
        train=ends[target < val_from],
        val=ends[(target >= val_from) & (target < start)],
        test=ends[target >= start],
    )
    if holdout < 1 or min(split.sizes()) < MIN_SPLIT_SAMPLES:
        raise DataError(
            f"{ticker}: {n_days} days of prices is too little history to train on all but the "
            f"last {holdout} days with a {window}-day window"
        )
    return split


def holdout_forecasts(forecaster: Forecaster, prices: pd.DataFrame, holdout: int) -> np.ndarray:
    """A model's forecasts of the last ``holdout`` Closes, each from the days before it."""
    n, window = len(prices), forecaster.window
    rows = prices.iloc[n - holdout - window : n - 1]
    return forecaster.forecast(rows)


def decide(challenger_rmse: float, champion_rmse: float | None) -> Decision:
    """Promote when there is no champion, or when the challenger's RMSE is strictly lower."""
    if champion_rmse is None:
        return Decision(True, "no champion yet")
    if not np.isfinite(challenger_rmse):
        return Decision(False, "challenger RMSE is not finite")
    if challenger_rmse < champion_rmse:
        return Decision(
            True, f"challenger RMSE {challenger_rmse:.4f} < champion {champion_rmse:.4f}"
        )
    return Decision(False, f"challenger RMSE {challenger_rmse:.4f} >= champion {champion_rmse:.4f}")


@contextlib.contextmanager
def exclusive_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` or raise LockedError at once.

    The operating system drops the lock when the process ends, however it
    ends, so a killed job never leaves a stale lock behind.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise StorageError(f"cannot create the lock file {path}: {exc.strerror}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        raise LockedError(
            f"another retrain job is running (pid {holder}, lock {path}); "
            "this one stops without changing anything"
        ) from None
    try:
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
