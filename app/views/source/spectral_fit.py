"""The fit of the selected detection's PPS spectra, on demand: data, model and residuals, parameters, flux.

The fit (:mod:`data_loaders.spectral.ppsfit`: pn and MOS jointly, W-statistic, absorption of the
five-band fit) runs off the event loop through the products panel's worker; results are cached
on the files' identity by the product store's cache. Canned responses come from
``serve --responses DIR`` (``app.config.responses_dir``).
"""

from __future__ import annotations

import numpy as np
from bokeh.layouts import column
from bokeh.models import ColumnDataSource, HoverTool, Range1d
from bokeh.models.annotations import Span

from app.plots.lightcurve import CAMERA_STYLE
from app.plots.spectrum import ENERGY_RANGE, auto_min_counts, fit_points
from app.text import inert
from app.views.source.figures import _figure, energy_axis, log_extent, set_data, set_range
from app.views.source.format import number
from data_loaders.spectral.ppsfit import MODEL_TITLES

CAMERAS = ("PN", "M1", "M2")
_COLUMNS = ("energy", "value", "lower", "upper", "model", "residual", "rlo", "rhi")


class SpectralFitFigure:
    """Net spectrum per camera with the folded model (top) and (data − model)/σ (bottom), one shared energy axis."""

    def __init__(self):
        top = _figure(
            300,
            x_axis_type="log",
            y_axis_type="log",
            x_range=Range1d(start=ENERGY_RANGE[0], end=ENERGY_RANGE[1]),
            y_range=Range1d(start=1e-3, end=1),
        )
        bottom = _figure(170, x_axis_type="log", x_range=top.x_range, y_range=Range1d(start=-4, end=4))
        energy_axis(bottom)
        top.xaxis.visible = False
        top.yaxis.axis_label = "Net rate (count/s/keV)"
        bottom.yaxis.axis_label = "(d − m)/σ"
        bottom.add_layout(Span(location=0, dimension="width", line_dash="dashed", line_alpha=0.6))
        self.sources = {c: ColumnDataSource({k: [] for k in _COLUMNS}) for c in CAMERAS}
        dots = []
        for camera in CAMERAS:
            name, colour = CAMERA_STYLE[camera]
            src = self.sources[camera]
            top.segment("energy", "lower", "energy", "upper", source=src, color=colour, alpha=0.6)
            dots.append(top.scatter("energy", "value", source=src, size=4, color=colour, legend_label=name))
            top.step("energy", "model", source=src, mode="center", color=colour, line_width=2)
            bottom.segment("energy", "rlo", "energy", "rhi", source=src, color=colour, alpha=0.6)
            bottom.scatter("energy", "residual", source=src, size=4, color=colour)
        top.legend.location = "bottom_left"
        top.legend.click_policy = "mute"
        top.add_tools(
            HoverTool(
                renderers=dots,
                tooltips=[("energy", "@energy{0.00} keV"), ("net", "@value{0.00e}"), ("model", "@model{0.00e}")],
            )
        )
        self.top, self.bottom = top, bottom
        self.layout = column(top, bottom, sizing_mode="stretch_width")

    def update(self, fitted) -> None:
        lows, highs = [], []
        for camera in CAMERAS:
            if camera not in fitted.result.cameras:
                set_data(self.sources[camera], {k: [] for k in _COLUMNS})
                continue
            data = fitted.data[fitted.result.cameras.index(camera)]
            frame = fit_points(data, fitted.result.rates[camera], auto_min_counts(float(data.counts.sum())))
            shown = frame[frame["value"] > 0]
            value, error = shown["value"].to_numpy(float), shown["error"].to_numpy(float)
            set_data(
                self.sources[camera],
                {
                    "energy": shown["energy"].to_numpy(float),
                    "value": value,
                    "lower": value - np.minimum(error, 0.9 * value),
                    "upper": value + error,
                    "model": shown["model"].to_numpy(float),
                    "residual": shown["residual"].to_numpy(float),
                    "rlo": shown["residual"].to_numpy(float) - 1,
                    "rhi": shown["residual"].to_numpy(float) + 1,
                },
            )
            lows += [value - np.minimum(error, 0.9 * value), shown["model"].to_numpy(float)]
            highs += [value + error]
        y = log_extent(np.concatenate(lows or [[]]), np.concatenate(highs or [[]]))
        if y is not None:
            set_range(self.top.y_range, *y)


def parameters_html(fitted, notes: list[str]) -> str:
    """The fitted parameters with 68% intervals, W/dof and the absorbed 0.2–12 keV flux, as one table."""
    r = fitted.result
    rows = []
    for name, unit, value, lo, hi in zip(r.names, r.units, r.values, r.lower, r.upper, strict=True):
        if name == "N_H":
            name, unit = "N_H", "10²² cm⁻²"
        rows.append((name + (f" ({unit})" if unit else ""), f"{value:.3g} (−{value - lo:.2g} +{hi - value:.2g})"))
    rows.append(("W-stat / dof", f"{r.stat:.1f} / {r.dof}"))
    rows.append(
        (
            "flux 0.2–12 keV (erg/cm²/s, absorbed)",
            f"{number(r.flux, '{:.3g}')} ({number(r.flux_lower, '{:.3g}')} – {number(r.flux_upper, '{:.3g}')})",
        )
    )
    body = "".join(f"<tr><td>{inert(a)}</td><td>{inert(b)}</td></tr>" for a, b in rows)
    cams = ", ".join(CAMERA_STYLE[c][0] for c in r.cameras)
    note = (
        f"{inert(MODEL_TITLES[r.model])} fitted jointly to {inert(cams)} ({r.counts:,} counts, 0.2–12 keV, "
        f"ungrouped; responses {inert(', '.join(fitted.responses))}). Statistic: W (Poisson source and "
        "background, Wachter et al. 1979; XSPEC cstat with a background). Intervals: 68%, from the curvature "
        "of W at the best fit. Points grouped (≥ 20 counts, about 150 bins per camera) for display only; "
        "lines: the folded model."
    )
    if not r.converged:
        note += " The fit did not converge cleanly: read the values with care."
    if notes:
        note += "<br>" + "<br>".join(inert(f"left out: {n}") for n in notes)
    return f"<table class='xmm-table'>{body}</table><small>{note}</small>"


def five_band_offer(row) -> str:
    """What to show instead without a canned response: the detection's five-band fit, when the release has it."""
    if row is None or "PL_GAMMA" not in row or not np.isfinite(float(row.get("PL_GAMMA", np.nan))):
        return "The five-band fit (PL_ columns) is not in this release either."
    return (
        f"Five-band fit of this detection instead: Γ = {number(row['PL_GAMMA'], '{:.2f}')}, "
        f"N_H = {number(row.get('PL_NH'), '{:.3g}')} × 10²² cm⁻² (PL_GAMMA, PL_NH)."
    )
