"""Opening a store: connect, migrate to this release's schema (or refuse a newer one).

The migration runs inside one transaction that holds the store's write lock
(SQLite's ``BEGIN IMMEDIATE``, a PostgreSQL advisory lock), so two jobs opening
a new store at once create it once. SQLite is put in WAL mode and every write
transaction takes the write lock at its start: concurrent writers wait their
turn (up to ``BUSY_TIMEOUT_S``) instead of failing on a lock upgrade.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError

from pipeline.errors import ConfigError, StoreError
from pipeline.store.schema import HEAD, VERSION_TABLE

MIGRATIONS = Path(__file__).parent / "migrations"
BUSY_TIMEOUT_S = 60  # how long a SQLite writer waits for another's transaction
_PG_LOCK = 0x5354_4F43_4B43  # advisory lock key of the store's migrations ("STOCKC")


def open_engine(url: str) -> sa.Engine:
    """An engine on the store at ``url``, migrated to this release's schema.

    ConfigError for a URL that is not a database URL; StoreError for a store
    that cannot be reached or comes from a newer stockcast.
    """
    try:
        parsed = sa.make_url(url)
    except sa.exc.ArgumentError:
        raise ConfigError(
            f"--store-url {url!r} is not a database URL; e.g. sqlite:///forecasts.db or "
            "postgresql+psycopg2://user@host:5432/forecasts"
        ) from None
    sqlite = parsed.get_backend_name() == "sqlite"
    if sqlite and parsed.database not in (None, "", ":memory:"):
        try:
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(
                f"cannot open the forecast store {url}: {exc.strerror} ({exc.filename})"
            ) from None
    options = {"connect_args": {"timeout": BUSY_TIMEOUT_S}} if sqlite else {"pool_pre_ping": True}
    try:
        engine = sa.create_engine(parsed, **options)
    except (sa.exc.ArgumentError, ImportError) as exc:
        raise ConfigError(f"--store-url {safe_url(url)}: {exc}") from None
    if sqlite:
        _serialise_sqlite_writers(engine)
    try:
        migrate(engine)
    except sa.exc.OperationalError as exc:
        raise StoreError(
            f"cannot open the forecast store {safe_url(url)}: {_first_line(exc)}"
        ) from None
    return engine


def migrate(engine: sa.Engine) -> None:
    """Bring the store to ``HEAD`` (creating it if empty); StoreError if it is newer."""
    script = ScriptDirectory(str(MIGRATIONS))
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK})
        current = MigrationContext.configure(
            conn, opts={"version_table": VERSION_TABLE}
        ).get_current_revision()
        if current == HEAD:
            return
        try:
            known = current is None or script.get_revision(current) is not None
        except CommandError:
            known = False
        if not known:
            raise StoreError(
                f"the forecast store {safe_url(engine.url)} has schema revision {current}, "
                f"newer than this stockcast's ({HEAD}): upgrade stockcast; nothing was changed"
            )
        cfg = AlembicConfig()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, HEAD)


def schema_revision(engine: sa.Engine) -> str | None:
    """The store's schema revision, as its version table records it."""
    with engine.connect() as conn:
        return MigrationContext.configure(
            conn, opts={"version_table": VERSION_TABLE}
        ).get_current_revision()


def safe_url(url: str | sa.URL) -> str:
    """The URL without its password, for messages."""
    return sa.make_url(url).render_as_string(hide_password=True)


def _serialise_sqlite_writers(engine: sa.Engine) -> None:
    """WAL, and ``BEGIN IMMEDIATE`` for every transaction (SQLAlchemy's SQLite recipe)."""

    @sa.event.listens_for(engine, "connect")
    def _connect(dbapi_connection, _record) -> None:
        dbapi_connection.isolation_level = None  # the driver's own BEGIN is replaced below
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _begin(conn) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def _first_line(exc: Exception) -> str:
    orig = getattr(exc, "orig", exc)
    return str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__
