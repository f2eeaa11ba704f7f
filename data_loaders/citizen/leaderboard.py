"""The leaderboard (the seed's "Ranking of level 2 users"), opt-in only.

Columns are exactly the seed's: Rank, User, Number of classifications, Since 1 week,
Success rate (percent, one decimal). Only volunteers who opted in are listed, one table per level
(the seed ranks level-2 users; the page shows level-1 beginners in a second table),
ranked by number of classifications, then success rate, then name.
"""

from __future__ import annotations

from collections.abc import Collection

import pandas as pd

LEADERBOARD_COLUMNS = ("Rank", "User", "Number of classifications", "Since 1 week", "Success rate")


def leaderboard(scores: pd.DataFrame, opted_in: Collection[str], level: int = 2) -> pd.DataFrame:
    """Ranked rows from ``scoring.user_scores`` output, for opted-in users at ``level``."""
    keep = scores["user"].isin(set(opted_in)) & (scores["level"] == level)
    rows = scores.loc[keep].copy()
    rows["rate"] = (rows["success_rate"].astype("float64") * 100).round(1)
    rows = rows.sort_values(["n_votes", "rate", "user"], ascending=[False, False, True], kind="stable")
    return pd.DataFrame(
        {
            "Rank": range(1, len(rows) + 1),
            "User": rows["user"].astype(object).to_numpy(),
            "Number of classifications": rows["n_votes"].astype("int64").to_numpy(),
            "Since 1 week": rows["n_recent"].astype("int64").to_numpy(),
            "Success rate": rows["rate"].to_numpy(),
        },
        columns=list(LEADERBOARD_COLUMNS),
    )
