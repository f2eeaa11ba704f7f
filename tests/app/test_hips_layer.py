"""The HiPS background of the Explore sky: on a configured folder it is drawn under the sky when zoomed in
(both frames) and is absent otherwise; with none configured the page has no layer and no control; the
server's /hips/ route hands out the folder's files and nothing outside it."""

from __future__ import annotations

import argparse

import pytest
import tornado.testing
import tornado.web

from app import config
from app.plots.sky import full_extent, to_rgba
from app.state import ExploreState
from app.views.hips import MAX_FOV_DEG, HipsLayer, hips_layer
from app.views.sky import SkyView
from data_loaders import coverage, hips, projection


@pytest.fixture(scope="module")
def demo_hips(demo_data_dir, tmp_path_factory):
    obs = coverage.load_observations(demo_data_dir / "releases" / "DEMO")
    return hips.write_exposure_hips(obs, tmp_path_factory.mktemp("hips-layer") / "exposure"), obs


@pytest.mark.parametrize("frame", ["icrs", "galactic"])
def test_layer_draws_under_the_sky_only_when_zoomed_in(demo_catalogue, demo_hips, frame):
    folder, obs = demo_hips
    state = ExploreState(demo_catalogue)
    state.frame = frame
    sky = SkyView(state)
    layer = hips_layer(state, sky, folder)
    assert isinstance(layer, HipsLayer) and sky.underlays == [layer.underlay]
    lon, lat = coverage.from_icrs([obs["RA_PNT"].iloc[0]], [obs["DEC_PNT"].iloc[0]], frame)
    x, y = (float(v[0]) for v in projection.forward(lon, lat, state.projection))
    zoomed = ((x - 1.0, x + 1.0), (y - 0.5, y + 0.5))
    alpha = to_rgba(layer.image(zoomed))[..., 3]
    assert alpha.shape[1] > 100 and alpha.any() and not alpha.all()  # the field, and sky around it
    assert not to_rgba(layer.image(full_extent(state.projection)))[..., 3].any()  # whole sky: nothing
    wide = ((x - MAX_FOV_DEG, x + MAX_FOV_DEG), (y - 1, y + 1))
    assert layer.image(wide).shape == (2, 2)
    layer.toggle.value = False
    assert not to_rgba(layer.image(zoomed))[..., 3].any()
    # the composed sky puts the HiPS first (below the datashaded image)
    element = sky._compose()
    assert element.callback.inputs[0] is layer.underlay or layer.underlay in _layers(element)


def _layers(dmap):
    found, todo = [], [dmap]
    while todo:
        d = todo.pop()
        found.append(d)
        todo.extend(getattr(getattr(d, "callback", None), "inputs", []))
    return found


def test_no_folder_no_layer(demo_catalogue, monkeypatch):
    from layouts.explore import create_page

    monkeypatch.delenv(config.HIPS_ENV, raising=False)
    state = ExploreState(demo_catalogue)
    sky = SkyView(state)
    assert config.hips_source() is None and config.hips() is None
    assert hips_layer(state, sky, None) is None and sky.underlays == []
    page, _ = create_page(demo_catalogue)
    assert not [w for w in page.main.objects if "image underneath" in repr(w)]


def test_serve_passes_the_hips_and_its_route(tmp_path, monkeypatch, demo_hips):
    from app.cli import serve_command

    folder, _ = demo_hips
    monkeypatch.setenv("PANEL_COOKIE_SECRET", "s" * 48)
    args = argparse.Namespace(port=5999, address=None, num_procs=1, data_dir=tmp_path)
    monkeypatch.delenv(config.HIPS_ENV, raising=False)
    assert "app.hips_route" not in serve_command(args, [])
    monkeypatch.setenv(config.HIPS_ENV, str(folder))
    cmd = serve_command(args, [])
    assert cmd.count("--static-dirs") == 1 and "app.hips_route" in cmd
    assert not [c for c in cmd if str(folder) in c]  # read by the route, not a static folder


def test_a_service_layer_says_when_the_service_fails(demo_catalogue, demo_hips, tmp_path, monkeypatch):
    """A layer on a service: drawn like the folder's; when the service stops answering, the tiles not
    cached are left out and one sentence under the checkbox says why."""
    from tests.loopback import serve_folder

    folder, obs = demo_hips
    monkeypatch.setenv(config.DATA_ENV, str(tmp_path))
    state = ExploreState(demo_catalogue)
    x, y = (float(v[0]) for v in projection.forward(obs["RA_PNT"].iloc[:1], obs["DEC_PNT"].iloc[:1], "hammer"))
    with serve_folder(folder) as (url, _):
        layer = hips_layer(state, SkyView(state), url)
        layer._redraw(((x - 1.0, x + 1.0), (y - 0.5, y + 0.5)))  # no served session: computed now
        assert to_rgba(layer.image(((x - 1.0, x + 1.0), (y - 0.5, y + 0.5))))[..., 3].any()
        assert not layer.note.visible and (tmp_path / "hips-cache").is_dir()
    far = ((-x - 1.0, -x + 1.0), (-y - 0.5, -y + 0.5))
    layer.hips.tile.cache_clear()
    layer.hips.service._missing.clear()
    layer._redraw(far)
    assert layer.note.visible and "cannot be reached" in layer.note.object and "left out" in layer.note.object


class TestHipsRoute(tornado.testing.AsyncHTTPTestCase):
    """The route ``serve --hips`` adds (app.hips_route): the demo HiPS's files from a folder with a secret
    beside it, then from a loopback service; only tiles the HiPS can have are read or fetched."""

    def get_app(self):
        import os
        import tempfile
        from pathlib import Path

        from bokeh.server.auth_provider import NullAuth

        from app import hips_route

        self.root = Path(tempfile.mkdtemp())
        (self.root / "secret.txt").write_text("not for the browser")
        self.folder = self.root / "exposure"
        (self.folder / "Norder0" / "Dir0").mkdir(parents=True)
        props = {k: "x" for k in hips.REQUIRED_KEYS}
        props.update(hips_tile_format="png", hips_order="0", hips_frame="equatorial", hips_tile_width="8")
        (self.folder / "properties").write_text("".join(f"{k} = {v}\n" for k, v in props.items()))
        (self.folder / "Norder0" / "Dir0" / "Npix3.png").write_bytes(b"\x89PNG\r\n\x1a\n tile")
        self._env = {k: os.environ.get(k) for k in (config.HIPS_ENV, config.DATA_ENV)}
        os.environ[config.HIPS_ENV], os.environ[config.DATA_ENV] = str(self.folder), str(self.root / "data")
        app = tornado.web.Application(hips_route.ROUTES)
        app.auth_provider = NullAuth()  # as on a Bokeh server without login (the handler asks it)
        return app

    def tearDown(self):
        import os

        for k, v in self._env.items():
            os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)
        super().tearDown()

    def _check(self):
        tile = self.fetch(f"/{config.HIPS_ROUTE}/Norder0/Dir0/Npix3.png")
        assert (
            tile.code == 200 and tile.body == b"\x89PNG\r\n\x1a\n tile" and tile.headers["Content-Type"] == "image/png"
        )
        assert self.fetch(f"/{config.HIPS_ROUTE}/properties").code == 200
        for path in ("../secret.txt", "%2e%2e/secret.txt", "Norder0/../../secret.txt", "%2E%2E%2Fsecret.txt",
                     "Norder0/Dir0/Npix12.png", "Norder1/Dir0/Npix3.png", "Norder0/Dir10000/Npix3.png",
                     "Norder0/Dir0/Npix3.jpg", "Norder0/Dir0/Npix4.png"):  # fmt: skip
            response = self.fetch(f"/{config.HIPS_ROUTE}/{path}")
            assert response.code in (403, 404), path
            assert b"not for the browser" not in response.body

    def test_serves_the_folders_tiles_and_nothing_else(self):
        self._check()

    def test_serves_a_services_tiles_through_this_server(self):
        import os

        from tests.loopback import serve_folder

        with serve_folder(self.folder) as (url, requests):
            os.environ[config.HIPS_ENV] = url
            self._check()
            assert sorted(set(requests)) == ["/Norder0/Dir0/Npix3.png", "/Norder0/Dir0/Npix4.png", "/properties"]
        # the service is gone: the cached tile still comes, another one is 502 with one sentence
        assert self.fetch(f"/{config.HIPS_ROUTE}/Norder0/Dir0/Npix3.png").code == 200
        gone = self.fetch(f"/{config.HIPS_ROUTE}/Norder0/Dir0/Npix5.png")
        assert gone.code == 502 and b"cannot be reached" in gone.body and b"Traceback" not in gone.body
