"""Spectrum data for plots: net count rate (or photon flux) per keV vs energy, per camera."""

from __future__ import annotations

import numpy as np
import pandas as pd

#: Energy range shown (keV): the catalogue's total band.
ENERGY_RANGE = (0.2, 12.0)
#: Tick marks of the energy axis (keV).
ENERGY_TICKS = [0.2, 0.5, 1, 2, 5, 10]
#: Columns of the frame ``spectrum_points`` returns.
SPECTRUM_COLUMNS = ("energy", "energy_lo", "energy_hi", "value", "error", "background", "camera")


#: Automatic grouping aims at about this many bins per camera (and at least ``AUTO_MIN_COUNTS`` counts each).
AUTO_BINS, AUTO_MIN_COUNTS = 150, 20


def auto_min_counts(total_counts: float) -> int:
    """Minimum counts per bin giving about ``AUTO_BINS`` bins, never below ``AUTO_MIN_COUNTS``."""
    return max(AUTO_MIN_COUNTS, int(total_counts // AUTO_BINS))


def spectrum_points(spectrum, min_counts: int = 0, effective_area: bool = False) -> pd.DataFrame:
    """Per-bin net spectrum of one ``Spectrum`` inside ``ENERGY_RANGE`` (columns ``SPECTRUM_COLUMNS``).

    ``value``/``error``: net count/s/keV, or photon/cm²/s/keV with ``effective_area``;
    ``background``: the background scaled to the source region, same unit. ``min_counts`` > 0
    groups bins to at least that many source counts first; -1 chooses ``auto_min_counts``. Raises ProductError when the
    effective area is asked for but was not read.
    """
    if min_counts == -1:
        min_counts = auto_min_counts(float(np.nansum(spectrum.counts)))
    if min_counts and min_counts > 1:
        spectrum = spectrum.group_min_counts(int(min_counts))
    net = spectrum.net_rate_per_kev(effective_area=effective_area)
    width = spectrum.energy_hi - spectrum.energy_lo
    live = spectrum.exposure * spectrum.areascal
    if spectrum.background_counts is not None:
        background = spectrum.background_counts * spectrum.background_scale / live / width
    else:
        background = np.full(len(width), np.nan)
    if effective_area:
        background = background / np.where(spectrum.effective_area > 0, spectrum.effective_area, np.nan)
    frame = pd.DataFrame(
        {
            "energy": net.energy,
            "energy_lo": net.energy_lo,
            "energy_hi": net.energy_hi,
            "value": net.value,
            "error": net.error,
            "background": background,
            "camera": spectrum.camera,
        }
    )
    inside = (frame["energy"] >= ENERGY_RANGE[0]) & (frame["energy"] <= ENERGY_RANGE[1])
    return frame[inside].reset_index(drop=True)
