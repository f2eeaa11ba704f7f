"""Server-side logins (revocable sign-ins) and failed log-in / sign-up attempts (back-off).

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

from data_loaders.store.models import BigId, UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "logins",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("user_name", sa.String(150), nullable=False),
        sa.Column("created", UTCDateTime(), nullable=False),
        sa.Column("expires", UTCDateTime(), nullable=False),
        sa.Column("revoked", UTCDateTime(), nullable=True),
        sa.Column("address", sa.String(64), nullable=False),
    )
    op.create_index("ix_logins_user", "logins", ["user_name"])
    op.create_table(
        "auth_attempts",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("time", UTCDateTime(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
    )
    op.create_index("ix_auth_attempts_key_time", "auth_attempts", ["kind", "key", "time"])


def downgrade() -> None:
    op.drop_index("ix_auth_attempts_key_time", "auth_attempts")
    op.drop_table("auth_attempts")
    op.drop_index("ix_logins_user", "logins")
    op.drop_table("logins")
