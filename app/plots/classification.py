"""A source's machine-classifier probabilities (XMM2ATHENA PbaC0..PbaC6), for plots; colours of the bars."""

from __future__ import annotations

import numpy as np
import pandas as pd

from data_loaders import schema

HIGHLIGHT, OTHER = "#f59e0b", "#64748b"


def class_probabilities(row) -> pd.DataFrame:
    """One row per class (columns ``class``, ``label``, ``probability``, ``best``), in PbaC order."""
    probs = np.array([float(row[f"PbaC{i}"]) for i in range(len(schema.CLASS_NAMES))], dtype=float)
    best = int(np.nanargmax(probs)) if np.isfinite(probs).any() else -1
    return pd.DataFrame(
        {
            "class": list(schema.CLASS_NAMES),
            "label": [schema.CLASS_LABELS[n] for n in schema.CLASS_NAMES],
            "probability": probs,
            "best": np.arange(len(probs)) == best,
        }
    )
