"""Per-volunteer scores from the vote log: counts, success rate on gold sources, and level.

A volunteer reaches level 2 after ``LEVEL2_MIN_GOLD`` scored gold answers with a success
rate of at least ``LEVEL2_MIN_RATE``; only level-2 votes count toward the consensus.
"I don't know" answers are never scored (``correct`` is null) and never lower a rate.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pandas as pd

LEVEL2_MIN_GOLD = 10
LEVEL2_MIN_RATE = 0.7
RECENT = timedelta(weeks=1)
SCORE_COLUMNS = ("user", "n_votes", "n_recent", "n_scored", "n_correct", "success_rate", "level")


def level_of(n_scored: int, success_rate: float | None) -> int:
    """1 or 2 from a volunteer's number of scored gold answers and their success rate (0..1)."""
    if n_scored >= LEVEL2_MIN_GOLD and success_rate is not None and success_rate >= LEVEL2_MIN_RATE:
        return 2
    return 1


def user_scores(votes: pd.DataFrame, now: datetime | None = None) -> pd.DataFrame:
    """One row per voter: ``SCORE_COLUMNS`` (success_rate 0..1, NaN before the first scored answer).

    ``votes`` has the columns of ``Store.votes_frame`` (user, time, correct, ...);
    ``n_recent`` counts votes newer than ``now - 1 week`` (``now``: the latest vote).
    """
    if votes.empty:
        return pd.DataFrame({c: pd.Series(dtype=object if c == "user" else "float64") for c in SCORE_COLUMNS})
    now = pd.Timestamp(now) if now is not None else votes["time"].max()
    correct = votes["correct"]
    frame = pd.DataFrame(
        {
            "user": votes["user"].astype(object),
            "recent": (votes["time"] > now - RECENT).astype("int64"),
            "scored": correct.notna().astype("int64"),
            "right": correct.fillna(False).astype("int64"),
        }
    )
    grouped = frame.groupby("user", sort=True)
    out = pd.DataFrame(
        {
            "n_votes": grouped.size(),
            "n_recent": grouped["recent"].sum(),
            "n_scored": grouped["scored"].sum(),
            "n_correct": grouped["right"].sum(),
        }
    )
    out["success_rate"] = (out["n_correct"] / out["n_scored"]).where(out["n_scored"] > 0)
    pairs = zip(out["n_scored"], out["success_rate"], strict=True)
    out["level"] = [level_of(int(n), None if pd.isna(r) else float(r)) for n, r in pairs]
    return out.reset_index()[list(SCORE_COLUMNS)]


def progress(n_scored: int, n_correct: int) -> dict:
    """What a volunteer needs for level 2: ``{level, n_scored, success_rate, answers_to_go}``."""
    rate = n_correct / n_scored if n_scored else None
    level = level_of(n_scored, rate)
    return {
        "level": level,
        "n_scored": n_scored,
        "success_rate": rate,
        "answers_to_go": max(LEVEL2_MIN_GOLD - n_scored, 0),
    }
