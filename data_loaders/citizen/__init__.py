"""Citizen science (the Classify game): gold set, queue, scoring, levels, consensus, leaderboard.

Pure functions over frames (votes from ``Store.votes_frame``, sources from the catalogue);
no Panel. The only writes are the leaderboard opt-in (``preferences``) and sign-up (``accounts``).
"""

from .categories import CATEGORIES, DONT_KNOW, Category, category, is_correct
from .consensus import CONSENSUS_FILE, consensus, consensus_frame
from .gold import gold_set
from .leaderboard import LEADERBOARD_COLUMNS, leaderboard
from .queue import pick_next
from .scoring import LEVEL2_MIN_GOLD, LEVEL2_MIN_RATE, user_scores

__all__ = [
    "CATEGORIES",
    "CONSENSUS_FILE",
    "DONT_KNOW",
    "LEADERBOARD_COLUMNS",
    "LEVEL2_MIN_GOLD",
    "LEVEL2_MIN_RATE",
    "Category",
    "category",
    "consensus",
    "consensus_frame",
    "gold_set",
    "is_correct",
    "leaderboard",
    "pick_next",
    "user_scores",
]
