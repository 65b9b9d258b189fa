"""The model's name joins a forecast's key: a ticker's own model and the global model store
their nights side by side.

Existing rows are kept: each forecast keeps its ``model_name``, and each bound gets the
name of the forecast it belongs to. The tables are rebuilt (new table, copy, swap), the
one way to change a primary key that SQLite and PostgreSQL share.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

FORECAST = ("ticker", "model_name", "as_of", "horizon")
FORECAST_COLUMNS = (*FORECAST, "target", "model_version", "median", "last_close", "issued_at")
BOUND_COLUMNS = ("level", "lower", "upper", "aci_alpha")


def _key(with_model: bool) -> list[sa.Column]:
    columns = [
        sa.Column("ticker", sa.String(16), primary_key=True),
        sa.Column("as_of", sa.Date, primary_key=True),
        sa.Column("horizon", sa.Integer, primary_key=True),
    ]
    if with_model:
        columns.insert(1, sa.Column("model_name", sa.String(64), primary_key=True))
    return columns


def _tables(suffix: str, with_model: bool) -> None:
    """Create ``forecasts<suffix>`` and ``forecast_bounds<suffix>``, keyed with or without
    the model's name."""
    model = [] if with_model else [sa.Column("model_name", sa.String(64), nullable=False)]
    op.create_table(
        f"forecasts{suffix}",
        *_key(with_model),
        sa.Column("target", sa.Date, nullable=False),
        *model,
        sa.Column("model_version", sa.String(32), nullable=False),
        sa.Column("median", sa.Float, nullable=False),
        sa.Column("last_close", sa.Float, nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        f"forecast_bounds{suffix}",
        *_key(with_model),
        sa.Column("level", sa.Float, primary_key=True),
        sa.Column("lower", sa.Float, nullable=False),
        sa.Column("upper", sa.Float, nullable=False),
        sa.Column("aci_alpha", sa.Float),
    )


def _swap() -> None:
    """Replace the tables with their ``_new`` copies, and index the forecasts' targets."""
    op.drop_index("forecasts_by_target", "forecasts")
    op.drop_table("forecast_bounds")
    op.drop_table("forecasts")
    op.rename_table("forecasts_new", "forecasts")
    op.rename_table("forecast_bounds_new", "forecast_bounds")
    op.create_index("forecasts_by_target", "forecasts", ["ticker", "target"])


def upgrade() -> None:
    _tables("_new", with_model=True)
    columns = ", ".join(FORECAST_COLUMNS)
    op.execute(f"INSERT INTO forecasts_new ({columns}) SELECT {columns} FROM forecasts")
    bound = ", ".join((*FORECAST, *BOUND_COLUMNS))
    chosen = ", ".join(
        f"f.{c}" if c == "model_name" else f"b.{c}" for c in (*FORECAST, *BOUND_COLUMNS)
    )
    op.execute(
        f"INSERT INTO forecast_bounds_new ({bound}) SELECT {chosen} FROM forecast_bounds b "
        "JOIN forecasts f ON f.ticker = b.ticker AND f.as_of = b.as_of "
        "AND f.horizon = b.horizon"
    )
    _swap()


def downgrade() -> None:
    """Back to one forecast per ticker, as-of session and horizon: where two models stored
    one, the later issued is kept."""
    _tables("_new", with_model=False)
    columns = ", ".join(FORECAST_COLUMNS)
    latest = (
        "NOT EXISTS (SELECT 1 FROM forecasts o WHERE o.ticker = f.ticker AND o.as_of = f.as_of "
        "AND o.horizon = f.horizon AND (o.issued_at > f.issued_at OR (o.issued_at = "
        "f.issued_at AND o.model_name > f.model_name)))"
    )
    chosen = ", ".join(f"f.{c}" for c in FORECAST_COLUMNS)
    op.execute(
        f"INSERT INTO forecasts_new ({columns}) SELECT {chosen} FROM forecasts f WHERE {latest}"
    )
    bound = ", ".join(("ticker", "as_of", "horizon", *BOUND_COLUMNS))
    op.execute(
        f"INSERT INTO forecast_bounds_new ({bound}) SELECT "
        + ", ".join(f"b.{c}" for c in ("ticker", "as_of", "horizon", *BOUND_COLUMNS))
        + " FROM forecast_bounds b JOIN forecasts_new f ON f.ticker = b.ticker "
        "AND f.as_of = b.as_of AND f.horizon = b.horizon AND f.model_name = b.model_name"
    )
    _swap()
