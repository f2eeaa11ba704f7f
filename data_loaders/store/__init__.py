"""Persistence of flags, review campaigns, users/roles and citizen votes (SQLite or PostgreSQL)."""

from .campaigns import Agreement
from .flags import ALERT_LABELS, DEFAULT_FLAG_LABELS
from .migrations import current_revision, head_revision, upgrade
from .roles import DEFAULT_ROLE, ROLES, require_role
from .store import Store, open_store
from .votes import RateLimited

__all__ = [
    "ALERT_LABELS",
    "DEFAULT_FLAG_LABELS",
    "DEFAULT_ROLE",
    "ROLES",
    "Agreement",
    "RateLimited",
    "Store",
    "current_revision",
    "head_revision",
    "open_store",
    "require_role",
    "upgrade",
]
