"""Tests of the deterministic synthetic 4XMM demo-data generator."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits

from data_loaders.demo import generate_demo, write_catalogue_fits, write_demo
from data_loaders.schema import (
    CLASS_NAMES,
    CLASSIFICATION_COLUMNS,
    COLUMNS,
    COUNTERPART_COLUMNS,
    LONGTERM_COLUMNS,
    MISSION_FLUX_FACTORS,
)

N = 12_000


@pytest.fixture(scope="module")
def demo():
    return generate_demo(N, seed=7)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return write_demo(tmp_path_factory.mktemp("demo"), 4000, seed=3, progress=False)


def test_exact_size_and_every_schema_column_with_dtype(demo):
    det = demo.detections
    assert len(det) == N
    assert list(det.columns) == [c.name for c in COLUMNS]
    kinds = {"K": "int64", "J": "int32", "I": "int16", "E": "float32", "D": "float64", "L": "bool"}
    for c in COLUMNS:
        if c.is_string:
            assert pd.api.types.is_string_dtype(det[c.name]), c.name
        else:
            assert str(det[c.name].dtype) == kinds[c.fits_format], c.name
    assert det.DETID.is_unique
    assert det.OBS_ID.str.len().eq(10).all()


def test_deterministic_and_seed_dependent(demo, tmp_path):
    again = generate_demo(N, seed=7)
    for name in ("detections", "classifications", "counterparts", "longterm", "truth", "observations"):
        pd.testing.assert_frame_equal(getattr(demo, name), getattr(again, name))
    other = generate_demo(N, seed=8)
    assert not np.array_equal(other.detections.RA.to_numpy(), demo.detections.RA.to_numpy())
    a, b = tmp_path / "a.fits", tmp_path / "b.fits"
    write_catalogue_fits(demo.detections, a)
    write_catalogue_fits(again.detections, b)
    assert a.read_bytes() == b.read_bytes()


def test_fits_conforms_to_schema(files):
    with fits.open(files.catalogue) as hdul:
        assert len(hdul) == 2
        hdu = hdul[1]
        assert hdu.header["EXTNAME"] == "SRCLIST"
        assert hdu.header["CATALOG"] == "4XMM-DEMO" and hdu.header["SYNTHETC"] is True
        assert "DATE" not in hdu.header and "CHECKSUM" not in hdu.header
        fcols = {c.name: c for c in hdu.columns}
        for c in COLUMNS:
            fc = fcols[c.name]
            assert str(fc.format) == c.fits_format, c.name
            assert (fc.unit or None) == c.unit, c.name
            assert fc.null == c.null, c.name
        data = hdu.data
        assert len(data) == 4000
        assert data["VAR_FLAG"].dtype == bool
        assert (data["OBS_CLASS"] == -1).any()  # some TNULL integer nulls
        assert data["IAUNAME"][0].startswith("4XMM J")
    for name in ("classifications", "counterparts", "longterm", "truth", "observations"):
        assert pd.read_parquet(getattr(files, name)).shape[0] > 0


def test_added_value_tables_use_schema_names(demo):
    for table, spec in (
        (demo.classifications, CLASSIFICATION_COLUMNS),
        (demo.counterparts, COUNTERPART_COLUMNS),
        (demo.longterm, LONGTERM_COLUMNS),
    ):
        assert list(table.columns) == [s[0] for s in spec]
        for name, dtype, _u, _d in spec:
            if dtype != "str":
                assert str(table[name].dtype) == dtype, name
    cl = demo.classifications
    probs = cl[[f"PbaC{i}" for i in range(7)]].to_numpy(np.float64)
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-5)
    assert (cl.prediction.to_numpy() == probs.argmax(1)).all()
    truth = demo.truth.set_index("SRCID").loc[cl.SRCID]
    agree = (cl.prediction_name.to_numpy() == truth.TRUE_CLASS.to_numpy()).mean()
    assert 0.7 < agree < 0.97
    assert set(cl.SRCID) == set(demo.detections.SRCID)
    cp = demo.counterparts
    assert cp.groupby("SRCID").size().max() <= 4
    assert set(cp.CATALOGUE) <= {"Gaia DR3", "2MASS", "AllWISE", "SDSS DR16"}
    g = cp[cp.CATALOGUE == "Gaia DR3"].drop_duplicates("SRCID").set_index("SRCID").MAG_G
    cls = demo.truth.set_index("SRCID").TRUE_CLASS.reindex(g.index)
    assert g[cls == "star"].median() < g[cls == "AGN"].median() - 4


def test_source_columns_consistent_within_srcid(demo):
    det = demo.detections
    src_cols = [c.name for c in COLUMNS if c.level == "source"]
    nunique = det.groupby("SRCID")[src_cols].nunique(dropna=False)
    assert (nunique <= 1).all().all()
    g = det.groupby("SRCID")
    assert (g.size() == g.N_DETECTIONS.first()).all()
    np.testing.assert_array_equal(g.EP_8_FLUX.min(), g.SC_EP_8_FMIN.first())
    np.testing.assert_array_equal(g.EP_8_FLUX.max(), g.SC_EP_8_FMAX.first())
    assert (g.SUM_FLAG.max() == g.SC_SUM_FLAG.first()).all()
    assert (g.VAR_FLAG.any() == g.SC_VAR_FLAG.first()).all()
    assert (g.MJD_START.min() == g.MJD_FIRST.first()).all()
    fmin, fmax, fmean = g.EP_8_FLUX.min(), g.EP_8_FLUX.max(), g.SC_EP_8_FLUX.first()
    assert ((fmean >= fmin * 0.999) & (fmean <= fmax * 1.001)).all()
    sep = np.hypot((det.RA - det.SC_RA) * np.cos(np.radians(det.DEC)), det.DEC - det.SC_DEC)
    assert (sep * 3600 < 10 * det.POSERR + 1).mean() > 0.99
    assert det.IAUNAME.str.match(r"^4XMM J\d{6}\.\d[+-]\d{6}$").all()


def test_physical_sanity(demo):
    det = demo.detections
    for i in range(1, 5):
        hr = det[f"EP_HR{i}"]
        assert hr.dropna().between(-1, 1).all()
    five = sum(det[f"EP_{b}_FLUX"].astype(np.float64) for b in range(1, 6))
    np.testing.assert_allclose(det.EP_8_FLUX, five, rtol=1e-4)
    np.testing.assert_allclose(det.EP_6_FLUX, sum(det[f"EP_{b}_FLUX"].astype(np.float64) for b in (1, 2, 3)), rtol=1e-4)
    flux = det.EP_8_FLUX
    assert flux.min() > 1e-16 and flux.max() > 1e-11 and 1e-15 < flux.median() < 1e-13
    per_src = det.groupby("SRCID").size()
    assert 0.14 < (per_src > 1).mean() < 0.28
    assert 0.80 < (det.SUM_FLAG < 3).mean() < 0.93
    assert 0.30 < det.TSERIES.mean() < 0.42
    assert 0.004 < det.VAR_FLAG.mean() < 0.012
    assert ((det.EP_CHI2PROB <= 1e-5) == det.VAR_FLAG).all()
    ext = det.EP_EXTENT > 0
    assert 0.05 < ext.mean() < 0.14 and det.EP_EXTENT[ext].between(6, 80).all()
    assert (det.EP_8_DET_ML >= 6).all()
    no_cam = det.PN_8_FLUX.isna() | det.M1_8_FLUX.isna()
    assert 0.05 < no_cam.mean() < 0.2
    clean = det.SUM_FLAG == 0
    assert (det.EP_FLAG[clean].str[:9].str.count("T") == 0).all()
    assert (det.EP_FLAG[det.SUM_FLAG == 2].str[6:8].str.contains("T")).all()
    # stars are soft, absorbed Galactic XRBs hard
    cls = demo.truth.set_index("SRCID").TRUE_CLASS.reindex(det.SRCID).to_numpy()
    assert det.EP_HR2[cls == "star"].median() < det.EP_HR2[cls == "gal_xrb"].median() - 0.4
    obs = demo.observations
    assert obs.MJD_START.between(51575, 60309).all()
    assert obs.OBS_ID.is_unique and set(det.OBS_ID) <= set(obs.OBS_ID)


def test_planted_transients_vary_by_their_factor(demo):
    det, truth, lt = demo.detections, demo.truth.set_index("SRCID"), demo.longterm
    assert set(truth.PLANTED) <= {"", "rising", "falling", "long_term", "short_term", "new_source"}
    assert TRUE_CLASSES_OK(truth)
    checked = good = 0
    for kind in ("rising", "falling", "long_term"):
        assert (kind == truth.PLANTED).sum() >= 3
    # Rising and falling sources detected on both sides of their change: the ratio of the two
    # states' median detected fluxes is the planted factor (most variables are faint, STONKS'
    # amplitude law puts most below 3, so only these few show it).
    for kind in ("rising", "falling"):
        ids = truth.index[kind == truth.PLANTED]
        sub = det[det.SRCID.isin(ids)]
        after = sub.MJD_START.to_numpy() > truth.PLANTED_MJD.reindex(sub.SRCID).to_numpy()
        g = sub.assign(AFTER=after).groupby(["SRCID", "AFTER"]).EP_8_FLUX.median().unstack()
        g = g.dropna()
        ratio = g[True] / g[False] if kind == "rising" else g[False] / g[True]
        fac = truth.PLANTED_FACTOR.reindex(ratio.index)
        checked += len(ratio)
        good += int(((ratio > fac / 2.5) & (ratio < fac * 2.5)).sum())
    assert checked >= 10 and good / checked > 0.8
    new = truth.index[truth.PLANTED == "new_source"]
    t0 = truth.PLANTED_MJD
    nd = det[det.SRCID.isin(new)]
    before = t0.reindex(nd.SRCID).to_numpy() > nd.MJD_STOP
    assert nd[before].SRCID.nunique() <= 0.3 * len(new)  # mostly unseen before appearing
    after_max = nd[~before].groupby("SRCID").EP_8_FLUX.max()
    ul = lt[lt.UPPER_LIMIT & (lt.MISSION == "XMM") & lt.SRCID.isin(after_max.index)]
    ul = ul[t0.reindex(ul.SRCID).to_numpy() > ul.MJD]
    assert ul.SRCID.nunique() >= 3
    # the new source's detections beat its earlier XMM 3-sigma limits
    assert (ul.FLUX.to_numpy() < after_max.reindex(ul.SRCID).to_numpy()).mean() > 0.8
    assert (truth.PLANTED == "short_term").sum() > 0
    st = truth.index[truth.PLANTED == "short_term"]
    assert det[det.SRCID.isin(st)].groupby("SRCID").VAR_FLAG.any().all()


def TRUE_CLASSES_OK(truth) -> bool:  # reads as a predicate in the assert
    return set(truth.TRUE_CLASS) <= set(CLASS_NAMES) and (truth.TRUE_CLASS == "AGN").mean() > 0.3


def test_longterm_points(demo):
    lt = demo.longterm
    assert set(lt.MISSION) >= {"XMM", "Swift", "Chandra", "ROSAT"}
    xmm = lt[lt.MISSION == "XMM"]
    assert xmm.UPPER_LIMIT.all() and xmm.FLUX_ERR.isna().all() and (xmm.FLUX > 0).all()
    det_keys = set(zip(demo.detections.SRCID, demo.detections.OBS_ID, strict=True))
    assert not any(k in det_keys for k in zip(xmm.SRCID, xmm.OBS_ID, strict=True))
    other = lt[(lt.MISSION != "XMM") & ~lt.UPPER_LIMIT]
    src_flux = demo.detections.groupby("SRCID").SC_EP_8_FLUX.first()
    conv = other.FLUX / other.MISSION.map(MISSION_FLUX_FACTORS).astype(float)
    ratio = np.log10(conv.to_numpy() / src_flux.reindex(other.SRCID).to_numpy())
    assert abs(np.nanmedian(ratio)) < 0.5


def test_variable_population_follows_the_published_figures_per_class():
    """On a fixture-sized sky (1,500 multi-epoch sources per class), each class's variable fraction and
    amplitude law are the cited ones: AGN half variable with mean relative amplitude 0.15 (Mateos et al.
    2007); binaries in other galaxies 15 % variable (M31, Osborne et al. 2001); the other point-like
    classes STONKS' 13.5 %; every class but AGN 16 of 135 variables above 5 (Quintin et al. 2024,
    Fig. 11); clusters constant."""
    from data_loaders.demo import planting

    n_per, epochs = 1500, 3
    cls = np.repeat(np.arange(len(CLASS_NAMES)), n_per)
    pair_src = np.repeat(np.arange(cls.size), epochs)
    pair_mjd = np.tile(np.arange(epochs) * 400.0 + 51000.0, cls.size)
    plant = planting.choose_planted(pair_src, pair_mjd, cls.size, np.random.default_rng(11), cls=cls)
    kinds = np.array(planting.PLANTED_KINDS)[plant["KIND"]]
    variable = np.isin(kinds, ["rising", "falling", "long_term"])
    stonks = 135 / 1000
    expected = {"AGN": 0.5, "star": stonks, "gal_xrb": stonks, "CV": stonks, "bk_AGN": stonks, "ext_xrb": 0.15}
    for code, name in enumerate(CLASS_NAMES):
        assert abs(variable[cls == code].mean() - expected.get(name, 0.0)) <= 1.0 / n_per, name
    amp = plant["FACTOR"]
    agn = variable & (cls == CLASS_NAMES.index("AGN"))
    rel = (amp[agn] - 1) / (amp[agn] + 1)
    assert abs(rel.mean() - 0.15) < 4 * rel.std() / np.sqrt(rel.size)
    assert (amp[agn] > 5).mean() < 0.02  # steep: large AGN changes are rare (STONKS' law: 12 %)
    others = variable & ~np.isin(cls, [CLASS_NAMES.index("AGN"), CLASS_NAMES.index("extended")])
    p = 16 / 135
    above = (amp[others] > 5).mean()
    assert abs(above - p) < 4 * np.sqrt(p * (1 - p) / others.sum()), above
    # The 2:2:3 split of the variables into rising, falling and repeated changes.
    shares = pd.Series(kinds[variable]).value_counts(normalize=True)
    assert np.allclose(shares[["rising", "falling", "long_term"]], [2 / 7, 2 / 7, 3 / 7], atol=0.01)
