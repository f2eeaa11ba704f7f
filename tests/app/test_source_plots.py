"""Pure data functions behind the Source view's plots: upper limits, missions, conversions, bands."""

from __future__ import annotations

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


def test_spectrum_points(products):
    _, spec = products
    raw = spectrum.spectrum_points(spec, 0)
    grouped = spectrum.spectrum_points(spec, 50)
    assert list(raw.columns) == list(spectrum.SPECTRUM_COLUMNS)
    assert len(grouped) < len(raw) and raw["energy"].between(0.2, 12.0).all()
    auto = spectrum.spectrum_points(spec, -1)
    assert len(auto) <= spectrum.AUTO_BINS + 1
    photons = spectrum.spectrum_points(spec, 50, effective_area=True)
    assert np.nanmedian(photons["value"]) < np.nanmedian(grouped["value"]) / 10  # divided by ~hundreds of cm²


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
    hr = sed.hardness_ratios(row)
    assert list(hr["hr"]) == ["HR1", "HR2", "HR3", "HR4"] and np.isnan(hr["value"].iloc[1])


def test_classification_bars_highlight_the_most_probable():
    row = {f"PbaC{i}": p for i, p in enumerate([0.1, 0.6, 0.1, 0.1, 0.05, 0.03, 0.02])}
    probs = classification.class_probabilities(row)
    assert probs["best"].sum() == 1 and probs.loc[probs["best"], "class"].item() == "star"
    assert probs.loc[probs["best"], "label"].item() == schema.CLASS_LABELS["star"]
