"""Pure plotting functions of the Alerts page: monthly rate, alerts on the sky, one source's flux history."""

from __future__ import annotations

import holoviews as hv
import numpy as np
import pandas as pd

from app.plots import sky
from app.plots.lightcurve import log_ticks
from data_loaders.alerts.criteria import ALERT_TYPES, STONKS_TYPES

#: One colour per alert type (distinct on the dark and the light theme).
TYPE_COLOURS = {
    "rising": "#e4572e",
    "falling": "#4c9be8",
    "long_term_variable": "#f2c14e",
    "new_source": "#9bc53d",
    "short_term_variable": "#a05ad8",
}
#: Above this many alerts the sky is datashaded instead of drawn as points (payload, not looks).
MAX_SKY_POINTS = 4000
SKY_WIDTH, SKY_HEIGHT = 900, 450
#: Colours of the long-term lightcurve by mission (XMM detections first).
MISSION_COLOURS = {"XMM": "#f59e0b", "Swift": "#4c9be8", "Chandra": "#e4572e", "eROSITA": "#9bc53d", "ROSAT": "#a05ad8"}


#: Short names for narrow table columns.
SHORT_TYPES = {
    "rising": "rising",
    "falling": "falling",
    "long_term_variable": "long-term",
    "new_source": "new",
    "short_term_variable": "short-term",
}


def type_label(alert_type: str) -> str:
    """'rising (High Flux State)'."""
    return f"{alert_type} ({STONKS_TYPES.get(alert_type, '?')})"


def rate_chart(monthly: pd.DataFrame, height: int = 300) -> hv.Overlay:
    """Stacked bars of alerts per calendar month, one colour per type, on a real time axis.

    ``monthly`` is :func:`~data_loaders.alerts.replay.monthly_rate` output (MONTH, ALERT_TYPE,
    N_ALERTS). Each bar is a rectangle from the month's first day to the next month's, stacked
    in ``ALERT_TYPES`` order; hover shows the month, type and count.
    """
    layers = []
    wide = monthly.pivot_table(index="MONTH", columns="ALERT_TYPE", values="N_ALERTS", aggfunc="sum", fill_value=0)
    wide = wide.reindex(columns=list(ALERT_TYPES), fill_value=0).sort_index()
    months = pd.DatetimeIndex(wide.index)
    ends = months + pd.offsets.MonthBegin(1)
    base = np.zeros(len(wide), dtype=np.int64)
    for atype in ALERT_TYPES:
        n = wide[atype].to_numpy(np.int64)
        frame = pd.DataFrame(
            {
                "start": months,
                "bottom": base,
                "end": ends,
                "top": base + n,
                "month": months.strftime("%Y-%m"),
                "type": type_label(atype),
                "alerts": n,
            }
        )[n > 0]
        layers.append(
            hv.Rectangles(
                frame, kdims=["start", "bottom", "end", "top"], vdims=["month", "type", "alerts"], label=atype
            ).opts(color=TYPE_COLOURS[atype], line_width=0, tools=["hover"])
        )
        base = base + n
    return hv.Overlay(layers).opts(
        hv.opts.Overlay(
            responsive=True,
            height=height,
            xlabel="month",
            ylabel="alerts per month",
            legend_position="top",
            legend_cols=3,
            show_grid=True,
            title="Alerts per month by type",
        )
    )


def sky_alerts(alerts: pd.DataFrame, selected: pd.Series | None = None, dark: bool = True) -> hv.Overlay:
    """All-sky Hammer map of ``alerts`` (columns X, Y from the release task) with the graticule.

    Up to ``MAX_SKY_POINTS`` alerts are points coloured by type with hover; more are aggregated
    with datashader by type (an RGBA image). The ``selected`` alert gets a ring on top.
    """
    x_range, y_range = sky.full_extent("hammer")
    if len(alerts) > MAX_SKY_POINTS:
        codes = alerts["ALERT_TYPE"].map({t: i for i, t in enumerate(ALERT_TYPES)}).to_numpy(np.int16)
        agg = sky.aggregate(
            alerts["X"].to_numpy(np.float32),
            alerts["Y"].to_numpy(np.float32),
            x_range,
            y_range,
            SKY_WIDTH,
            SKY_HEIGHT,
            values=codes,
            how="by",
            categories=list(ALERT_TYPES),
        )
        img = sky.shade_categories(agg, [TYPE_COLOURS[t] for t in ALERT_TYPES], how="eq_hist")
        layer = sky.to_rgb_element(sky.spread(img, 1), x_range, y_range)
    else:
        frame = alerts[["X", "Y", "ALERT_TYPE", "ALERT_ID", "IAUNAME", "RATIO", "MJD"]].copy()
        frame["IAUNAME"] = frame["IAUNAME"].astype(str)
        layer = hv.Points(frame, kdims=["X", "Y"], vdims=["ALERT_TYPE", "ALERT_ID", "IAUNAME", "RATIO", "MJD"]).opts(
            color="ALERT_TYPE",
            cmap=TYPE_COLOURS,
            size=6,
            alpha=0.85,
            line_color=None,
            tools=["hover", "tap"],
            show_legend=False,
            nonselection_alpha=0.85,
        )
    ring = hv.Points(
        pd.DataFrame(
            {"X": [] if selected is None else [selected["X"]], "Y": [] if selected is None else [selected["Y"]]}
        ),
        kdims=["X", "Y"],
    ).opts(marker="circle", size=18, fill_alpha=0, line_color="#ffffff" if dark else "#111111", line_width=2.5)
    return (layer * sky.graticule_overlay("hammer", "icrs", dark) * ring).opts(
        # A fixed height: responsive data_aspect collapsed the map when the DynamicMap re-rendered.
        hv.opts.Overlay(xlim=x_range, ylim=y_range, responsive=True, height=300, xaxis=None, yaxis=None),
    )


def alert_lightcurve(points: pd.DataFrame, highlight: tuple[float, ...] = (), title: str = "") -> hv.Overlay:
    """One source's harmonised flux history (erg/cm²/s, 0.2-12 keV) against MJD, log scale.

    ``points`` has MJD, FLUX, FLUX_ERR, UPPER_LIMIT and MISSION (as the alert criterion compares
    them). Measurements are error bars plus markers per mission; upper limits are downward
    triangles; the ``highlight`` epochs (the alert's detection and the epoch it was compared
    with) are vertical lines.
    """
    layers = []
    meas = points.loc[~points["UPPER_LIMIT"].to_numpy(bool)]
    lims = points.loc[points["UPPER_LIMIT"].to_numpy(bool)]
    for mission, part in meas.groupby("MISSION", sort=True):
        colour = MISSION_COLOURS.get(str(mission), "#bbbbbb")
        lo = np.minimum(part["FLUX_ERR"].to_numpy(), part["FLUX"].to_numpy() * 0.999)  # keep bars above 0 on log y
        bars = pd.DataFrame({"MJD": part["MJD"], "FLUX": part["FLUX"], "lo": lo, "hi": part["FLUX_ERR"]})
        layers.append(hv.ErrorBars(bars, kdims=["MJD"], vdims=["FLUX", "lo", "hi"]).opts(color=colour, alpha=0.8))
        layers.append(
            hv.Scatter(part, kdims=["MJD"], vdims=["FLUX"], label=str(mission)).opts(
                color=colour, size=7, tools=["hover"]
            )
        )
    if len(lims):
        layers.append(
            hv.Scatter(lims, kdims=["MJD"], vdims=["FLUX"], label="upper limits").opts(
                marker="inverted_triangle", color="#9a9aae", size=8, tools=["hover"]
            )
        )
    for mjd in highlight:
        if mjd is not None and np.isfinite(mjd):
            layers.append(hv.VLine(float(mjd)).opts(color="#f59e0b", line_dash="dashed", line_width=2))
    if not layers:
        layers.append(hv.Scatter([], kdims=["MJD"], vdims=["FLUX"]))
    return hv.Overlay(layers).opts(
        hv.opts.Overlay(
            logy=True,
            responsive=True,
            height=320,
            xlabel="MJD",
            ylabel="flux 0.2–12 keV (erg/cm²/s)",
            title=title,
            # Outside the data (above it), and few ticks: the detail column is ~350 px wide.
            legend_position="top",
            legend_cols=4,
            xticks=4,
            yticks=log_ticks(points["FLUX"].to_numpy(float)),
            xformatter="%d",
            yformatter="%.0e",
            padding=0.1,
            show_grid=True,
        )
    )
