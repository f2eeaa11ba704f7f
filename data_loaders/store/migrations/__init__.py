"""Versioned schema migrations of the store, run with alembic from inside the package."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, text

from ..engine import WRITE_OPTION

_HERE = Path(__file__).resolve().parent
#: Arbitrary key of the PostgreSQL advisory lock that serialises concurrent upgrades.
_PG_LOCK_KEY = 4_482_001


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(_HERE))
    return config


def head_revision() -> str:
    """The newest migration revision shipped with this code."""
    head = ScriptDirectory.from_config(_config()).get_current_head()
    if head is None:
        raise RuntimeError(f"No migration revision under {_HERE}.")
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision recorded in the database (``alembic_version``), or None if unversioned."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to ``revision``; idempotent and safe when processes start together.

    The whole upgrade runs in one transaction holding the write lock (SQLite ``BEGIN
    IMMEDIATE``, a PostgreSQL advisory lock), so a second process waits and then finds
    nothing to do.
    """
    config = _config()
    with engine.connect() as conn:
        conn.execution_options(**{WRITE_OPTION: True})
        with conn.begin():
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
            config.attributes["connection"] = conn
            command.upgrade(config, revision)
