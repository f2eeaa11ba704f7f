"""Citizen-science votes, and indexes for per-source flag and verdict queries.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

from data_loaders.store.models import BigId, UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "votes",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("time", UTCDateTime(), nullable=False),
        sa.Column("user_name", sa.String(150), nullable=False),
        sa.Column("release", sa.String(32), nullable=False),
        sa.Column("srcid", sa.BigInteger(), nullable=False),
        sa.Column("class_name", sa.String(64), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("is_gold", sa.Boolean(), nullable=False),
        sa.Column("correct", sa.Boolean(), nullable=True),
    )
    op.create_index("ix_votes_user_time", "votes", ["user_name", "time"])
    op.create_index("ix_votes_release", "votes", ["release"])
    op.create_index("ix_flag_events_release_srcid", "flag_events", ["release", "srcid"])
    op.create_index("ix_verdicts_campaign", "verdicts", ["campaign_id"])


def downgrade() -> None:
    op.drop_index("ix_verdicts_campaign", "verdicts")
    op.drop_index("ix_flag_events_release_srcid", "flag_events")
    op.drop_table("votes")
