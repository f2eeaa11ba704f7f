"""The leaderboard opt-in, kept in a small append-only table of our own on the store's engine.

The store has no column for it, so ``citizen_preferences`` holds one row per change
(time, user, show_on_leaderboard); the latest row per user wins and the default is *off*.
The table is created on first use (``CREATE TABLE IF NOT EXISTS``), outside the store's
migrations, so the store's schema stays untouched.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Engine, String, func, insert, select
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from data_loaders.store.models import BigId, UTCDateTime, utcnow
from data_loaders.store.roles import check_user_name, is_anonymous


class _Base(DeclarativeBase):
    """Separate metadata: these tables are not part of the store's migrations."""


class Preference(_Base):
    """One change of a volunteer's leaderboard choice."""

    __tablename__ = "citizen_preferences"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    time: Mapped[datetime] = mapped_column(UTCDateTime)
    user_name: Mapped[str] = mapped_column(String(150), index=True)
    show_on_leaderboard: Mapped[bool] = mapped_column(Boolean)


def ensure_table(engine: Engine) -> None:
    """Create ``citizen_preferences`` if it does not exist (idempotent)."""
    _Base.metadata.create_all(engine, checkfirst=True)


def set_show_on_leaderboard(store, user: str | None, show: bool) -> None:
    """Record ``user``'s choice; anonymous visitors cannot choose (PermissionError)."""
    if user is None or is_anonymous(user):
        raise PermissionError("Sign in to appear on the leaderboard.")
    check_user_name(user)
    ensure_table(store.engine)
    with store.write() as conn:
        conn.execute(insert(Preference), {"time": utcnow(), "user_name": user, "show_on_leaderboard": bool(show)})


def _latest():
    last = select(Preference.user_name, func.max(Preference.id).label("id")).group_by(Preference.user_name).subquery()
    return select(Preference.user_name, Preference.show_on_leaderboard).join(last, Preference.id == last.c.id)


def shows_on_leaderboard(store, user: str | None) -> bool:
    """``user``'s current choice (False by default and for anonymous visitors)."""
    if is_anonymous(user):
        return False
    ensure_table(store.engine)
    query = (
        select(Preference.show_on_leaderboard)
        .where(Preference.user_name == user)
        .order_by(Preference.id.desc())
        .limit(1)
    )
    with store.engine.connect() as conn:
        return bool(conn.execute(query).scalar_one_or_none())


def opted_in_users(store) -> set[str]:
    """Names of everyone whose latest choice is to be shown."""
    ensure_table(store.engine)
    with store.engine.connect() as conn:
        return {name for name, show in conn.execute(_latest()) if show}
