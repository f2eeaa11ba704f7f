"""Citizen-science votes: append-only classifications, a per-user rate limit and user stats."""

from __future__ import annotations

import math
from datetime import timedelta
from typing import TYPE_CHECKING

import pandas as pd
from sqlalchemy import func, insert, select, text

from .flags import check_release
from .frames import TIME, Dtypes, typed_frame
from .models import Vote

if TYPE_CHECKING:
    from .store import Store

VOTE_ROLE = "classifier"
RATE_WINDOW = timedelta(minutes=1)
MAX_CLASS_NAME_LENGTH = 64

VOTES_DTYPES: Dtypes = {
    "id": "int64",
    "time": TIME,
    "user": object,
    "release": object,
    "srcid": "int64",
    "class_name": object,
    "confidence": "float64",
    "is_gold": bool,
    "correct": "boolean",
}


class RateLimited(Exception):
    """Too many votes from one user in the last minute; ``retry_after`` is in seconds."""

    def __init__(self, user: str, limit: int, retry_after: float) -> None:
        self.user, self.limit, self.retry_after = user, limit, retry_after
        super().__init__(
            f"{user!r} has cast {limit} votes in the last minute, the most allowed; "
            f"try again in {math.ceil(retry_after)} s."
        )


def record_vote(
    store: Store,
    user: str | None,
    release: str,
    srcid: int,
    class_name: str,
    confidence: float,
    is_gold: bool,
    correct: bool | None = None,
) -> int:
    """Append one vote (rate-limited to ``store.votes_per_minute`` per user); its id."""
    store.require_role(user, VOTE_ROLE)
    assert user is not None  # require_role refuses anonymous visitors
    check_release(release)
    if not isinstance(class_name, str) or not class_name or len(class_name) > MAX_CLASS_NAME_LENGTH:
        raise ValueError(f"Class name {class_name!r} must be 1-{MAX_CLASS_NAME_LENGTH} characters.")
    confidence = float(confidence)
    if not 0.0 <= confidence <= 1.0:
        raise ValueError(f"Confidence {confidence} is outside 0..1.")
    if correct is not None and not is_gold:
        raise ValueError("Only votes on gold (known-answer) sources can be correct or not.")
    now = store.clock()
    with store.write() as conn:
        if conn.dialect.name == "postgresql":
            # Serialise one user's votes across sessions so the count below is exact.
            conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:u))"), {"u": user})
        recent = list(
            conn.execute(
                select(Vote.time).where(Vote.user_name == user, Vote.time > now - RATE_WINDOW).order_by(Vote.time)
            ).scalars()
        )
        if len(recent) >= store.votes_per_minute:
            oldest = recent[len(recent) - store.votes_per_minute]
            retry = (oldest + RATE_WINDOW - now).total_seconds()
            raise RateLimited(user, store.votes_per_minute, max(retry, 0.0))
        return conn.execute(
            insert(Vote).returning(Vote.id),
            {
                "time": now,
                "user_name": user,
                "release": release,
                "srcid": int(srcid),
                "class_name": class_name,
                "confidence": confidence,
                "is_gold": bool(is_gold),
                "correct": None if correct is None else bool(correct),
            },
        ).scalar_one()


def votes_frame(store: Store, release: str) -> pd.DataFrame:
    """All votes on one release, oldest first (columns: ``VOTES_DTYPES``)."""
    query = (
        select(
            Vote.id,
            Vote.time,
            Vote.user_name,
            Vote.release,
            Vote.srcid,
            Vote.class_name,
            Vote.confidence,
            Vote.is_gold,
            Vote.correct,
        )
        .where(Vote.release == release)
        .order_by(Vote.id)
    )
    with store.engine.connect() as conn:
        return typed_frame(conn.execute(query), VOTES_DTYPES)


def user_stats(store: Store, user: str) -> dict:
    """One volunteer's totals: n_votes, n_gold, n_scored, n_correct, success_rate, first/last.

    ``success_rate`` is correct / scored gold votes (None before the first scored one).
    """
    query = select(
        func.count(),
        func.count().filter(Vote.is_gold.is_(True)),
        func.count(Vote.correct),
        func.count().filter(Vote.correct.is_(True)),
        func.min(Vote.time),
        func.max(Vote.time),
    ).where(Vote.user_name == user)
    with store.engine.connect() as conn:
        n_votes, n_gold, n_scored, n_correct, first, last = conn.execute(query).one()
    return {
        "user": user,
        "n_votes": n_votes,
        "n_gold": n_gold,
        "n_scored": n_scored,
        "n_correct": n_correct,
        "success_rate": n_correct / n_scored if n_scored else None,
        "first_time": first,
        "last_time": last,
    }
