"""Pure plots of a detection's spectral shape from the catalogue: 5-band flux density and hardness ratios."""

from __future__ import annotations

import holoviews as hv
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


def sed_plot(sed: pd.DataFrame, label: str = "", height: int = 260) -> hv.Overlay:
    """Step spectrum of F_E (erg/cm²/s/keV) over the five bands, log-log, with 1σ error bars.

    Bands with no positive flux are left out (a log axis cannot show them).
    """
    shown = sed[sed["density"] > 0]
    edges = shown.assign(density_end=shown["density"])
    layers = [
        hv.Segments(edges, kdims=["e_lo", "density", "e_hi", "density_end"], label=label or "band flux density").opts(
            color="#f59e0b", line_width=3
        ),
        hv.ErrorBars(
            shown.assign(neg=np.minimum(shown["density_err"], 0.9 * shown["density"])),
            "energy",
            ["density", "neg", "density_err"],
        ).opts(color="#f59e0b", lower_head=None, upper_head=None),
        hv.Scatter(shown, "energy", ["density", "band", "flux", "flux_err"]).opts(
            color="#f59e0b", size=6, tools=["hover"]
        ),
    ]
    return hv.Overlay(layers).opts(
        hv.opts.Overlay(
            logx=True,
            logy=True,
            responsive=True,
            height=height,
            xlabel="Energy (keV)",
            ylabel="F_E (erg/cm²/s/keV)",
            show_grid=True,
            title="",
            show_legend=False,
            xlim=(0.15, 15.0),
            xticks=[0.2, 0.5, 1, 2, 5, 10],
        )
    )


def hardness_plot(hr: pd.DataFrame, height: int = 260) -> hv.Overlay:
    """HR1..HR4 with 1σ errors on a fixed [-1, 1] axis (hard sources up, soft down)."""
    frame = hr.assign(x=np.arange(1, len(hr) + 1))
    shown = frame[np.isfinite(frame["value"])]
    ticks = [(int(x), h) for x, h in zip(frame["x"], frame["hr"], strict=True)]
    layers = [
        hv.HLine(0).opts(color="#64748b", line_dash="dotted"),
        hv.ErrorBars(shown, "x", ["value", "error"]).opts(color="#38bdf8", lower_head=None, upper_head=None),
        hv.Scatter(shown, "x", ["value", "error", "hr"]).opts(color="#38bdf8", size=9, tools=["hover"]),
    ]
    return hv.Overlay(layers).opts(
        hv.opts.Overlay(
            responsive=True,
            height=height,
            xlabel="",
            ylabel="Hardness ratio",
            ylim=(-1.05, 1.05),
            xlim=(0.5, len(hr) + 0.5),
            xticks=ticks,
            toolbar=None,
            show_grid=True,
            title="",
        )
    )
