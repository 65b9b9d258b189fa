"""The retrain lock: one retrain job at a time per data folder, held with ``filelock``."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from filelock import FileLock, Timeout

from pipeline import storage
from pipeline.errors import LockedError, StorageError


@contextlib.contextmanager
def exclusive_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` or raise LockedError at once.

    The operating system drops the lock when the process ends, however it ends,
    so a killed job never leaves a stale lock behind. The holder's pid is kept
    beside it (``<lock>.pid``) so that a refused job can say who holds it.
    """
    path = Path(path)
    pid_file = path.with_name(path.name + ".pid")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        lock = FileLock(path, timeout=0)
        lock.acquire()
    except Timeout:
        holder = _read(pid_file) or "unknown"
        raise LockedError(
            f"another retrain job is running (pid {holder}, lock {path}); "
            "this one stops without changing anything"
        ) from None
    except OSError as exc:
        raise StorageError(f"cannot create the lock file {path}: {exc.strerror}") from None
    try:
        storage.write_text(pid_file, str(os.getpid()))
        yield
    finally:
        lock.release()


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return ""
