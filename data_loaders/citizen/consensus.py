"""The crowd's classification of each source, in the shape of the machine classifications.

Only level-2 volunteers count. Each of their votes adds ``success_rate x confidence`` to the
machine class its answer maps to ("I don't know" adds nothing); per source:

* ``PbaC0..6``  weighted vote fractions (sum to 1), in ``schema.CLASS_NAMES`` order;
* ``prediction``/``prediction_name``  the class with the largest fraction (ties: lowest index);
* ``ClMargin``  largest minus second-largest fraction;
* ``N_VOTES``  number of counted votes; ``AGREEMENT``  fraction of those that chose the prediction.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from data_loaders.schema import CLASS_NAMES

from .categories import category
from .scoring import user_scores

if TYPE_CHECKING:
    from data_loaders.catalogue import Catalogue

CONSENSUS_FILE = "citizen_classifications.parquet"
PROB_COLUMNS = tuple(f"PbaC{i}" for i in range(len(CLASS_NAMES)))
CONSENSUS_COLUMNS = ("SRCID", *PROB_COLUMNS, "prediction", "prediction_name", "ClMargin", "N_VOTES", "AGREEMENT")


def class_index(answer: str) -> int:
    """Index into CLASS_NAMES of a stored answer (a game category key or a machine class name); -1 = none."""
    if answer in CLASS_NAMES:
        return CLASS_NAMES.index(answer)
    primary = category(answer).primary
    return -1 if primary is None else CLASS_NAMES.index(primary)


def _empty() -> pd.DataFrame:
    dtypes: dict[str, str | type] = {"SRCID": "int64", **dict.fromkeys(PROB_COLUMNS, "float32"), "prediction": "int8"}
    dtypes |= {"prediction_name": object, "ClMargin": "float32", "N_VOTES": "int64", "AGREEMENT": "float32"}
    return pd.DataFrame({c: pd.Series(dtype=t) for c, t in dtypes.items()})


def consensus(votes: pd.DataFrame, scores: pd.DataFrame | None = None) -> pd.DataFrame:
    """``CONSENSUS_COLUMNS`` per voted source from ``Store.votes_frame`` rows (see module docstring)."""
    scores = user_scores(votes) if scores is None else scores
    level2 = scores.loc[scores["level"] >= 2].set_index("user")["success_rate"].astype("float64")
    if votes.empty or level2.empty:
        return _empty()
    known = {a: class_index(a) for a in votes["class_name"].unique()}
    cls = votes["class_name"].map(known).to_numpy(np.int64)
    rate = votes["user"].map(level2).to_numpy(np.float64)
    counted = (cls >= 0) & np.isfinite(rate)
    if not counted.any():
        return _empty()
    srcid = votes["srcid"].to_numpy(np.int64)[counted]
    cls = cls[counted]
    weight = rate[counted] * votes["confidence"].to_numpy(np.float64)[counted]
    ids, row = np.unique(srcid, return_inverse=True)
    k = len(CLASS_NAMES)
    wsum = np.zeros((ids.size, k))
    nsum = np.zeros((ids.size, k))
    np.add.at(wsum, (row, cls), weight)
    np.add.at(nsum, (row, cls), 1.0)
    total = wsum.sum(axis=1, keepdims=True)
    # Zero-weight votes (confidence 0) still say something: fall back to plain counts.
    frac = np.where(total > 0, wsum / np.where(total > 0, total, 1.0), nsum / nsum.sum(axis=1, keepdims=True))
    pred = np.argmax(frac, axis=1)
    top2 = np.sort(frac, axis=1)[:, -2:]
    n_votes = nsum.sum(axis=1)
    out = pd.DataFrame({"SRCID": ids})
    for i, name in enumerate(PROB_COLUMNS):
        out[name] = frac[:, i].astype(np.float32)
    out["prediction"] = pred.astype(np.int8)
    out["prediction_name"] = np.array(CLASS_NAMES, dtype=object)[pred]
    out["ClMargin"] = (top2[:, 1] - top2[:, 0]).astype(np.float32)
    out["N_VOTES"] = n_votes.astype(np.int64)
    out["AGREEMENT"] = (nsum[np.arange(ids.size), pred] / n_votes).astype(np.float32)
    return out


def consensus_frame(catalogue: Catalogue, store) -> pd.DataFrame:
    """The consensus of ``catalogue``'s release from the store's votes (for Explore and Source views)."""
    return consensus(store.votes_frame(catalogue.name))
