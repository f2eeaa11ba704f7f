"""Small vote queries the game needs on every source: who voted what, and how many votes each source has."""

from __future__ import annotations

import pandas as pd
from sqlalchemy import func, select

from data_loaders.store.models import Vote


def voted_srcids(store, release: str, user: str) -> set[int]:
    """SRCIDs ``user`` has already voted on in ``release``."""
    query = select(Vote.srcid).where(Vote.release == release, Vote.user_name == user).distinct()
    with store.engine.connect() as conn:
        return {int(s) for s in conn.execute(query).scalars()}


def vote_counts(store, release: str) -> pd.Series:
    """Number of votes per SRCID in ``release`` (index SRCID, int64)."""
    query = select(Vote.srcid, func.count()).where(Vote.release == release).group_by(Vote.srcid)
    with store.engine.connect() as conn:
        rows = conn.execute(query).all()
    return pd.Series([n for _, n in rows], index=pd.Index([s for s, _ in rows], dtype="int64"), dtype="int64")


def user_answers(store, release: str, user: str) -> tuple[int, int]:
    """``user``'s scored gold answers in ``release`` as (n_scored, n_correct), the numbers levels use."""
    query = select(func.count(Vote.correct), func.count().filter(Vote.correct.is_(True))).where(
        Vote.release == release, Vote.user_name == user
    )
    with store.engine.connect() as conn:
        n_scored, n_correct = conn.execute(query).one()
    return int(n_scored), int(n_correct)
