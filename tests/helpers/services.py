"""Real services for tests: PostgreSQL and an MLflow tracking server.

Started by the project's own `scripts/tracking-server` in a temporary folder on free loopback
ports, so the tests exercise exactly what `make tracking-server` runs. PostgreSQL must be
installed; `.ci/run` installs it.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "tracking-server"


@dataclass(frozen=True)
class TrackingServer:
    """A running PostgreSQL-backed MLflow server and the folder that holds its state."""

    uri: str  # http://127.0.0.1:<port>, for MLFLOW_TRACKING_URI
    folder: Path  # TRACKING_DIR: cluster, artifacts, logs, pgpass
    pg_port: int  # PostgreSQL's, on 127.0.0.1

    @property
    def logs(self) -> list[Path]:
        """The MLflow server's and PostgreSQL's logs."""
        return sorted((self.folder / "logs").glob("*.log"))

    def password(self) -> str:
        """The `mlflow` role's password, from the pgpass file (host:port:db:user:password)."""
        return (self.folder / "pgpass").read_text().strip().split(":", 4)[4]

    def store_url(self) -> str:
        """The forecast store's database on this PostgreSQL, as a SQLAlchemy URL."""
        return f"postgresql+psycopg2://mlflow:{self.password()}@127.0.0.1:{self.pg_port}/forecasts"


def free_port() -> int:
    """A loopback port that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _require_postgresql() -> None:
    if shutil.which("pg_createcluster") is None:
        pytest.fail(
            "PostgreSQL is not installed (no pg_createcluster), and the tracking tests need a "
            "real one: .ci/run installs it, or run 'sudo apt-get install postgresql'",
            pytrace=False,
        )


@contextmanager
def running_tracking_server() -> Iterator[TrackingServer]:
    """Start PostgreSQL and `mlflow server` in a fresh folder; stop both and remove it after."""
    _require_postgresql()
    # Not tmp_path: pytest's base folder is closed to others, and as root the server runs as
    # the postgres user, who must enter this folder. A short path also keeps the Unix socket
    # path under its 107-byte limit.
    folder = Path(tempfile.mkdtemp(prefix="stockcast-tracking-"))
    folder.chmod(0o755)
    mlflow_port, pg_port = free_port(), free_port()
    env = {
        **os.environ,
        "TRACKING_DIR": str(folder),
        "PG_PORT": str(pg_port),
        "MLFLOW_PORT": str(mlflow_port),
        "TRACKING_PYTHON": sys.executable,
    }
    try:
        started = subprocess.run(
            [str(SCRIPT), "start"], env=env, capture_output=True, text=True, timeout=300
        )
        if started.returncode != 0:
            pytest.fail(
                f"scripts/tracking-server start failed:\n{started.stdout}{started.stderr}",
                pytrace=False,
            )
        yield TrackingServer(f"http://127.0.0.1:{mlflow_port}", folder, pg_port)
    finally:
        stopped = subprocess.run([str(SCRIPT), "stop"], env=env, capture_output=True, timeout=120)
        if stopped.returncode == 0:  # else keep the folder, so that its servers can be stopped
            shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def tracking_server() -> Iterator[TrackingServer]:
    """One PostgreSQL-backed MLflow server for the whole test session."""
    with running_tracking_server() as server:
        yield server


# PostgreSQL is slow: the session's tracking server starts it.
@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.slow)])
def store_url(request, tmp_path: Path) -> Iterator[str]:
    """A forecast store's URL: a SQLite file in tmp_path, or the tracking server's PostgreSQL
    database ``forecasts`` (emptied after the test)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'forecasts.db'}"
        return
    server: TrackingServer = request.getfixturevalue("tracking_server")
    url = server.store_url()
    yield url
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    with engine.begin() as conn:
        for table in ("forecast_bounds", "forecasts", "realised", "stockcast_store_version"):
            conn.execute(sa.text(f"DROP TABLE IF EXISTS {table}"))
    engine.dispose()
