"""What people say about sources, as selections: reviewer flags and the citizen-science consensus.

Neither is a column of the catalogue (they live in the store and change while pages are
open), so the Explore state asks this service to turn the selection terms that name them
into lists of SRCIDs that either catalogue engine evaluates:

- ``IsTrue("FLAGGED")`` -> ``Ids("SRCID", sources carrying any of the chosen labels now)``;
- ``In("CITIZEN_CLASS", codes)`` -> ``Ids("SRCID", sources whose consensus is one of codes)``.

Flagged SRCIDs are cached per release and labels until any session or process writes a flag
event (the newest event's id); the consensus at most once a minute per release (votes
trickle in; a minute-old consensus is fine). Both are shared read-only between sessions.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Sequence

import numpy as np

from app.selection import And, Ids, In, IsTrue, Not, Or, Selection
from app.store_access import flags_version, get_store

FLAGGED = "FLAGGED"
CITIZEN_CLASS = "CITIZEN_CLASS"
CONSENSUS_TTL_S = 60.0

_FLAGGED: dict[tuple, tuple[int, np.ndarray]] = {}
_CONSENSUS: dict[str, tuple[float, np.ndarray, np.ndarray]] = {}
_LOCK = threading.Lock()


def flagged_srcids(release: str, labels: Sequence[str] | None = None, store=None) -> np.ndarray:
    """Sorted SRCIDs of ``release`` currently carrying any of ``labels`` (None: any label)."""
    store = store or get_store()
    key = (release, None if labels is None else tuple(sorted(labels)))
    version = flags_version(store, release)
    with _LOCK:
        hit = _FLAGGED.get(key)
        if hit is not None and hit[0] == version:
            return hit[1]
    flags = store.current_flags(release)
    if labels is not None:
        flags = flags[flags["label"].isin(list(labels))]
    ids = np.unique(flags["srcid"].to_numpy(np.int64))
    ids.setflags(write=False)
    with _LOCK:
        _FLAGGED[key] = (version, ids)
    return ids


def labels_of(release: str, srcids: Iterable[int], store=None) -> dict[int, str]:
    """SRCID -> its current labels joined by ', ' (sources without flags left out)."""
    flags = (store or get_store()).current_flags(release, srcids)
    return {int(k): ", ".join(sorted(v)) for k, v in flags.groupby("srcid")["label"]}


def consensus(catalogue) -> tuple[np.ndarray, np.ndarray]:
    """(sorted SRCIDs, consensus class code) of the sources the crowd has classified usefully."""
    now = time.monotonic()
    with _LOCK:
        hit = _CONSENSUS.get(catalogue.name)
        if hit is not None and now - hit[0] < CONSENSUS_TTL_S:
            return hit[1], hit[2]
    from data_loaders.citizen.consensus import consensus_frame

    try:
        cons = consensus_frame(catalogue, get_store())
    except Exception:  # no database yet: nobody has voted
        cons = None
    if cons is None or not len(cons):
        src, pred = np.zeros(0, np.int64), np.zeros(0, np.int16)
    else:
        order = np.argsort(cons["SRCID"].to_numpy(np.int64))
        src = cons["SRCID"].to_numpy(np.int64)[order]
        pred = cons["prediction"].to_numpy(np.int16)[order]
    with _LOCK:
        _CONSENSUS[catalogue.name] = (now, src, pred)
    return src, pred


def forget() -> None:
    """Drop the cached flags and consensus (tests, or right after a vote)."""
    with _LOCK:
        _FLAGGED.clear()
        _CONSENSUS.clear()


def citizen_srcids(catalogue, codes: Iterable[int]) -> np.ndarray:
    """SRCIDs whose consensus class is one of ``codes``."""
    src, pred = consensus(catalogue)
    return src[np.isin(pred, np.asarray(list(codes), dtype=np.int16))]


def resolve(selection: Selection, catalogue, labels: Sequence[str] | None = None) -> Selection:
    """``selection`` with its FLAGGED and CITIZEN_CLASS terms replaced by SRCID lists (see the module doc)."""
    if FLAGGED not in selection.columns() and CITIZEN_CLASS not in selection.columns():
        return selection
    if isinstance(selection, IsTrue) and selection.column == FLAGGED:
        return Ids("SRCID", flagged_srcids(catalogue.name, labels))
    if isinstance(selection, In) and selection.column == CITIZEN_CLASS:
        return Ids("SRCID", citizen_srcids(catalogue, selection.values))
    if isinstance(selection, Not):
        return Not(resolve(selection.term, catalogue, labels))
    if isinstance(selection, And | Or):
        return type(selection)(*(resolve(t, catalogue, labels) for t in selection.terms))
    return selection
