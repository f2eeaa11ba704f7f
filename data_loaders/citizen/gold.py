"""The gold set: sources whose class is known well enough to score volunteers against.

* Demo releases (``catalogue.synthetic``) ship a truth table beside the generated files,
  ``DATA_DIR/demo/4XMM_DEMO_truth.parquet`` (SRCID, TRUE_CLASS). Gold is its sources that
  also have a confident counterpart (best ``MATCH_PROB`` > 0.9): as on the real sky, only
  sources identified at another wavelength have a known class.
* Real releases have no truth table: gold is the sources the machine classifier is very
  sure about (max PbaC > 0.95) *and* that have a confident counterpart (MATCH_PROB > 0.9),
  a stand-in for a SIMBAD-like identification. TRUE_CLASS is then the machine prediction.

The frame never leaves the server: views ask ``is_gold``/``true_class`` only after a vote.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from data_loaders.schema import CLASS_NAMES

if TYPE_CHECKING:
    from data_loaders.catalogue import Catalogue

MIN_MACHINE_PROB = 0.95
MIN_MATCH_PROB = 0.9
TRUTH_FILE = Path("demo") / "4XMM_DEMO_truth.parquet"
GOLD_COLUMNS = ("SRCID", "TRUE_CLASS", "ORIGIN")


def truth_path(catalogue: Catalogue) -> Path:
    """Where the demo truth table of ``catalogue`` lives (``DATA_DIR/demo/...``)."""
    return catalogue.path.parent.parent / TRUTH_FILE


def _confident_counterparts(counterparts: pd.DataFrame | None) -> np.ndarray:
    if counterparts is None or counterparts.empty:
        return np.array([], dtype=np.int64)
    ok = counterparts["MATCH_PROB"].to_numpy(np.float64) > MIN_MATCH_PROB
    return np.unique(counterparts["SRCID"].to_numpy(np.int64)[ok])


def gold_from_tables(
    truth: pd.DataFrame | None, classifications: pd.DataFrame | None, counterparts: pd.DataFrame | None
) -> pd.DataFrame:
    """Gold frame (SRCID int64, TRUE_CLASS str, ORIGIN 'truth'|'machine') sorted by SRCID."""
    identified = _confident_counterparts(counterparts)
    if truth is not None:
        out = truth.loc[truth["SRCID"].isin(identified), ["SRCID", "TRUE_CLASS"]].assign(ORIGIN="truth")
    elif classifications is not None and not classifications.empty:
        probs = classifications[[f"PbaC{i}" for i in range(len(CLASS_NAMES))]].to_numpy(np.float64)
        sure = (np.nanmax(probs, axis=1) > MIN_MACHINE_PROB) & classifications["SRCID"].isin(identified).to_numpy()
        out = classifications.loc[sure, ["SRCID"]].assign(
            TRUE_CLASS=np.array(CLASS_NAMES)[np.nanargmax(probs[sure], axis=1)], ORIGIN="machine"
        )
    else:
        out = pd.DataFrame({"SRCID": [], "TRUE_CLASS": [], "ORIGIN": []})
    out = out.astype({"SRCID": "int64", "TRUE_CLASS": object, "ORIGIN": object})
    return out.sort_values("SRCID", kind="stable").reset_index(drop=True)[list(GOLD_COLUMNS)]


def gold_set(catalogue: Catalogue) -> pd.DataFrame:
    """The gold sources of ``catalogue`` (see the module docstring for the rule)."""
    path = truth_path(catalogue)
    truth = pd.read_parquet(path, columns=["SRCID", "TRUE_CLASS"]) if catalogue.synthetic and path.exists() else None
    return gold_from_tables(truth, catalogue.classifications, catalogue.counterparts)
