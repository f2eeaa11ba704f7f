"""The demo's HiPS (pn exposure of the demo fields): a valid HiPS 1.0 folder whose pixels are the exposure
map, drawn back onto sky canvases in both frames; folders that are not a HiPS are refused in one sentence."""

from __future__ import annotations

import re

import astropy.units as u
import numpy as np
import pytest
from astropy_healpix import HEALPix
from PIL import Image

from data_loaders import coverage, hips, projection


@pytest.fixture(scope="module")
def demo_hips(demo_data_dir, tmp_path_factory):
    obs = coverage.load_observations(demo_data_dir / "releases" / "DEMO")
    return hips.write_exposure_hips(obs, tmp_path_factory.mktemp("hips") / "exposure"), obs


def test_demo_hips_is_a_valid_hips(demo_hips):
    folder, _ = demo_hips
    props = hips.read_properties(folder)
    assert set(hips.REQUIRED_KEYS) <= set(props)
    assert props["dataproduct_type"] == "image" and props["hips_frame"] == "equatorial"
    assert props["hips_tile_format"] == "png" and props["hips_order"] == str(hips.DEMO_ORDER)
    width = int(props["hips_tile_width"])
    pattern = re.compile(r"Norder(\d+)/Dir(\d+)/Npix(\d+)\.png")
    orders = set()
    for path in folder.rglob("*.png"):
        m = pattern.fullmatch(path.relative_to(folder).as_posix())
        assert m, path
        order, d, npix = map(int, m.groups())
        assert d == npix // 10000 * 10000 and npix < 12 * 4**order
        orders.add(order)
        with Image.open(path) as img:
            assert img.size == (width, width) and img.mode == "RGBA"
    assert orders == set(range(int(props["hips_order_min"]), hips.DEMO_ORDER + 1))


def test_demo_hips_pixels_are_the_exposure_map(demo_hips):
    """Tile pixels, read through the HiPS layout, against the exposure summed directly from the fields."""
    folder, obs = demo_hips
    props = hips.read_properties(folder)
    top = float(props["hips_pixel_cut"].split()[1])
    width = int(props["hips_tile_width"])
    shift = int(np.log2(width))
    order = hips.DEMO_ORDER
    grid = HEALPix(nside=2 ** (order + shift), order="nested")
    rng = np.random.default_rng(3)
    picked = obs.sample(5, random_state=3)
    checked = covered = 0
    for ra0, dec0 in zip(picked["RA_PNT"], picked["DEC_PNT"], strict=True):
        # points in and around the field, so both covered and uncovered pixels are checked
        ra = ra0 + rng.uniform(-0.4, 0.4, 40) / np.cos(np.radians(dec0))
        dec = dec0 + rng.uniform(-0.4, 0.4, 40)
        ipix = np.asarray(grid.lonlat_to_healpix(ra * u.deg, dec * u.deg))
        clon, clat = grid.healpix_to_lonlat(ipix)
        for pix, lon, lat in zip(ipix, clon.deg, clat.deg, strict=True):
            expected = coverage.observations_covering(obs, lon, lat)["PN_ONTIME"].fillna(0).sum() / 1e3
            tile = hips.tile_path(order, int(pix) >> (2 * shift), "png")
            col, row = hips.tile_xy(np.array([int(pix) & (width * width - 1)]))
            path = folder / tile
            if not path.exists():
                assert expected == 0
                continue
            with Image.open(path) as img:
                rgba = np.flipud(np.asarray(img))[row[0], col[0]]  # PNG rows run top-down
            if expected > 0:
                covered += 1
                assert rgba[3] == 255 and rgba[0] == hips.exposure_level(expected, top)
            else:
                assert rgba[3] == 0
            checked += 1
    assert checked > 100 and covered > 20


@pytest.mark.parametrize("frame", ["icrs", "galactic"])
def test_sky_image_draws_the_tiles_under_a_zoomed_view(demo_hips, frame):
    folder, obs = demo_hips
    layer = hips.open_hips(str(folder))
    ra0, dec0 = float(obs["RA_PNT"].iloc[0]), float(obs["DEC_PNT"].iloc[0])
    lon, lat = coverage.from_icrs([ra0], [dec0], frame)
    x, y = (float(v[0]) for v in projection.forward(lon, lat, "hammer"))
    img = layer.sky_image(frame, "hammer", (x - 1, x + 1), (y - 0.5, y + 0.5), 200, 100)
    assert img.shape == (100, 200, 4)
    centre = img[50, 100]
    expected = coverage.observations_covering(obs, ra0, dec0)["PN_ONTIME"].fillna(0).sum() / 1e3
    top = float(layer.properties["hips_pixel_cut"].split()[1])
    assert centre[3] == 255 and abs(int(centre[0]) - int(hips.exposure_level(expected, top))) <= 1
    assert (img[..., 3] == 0).any()  # outside the 15' field: transparent
    # a whole-sky view is drawn from the coarsest tiles
    assert layer.draw_order(3.0) == 0 and layer.draw_order(1e-4) == hips.DEMO_ORDER


def test_folders_that_are_not_a_hips_are_refused_in_one_sentence(tmp_path):
    with pytest.raises(hips.HipsError, match="no 'properties' file"):
        hips.read_properties(tmp_path)
    (tmp_path / "properties").write_text("obs_title = x\nhips_frame = equatorial\n")
    with pytest.raises(hips.HipsError, match="lack creator_did.*required by HiPS 1.0"):
        hips.read_properties(tmp_path)


def test_fits_tiles_are_drawn_through_the_pixel_cut(tmp_path):
    """An operator's HiPS of FITS tiles: grey through hips_pixel_cut, blank at the cut's floor."""
    from astropy.io import fits

    props = {k: "x" for k in hips.REQUIRED_KEYS}
    props.update(hips_tile_format="fits", hips_order="0", hips_frame="galactic", hips_tile_width="8")
    props["hips_pixel_cut"] = "0 10"
    (tmp_path / "properties").write_text("".join(f"{k} = {v}\n" for k, v in props.items()))
    for npix in range(12):
        path = tmp_path / hips.tile_path(0, npix, "fits")
        path.parent.mkdir(parents=True, exist_ok=True)
        fits.PrimaryHDU(np.full((8, 8), 5.0 if npix != 4 else 0.0, dtype=np.float32)).writeto(path)
    layer = hips.Hips(tmp_path)
    assert layer.frame == "galactic" and layer.ext == "fits"
    img = layer.sky_image("galactic", "hammer", (-1, 1), (-1, 1), 10, 10)  # at l=0, b=0: base pixel 4
    assert (img[..., 3] == 0).all()
    img = layer.sky_image("galactic", "hammer", (-1, 1), (60, 62), 10, 10)  # b=60: base pixels 0 and 3
    assert (img[..., 3] == 255).all() and (img[..., 0] == 127).all()


def test_a_service_is_drawn_through_the_bounded_disk_cache(demo_hips, tmp_path):
    """A HiPS service (here the demo HiPS on a loopback HTTP server): drawn as the folder is, each tile
    fetched once into the cache, which stays under its bound; only tiles of the HiPS are ever asked for."""
    from tests.loopback import serve_folder

    folder, obs = demo_hips
    ra0, dec0 = float(obs["RA_PNT"].iloc[0]), float(obs["DEC_PNT"].iloc[0])
    x, y = (float(v[0]) for v in projection.forward([ra0], [dec0], "hammer"))
    view = ("icrs", "hammer", (x - 1, x + 1), (y - 0.5, y + 0.5), 200, 100)
    local = hips.Hips(folder)
    with serve_folder(folder) as (url, requests):
        remote = hips.Hips(url + "/", tmp_path / "cache", fresh=True)
        assert remote.source == url and remote.properties == local.properties
        np.testing.assert_array_equal(remote.sky_image(*view), local.sky_image(*view))
        fetched = [r for r in requests if r != "/properties"]
        assert fetched and all(re.fullmatch(r"/Norder\d/Dir0/Npix\d+\.png", r) for r in fetched)
        again = hips.Hips(url, tmp_path / "cache")  # another process: properties and tiles from the cache
        n = len(requests)
        np.testing.assert_array_equal(again.sky_image(*view), local.sky_image(*view))
        asked = requests[n:]  # only what the service does not have (a 404 is remembered per process)
        assert all(not (folder / r.lstrip("/")).exists() for r in asked)
        n = len(requests)
        again.sky_image(*view)
        assert len(requests) == n
        # names that are not tiles of this HiPS are never fetched
        for name in ("../properties", "Norder9/Dir0/Npix1.png", "Norder0/Dir0/Npix12.png", "Norder1/Dir0/Npix1.jpg",
                     "Norder1/Dir10000/Npix1.png", "properties?x=1"):  # fmt: skip
            assert again.file(name) is None, name
        assert len(requests) == n
        # the bound: filling past it removes the least recently used tiles
        small = hips.hips_service.HipsService(url, tmp_path / "small", max_bytes=3000)
        names = [p.relative_to(folder).as_posix() for p in sorted(folder.rglob("Npix*.png"))[:40]]
        for name in names:
            assert small.get(name, "png") == (folder / name).read_bytes()
        assert 0 < small.cache_bytes() <= 3000
        assert (small.cache_dir / names[-1]).exists() and not (small.cache_dir / names[0]).exists()


def test_a_service_that_fails_is_said_in_one_sentence(demo_hips, tmp_path):
    from tests.loopback import serve_folder

    folder, _ = demo_hips
    for url, match in (
        ("ftp://example.org/hips", "not an http\\(s\\) URL"),
        ("http://127.0.0.1:9/x?y=1", "has a query"),
        ("http://127.0.0.1:9/hips", "cannot be reached"),  # port 9 (discard): refused
    ):
        with pytest.raises(hips.HipsError, match=match) as info:
            hips.Hips(url, tmp_path / "c")
        assert "\n" not in str(info.value) and str(info.value).endswith(".")
    with serve_folder(folder) as (url, requests):
        with pytest.raises(hips.HipsError, match="redirects to http://169.254.169.254/latest; configure that URL"):
            hips.Hips(url + "/moved", tmp_path / "c")
        assert not [r for r in requests if "169.254" in r]
        service = hips.Hips(url, tmp_path / "c")
        first = next(folder.rglob("Npix*.png")).relative_to(folder).as_posix()
        assert service.file(first) is not None and service.problem is None
    # the service goes away: cached tiles still draw, others are left out with one sentence, asked once
    assert service.file(first) is not None
    other = hips.tile_path(5, 7, "png")
    assert service.file(other) is None and "cannot be reached" in service.problem
    assert service.service is not None and service.service._failed_at > 0
