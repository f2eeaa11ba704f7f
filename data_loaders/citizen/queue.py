"""Which source a volunteer sees next: a gold source about one time in five, else one that needs votes.

"Needs votes" means fewest votes so far, then the most uncertain machine classification
(smallest ``ClMargin``). A short list of the neediest is drawn from at random so that
volunteers playing at the same time do not all get the same source. Nobody sees a source twice.
"""

from __future__ import annotations

from collections.abc import Collection

import numpy as np
import pandas as pd

GOLD_FRACTION = 0.2
SHORTLIST = 50
MIN_BANDS = 3


def playable(sources: pd.DataFrame) -> np.ndarray:
    """Mask of sources with enough signal to make a readable spectrum (>= 3 positive band fluxes)."""
    fluxes = sources[[f"SC_EP_{b}_FLUX" for b in range(1, 6)]].to_numpy(np.float64)
    return (np.nan_to_num(fluxes) > 0).sum(axis=1) >= MIN_BANDS


def candidate_pool(sources: pd.DataFrame, classifications: pd.DataFrame | None, gold_ids: np.ndarray) -> pd.DataFrame:
    """Non-gold playable sources with their machine margin: SRCID, MARGIN (1 where unknown), by SRCID."""
    ok = playable(sources) & ~np.isin(sources["SRCID"].to_numpy(np.int64), gold_ids)
    pool = pd.DataFrame({"SRCID": sources["SRCID"].to_numpy(np.int64)[ok]})
    if classifications is not None and "ClMargin" in classifications:
        margin = classifications.set_index("SRCID")["ClMargin"].astype("float64")
        pool["MARGIN"] = margin.reindex(pool["SRCID"]).fillna(1.0).to_numpy()
    else:
        pool["MARGIN"] = 1.0
    return pool.sort_values("SRCID", kind="stable").reset_index(drop=True)


def pick_next(
    pool: pd.DataFrame,
    gold_ids: np.ndarray,
    vote_counts: pd.Series,
    seen: Collection[int],
    rng: np.random.Generator,
    gold_fraction: float = GOLD_FRACTION,
    shortlist: int = SHORTLIST,
) -> int | None:
    """The SRCID to show next, or None when this volunteer has seen everything.

    ``pool``: ``candidate_pool`` frame; ``gold_ids``: playable gold SRCIDs; ``vote_counts``:
    votes per SRCID (index SRCID); ``seen``: SRCIDs this volunteer already answered or skipped.
    """
    seen_arr = np.fromiter((int(s) for s in seen), dtype=np.int64, count=len(seen))
    gold_left = np.setdiff1d(np.asarray(gold_ids, dtype=np.int64), seen_arr)
    ids = pool["SRCID"].to_numpy(np.int64)
    fresh = ~np.isin(ids, seen_arr)
    want_gold = rng.random() < gold_fraction
    if (want_gold or not fresh.any()) and gold_left.size:
        return int(rng.choice(gold_left))
    if not fresh.any():
        return None
    ids = ids[fresh]
    counts = vote_counts.reindex(ids).fillna(0).to_numpy(np.float64)
    margin = pool["MARGIN"].to_numpy(np.float64)[fresh]
    order = np.lexsort((margin, counts))[:shortlist]
    return int(ids[rng.choice(order)])
