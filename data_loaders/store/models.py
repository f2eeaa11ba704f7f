"""SQLAlchemy 2.0 tables of the store: users, flag events, campaigns, verdicts and votes.

Every table except ``users`` is append-only history: rows are inserted, never updated
or deleted, and current state is derived by queries. ``users`` holds each account's
current role; every change of role is also appended to ``role_events``.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

#: Integer primary keys: 64-bit on PostgreSQL, SQLite's ROWID alias (autoincrementing) there.
BigId = BigInteger().with_variant(Integer, "sqlite")


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on both backends (SQLite keeps naive UTC text)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"Naive datetime {value!r}: the store only accepts UTC-aware times.")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    """The current time, UTC-aware."""
    return datetime.now(UTC)


class Base(DeclarativeBase):
    """Declarative base of the store's tables."""


class User(Base):
    """An account known to the store and its current role."""

    __tablename__ = "users"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(150), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    created: Mapped[datetime] = mapped_column(UTCDateTime)


class RoleEvent(Base):
    """One grant of a role to a user (history of ``users.role``)."""

    __tablename__ = "role_events"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    time: Mapped[datetime] = mapped_column(UTCDateTime)
    name: Mapped[str] = mapped_column(String(150))
    role: Mapped[str] = mapped_column(String(16))
    granted_by: Mapped[str] = mapped_column(String(150))


class Campaign(Base):
    """A review campaign: a named, ordered list of sources of one release."""

    __tablename__ = "campaigns"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    release: Mapped[str] = mapped_column(String(32))
    description: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(150))
    created: Mapped[datetime] = mapped_column(UTCDateTime)


class CampaignItem(Base):
    """One source (optionally one detection) in a campaign's queue."""

    __tablename__ = "campaign_items"
    __table_args__ = (UniqueConstraint("campaign_id", "position", name="uq_campaign_items_pos"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"))
    position: Mapped[int] = mapped_column(Integer)
    srcid: Mapped[int] = mapped_column(BigInteger)
    ra: Mapped[float] = mapped_column(Float)
    dec: Mapped[float] = mapped_column(Float)
    detid: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class FlagEvent(Base):
    """One flag or unflag of a source by a user; never updated or deleted."""

    __tablename__ = "flag_events"
    __table_args__ = (
        CheckConstraint("action IN ('flag', 'unflag')", name="ck_flag_events_action"),
        Index("ix_flag_events_release_srcid", "release", "srcid"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    #: One id per ``add_flags`` call: a selection flagged at once shares it.
    batch: Mapped[str] = mapped_column(String(32))
    time: Mapped[datetime] = mapped_column(UTCDateTime)
    user_name: Mapped[str] = mapped_column(String(150))
    action: Mapped[str] = mapped_column(String(8))
    label: Mapped[str] = mapped_column(String(64))
    comment: Mapped[str] = mapped_column(Text)
    release: Mapped[str] = mapped_column(String(32))
    srcid: Mapped[int] = mapped_column(BigInteger)
    #: Position of the source at flag time, deg (ICRS), to follow it into later releases.
    ra: Mapped[float] = mapped_column(Float)
    dec: Mapped[float] = mapped_column(Float)
    detid: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id"), nullable=True)


class Verdict(Base):
    """One reviewer's verdict on one campaign item; the latest per reviewer counts."""

    __tablename__ = "verdicts"
    __table_args__ = (Index("ix_verdicts_campaign", "campaign_id"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"))
    item_id: Mapped[int] = mapped_column(ForeignKey("campaign_items.id"))
    user_name: Mapped[str] = mapped_column(String(150))
    time: Mapped[datetime] = mapped_column(UTCDateTime)
    label: Mapped[str] = mapped_column(String(64))
    comment: Mapped[str] = mapped_column(Text)


class Vote(Base):
    """One citizen-science classification of a source."""

    __tablename__ = "votes"
    __table_args__ = (
        Index("ix_votes_user_time", "user_name", "time"),
        Index("ix_votes_release", "release"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    time: Mapped[datetime] = mapped_column(UTCDateTime)
    user_name: Mapped[str] = mapped_column(String(150))
    release: Mapped[str] = mapped_column(String(32))
    srcid: Mapped[int] = mapped_column(BigInteger)
    class_name: Mapped[str] = mapped_column(String(64))
    #: The volunteer's confidence, 0..1.
    confidence: Mapped[float] = mapped_column(Float)
    #: True when the source has a known ("gold") answer the vote was scored against.
    is_gold: Mapped[bool] = mapped_column(Boolean)
    correct: Mapped[bool | None] = mapped_column(Boolean, nullable=True)


class Login(Base):
    """One sign-in (a browser's login cookie names its id); revoked rows stay as history.

    ``id`` is a random token: the login cookie carries it signed, so a cookie is only as good
    as its row: expired, or revoked by a logout, a password change or an admin's reset, it
    stops working in every server process at once.
    """

    __tablename__ = "logins"
    __table_args__ = (Index("ix_logins_user", "user_name"),)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_name: Mapped[str] = mapped_column(String(150))
    created: Mapped[datetime] = mapped_column(UTCDateTime)
    expires: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    address: Mapped[str] = mapped_column(String(64))


class AuthAttempt(Base):
    """A failed log-in or a sign-up, by account and by client address (for back-off)."""

    __tablename__ = "auth_attempts"
    __table_args__ = (Index("ix_auth_attempts_key_time", "kind", "key", "time"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    time: Mapped[datetime] = mapped_column(UTCDateTime)
    #: 'login' (a failed log-in) or 'signup' (a sign-up, successful or not).
    kind: Mapped[str] = mapped_column(String(16))
    #: 'user:<name>' or 'addr:<client address>'.
    key: Mapped[str] = mapped_column(String(200))
