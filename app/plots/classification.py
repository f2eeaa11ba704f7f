"""Pure plot of a source's machine-classifier probabilities (XMM2ATHENA PbaC0..PbaC6)."""

from __future__ import annotations

import holoviews as hv
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


def classification_plot(probs: pd.DataFrame, height: int = 240) -> hv.Bars:
    """Horizontal bars of P(class), the most probable highlighted; axis fixed to [0, 1]."""
    frame = probs.iloc[::-1].assign(colour=np.where(probs["best"].iloc[::-1], HIGHLIGHT, OTHER))
    return hv.Bars(frame, kdims=["label"], vdims=["probability", "colour", "class"]).opts(
        invert_axes=True,
        color="colour",
        responsive=True,
        height=height,
        ylim=(0, 1),
        xlabel="",
        ylabel="Probability",
        tools=["hover"],
        show_grid=True,
        title="",
    )
