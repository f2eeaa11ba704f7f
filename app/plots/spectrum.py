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


#: Minimum source counts per bin when a fitted spectrum is grouped for display (the fit itself is ungrouped).
FIT_DISPLAY_MIN_COUNTS = 20


def fit_points(data, model_rate: np.ndarray, min_counts: int = FIT_DISPLAY_MIN_COUNTS) -> pd.DataFrame:
    """One fitted camera grouped for display only: net count/s/keV, its 1σ error, the model and (data − model)/σ.

    ``data`` is a ``ppsfit.FitData``, ``model_rate`` the fitted source count/s per channel. Net and error
    as in ``Spectrum.net_rate`` (source minus background scaled by t_s/t_b, Poisson variances).
    """
    from data_loaders.products.spectrum import group_starts

    starts = group_starts(data.counts, max(int(min_counts), 1))
    ends = np.r_[starts[1:], len(data.counts)]
    scale = data.t_s / data.t_b if data.background is not None else 0.0
    background = data.background if data.background is not None else np.zeros_like(data.counts)
    s = np.add.reduceat(data.counts, starts)
    b = np.add.reduceat(background, starts)
    m = np.add.reduceat(model_rate, starts)
    width = data.chan_hi[ends - 1] - data.chan_lo[starts]
    net = (s - b * scale) / data.t_s / width
    error = np.sqrt(np.maximum(s + b * scale**2, 1.0)) / data.t_s / width
    model = m / width
    return pd.DataFrame(
        {
            "energy": 0.5 * (data.chan_lo[starts] + data.chan_hi[ends - 1]),
            "energy_lo": data.chan_lo[starts],
            "energy_hi": data.chan_hi[ends - 1],
            "value": net,
            "error": error,
            "model": model,
            "residual": (net - model) / error,
        }
    )
