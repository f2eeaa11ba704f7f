"""Pure plot functions of the Source view: dimensions, log axes, upper limits, missions, conversions."""

from __future__ import annotations

import holoviews as hv
import numpy as np
import pandas as pd
import pytest

from app.plots import classification, lightcurve, sed, spectrum
from data_loaders import schema
from data_loaders.products import read_lightcurve, read_spectrum, write_detection_products


def _detections(n=3):
    return pd.DataFrame(
        {
            "OBS_ID": [f"01000{i}0101" for i in range(n)],
            "MJD_START": 52000.0 + 1000.0 * np.arange(n),
            "SUM_FLAG": np.zeros(n),
            **{f"EP_{b}_FLUX": np.full(n, 1e-12 * b) for b in schema.BANDS},
            **{f"EP_{b}_FLUX_ERR": np.full(n, 1e-13) for b in schema.BANDS},
        }
    )


def _longterm():
    return pd.DataFrame(
        {
            "SRCID": 1,
            "MISSION": ["XMM", "Swift", "Chandra", "eROSITA", "ROSAT"],
            "OBS_ID": ["0200000101", "s1", "c1", "e1", "r1"],
            "MJD": [53000.0, 54000.0, 55000.0, 58900.0, 48200.0],
            "FLUX": np.array([5e-14, 9e-13, 6.9e-13, 3.9e-13, 4.1e-14], np.float32),
            "FLUX_ERR": np.array([np.nan, 1e-13, 1e-13, 1e-13, np.nan], np.float32),
            "UPPER_LIMIT": [True, False, False, False, True],
            "BAND": ["0.2-12.0", "0.3-10.0", "0.5-7.0", "0.2-2.3", "0.1-2.4"],
        }
    )


def test_longterm_points_convert_other_missions_and_keep_limits_apart():
    pts = lightcurve.longterm_points(_detections(), _longterm(), band=8)
    assert list(pts.columns) == list(lightcurve.POINT_COLUMNS)
    assert len(pts) == 3 + 5
    assert pts["mjd"].is_monotonic_increasing
    swift = pts[pts["mission"] == "Swift"].iloc[0]
    assert swift["converted"] and swift["flux"] == pytest.approx(9e-13 / schema.MISSION_FLUX_FACTORS["Swift"], rel=1e-6)
    chandra = pts[pts["mission"] == "Chandra"].iloc[0]
    assert chandra["flux"] == pytest.approx(1e-12, rel=1e-5)
    xmm_limit = pts[(pts["mission"] == "XMM") & pts["upper_limit"]].iloc[0]
    assert xmm_limit["flux"] == pytest.approx(5e-14, rel=1e-6) and not xmm_limit["converted"]
    assert pts["upper_limit"].sum() == 2
    assert (pts["lower"] > 0).all()


def test_longterm_points_other_bands_show_only_xmm_detections():
    pts = lightcurve.longterm_points(_detections(), _longterm(), band=6)
    assert len(pts) == 3 and set(pts["mission"]) == {"XMM"} and not pts["upper_limit"].any()
    assert pts["flux"].iloc[0] == pytest.approx(6e-12)


def test_longterm_plot_limits_are_not_drawn_as_detections():
    pts = lightcurve.longterm_points(_detections(), _longterm(), band=8)
    overlay = lightcurve.longterm_plot(pts, 8, highlight_epochs=[53500.0], selected_obs="0100010101")
    detections = overlay.get(0)
    assert isinstance(detections, hv.Scatter) and detections.label == "XMM-Newton"
    assert len(detections) == 3 and set(detections.dimension_values("mission")) == {"XMM"}
    # The limit's own layers: a stem, a bar at the limit and a downward triangle at its tip.
    limit_markers = [el for el in overlay if isinstance(el, hv.Scatter) and "upper limit" in el.label]
    assert {el.label for el in limit_markers} == {"XMM upper limit", "ROSAT upper limit (→ XMM 0.2–12 keV)"}
    for el in limit_markers:
        assert el.opts.get().kwargs["marker"] == "inverted_triangle"
        assert (el.dimension_values("tip") < el.dimension_values("flux")).all()
    labels = {el.label for el in overlay}
    assert {"Swift (→ XMM 0.2–12 keV)", "Chandra (→ XMM 0.2–12 keV)", "eROSITA (→ XMM 0.2–12 keV)"} <= labels
    markers = {el.label: el.opts.get().kwargs.get("marker") for el in overlay if isinstance(el, hv.Scatter)}
    assert markers["Swift (→ XMM 0.2–12 keV)"] != markers["Chandra (→ XMM 0.2–12 keV)"] != markers["XMM-Newton"]
    assert len([el for el in overlay if isinstance(el, hv.VLine)]) == 1
    assert overlay.opts.get().kwargs["logy"] is True
    plot = hv.renderer("bokeh").get_plot(overlay)
    assert plot.state.y_scale.__class__.__name__ == "LogScale"
    assert plot.state.x_range.start is not None


def test_mjd_to_datetime():
    assert str(lightcurve.mjd_to_datetime([51544.5])[0]) == "2000-01-01T12:00:00.000"


@pytest.fixture(scope="module")
def products(tmp_path_factory):
    root = tmp_path_factory.mktemp("products")
    write_detection_products(
        root,
        obs_id="0123456789",
        src_num=12,
        ra=10.0,
        dec=20.0,
        rate=2.0,
        exposure=20000.0,
        mjd_start=58000.0,
        cameras=("PN", "M1"),
    )
    pps = root / "0123456789" / "pps"
    lc = read_lightcurve(next(pps.glob("*PN*SRCTSR*")))
    spec = read_spectrum(next(pps.glob("*PN*SRSPEC*")), next(pps.glob("*PN*BGSPEC*")), next(pps.glob("*PN*SRCARF*")))
    return lc, spec


def test_observation_lightcurve_relative_time_and_gaps(products):
    lc, _ = products
    overlay = lightcurve.observation_lightcurve_plot({"PN": lc.rebin(4)})
    curve = overlay.get(0)
    assert curve.kdims[0].name == "t" and curve.vdims[0].name == "rate"
    t = curve.dimension_values("t")
    assert t[0] >= 0 and t[0] < lc.timedel * 4
    # Gaps stay NaN (a broken line), never zero.
    assert np.isnan(curve.dimension_values("rate")).any() == bool(lc.rebin(4).gaps.any())
    assert not (curve.dimension_values("rate") == 0).any()


def test_spectrum_points_and_plot(products):
    _, spec = products
    raw = spectrum.spectrum_points(spec, 0)
    grouped = spectrum.spectrum_points(spec, 50)
    assert list(raw.columns) == list(spectrum.SPECTRUM_COLUMNS)
    assert len(grouped) < len(raw) and raw["energy"].between(0.2, 12.0).all()
    auto = spectrum.spectrum_points(spec, -1)
    assert len(auto) <= spectrum.AUTO_BINS + 1
    photons = spectrum.spectrum_points(spec, 50, effective_area=True)
    assert np.nanmedian(photons["value"]) < np.nanmedian(grouped["value"]) / 10  # divided by ~hundreds of cm²
    overlay = spectrum.spectrum_plot({"PN": grouped})
    opts = overlay.opts.get().kwargs
    assert opts["logx"] and opts["logy"] and "count/s/keV" in opts["ylabel"]
    assert (
        "photon/cm²/s/keV" in spectrum.spectrum_plot({"PN": photons}, effective_area=True).opts.get().kwargs["ylabel"]
    )
    scatter = [el for el in overlay if isinstance(el, hv.Scatter)][0]
    assert (scatter.dimension_values("value") > 0).all()


def test_band_sed_and_hardness():
    row = {
        **{f"EP_{b}_FLUX": 1e-13 * b for b in range(1, 6)},
        **{f"EP_{b}_FLUX_ERR": 1e-14 for b in range(1, 6)},
        "EP_HR1": 0.1,
        "EP_HR1_ERR": 0.05,
        "EP_HR2": np.nan,
    }
    frame = sed.band_sed(row)
    assert list(frame.columns) == list(sed.SED_COLUMNS) and list(frame["band"]) == [1, 2, 3, 4, 5]
    assert frame["density"].iloc[4] == pytest.approx(5e-13 / 7.5)
    overlay = sed.sed_plot(frame)
    assert overlay.opts.get().kwargs["logy"] and "keV" in overlay.opts.get().kwargs["ylabel"]
    hr = sed.hardness_ratios(row)
    assert list(hr["hr"]) == ["HR1", "HR2", "HR3", "HR4"] and np.isnan(hr["value"].iloc[1])
    hv.renderer("bokeh").get_plot(sed.hardness_plot(hr))


def test_classification_bars_highlight_the_most_probable():
    row = {f"PbaC{i}": p for i, p in enumerate([0.1, 0.6, 0.1, 0.1, 0.05, 0.03, 0.02])}
    probs = classification.class_probabilities(row)
    assert probs["best"].sum() == 1 and probs.loc[probs["best"], "class"].item() == "star"
    bars = classification.classification_plot(probs)
    assert bars.kdims[0].name == "label" and bars.vdims[0].name == "probability"
    colours = dict(zip(bars.dimension_values("label"), bars.dimension_values("colour"), strict=True))
    assert colours[schema.CLASS_LABELS["star"]] == classification.HIGHLIGHT
    assert sum(c == classification.HIGHLIGHT for c in colours.values()) == 1
