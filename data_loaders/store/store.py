"""The Store: one database engine plus the flag, campaign, vote and role methods the app calls."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from pathlib import Path

import pandas as pd
from sqlalchemy import Connection, Engine, select

from . import campaigns, flags, roles, votes
from .campaigns import Agreement
from .engine import Writer, make_engine, resolve_url
from .frames import TIME, typed_frame
from .migrations import upgrade
from .models import User, utcnow


class Store:
    """Flags, review campaigns, users/roles and citizen votes in one SQL database.

    Every write method takes the acting user first and checks their role server-side
    (flag and verdict: reviewer; vote: classifier; campaign and roles: admin);
    anonymous users (None, '' or 'guest') can never write. Reads take no user.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        flag_labels: Sequence[str] = flags.DEFAULT_FLAG_LABELS,
        votes_per_minute: int = 30,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.engine = engine
        self.flag_labels = tuple(flag_labels)
        self.votes_per_minute = int(votes_per_minute)
        #: Source of event times (UTC-aware); replaceable in tests.
        self.clock = clock
        self._writer = Writer(engine)

    def __repr__(self) -> str:
        return f"Store({self.engine.url.render_as_string(hide_password=True)!r})"

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Close the pooled connections."""
        self.engine.dispose()

    def write(self) -> AbstractContextManager[Connection]:
        """A connection in one write transaction (committed on success, else rolled back)."""
        return self._writer.transaction()

    # -- users and roles -------------------------------------------------------------
    def role_of(self, name: str) -> str:
        """The user's role in the store; signed-in users it does not know are classifiers."""
        return roles.db_role_of(self.engine, name) or roles.DEFAULT_ROLE

    def require_role(self, user: str | None, minimum_role: str) -> str:
        """The user's role, or PermissionError if below ``minimum_role`` or anonymous."""
        return roles.require_role(self, user, minimum_role)

    def set_role(self, admin: str | None, name: str, role: str) -> None:
        """Give ``name`` the ``role`` (admin only); recorded in the role history."""
        roles.set_role(self, admin, name, role)

    def grant_role(self, name: str, role: str, granted_by: str = "operator") -> bool:
        """Operator action (CLI, start-up): give ``name`` the ``role`` without an acting user.

        Never call this from a browser session; sessions use ``set_role``.
        """
        return roles.grant_role(self, name, role, granted_by)

    def sync_users(self, users_file: Path) -> int:
        """Copy roles from the users file (operator action at start-up); changes made."""
        return roles.sync_users_file(self, users_file)

    def users_frame(self) -> pd.DataFrame:
        """Known users: name, role, created."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(User.name, User.role, User.created).order_by(User.name))
            return typed_frame(rows, {"name": object, "role": object, "created": TIME})

    # -- flags -----------------------------------------------------------------------
    def add_flags(
        self,
        user: str | None,
        release: str,
        sources: Iterable[Sequence],
        label: str,
        comment: str | None = "",
        action: str = "flag",
        campaign_id: int | None = None,
        vocabulary: Sequence[str] | None = None,
    ) -> int:
        """See ``flags.add_flags``."""
        return flags.add_flags(self, user, release, sources, label, comment, action, campaign_id, vocabulary)

    def flag_history(self, release: str, srcid: int) -> pd.DataFrame:
        """See ``flags.flag_history``."""
        return flags.flag_history(self, release, srcid)

    def flag_events(self, release: str | None = None) -> pd.DataFrame:
        """See ``flags.flag_events``."""
        return flags.flag_events(self, release)

    def current_flags(self, release: str, srcids: Iterable[int] | None = None) -> pd.DataFrame:
        """See ``flags.current_flags``."""
        return flags.current_flags(self, release, srcids)

    # -- review campaigns --------------------------------------------------------------
    def create_campaign(
        self,
        admin: str | None,
        name: str,
        release: str,
        items: Iterable[Sequence],
        description: str = "",
    ) -> int:
        """See ``campaigns.create_campaign``."""
        return campaigns.create_campaign(self, admin, name, release, items, description)

    def campaigns(self) -> pd.DataFrame:
        """See ``campaigns.campaigns_frame``."""
        return campaigns.campaigns_frame(self)

    def campaign_queue(self, campaign_id: int, user: str | None) -> pd.DataFrame:
        """See ``campaigns.campaign_queue``."""
        return campaigns.campaign_queue(self, campaign_id, user)

    def record_verdict(
        self,
        user: str | None,
        campaign_id: int,
        item_id: int,
        label: str,
        comment: str | None = "",
        vocabulary: Sequence[str] | None = None,
    ) -> int:
        """See ``campaigns.record_verdict``."""
        return campaigns.record_verdict(self, user, campaign_id, item_id, label, comment, vocabulary)

    def campaign_progress(self, campaign_id: int) -> pd.DataFrame:
        """See ``campaigns.campaign_progress``."""
        return campaigns.campaign_progress(self, campaign_id)

    def campaign_agreement(self, campaign_id: int) -> Agreement:
        """See ``campaigns.campaign_agreement``."""
        return campaigns.campaign_agreement(self, campaign_id)

    def export_verdicts(self, campaign_id: int) -> pd.DataFrame:
        """See ``campaigns.export_verdicts``."""
        return campaigns.export_verdicts(self, campaign_id)

    # -- citizen votes -------------------------------------------------------------------
    def record_vote(
        self,
        user: str | None,
        release: str,
        srcid: int,
        class_name: str,
        confidence: float,
        is_gold: bool,
        correct: bool | None = None,
    ) -> int:
        """See ``votes.record_vote``."""
        return votes.record_vote(self, user, release, srcid, class_name, confidence, is_gold, correct)

    def votes_frame(self, release: str) -> pd.DataFrame:
        """See ``votes.votes_frame``."""
        return votes.votes_frame(self, release)

    def user_stats(self, user: str) -> dict:
        """See ``votes.user_stats``."""
        return votes.user_stats(self, user)


def open_store(
    url: str | None,
    data_dir: Path,
    *,
    migrate: bool = True,
    flag_labels: Sequence[str] = flags.DEFAULT_FLAG_LABELS,
    votes_per_minute: int = 30,
) -> Store:
    """Open the store at ``url`` (default: SQLite ``data_dir/xmm_explorer.db``), migrated.

    ``postgresql://...`` URLs use psycopg 3. ``migrate`` runs the (idempotent) schema
    upgrade, which is what the app does at start-up.
    """
    engine = make_engine(resolve_url(url, Path(data_dir)))
    if migrate:
        upgrade(engine)
    return Store(engine, flag_labels=flag_labels, votes_per_minute=votes_per_minute)
