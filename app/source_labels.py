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

from collections.abc import Iterable, Sequence

import numpy as np

from app.selection import And, Ids, In, IsTrue, Not, Or, Selection
from app.store_access import flags_version, get_store
from data_loaders.process_cache import ProcessCache

FLAGGED = "FLAGGED"
CITIZEN_CLASS = "CITIZEN_CLASS"
CONSENSUS_TTL_S = 60.0

#: Flagged SRCIDs per release, labels and flags version (a new flag makes a new version).
_FLAGGED: ProcessCache[np.ndarray] = ProcessCache("flagged sources", max_items=32)
#: The crowd's classes per release, asked again after ``CONSENSUS_TTL_S``.
_CONSENSUS: ProcessCache[tuple[np.ndarray, np.ndarray]] = ProcessCache(
    "citizen consensus", max_items=8, max_age_s=CONSENSUS_TTL_S
)


def flagged_srcids(release: str, labels: Sequence[str] | None = None, store=None) -> np.ndarray:
    """Sorted SRCIDs of ``release`` currently carrying any of ``labels`` (None: any label)."""
    store = store or get_store()
    key = (release, None if labels is None else tuple(sorted(labels)), flags_version(store, release))

    def compute() -> np.ndarray:
        flags = store.current_flags(release)
        if labels is not None:
            flags = flags[flags["label"].isin(list(labels))]
        ids = np.unique(flags["srcid"].to_numpy(np.int64))
        ids.setflags(write=False)
        return ids

    return _FLAGGED.get(key, compute)


def labels_of(release: str, srcids: Iterable[int], store=None) -> dict[int, str]:
    """SRCID -> its current labels joined by ', ' (sources without flags left out)."""
    flags = (store or get_store()).current_flags(release, srcids)
    return {int(k): ", ".join(sorted(v)) for k, v in flags.groupby("srcid")["label"]}


def consensus(catalogue) -> tuple[np.ndarray, np.ndarray]:
    """(sorted SRCIDs, consensus class code) of the sources the crowd has classified usefully."""
    return _CONSENSUS.get(catalogue.name, lambda: _consensus(catalogue), paths=[catalogue.path])


def _consensus(catalogue) -> tuple[np.ndarray, np.ndarray]:
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
    return src, pred


def forget() -> None:
    """Drop the cached flags and consensus (tests, or right after a vote)."""
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
