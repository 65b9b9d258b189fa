"""The store's tables, as the newest migration leaves them (``migrations/versions/``).

One row of ``forecasts`` per ticker, registered model, as-of session and
horizon (a ticker's own model and the global model keep their nights side by
side); its interval bounds, one row per level, in ``forecast_bounds``; the
realised Closes the scoring job has seen in ``realised``. The keys make a
second write of the same model's night replace the first
(``forecasts.save_forecasts``).
"""

from __future__ import annotations

import sqlalchemy as sa

# The Alembic revision these tables match; a store at another revision is migrated or refused.
HEAD = "0002"
# Not Alembic's default ``alembic_version``: MLflow's own tables keep theirs under that name,
# and the store may share a PostgreSQL database with them.
VERSION_TABLE = "stockcast_store_version"

metadata = sa.MetaData()


def _forecast_key() -> list[sa.Column]:
    """A forecast's identity: ticker, model, as-of session and horizon (a fresh copy per
    table)."""
    return [
        sa.Column("ticker", sa.String(16), primary_key=True),
        sa.Column("model_name", sa.String(64), primary_key=True),  # stockcast-<GROUP>
        sa.Column("as_of", sa.Date, primary_key=True),  # the last session whose Close was known
        sa.Column("horizon", sa.Integer, primary_key=True),  # sessions ahead (1: the next one)
    ]


forecasts = sa.Table(
    "forecasts",
    metadata,
    *_forecast_key(),
    sa.Column("target", sa.Date, nullable=False),  # the session forecast
    sa.Column("model_version", sa.String(32), nullable=False),
    sa.Column("median", sa.Float, nullable=False),
    sa.Column("last_close", sa.Float, nullable=False),  # Close on as_of: persistence, Theil's U
    sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
)

forecast_bounds = sa.Table(
    "forecast_bounds",
    metadata,
    *_forecast_key(),
    sa.Column("level", sa.Float, primary_key=True),  # central coverage, e.g. 0.9
    sa.Column("lower", sa.Float, nullable=False),
    sa.Column("upper", sa.Float, nullable=False),
    sa.Column("aci_alpha", sa.Float),  # the miss rate online ACI cut these bounds at (None: off)
)

realised = sa.Table(
    "realised",
    metadata,
    sa.Column("ticker", sa.String(16), primary_key=True),
    sa.Column("session", sa.Date, primary_key=True),
    sa.Column("close", sa.Float, nullable=False),
    sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
)

# The scoring job joins realised Closes on (ticker, target).
sa.Index("forecasts_by_target", forecasts.c.ticker, forecasts.c.target)
