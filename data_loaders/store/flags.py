"""Flag events on catalogue sources: append-only history and the current flags derived from it.

Current state: for each (release, SRCID, label, user) the latest event counts (by
insertion order); a source carries a label while at least one user's latest event
for that label is a 'flag'.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import pandas as pd
from sqlalchemy import func, insert, select

from .frames import TIME, Dtypes, typed_frame
from .models import Campaign, FlagEvent

if TYPE_CHECKING:
    from .store import Store

DEFAULT_FLAG_LABELS = (
    "spurious",
    "extended-misfit",
    "bad-astrometry",
    "pile-up",
    "variable",
    "interesting",
    "needs-second-look",
    "OK",
)
#: Labels of the Alerts page's reviews; pass as ``vocabulary`` there.
ALERT_LABELS = ("alert-confirmed", "alert-artefact")
ACTIONS = ("flag", "unflag")
FLAG_ROLE = "reviewer"
MAX_COMMENT_LENGTH = 10_000
MAX_RELEASE_LENGTH = 32
#: Above this many SRCIDs, filter in pandas rather than with a long SQL IN list.
_IN_LIST_LIMIT = 900

CURRENT_FLAGS_DTYPES: Dtypes = {
    "srcid": "int64",
    "label": object,
    "n_users": "int64",
    "last_comment": object,
    "last_user": object,
    "last_time": TIME,
}
HISTORY_DTYPES: Dtypes = {
    "id": "int64",
    "time": TIME,
    "user": object,
    "action": object,
    "label": object,
    "comment": object,
    "release": object,
    "srcid": "int64",
    "ra": "float64",
    "dec": "float64",
    "detid": "Int64",
    "campaign_id": "Int64",
    "batch": object,
}


def check_label(label: str, vocabulary: Sequence[str]) -> str:
    """``label`` if it is in ``vocabulary``; ValueError listing the allowed labels otherwise."""
    if label not in vocabulary:
        raise ValueError(f"Unknown label {label!r}; allowed labels are: {', '.join(vocabulary)}.")
    return label


def check_release(release: str) -> str:
    """``release`` if it can name a catalogue release (e.g. 'DR14')."""
    if not isinstance(release, str) or not release.strip() or len(release) > MAX_RELEASE_LENGTH:
        raise ValueError(
            f"Release {release!r} is not a release name such as 'DR14' (1-{MAX_RELEASE_LENGTH} characters)."
        )
    return release


def check_comment(comment: str | None) -> str:
    """The comment to store verbatim ('' for None); ValueError if too long or not text."""
    if comment is None:
        return ""
    if not isinstance(comment, str):
        raise ValueError(f"A comment must be text, not {type(comment).__name__}.")
    if len(comment) > MAX_COMMENT_LENGTH:
        raise ValueError(f"The comment is {len(comment)} characters long; at most {MAX_COMMENT_LENGTH}.")
    return comment


def source_rows(sources: Iterable[Sequence]) -> list[dict]:
    """``(srcid, ra, dec[, detid])`` tuples as plain-Python dicts, validated."""
    rows = []
    for source in sources:
        if len(source) not in (3, 4):
            raise ValueError(f"A source is (srcid, ra, dec[, detid]), not {tuple(source)!r}.")
        srcid, ra, dec = int(source[0]), float(source[1]), float(source[2])
        detid = None if len(source) == 3 or _missing(source[3]) else int(source[3])
        if not (math.isfinite(ra) and 0.0 <= ra <= 360.0 and math.isfinite(dec) and -90.0 <= dec <= 90.0):
            raise ValueError(f"Source {srcid}: RA {ra} / Dec {dec} deg is outside 0..360 / -90..90.")
        rows.append({"srcid": srcid, "ra": ra, "dec": dec, "detid": detid})
    return rows


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA


def add_flags(
    store: Store,
    user: str | None,
    release: str,
    sources: Iterable[Sequence],
    label: str,
    comment: str | None = "",
    action: str = "flag",
    campaign_id: int | None = None,
    vocabulary: Sequence[str] | None = None,
) -> int:
    """Append one flag/unflag event per source in one transaction; returns the count.

    ``sources`` holds ``(srcid, ra, dec[, detid])`` with RA/Dec in deg at flag time.
    ``vocabulary`` overrides the store's labels for this call site (e.g. ``ALERT_LABELS``).
    """
    store.require_role(user, FLAG_ROLE)
    if action not in ACTIONS:
        raise ValueError(f"Unknown action {action!r}; allowed actions are: {', '.join(ACTIONS)}.")
    check_label(label, store.flag_labels if vocabulary is None else tuple(vocabulary))
    check_release(release)
    comment = check_comment(comment)
    rows = source_rows(sources)
    if not rows:
        return 0
    common = {
        "batch": uuid.uuid4().hex,
        "time": store.clock(),
        "user_name": user,
        "action": action,
        "label": label,
        "comment": comment,
        "release": release,
        "campaign_id": campaign_id,
    }
    with store.write() as conn:
        if campaign_id is not None:
            exists = conn.execute(select(Campaign.id).where(Campaign.id == campaign_id)).scalar_one_or_none()
            if exists is None:
                raise LookupError(f"No review campaign with id {campaign_id}.")
        conn.execute(insert(FlagEvent), [common | row for row in rows])
    return len(rows)


def flag_history(store: Store, release: str, srcid: int) -> pd.DataFrame:
    """Every event on one source of one release, oldest first (columns: ``HISTORY_DTYPES``)."""
    query = (
        select(*_history_columns())
        .where(FlagEvent.release == release, FlagEvent.srcid == int(srcid))
        .order_by(FlagEvent.id)
    )
    with store.engine.connect() as conn:
        return typed_frame(conn.execute(query), HISTORY_DTYPES)


def flag_events(store: Store, release: str | None = None) -> pd.DataFrame:
    """All flag events (of one release, or of all), oldest first, e.g. for export or re-matching."""
    query = select(*_history_columns()).order_by(FlagEvent.id)
    if release is not None:
        query = query.where(FlagEvent.release == release)
    with store.engine.connect() as conn:
        return typed_frame(conn.execute(query), HISTORY_DTYPES)


def _history_columns():
    fe = FlagEvent
    return (
        fe.id,
        fe.time,
        fe.user_name,
        fe.action,
        fe.label,
        fe.comment,
        fe.release,
        fe.srcid,
        fe.ra,
        fe.dec,
        fe.detid,
        fe.campaign_id,
        fe.batch,
    )


def current_flags(store: Store, release: str, srcids: Iterable[int] | None = None) -> pd.DataFrame:
    """The labels each source carries now, one row per (srcid, label).

    Columns: srcid, label, n_users (users whose latest event for it is 'flag'),
    last_comment / last_user / last_time (of the newest of those events, UTC).
    """
    fe = FlagEvent
    wanted = None if srcids is None else sorted({int(s) for s in srcids})
    newest = select(func.max(fe.id).label("id")).where(fe.release == release)
    if wanted is not None and len(wanted) <= _IN_LIST_LIMIT:
        newest = newest.where(fe.srcid.in_(wanted))
    latest = newest.group_by(fe.srcid, fe.label, fe.user_name).subquery()
    query = (
        select(fe.id, fe.srcid, fe.label, fe.user_name, fe.comment, fe.time)
        .join(latest, fe.id == latest.c.id)
        .where(fe.action == "flag")
        .order_by(fe.id)
    )
    with store.engine.connect() as conn:
        events = pd.DataFrame(
            list(conn.execute(query)),
            columns=["id", "srcid", "label", "user", "comment", "time"],
        )
    if wanted is not None and len(wanted) > _IN_LIST_LIMIT:
        events = events[events["srcid"].isin(wanted)]
    if events.empty:
        return typed_frame([], CURRENT_FLAGS_DTYPES)
    grouped = events.groupby(["srcid", "label"], sort=True)
    newest = grouped.tail(1).set_index(["srcid", "label"]).sort_index()
    counts = grouped.size().sort_index()
    rows = zip(
        newest.index.get_level_values(0),
        newest.index.get_level_values(1),
        counts.to_numpy(),
        newest["comment"],
        newest["user"],
        newest["time"],
        strict=True,
    )
    return typed_frame(rows, CURRENT_FLAGS_DTYPES)
