"""Users, role history, review campaigns, verdicts and flag events.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from data_loaders.store.models import BigId, UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("name", sa.String(150), nullable=False, unique=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("created", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "role_events",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("time", UTCDateTime(), nullable=False),
        sa.Column("name", sa.String(150), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("granted_by", sa.String(150), nullable=False),
    )
    op.create_table(
        "campaigns",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("release", sa.String(32), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(150), nullable=False),
        sa.Column("created", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "campaign_items",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("campaign_id", BigId, sa.ForeignKey("campaigns.id"), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("srcid", sa.BigInteger(), nullable=False),
        sa.Column("ra", sa.Float(), nullable=False),
        sa.Column("dec", sa.Float(), nullable=False),
        sa.Column("detid", sa.BigInteger(), nullable=True),
        sa.UniqueConstraint("campaign_id", "position", name="uq_campaign_items_pos"),
    )
    op.create_table(
        "flag_events",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("batch", sa.String(32), nullable=False),
        sa.Column("time", UTCDateTime(), nullable=False),
        sa.Column("user_name", sa.String(150), nullable=False),
        sa.Column("action", sa.String(8), nullable=False),
        sa.Column("label", sa.String(64), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("release", sa.String(32), nullable=False),
        sa.Column("srcid", sa.BigInteger(), nullable=False),
        sa.Column("ra", sa.Float(), nullable=False),
        sa.Column("dec", sa.Float(), nullable=False),
        sa.Column("detid", sa.BigInteger(), nullable=True),
        sa.Column("campaign_id", BigId, sa.ForeignKey("campaigns.id"), nullable=True),
        sa.CheckConstraint("action IN ('flag', 'unflag')", name="ck_flag_events_action"),
    )
    op.create_table(
        "verdicts",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("campaign_id", BigId, sa.ForeignKey("campaigns.id"), nullable=False),
        sa.Column("item_id", BigId, sa.ForeignKey("campaign_items.id"), nullable=False),
        sa.Column("user_name", sa.String(150), nullable=False),
        sa.Column("time", UTCDateTime(), nullable=False),
        sa.Column("label", sa.String(64), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
    )


def downgrade() -> None:
    for table in ("verdicts", "flag_events", "campaign_items", "campaigns", "role_events", "users"):
        op.drop_table(table)
