"""The first schema: forecasts, their bounds per level, realised Closes.

Revision ID: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _key() -> list[sa.Column]:
    return [
        sa.Column("ticker", sa.String(16), primary_key=True),
        sa.Column("as_of", sa.Date, primary_key=True),
        sa.Column("horizon", sa.Integer, primary_key=True),
    ]


def upgrade() -> None:
    op.create_table(
        "forecasts",
        *_key(),
        sa.Column("target", sa.Date, nullable=False),
        sa.Column("model_name", sa.String(64), nullable=False),
        sa.Column("model_version", sa.String(32), nullable=False),
        sa.Column("median", sa.Float, nullable=False),
        sa.Column("last_close", sa.Float, nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "forecast_bounds",
        *_key(),
        sa.Column("level", sa.Float, primary_key=True),
        sa.Column("lower", sa.Float, nullable=False),
        sa.Column("upper", sa.Float, nullable=False),
        sa.Column("aci_alpha", sa.Float),
    )
    op.create_table(
        "realised",
        sa.Column("ticker", sa.String(16), primary_key=True),
        sa.Column("session", sa.Date, primary_key=True),
        sa.Column("close", sa.Float, nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("forecasts_by_target", "forecasts", ["ticker", "target"])


def downgrade() -> None:
    op.drop_index("forecasts_by_target", "forecasts")
    for table in ("realised", "forecast_bounds", "forecasts"):
        op.drop_table(table)
