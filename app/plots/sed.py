"""A detection's spectral shape from the catalogue, for plots: 5-band flux density and hardness ratios."""

from __future__ import annotations

import numpy as np
import pandas as pd

from data_loaders import schema

#: Columns of the frame ``band_sed`` returns.
SED_COLUMNS = ("band", "e_lo", "e_hi", "energy", "flux", "flux_err", "density", "density_err")


def band_sed(values, prefix: str = "EP") -> pd.DataFrame:
    """The five EPIC band fluxes of a detection (``prefix`` EP) or a source (``SC_EP``) as flux density.

    ``flux`` ± ``flux_err`` in erg/cm²/s per band; ``density`` = flux / band width in
    erg/cm²/s/keV (the band's mean F_E), ``energy`` the band's geometric centre (keV).
    """
    rows = []
    for band in schema.BASIC_BANDS:
        lo, hi = schema.BANDS[band]
        flux = _number(values.get(f"{prefix}_{band}_FLUX"))
        err = _number(values.get(f"{prefix}_{band}_FLUX_ERR"))
        rows.append((band, lo, hi, np.sqrt(lo * hi), flux, err, flux / (hi - lo), err / (hi - lo)))
    return pd.DataFrame(rows, columns=list(SED_COLUMNS))


def hardness_ratios(values, prefix: str = "EP_") -> pd.DataFrame:
    """HR1..HR4 and their errors (columns ``hr``, ``value``, ``error``); ``prefix`` ``EP_`` or ``SC_``."""
    return pd.DataFrame(
        [
            (f"HR{i}", _number(values.get(f"{prefix}HR{i}")), _number(values.get(f"{prefix}HR{i}_ERR")))
            for i in range(1, 5)
        ],
        columns=["hr", "value", "error"],
    )


def _number(value) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return float("nan")
    return value if np.isfinite(value) else float("nan")
