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
    assert config.hips_dir() is None and hips_layer(state, sky, None) is None and sky.underlays == []
    page, _ = create_page(demo_catalogue)
    assert not [w for w in page.main.objects if "image underneath" in repr(w)]


def test_serve_passes_the_folder_and_its_route(tmp_path, monkeypatch, demo_hips):
    from app.cli import serve_command

    folder, _ = demo_hips
    monkeypatch.setenv("PANEL_COOKIE_SECRET", "s" * 48)
    monkeypatch.setenv(config.HIPS_ENV, str(folder))
    cmd = serve_command(argparse.Namespace(port=5999, address=None, num_procs=1, data_dir=tmp_path), [])
    assert cmd.count("--static-dirs") == 1
    i = cmd.index("--static-dirs")
    assert f"{config.HIPS_ROUTE}={folder}" in cmd[i + 1 : i + 3] and cmd[i + 1].startswith("xmm-static=")


class TestHipsRoute(tornado.testing.AsyncHTTPTestCase):
    """The route ``serve --hips`` adds (Panel's static route), on the demo HiPS in a folder with a secret beside it."""

    def get_app(self):
        import tempfile
        from pathlib import Path

        from panel.io.server import get_static_routes

        self.root = Path(tempfile.mkdtemp())
        (self.root / "secret.txt").write_text("not for the browser")
        folder = self.root / "exposure"
        (folder / "Norder0" / "Dir0").mkdir(parents=True)
        (folder / "properties").write_text("hips_order = 0\n")
        (folder / "Norder0" / "Dir0" / "Npix3.png").write_bytes(b"\x89PNG tile")
        from bokeh.server.auth_provider import NullAuth

        app = tornado.web.Application(get_static_routes({config.HIPS_ROUTE: str(folder)}))
        app.auth_provider = NullAuth()  # as on a Bokeh server without login (the handler asks it)
        return app

    def test_serves_tiles_and_nothing_outside_the_folder(self):
        tile = self.fetch(f"/{config.HIPS_ROUTE}/Norder0/Dir0/Npix3.png")
        assert tile.code == 200 and tile.body == b"\x89PNG tile"
        assert self.fetch(f"/{config.HIPS_ROUTE}/properties").code == 200
        for path in ("../secret.txt", "%2e%2e/secret.txt", "Norder0/../../secret.txt", "%2E%2E%2Fsecret.txt"):
            response = self.fetch(f"/{config.HIPS_ROUTE}/{path}")
            assert response.code in (403, 404), path
            assert b"not for the browser" not in response.body
