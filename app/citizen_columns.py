"""The crowd's classification as a column of the Explore frames (filter and colour by it).

Computed from the store's votes through ``data_loaders.citizen.consensus_frame`` at most once
per minute per process and release (votes trickle in; a minute-old consensus is fine), and
shared read-only between sessions.
"""

from __future__ import annotations

import threading
import time

import numpy as np

from data_loaders.catalogue import Catalogue

TTL_SECONDS = 60.0
_CACHE: dict[tuple[str, str], tuple[float, np.ndarray]] = {}
_LOCK = threading.Lock()


def citizen_class(catalogue: Catalogue, level: str) -> np.ndarray:
    """Per row of ``catalogue.frame(level)``: the consensus class index (-1 where nobody voted usefully)."""
    key = (str(catalogue.path), level)
    now = time.monotonic()
    with _LOCK:
        hit = _CACHE.get(key)
        if hit is not None and now - hit[0] < TTL_SECONDS:
            return hit[1]
    from app.store_access import get_store
    from data_loaders.citizen.consensus import consensus_frame

    try:
        cons = consensus_frame(catalogue, get_store())
    except Exception:  # noqa: BLE001 - no database yet: nobody has voted
        cons = None
    ids = catalogue.frame(level)["SRCID"].to_numpy(np.int64)
    out = np.full(ids.size, -1, dtype=np.int16)
    if cons is not None and len(cons):
        src = cons["SRCID"].to_numpy(np.int64)
        pred = cons["prediction"].to_numpy(np.int16)
        order = np.argsort(src)
        src, pred = src[order], pred[order]
        pos = np.clip(np.searchsorted(src, ids), 0, len(src) - 1)
        hit = src[pos] == ids
        out[hit] = pred[pos[hit]]
    out.setflags(write=False)
    with _LOCK:
        _CACHE[key] = (now, out)
    return out


def forget() -> None:
    """Drop the cached consensus (tests, or right after a vote)."""
    with _LOCK:
        _CACHE.clear()
