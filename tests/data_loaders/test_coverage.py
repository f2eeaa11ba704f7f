"""Coverage: footprint MOC area, covering observations, flux upper limits."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from mocpy import MOC

from data_loaders import coverage
from data_loaders.errors import CatalogueError

R = 0.25  # deg, 15'
ORDER = coverage.DEFAULT_ORDER
CELL_DEG = np.degrees(np.sqrt(4 * np.pi / (12 * 4**ORDER)))  # HEALPix cell size at ORDER


def _fields(ra, dec, **extra) -> pd.DataFrame:
    n = len(ra)
    return pd.DataFrame({
        "OBS_ID": [f"{i + 1:010d}" for i in range(n)], "RA_PNT": ra, "DEC_PNT": dec,
        "MJD_START": 55000.0 + np.arange(n), "MJD_STOP": 55000.5 + np.arange(n),
        "PN_ONTIME": np.full(n, 2e4), "M1_ONTIME": np.full(n, 2.4e4), "M2_ONTIME": np.full(n, 2.4e4),
        "FIELD_RADIUS": np.full(n, R), **extra,
    })  # fmt: skip


def _cap_deg2(r_deg):
    return 2 * np.pi * (1 - np.cos(np.radians(r_deg))) * (180 / np.pi) ** 2


def test_isolated_fields_sum_to_n_discs_within_the_healpix_resolution():
    obs = _fields([10.0, 60.0, 120.0, 200.0, 300.0], [0.0, 30.0, -45.0, 70.0, -80.0])
    area = coverage.footprint_area_deg2(coverage.footprint_moc(obs))
    exact = len(obs) * _cap_deg2(R)
    # The MOC holds every cell the disc touches: a superset, larger by at most a rim one cell wide.
    rim = len(obs) * 2 * np.pi * R * CELL_DEG
    assert exact <= area <= exact + rim
    assert rim / exact < 0.03


def test_overlapping_fields_count_once():
    one = coverage.footprint_area_deg2(coverage.footprint_moc(_fields([10.0], [5.0])))
    same_twice = coverage.footprint_area_deg2(coverage.footprint_moc(_fields([10.0, 10.0], [5.0, 5.0])))
    half_overlap = coverage.footprint_area_deg2(coverage.footprint_moc(_fields([10.0, 10.25], [5.0, 5.0])))
    assert same_twice == pytest.approx(one)
    assert one < half_overlap < 2 * one


def test_observations_covering_a_point_inside_one_field_and_outside_all():
    obs = _fields([10.0, 10.4, 200.0], [0.0, 0.0, 20.0])
    inside = coverage.observations_covering(obs, 9.9, 0.0)
    assert list(inside.OBS_ID) == ["0000000001"]
    assert inside.OFFAX.iloc[0] == pytest.approx(6.0, rel=1e-3)
    assert {"MJD_START", "PN_ONTIME", "M1_ONTIME", "M2_ONTIME"} <= set(inside.columns)
    both = coverage.observations_covering(obs, 10.2, 0.0)
    assert list(both.OBS_ID) == ["0000000001", "0000000002"]
    assert coverage.observations_covering(obs, 100.0, -10.0).empty
    assert coverage.upper_limit(obs, 100.0, -10.0).empty


def test_upper_limit_falls_with_exposure_and_rises_off_axis():
    t = np.geomspace(1e3, 2e5, 30)
    flux, counts, bkg = coverage.flux_upper_limit(t, 1.2 * t, 1.2 * t, np.zeros_like(t))
    assert (np.diff(flux) < 0).all() and (np.diff(bkg) > 0).all() and (np.diff(counts) > 0).all()
    # Source-limited at short exposures (~1/t), background-limited at long ones (~t^-1/2).
    slope_short = np.log(flux[1] / flux[0]) / np.log(t[1] / t[0])
    slope_long = np.log(flux[-1] / flux[-2]) / np.log(t[-1] / t[-2])
    assert -1.0 < slope_short < -0.75 and -0.75 < slope_long < -0.5
    theta = np.linspace(0, 15, 16)
    off, _, _ = coverage.flux_upper_limit(np.full(16, 2e4), np.full(16, 2e4), np.full(16, 2e4), theta)
    assert (np.diff(off) > 0).all()
    # A realistic scale: a 10 ks on-axis limit of a few 1e-15 erg/cm2/s in 0.2-12 keV.
    ten_ks, _, _ = coverage.flux_upper_limit(1e4, 1.2e4, 1.2e4, 0.0)
    assert 1e-15 < ten_ks[0] < 1e-14


def test_upper_limit_per_covering_observation_and_cameras_off():
    obs = _fields([10.0, 10.0], [0.0, 0.0])
    obs.loc[1, ["PN_ONTIME", "M1_ONTIME", "M2_ONTIME"]] = [8e4, 9e4, 9e4]
    ul = coverage.upper_limit(obs, 10.05, 0.0)
    assert list(ul.OBS_ID) == ["0000000001", "0000000002"]
    assert ul.FLUX_UL.iloc[1] < ul.FLUX_UL.iloc[0]
    obs.loc[0, ["PN_ONTIME", "M1_ONTIME", "M2_ONTIME"]] = [np.nan, np.nan, 0.0]
    assert np.isnan(coverage.upper_limit(obs, 10.05, 0.0).FLUX_UL.iloc[0])


def test_attach_observations_to_the_demo_release_and_export_the_moc(writable_demo_data_dir, tmp_path):
    release = writable_demo_data_dir / "releases" / "DEMO"
    (release / coverage.OBSERVATIONS_FILE).unlink()  # the shared fixture attaches it; start without
    with pytest.raises(CatalogueError, match="has no observation table"):
        coverage.load_observations(release)
    coverage.attach_observations(release, writable_demo_data_dir / "demo" / "4XMM_DEMO_observations.parquet")
    obs = coverage.load_observations(release)
    moc = coverage.footprint_moc(release)
    area = coverage.footprint_area_deg2(moc)
    assert 0 < area <= len(obs) * _cap_deg2(R) * 1.03
    for name in ("fp.fits", "fp.json"):
        coverage.write_moc(moc, tmp_path / name)
        back = MOC.from_fits(tmp_path / name) if name.endswith("fits") else MOC.load(tmp_path / name, "json")
        assert coverage.footprint_area_deg2(back) == pytest.approx(area)
    ra, dec = obs.RA_PNT.iloc[0], obs.DEC_PNT.iloc[0]
    assert moc.contains_lonlat(ra * coverage.u.deg, dec * coverage.u.deg)[0]
    assert obs.OBS_ID.iloc[0] in set(coverage.observations_covering(release, ra, dec).OBS_ID)
    assert "observations" in (release / "release.json").read_text()
    pixels = coverage.footprint_pixels(release, order=8)
    assert pixels.size > 0 and pixels.max() < 12 * 4**8
    polys = coverage.footprint_polygons(release, "hammer")
    assert len(polys) >= len(obs)
    assert all(np.isfinite(x).all() and np.abs(x).max() <= 180 * np.sqrt(2) + 1 for x, _ in polys)


def test_attach_rejects_a_table_without_pointings(tmp_path):
    bad = tmp_path / "obs.parquet"
    pd.DataFrame({"OBS_ID": ["1"]}).to_parquet(bad)
    with pytest.raises(CatalogueError, match="missing column"):
        coverage.attach_observations(tmp_path, bad)
