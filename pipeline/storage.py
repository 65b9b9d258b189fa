"""Atomic file writes: a temporary file beside the target, then a rename.

A process killed mid-write leaves the previous file intact, and a full disk or
a read-only folder becomes a StorageError that names the path.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from pipeline.errors import StorageError


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces ``path`` in one rename."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
    except OSError as exc:
        raise storage_error(path, exc) from exc
    tmp = Path(tmp_name)
    try:
        yield tmp
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        raise storage_error(path, exc) from exc
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    write_bytes(path, text.encode("utf-8"))


def storage_error(path: Path, exc: OSError) -> StorageError:
    """Turn an OSError into one line that names the path and what to do."""
    if exc.errno == errno.ENOSPC:
        why = "the disk is full; free some space and run again"
    elif exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        why = "permission denied; make the folder writable or point the option elsewhere"
    elif exc.errno in (errno.ENOTDIR, errno.EEXIST):
        why = "a file is in the way of a folder; move it or point the option elsewhere"
    else:
        why = exc.strerror or str(exc)
    return StorageError(f"cannot write {path}: {why}")


# errno values that mean "this path cannot be written", whoever raised them.
_STORAGE_ERRNOS = {
    errno.ENOSPC,
    errno.EDQUOT,
    errno.EACCES,
    errno.EPERM,
    errno.EROFS,
    errno.ENOTDIR,
    errno.EEXIST,
}


def as_storage_error(exc: BaseException) -> StorageError | None:
    """A StorageError for an OSError about writing (in ``exc`` or its causes); else None."""
    if isinstance(exc, StorageError):
        return exc
    if isinstance(exc, OSError) and exc.errno in _STORAGE_ERRNOS:
        return storage_error(Path(exc.filename or "?"), exc)
    cause = exc.__cause__ or exc.__context__
    return as_storage_error(cause) if cause is not None and cause is not exc else None
