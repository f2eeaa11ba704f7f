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


@pytest.fixture
def demo_release(demo_data_dir):
    return demo_data_dir / "releases" / "DEMO"


def _dilate(mask: np.ndarray, px: int) -> np.ndarray:
    from scipy.ndimage import binary_dilation

    return binary_dilation(mask, np.ones((3, 3), bool), iterations=px)


def _check_raster_against_moc(moc, obs, frame, proj, x_range, y_range, width=400, height=200):
    """The drawn footprint agrees with the MOC itself, pixel by pixel (to a pixel), and holds every pointing."""
    img, order = coverage.footprint_raster(moc, frame, proj, x_range, y_range, width, height)
    assert img.shape == (height, width) and set(np.unique(img)) <= {0, 1, 2}
    drawn = img > 0
    # The MOC itself, looked up at 4 x 4 points per pixel: a pixel touches the footprint if any is inside.
    sub = coverage._pixel_lookup(moc, frame, proj, x_range, y_range, width * 4, height * 4)
    touched = sub.reshape(height, 4, width, 4).any(axis=(1, 3))
    assert touched.any() and drawn.any()
    assert not (touched & ~_dilate(drawn, 1)).any(), "a covered pixel is not drawn"
    assert not (drawn & ~_dilate(touched, 1)).any(), "a pixel is drawn where the MOC has nothing"
    lon, lat = coverage.from_icrs(obs.RA_PNT.to_numpy(), obs.DEC_PNT.to_numpy(), frame)
    x, y = coverage.projection.forward(lon, lat, proj)
    (x0, x1), (y0, y1) = x_range, y_range
    ix = np.floor((x - x0) / (x1 - x0) * width).astype(int)
    iy = np.floor((y - y0) / (y1 - y0) * height).astype(int)
    ok = (ix >= 0) & (ix < width) & (iy >= 0) & (iy < height)
    assert ok.any() and _dilate(drawn, 1)[iy[ok], ix[ok]].all(), "a pointing centre is not drawn (to a pixel)"
    return img, order


@pytest.mark.parametrize("proj", ["hammer", "mollweide"])
def test_footprint_raster_shows_the_moc_in_both_frames(demo_release, proj):
    from app.plots.sky import full_extent

    obs = coverage.load_observations(demo_release)
    moc = coverage.footprint_moc(demo_release)
    images = {}
    for frame in ("icrs", "galactic"):
        images[frame], order = _check_raster_against_moc(moc, obs, frame, proj, *full_extent(proj))
        assert order <= 9  # the whole sky is drawn from coarse cells
    assert (images["icrs"] != images["galactic"]).any()


def test_zoomed_footprint_is_drawn_at_a_finer_order(demo_release):
    obs = coverage.load_observations(demo_release)
    moc = coverage.footprint_moc(demo_release)
    for frame in ("icrs", "galactic"):
        lon, lat = coverage.from_icrs(obs.RA_PNT.to_numpy()[:1], obs.DEC_PNT.to_numpy()[:1], frame)
        x, y = (float(v[0]) for v in coverage.projection.forward(lon, lat, "hammer"))
        img, order = _check_raster_against_moc(moc, obs, frame, "hammer", (x - 1.0, x + 1.0), (y - 0.5, y + 0.5))
        assert order >= 12 and (img == 2).any() and (img == 1).any()  # an edge around a filled field
        # Closer than the MOC's own cells (12.9"), the image is a lookup of pixel centres: inside a field, all full.
        tiny = (x - 0.002, x + 0.002), (y - 0.001, y + 0.001)
        img, _ = coverage.footprint_raster(moc, frame, "hammer", *tiny, 600, 300)
        assert (img == 1).all()


def test_frame_rotation_agrees_with_astropy():
    from astropy.coordinates import SkyCoord

    rng = np.random.default_rng(3)
    ra, dec = rng.uniform(0, 360, 200), np.degrees(np.arcsin(rng.uniform(-1, 1, 200)))
    gal = SkyCoord(ra * coverage.u.deg, dec * coverage.u.deg).galactic
    lon, lat = coverage.from_icrs(ra, dec, "galactic")
    assert np.allclose((lon - gal.l.deg + 180) % 360 - 180, 0, atol=1e-8) and np.allclose(lat, gal.b.deg, atol=1e-8)
    back_ra, back_dec = coverage.to_icrs(lon, lat, "galactic")
    sep = SkyCoord(back_ra, back_dec, unit="deg").separation(SkyCoord(ra, dec, unit="deg"))
    assert np.allclose(sep.arcsec, 0, atol=1e-6)
    assert coverage.raster_order(0.38) == 7 and coverage.raster_order(1e-6) == coverage.DEFAULT_ORDER


def test_a_small_view_over_the_skys_edge_is_drawn_by_pixel_lookup(monkeypatch):
    """No region exists for a view reaching past the projected sky; its cells were the whole MOC's at a fine order."""
    import pandas as pd

    obs = pd.DataFrame({"RA_PNT": [179.9, 10.0], "DEC_PNT": [0.0, 20.0]})
    moc = coverage.footprint_moc(obs)
    x, _ = coverage.projection.forward([179.9], [0.0], "hammer")
    view = ((float(x[0]) - 1.5, float(x[0]) + 1.5), (-0.75, 0.75))
    assert coverage.view_region("hammer", "icrs", *view, 14) is None

    def whole_moc(*args, **kwargs):
        raise AssertionError("footprint_cells called for a view with no region")

    monkeypatch.setattr(coverage, "footprint_cells", whole_moc)
    img, _ = coverage.footprint_raster(moc, "icrs", "hammer", *view, 300, 150)
    assert (img == 1).any() and (img == 2).any()  # the field's fill and its edge
