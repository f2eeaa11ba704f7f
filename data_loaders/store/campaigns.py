"""Review campaigns: a queue of sources, reviewers' verdicts (append-only), progress and agreement.

A reviewer's verdict on an item is their latest one (by insertion order); earlier
verdicts stay in the history and in ``export_verdicts``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd
from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError

from .flags import check_comment, check_label, check_release, source_rows
from .frames import TIME, Dtypes, typed_frame
from .models import Campaign, CampaignItem, Verdict

if TYPE_CHECKING:
    from .store import Store

CREATE_ROLE = "admin"
VERDICT_ROLE = "reviewer"

QUEUE_DTYPES: Dtypes = {
    "item_id": "int64",
    "position": "int64",
    "srcid": "int64",
    "ra": "float64",
    "dec": "float64",
    "detid": "Int64",
    "my_label": object,
    "my_comment": object,
    "my_time": TIME,
    "others": object,
    "n_reviewers": "int64",
}
PROGRESS_DTYPES: Dtypes = {
    "user": object,
    "n_reviewed": "int64",
    "n_items": "int64",
    "fraction": "float64",
    "last_time": TIME,
}
EXPORT_DTYPES: Dtypes = {
    "campaign_id": "int64",
    "campaign": object,
    "release": object,
    "item_id": "int64",
    "position": "int64",
    "srcid": "int64",
    "ra": "float64",
    "dec": "float64",
    "detid": "Int64",
    "verdict_id": "int64",
    "user": object,
    "time": TIME,
    "label": object,
    "comment": object,
    "is_latest": bool,
}


@dataclass(frozen=True)
class Agreement:
    """How much the reviewers of a campaign agree, over items with at least two reviewers.

    ``fraction_agree``: share of those items where all latest verdicts are the same label.
    ``fleiss_kappa``: Fleiss' kappa generalised to a varying number of raters per item
    (per-item agreement ``sum n_ij(n_ij-1) / n_i(n_i-1)``, chance agreement from the pooled
    label proportions); NaN when there are no such items or chance agreement is 1.
    """

    n_items: int
    n_items_multi: int
    n_reviewers: int
    fraction_agree: float
    fleiss_kappa: float


def create_campaign(
    store: Store,
    admin: str | None,
    name: str,
    release: str,
    items: Iterable[Sequence],
    description: str = "",
) -> int:
    """Create a campaign over ``items`` (``(srcid, ra, dec[, detid])``, in queue order); its id."""
    store.require_role(admin, CREATE_ROLE)
    check_release(release)
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        raise ValueError(f"Campaign name {name!r} must be 1-200 characters of text.")
    description = check_comment(description)
    rows = source_rows(items)
    if not rows:
        raise ValueError(f"Campaign {name!r} has no items; give at least one source.")
    try:
        with store.write() as conn:
            campaign_id = conn.execute(
                insert(Campaign).returning(Campaign.id),
                {
                    "name": name,
                    "release": release,
                    "description": description,
                    "created_by": admin,
                    "created": store.clock(),
                },
            ).scalar_one()
            conn.execute(
                insert(CampaignItem),
                [{"campaign_id": campaign_id, "position": position} | row for position, row in enumerate(rows)],
            )
    except IntegrityError:
        if _campaign_id_by_name(store, name) is not None:
            raise ValueError(f"A review campaign named {name!r} already exists.") from None
        raise
    return campaign_id


def _campaign_id_by_name(store: Store, name: str) -> int | None:
    with store.engine.connect() as conn:
        return conn.execute(select(Campaign.id).where(Campaign.name == name)).scalar_one_or_none()


def campaigns_frame(store: Store) -> pd.DataFrame:
    """All campaigns: id, name, release, description, created_by, created, n_items."""
    n_items = select(CampaignItem.campaign_id, func.count().label("n")).group_by(CampaignItem.campaign_id).subquery()
    query = (
        select(
            Campaign.id,
            Campaign.name,
            Campaign.release,
            Campaign.description,
            Campaign.created_by,
            Campaign.created,
            n_items.c.n,
        )
        .join(n_items, n_items.c.campaign_id == Campaign.id)
        .order_by(Campaign.id)
    )
    dtypes: Dtypes = {
        "id": "int64",
        "name": object,
        "release": object,
        "description": object,
        "created_by": object,
        "created": TIME,
        "n_items": "int64",
    }
    with store.engine.connect() as conn:
        return typed_frame(conn.execute(query), dtypes)


def _check_campaign(conn, campaign_id: int) -> None:
    found = conn.execute(select(Campaign.id).where(Campaign.id == campaign_id)).scalar_one_or_none()
    if found is None:
        raise LookupError(f"No review campaign with id {campaign_id}.")


def _items_and_latest(conn, campaign_id: int) -> tuple[list, list]:
    """The campaign's items in order and every reviewer's latest verdict on them."""
    _check_campaign(conn, campaign_id)
    items = list(
        conn.execute(
            select(
                CampaignItem.id,
                CampaignItem.position,
                CampaignItem.srcid,
                CampaignItem.ra,
                CampaignItem.dec,
                CampaignItem.detid,
            )
            .where(CampaignItem.campaign_id == campaign_id)
            .order_by(CampaignItem.position)
        )
    )
    latest = (
        select(func.max(Verdict.id).label("id"))
        .where(Verdict.campaign_id == campaign_id)
        .group_by(Verdict.item_id, Verdict.user_name)
        .subquery()
    )
    verdicts = list(
        conn.execute(
            select(Verdict.item_id, Verdict.user_name, Verdict.label, Verdict.comment, Verdict.time)
            .join(latest, latest.c.id == Verdict.id)
            .order_by(Verdict.id)
        )
    )
    return items, verdicts


def campaign_queue(store: Store, campaign_id: int, user: str | None) -> pd.DataFrame:
    """The campaign's items in order, with ``user``'s latest verdict and everyone else's.

    ``others`` maps each other reviewer's name to their latest label; ``n_reviewers``
    counts everyone (``user`` included) with a verdict on the item.
    """
    with store.engine.connect() as conn:
        items, verdicts = _items_and_latest(conn, campaign_id)
    mine: dict[int, tuple] = {}
    others: dict[int, dict[str, str]] = {}
    for item_id, name, label, comment, time in verdicts:
        if name == user:
            mine[item_id] = (label, comment, time)
        else:
            others.setdefault(item_id, {})[name] = label
    rows = []
    for item_id, position, srcid, ra, dec, detid in items:
        label, comment, time = mine.get(item_id, (None, None, None))
        theirs = others.get(item_id, {})
        rows.append(
            (item_id, position, srcid, ra, dec, detid, label, comment, time, theirs, len(theirs) + (item_id in mine))
        )
    return typed_frame(rows, QUEUE_DTYPES)


def record_verdict(
    store: Store,
    user: str | None,
    campaign_id: int,
    item_id: int,
    label: str,
    comment: str | None = "",
    vocabulary: Sequence[str] | None = None,
) -> int:
    """Append ``user``'s verdict on one item of a campaign; returns the verdict's id."""
    store.require_role(user, VERDICT_ROLE)
    check_label(label, store.flag_labels if vocabulary is None else tuple(vocabulary))
    comment = check_comment(comment)
    with store.write() as conn:
        owner = conn.execute(
            select(CampaignItem.campaign_id).where(CampaignItem.id == int(item_id))
        ).scalar_one_or_none()
        if owner != campaign_id:
            raise LookupError(f"Review campaign {campaign_id} has no item {item_id}.")
        return conn.execute(
            insert(Verdict).returning(Verdict.id),
            {
                "campaign_id": campaign_id,
                "item_id": int(item_id),
                "user_name": user,
                "time": store.clock(),
                "label": label,
                "comment": comment,
            },
        ).scalar_one()


def campaign_progress(store: Store, campaign_id: int) -> pd.DataFrame:
    """Per reviewer: items with a verdict, of all items, the fraction, and the last verdict time."""
    with store.engine.connect() as conn:
        items, verdicts = _items_and_latest(conn, campaign_id)
    reviewed: dict[str, set[int]] = {}
    last: dict[str, object] = {}
    for item_id, name, _label, _comment, time in verdicts:
        reviewed.setdefault(name, set()).add(item_id)
        last[name] = max(last.get(name, time), time)
    n_items = len(items)
    rows = [
        (name, len(done), n_items, len(done) / n_items if n_items else float("nan"), last[name])
        for name, done in sorted(reviewed.items())
    ]
    return typed_frame(rows, PROGRESS_DTYPES)


def campaign_agreement(store: Store, campaign_id: int) -> Agreement:
    """Agreement between the reviewers' latest verdicts; see ``Agreement`` for definitions."""
    with store.engine.connect() as conn:
        items, verdicts = _items_and_latest(conn, campaign_id)
    labels_by_item: dict[int, list[str]] = {}
    for item_id, _name, label, _comment, _time in verdicts:
        labels_by_item.setdefault(item_id, []).append(label)
    reviewers = {name for _item, name, *_ in verdicts}
    multi = [labels for labels in labels_by_item.values() if len(labels) >= 2]
    return Agreement(
        n_items=len(items),
        n_items_multi=len(multi),
        n_reviewers=len(reviewers),
        fraction_agree=(sum(len(set(labels)) == 1 for labels in multi) / len(multi) if multi else float("nan")),
        fleiss_kappa=fleiss_kappa(multi),
    )


def fleiss_kappa(ratings: Sequence[Sequence[str]]) -> float:
    """Fleiss' kappa for items rated by varying numbers (>= 2) of raters; NaN if undefined."""
    if not ratings:
        return float("nan")
    pooled: Counter[str] = Counter()
    per_item = []
    for labels in ratings:
        counts = Counter(labels)
        n = len(labels)
        pooled.update(counts)
        per_item.append(sum(c * (c - 1) for c in counts.values()) / (n * (n - 1)))
    total = sum(pooled.values())
    observed = sum(per_item) / len(per_item)
    chance = sum((c / total) ** 2 for c in pooled.values())
    if chance >= 1.0:
        return float("nan")
    return (observed - chance) / (1.0 - chance)


def export_verdicts(store: Store, campaign_id: int) -> pd.DataFrame:
    """Every verdict of the campaign with its item, oldest first; ``is_latest`` marks current ones."""
    with store.engine.connect() as conn:
        _check_campaign(conn, campaign_id)
        latest_ids = {
            row[0]
            for row in conn.execute(
                select(func.max(Verdict.id))
                .where(Verdict.campaign_id == campaign_id)
                .group_by(Verdict.item_id, Verdict.user_name)
            )
        }
        rows = conn.execute(
            select(
                Campaign.id,
                Campaign.name,
                Campaign.release,
                CampaignItem.id,
                CampaignItem.position,
                CampaignItem.srcid,
                CampaignItem.ra,
                CampaignItem.dec,
                CampaignItem.detid,
                Verdict.id,
                Verdict.user_name,
                Verdict.time,
                Verdict.label,
                Verdict.comment,
            )
            .join(CampaignItem, CampaignItem.id == Verdict.item_id)
            .join(Campaign, Campaign.id == Verdict.campaign_id)
            .where(Verdict.campaign_id == campaign_id)
            .order_by(Verdict.id)
        )
        out = [(*row, row[9] in latest_ids) for row in rows]
    return typed_frame(out, EXPORT_DTYPES)
