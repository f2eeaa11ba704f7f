"""The Source view's Bokeh figures, updated in place: limits, missions, cameras, ranges, empty data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from bokeh.models import ColumnDataSource

from app.plots import lightcurve, sed, spectrum
from app.views.source import figures
from data_loaders.products import read_lightcurve, read_spectrum, write_detection_products
from tests.app.test_source_plots import _detections, _longterm


@pytest.fixture(scope="module")
def products(tmp_path_factory):
    """One detection's PN lightcurve and spectrum (with background and ARF)."""
    root = tmp_path_factory.mktemp("products")
    write_detection_products(
        root, obs_id="0123456789", src_num=12, ra=10.0, dec=20.0, rate=2.0, exposure=20000.0, mjd_start=58000.0
    )
    pps = root / "0123456789" / "pps"
    lc = read_lightcurve(next(pps.glob("*PN*SRCTSR*")))
    spec = read_spectrum(next(pps.glob("*PN*SRSPEC*")), next(pps.glob("*PN*BGSPEC*")), next(pps.glob("*PN*SRCARF*")))
    return lc, spec


def _rows(source) -> int:
    return len(next(iter(source.data.values())))


def test_longterm_figure_limits_missions_epochs_and_ring():
    fig = figures.LongtermFigure()
    pts = lightcurve.longterm_points(_detections(), _longterm(), band=8)
    obs = fig.update(pts, 8, highlight_epochs=[53500.0], selected_obs="0100010101")
    assert obs == list(pts.loc[(pts["mission"] == "XMM") & ~pts["upper_limit"], "obs_id"])
    assert set(fig.xmm.data["mission"]) == {"XMM"} and _rows(fig.xmm) == 3  # limits are never detections
    assert {m for m, src in fig.limits.items() if _rows(src)} == {"XMM", "ROSAT"}
    for src in fig.limits.values():
        assert (np.asarray(src.data["tip"], float) < np.asarray(src.data["flux"], float)).all()
    assert {m for m, src in fig.others.items() if _rows(src)} == {"Swift", "Chandra", "eROSITA"}
    shown = {item.label.value for item in fig.figure.legend[0].items if item.visible}
    assert shown == {
        "XMM-Newton",
        "selected observation",
        "XMM upper limit",
        "ROSAT upper limit (→ XMM 0.2–12 keV)",
        "Swift (→ XMM 0.2–12 keV)",
        "Chandra (→ XMM 0.2–12 keV)",
        "eROSITA (→ XMM 0.2–12 keV)",
    }
    markers = {r.glyph.marker for r in fig.figure.renderers if getattr(r.glyph, "marker", None)}
    assert {"circle", "square", "diamond", "triangle", "inverted_triangle", "dash"} <= markers
    assert _rows(fig.epochs) == 1 and _rows(fig.selected) == 1
    assert fig.figure.y_scale.__class__.__name__ == "LogScale"
    low, high = fig.figure.y_range.start, fig.figure.y_range.end
    assert low < np.min(np.asarray(fig.limits["ROSAT"].data["tip"], float)) and high > pts["upper"].max()
    # every marker whole inside the axis: ~a tenth of the axis (in decades) above the highest flux
    decades = np.log10(high) - np.log10(low)
    assert np.log10(high) - np.log10(pts["flux"].max()) >= 0.09 * decades
    start = fig.figure.x_range.start
    assert start < lightcurve.mjd_to_datetime([pts["mjd"].min()])[0].astype("int64")

    fig.select("no such observation")
    assert _rows(fig.selected) == 0 and not fig.ring_item.visible
    # Band 6: detections only; the limits and missions of band 8 go, and so do their legend entries.
    fig.update(lightcurve.longterm_points(_detections(), _longterm(), band=6), 6)
    assert all(_rows(src) == 0 for src in [*fig.limits.values(), *fig.others.values()])
    assert {item.label.value for item in fig.figure.legend[0].items if item.visible} == {"XMM-Newton"}
    assert fig.figure.yaxis[0].axis_label == "Flux 0.2–2 keV (erg/cm²/s)"  # band 6, short enough to fit the axis


def test_lightcurve_figure_relative_time_gaps_and_missing_cameras(products):
    lc, _ = products
    fig = figures.LightcurveFigure()
    fig.update({"PN": lc.rebin(4)})
    t = np.asarray(fig.sources["PN"].data["t"], float)
    rate = np.asarray(fig.sources["PN"].data["rate"], float)
    assert t[0] >= 0 and t[0] < lc.timedel * 4
    assert np.isnan(rate).any() == bool(lc.rebin(4).gaps.any()) and not (rate == 0).any()
    assert all(r.visible for r in fig.renderers["PN"]) and not any(r.visible for r in fig.renderers["M1"])
    assert fig.figure.x_range.start == pytest.approx(t.min()) and fig.figure.x_range.end == pytest.approx(t.max())
    fig.update({"M1": lc})
    assert _rows(fig.sources["PN"]) == 0 and not any(r.visible for r in fig.renderers["PN"])


def test_spectrum_and_band_figures(products):
    _, spec = products
    fig = figures.SpectrumFigure()
    fig.update({"PN": spectrum.spectrum_points(spec, 50)})
    assert (np.asarray(fig.sources["PN"].data["value"], float) > 0).all()
    assert "count/s/keV" in fig.figure.yaxis[0].axis_label
    assert 0 < fig.figure.y_range.start < fig.figure.y_range.end
    fig.update({"PN": spectrum.spectrum_points(spec, 50, effective_area=True)}, effective_area=True)
    assert "photon/cm²/s/keV" in fig.figure.yaxis[0].axis_label
    row = {**{f"EP_{b}_FLUX": 1e-13 * b for b in range(1, 6)}, "EP_3_FLUX": -1.0, "EP_HR1": 0.1, "EP_HR2": np.nan}
    band = figures.SedFigure()
    band.update(sed.band_sed(row))
    assert list(band.source.data["band"]) == [1, 2, 4, 5]  # no positive flux, not on a log axis
    hr = figures.HardnessFigure()
    hr.update(sed.hardness_ratios(row))
    assert list(hr.source.data["hr"]) == ["HR1"]


def test_empty_columns_go_as_lists():
    source = ColumnDataSource({"x": [1.0], "y": ["a"]})
    figures.set_data(source, {"x": np.array([], float), "y": pd.Series([], dtype=str).to_numpy()})
    assert source.data["x"] == [] and source.data["y"] == []
    figures.set_data(source, {"x": np.array([2.0]), "y": np.array(["b"])})
    assert list(source.data["x"]) == [2.0]


def test_legends_sit_outside_the_data_and_energy_labels_do_not_overlap():
    """Camera legends above the plot (two rows: cameras, then their backgrounds), the long-term one at
    its right: none inside the plot area. Energy labels that would touch are dropped (narrow SED)."""
    from bokeh.models import NoOverlap

    for fig in (figures.LightcurveFigure(), figures.SpectrumFigure()):
        (legend,) = fig.figure.legend
        assert legend in fig.figure.above and legend not in fig.figure.center
        assert legend.orientation == "horizontal" and legend.ncols == len(figures.CAMERAS)
        labels = [item.label.value for item in legend.items]
        assert labels == ["pn", "MOS1", "MOS2", "pn background", "MOS1 background", "MOS2 background"]
    longterm = figures.LongtermFigure().figure
    assert longterm.legend[0] in longterm.right and longterm.legend[0] not in longterm.center
    for fig in (figures.SedFigure().figure, figures.SpectrumFigure().figure):
        assert list(fig.xaxis[0].ticker.ticks) == list(spectrum.ENERGY_TICKS)
        assert isinstance(fig.xaxis[0].major_label_policy, NoOverlap)
