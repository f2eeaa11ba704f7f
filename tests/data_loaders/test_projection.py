"""Projections against astropy: WCS AIT/MOL forward, SkyCoord separations for true Aitoff, inverses."""

import numpy as np
import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.wcs import WCS

from data_loaders import projection


@pytest.fixture(scope="module")
def sky_points():
    rng = np.random.default_rng(7)
    lon = rng.uniform(0, 360, 20_000)
    lat = np.degrees(np.arcsin(rng.uniform(-1, 1, 20_000)))
    return lon, lat


def wcs_for(code: str) -> WCS:
    w = WCS(naxis=2)
    w.wcs.ctype = [f"RA---{code}", f"DEC--{code}"]
    w.wcs.crval = [0, 0]
    w.wcs.cdelt = [-1, 1]  # RA increasing to the left
    w.wcs.crpix = [1, 1]
    return w


@pytest.mark.parametrize(("proj", "code"), [("hammer", "AIT"), ("mollweide", "MOL")])
def test_forward_matches_astropy_wcs(sky_points, proj, code):
    lon, lat = sky_points
    px, py = wcs_for(code).wcs_world2pix(lon, lat, 0)
    x, y = projection.forward(lon, lat, proj)
    assert np.nanmax(np.abs(px - x)) < 1e-8
    assert np.nanmax(np.abs(py - y)) < 1e-8


def test_true_aitoff_is_half_width_azimuthal_equidistant(sky_points):
    """Aitoff: (x/2, y) is the azimuthal-equidistant image of (lon/2, lat); check against SkyCoord."""
    lon, lat = sky_points
    x, y = projection.forward(lon, lat, "aitoff")
    half = SkyCoord(projection.wrap_longitude(lon) / 2 * u.deg, lat * u.deg)
    rho = half.separation(SkyCoord(0 * u.deg, 0 * u.deg)).deg
    assert np.allclose(np.hypot(x / 2, y), rho, atol=1e-8)


@pytest.mark.parametrize("proj", projection.PROJECTIONS)
def test_inverse_round_trip_sub_arcsecond(sky_points, proj):
    lon, lat = sky_points
    x, y = projection.forward(lon, lat, proj)
    lon2, lat2 = projection.inverse(x.astype(np.float32), y.astype(np.float32), proj)
    sep = SkyCoord(lon * u.deg, lat * u.deg).separation(SkyCoord(lon2 * u.deg, lat2 * u.deg)).arcsec
    # float32 storage of the plane coordinates costs at most ~0.04"; the maths itself ~1e-9".
    assert np.nanmax(sep) < 0.2
    lon3, lat3 = projection.inverse(x, y, proj)
    sep64 = SkyCoord(lon * u.deg, lat * u.deg).separation(SkyCoord(lon3 * u.deg, lat3 * u.deg)).arcsec
    assert np.nanmax(sep64) < 1e-3
    assert not np.isnan(lon3).any()


@pytest.mark.parametrize("proj", projection.PROJECTIONS)
def test_ra_increases_to_the_left_and_outside_is_nan(proj):
    x, _ = projection.forward(np.array([10.0, 20.0]), np.array([0.0, 0.0]), proj)
    assert x[1] < x[0] < 0
    lon, lat = projection.inverse(np.array([500.0]), np.array([500.0]), proj)
    assert np.isnan(lon[0]) and np.isnan(lat[0])


def test_nan_positions_project_to_nan():
    x, y = projection.forward(np.array([np.nan, 10.0]), np.array([0.0, np.nan]), "hammer")
    assert np.isnan(x).all() and np.isnan(y).all()


def test_graticule_labels_cover_ra_hours():
    lines, labels = projection.graticule("hammer")
    lon_labels = sorted(round(v) for _, _, v, k in labels if k == "lon")
    assert lon_labels == [0, 30, 60, 90, 120, 150, 210, 240, 270, 300, 330]
    assert len(lines) == 13 + 5
