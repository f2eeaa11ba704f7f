"""Pure spectrum plot: net count rate (or photon flux) per keV vs energy, per camera, log-log."""

from __future__ import annotations

import holoviews as hv
import numpy as np
import pandas as pd

from app.plots.lightcurve import CAMERA_STYLE

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


def spectrum_plot(frames: dict[str, pd.DataFrame], effective_area: bool = False, height: int = 300) -> hv.Overlay:
    """Net spectrum per camera (points with 1σ errors) and its scaled background (dashed), log-log.

    Bins whose net value is not positive cannot sit on a log axis and are left out.
    """
    unit = "photon/cm²/s/keV" if effective_area else "count/s/keV"
    layers = []
    for camera, frame in frames.items():
        name, colour = CAMERA_STYLE.get(camera, (camera, "#cbd5e1"))
        shown = frame[frame["value"] > 0]
        bars = shown.assign(neg=np.minimum(shown["error"], 0.9 * shown["value"]))
        layers.append(
            hv.ErrorBars(bars, "energy", ["value", "neg", "error"]).opts(
                color=colour, lower_head=None, upper_head=None, alpha=0.7
            )
        )
        layers.append(
            hv.Scatter(shown, "energy", ["value", "error"], label=name).opts(color=colour, size=4, tools=["hover"])
        )
        bkg = frame[frame["background"] > 0]
        layers.append(
            hv.Curve(bkg, "energy", "background", label=f"{name} background").opts(
                color=colour, line_dash="dashed", alpha=0.6, interpolation="steps-mid"
            )
        )
    if not layers:
        layers.append(hv.Curve([], "energy", "value"))
    return hv.Overlay(layers).opts(
        hv.opts.Overlay(
            logx=True,
            logy=True,
            responsive=True,
            height=height,
            xlabel="Energy (keV)",
            ylabel=f"Net rate ({unit})",
            legend_position="top_right",
            show_grid=True,
            title="",
            xlim=ENERGY_RANGE,
            xticks=ENERGY_TICKS,
        )
    )
