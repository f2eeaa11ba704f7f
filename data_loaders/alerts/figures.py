"""One PNG per alert of an observation run: the long-term lightcurve with the new point and the limits,
and the new detection's band-flux spectrum (matplotlib, no display: the Agg canvas of a bare Figure)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, NullFormatter

from data_loaders.alerts.source_list import BANDS, SourceList

#: 4XMM basic bands, keV (EP_1 ... EP_5).
BAND_EDGES_KEV = ((0.2, 0.5), (0.5, 1.0), (1.0, 2.0), (2.0, 4.5), (4.5, 12.0))
_MJD_YEAR0 = 51544.5  # 2000-01-01.5
MISSION_COLOURS = {"XMM": "#1f77b4", "Chandra": "#d62728", "Swift": "#2ca02c", "eROSITA": "#9467bd", "ROSAT": "#8c564b"}


def _year(mjd: npt.ArrayLike) -> np.ndarray:
    return 2000.0 + (np.asarray(mjd, np.float64) - _MJD_YEAR0) / 365.25


def alert_figure(alert: pd.Series, points: pd.DataFrame, band_flux: np.ndarray, band_err: np.ndarray) -> Figure:
    """The figure of one alert. ``points``: the source's history (MJD, FLUX, FLUX_ERR, UPPER_LIMIT,
    MISSION, NEW); ``band_flux``/``band_err``: the new detection's EP_1..EP_5 fluxes (erg/cm²/s)."""
    fig = Figure(figsize=(10, 3.8), dpi=90)
    fig.subplots_adjust(left=0.08, right=0.98, bottom=0.14, top=0.9, wspace=0.32)  # no layout engine: 10x faster
    lc, sp = fig.subplots(1, 2, width_ratios=(1.6, 1))
    for mission, g in points.groupby("MISSION", sort=True):
        colour = MISSION_COLOURS.get(str(mission), "0.3")
        meas = g.loc[~g["UPPER_LIMIT"].to_numpy() & ~g["NEW"].to_numpy()]
        ul = g.loc[g["UPPER_LIMIT"].to_numpy()]
        if len(meas):
            lc.errorbar(
                _year(meas["MJD"]), meas["FLUX"], yerr=meas["FLUX_ERR"], fmt="o", ms=4, color=colour, label=str(mission)
            )
        if len(ul):
            lc.scatter(
                _year(ul["MJD"]), ul["FLUX"], marker="v", s=28, color=colour, alpha=0.7, label=f"{mission} upper limit"
            )
    new = points.loc[points["NEW"].to_numpy()]
    if len(new):
        lc.errorbar(
            _year(new["MJD"]),
            new["FLUX"],
            yerr=new["FLUX_ERR"],
            fmt="*",
            ms=13,
            color="#ff7f0e",
            mec="k",
            label="this observation",
        )
    if np.isfinite(alert["MJD_COMPARED"]):
        lc.scatter(
            _year([alert["MJD_COMPARED"]]),
            [alert["COMPARED_FLUX"]],
            s=160,
            facecolors="none",
            edgecolors="k",
            linewidths=1.5,
            label="compared epoch",
        )
    lc.set_yscale("log")
    lc.set_xlabel("year")
    lc.set_ylabel("0.2–12 keV flux (erg cm⁻² s⁻¹)")
    ratio = "" if not np.isfinite(alert["RATIO"]) else f", ratio {alert['RATIO']:.1f}"
    lc.set_title(f"{alert['IAUNAME']} — {alert['ALERT_TYPE']}{ratio}", fontsize=10)
    lc.legend(fontsize=7, loc="best")
    lo = np.array([a for a, _ in BAND_EDGES_KEV])
    hi = np.array([b for _, b in BAND_EDGES_KEV])
    centre, width = np.sqrt(lo * hi), hi - lo
    ok = np.isfinite(band_flux) & (band_flux > 0)
    if ok.any():
        sp.errorbar(
            centre[ok],
            band_flux[ok] / width[ok],
            xerr=[centre[ok] - lo[ok], hi[ok] - centre[ok]],
            yerr=np.nan_to_num(band_err[ok]) / width[ok],
            fmt="o",
            color="#ff7f0e",
            mec="k",
        )
        sp.set_yscale("log")
    sp.set_xscale("log")
    sp.set_xlabel("energy (keV)")
    sp.set_ylabel("band flux / width (erg cm⁻² s⁻¹ keV⁻¹)")
    sp.set_title("EPIC band fluxes, this observation", fontsize=10)
    for ax in (lc, sp):  # plain tick labels: mathtext (10^{-14}) parsing was most of the drawing time
        for axis in (ax.xaxis, ax.yaxis):
            if axis.get_scale() == "log":
                axis.set_major_formatter(_PLAIN)
                axis.set_minor_formatter(NullFormatter())
    return fig


_PLAIN = FuncFormatter(lambda v, _: f"{v:.3g}" if 1e-3 <= abs(v) < 1e4 else f"{v:.0e}")


def write_alert_figures(result, source_list: SourceList, out_dir: Path) -> list[Path]:
    """Write ``<ALERT_ID>.png`` for every alert of an :class:`~data_loaders.alerts.observation.ObservationResult`."""
    sl = source_list.detections.set_index("SRC_NUM")
    pts = result.points
    by_src = {k: g for k, g in pts.groupby("SRCID", sort=False)}
    paths = []
    for _, alert in result.alerts.iterrows():
        d = sl.loc[int(alert["SRC_NUM"])]
        flux = np.array([d[f"EP_{b}_FLUX"] for b in BANDS], np.float64)
        err = np.array([d[f"ERR_EP_{b}_FLUX"] for b in BANDS], np.float64)
        empty = pts.iloc[:0]
        fig = alert_figure(alert, by_src.get(alert["SRCID"], empty), flux, err)
        path = Path(out_dir) / f"{alert['ALERT_ID']}.png"
        FigureCanvasAgg(fig).print_png(path)
        paths.append(path)
    return paths
