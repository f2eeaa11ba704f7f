"""Sky maps: one map written flat NESTED, flat RING and multi-order gives one credible region; bad maps one sentence."""

from __future__ import annotations

import astropy.units as u
import numpy as np
import pandas as pd
import pytest
from astropy.coordinates import SkyCoord
from astropy.io import fits

from app.cli import main
from app.query import QueryError, parse_query
from app.selection import SelectionError, SkyMapRegion, from_json, from_url
from data_loaders import projection, skymap
from data_loaders.ingest import releases_dir


@pytest.fixture(scope="module")
def maps(tmp_path_factory):
    return skymap.write_demo_maps(tmp_path_factory.mktemp("skymaps"))


def _sources(data_dir):
    return pd.read_parquet(releases_dir(data_dir) / "DEMO" / "sources.parquet")


def test_the_three_layouts_give_the_same_region_area_and_sources(maps, demo_data_dir):
    read = {k: skymap.read_skymap(p) for k, p in maps.items()}
    assert {k: m.layout for k, m in read.items()} == {"NESTED": "NESTED", "RING": "RING", "NUNIQ": "NUNIQ"}
    orders = np.unique(read["NUNIQ"].order)
    assert orders.size > 2 and len(read["NUNIQ"].uniq) < len(read["NESTED"].uniq) / 2  # truly multi-order
    release = releases_dir(demo_data_dir) / "DEMO"
    reports = {k: skymap.region_report(m, 0.9, release) for k, m in read.items()}
    areas = [r.area_deg2 for r in reports.values()]
    assert areas[0] == pytest.approx(areas[1], rel=1e-12) == pytest.approx(areas[2], rel=1e-12)
    assert 100 < areas[0] < 1000  # a few hundred deg2, as a well-localised GW event
    ids = [sorted(r.sources.SRCID) for r in reports.values()]
    assert ids[0] == ids[1] == ids[2]
    assert len(ids[0]) > 0  # the arc crosses demo fields (M31, M33)
    for r in reports.values():
        assert r.covered_fraction is not None and 0 < r.covered_fraction < 0.5
        np.testing.assert_allclose(r.sources.PROBDENSITY, reports["NESTED"].sources.PROBDENSITY, rtol=1e-12)
    assert (reports["NESTED"].sources.PROBDENSITY > 0).all()


def test_the_credible_region_is_the_densest_cells_holding_the_level(maps):
    m = skymap.read_skymap(maps["NUNIQ"])
    assert m.prob.sum() == pytest.approx(1.0)
    a50, a90 = m.area_deg2(0.5), m.area_deg2(0.9)
    assert 0 < a50 < a90
    keep = m.credible(0.9)
    held = m.prob[keep].sum()
    assert 0.9 <= held < 0.9 + m.prob[keep].max() + 1e-12  # reaches the level, one cell at most beyond it
    assert m.density[keep].min() >= m.density[~keep].max()  # nothing outside is denser than anything inside
    moc = m.credible_moc(0.9)
    assert moc.sky_fraction * 4 * np.pi * skymap.SR_TO_DEG2 == pytest.approx(a90, rel=1e-9)


def test_density_at_a_position_is_that_of_its_cell(maps):
    m = skymap.read_skymap(maps["NUNIQ"])
    flat = skymap.read_skymap(maps["RING"])
    rng = np.random.default_rng(3)
    ra, dec = rng.uniform(0, 360, 500), np.degrees(np.arcsin(rng.uniform(-1, 1, 500)))
    np.testing.assert_allclose(m.density_at(ra, dec), flat.density_at(ra, dec), rtol=1e-12)
    assert np.isnan(m.density_at(np.array([np.nan]), np.array([0.0])))[0]


def _one_sentence(exc) -> str:
    text = str(exc.value)
    assert "\n" not in text and text.endswith(".") and "Traceback" not in text
    return text


def test_bad_maps_get_one_sentence(tmp_path, maps):
    junk = tmp_path / "junk.fits"
    junk.write_text("not a FITS file at all")
    with pytest.raises(skymap.SkyMapError) as e:
        skymap.read_skymap(junk)
    assert "junk.fits is not a readable FITS sky map" in _one_sentence(e)

    noprob = tmp_path / "noprob.fits"
    fits.HDUList(
        [fits.PrimaryHDU(), fits.BinTableHDU.from_columns([fits.Column("X", "D", array=np.ones(12))])]
    ).writeto(noprob)
    with pytest.raises(skymap.SkyMapError) as e:
        skymap.read_skymap(noprob)
    assert "no table with a PROB or UNIQ column" in _one_sentence(e)

    prob = np.full(12 * 16**2, 2.0 / (12 * 16**2))
    with pytest.raises(skymap.SkyMapError) as e:
        skymap.read_skymap(skymap.write_flat(prob, tmp_path / "double.fits"))
    assert "sum to 2" in _one_sentence(e)

    with fits.open(maps["NESTED"]) as hdul:
        hdul[1].header["NSIDE"] = 100
        hdul.writeto(tmp_path / "nside.fits")
    with pytest.raises(skymap.SkyMapError) as e:
        skymap.read_skymap(tmp_path / "nside.fits")
    assert "NSIDE 100, which is not a power of two" in _one_sentence(e)

    with fits.open(maps["NESTED"]) as hdul:
        hdul[1].header["NSIDE"] = 64
        hdul.writeto(tmp_path / "short.fits")
    with pytest.raises(skymap.SkyMapError) as e:
        skymap.read_skymap(tmp_path / "short.fits")
    assert "NSIDE 64 needs" in _one_sentence(e)

    with pytest.raises(skymap.SkyMapError) as e:
        skymap.read_skymap(maps["NESTED"]).area_deg2(1.5)
    assert "between 0 and 1" in _one_sentence(e)


def test_skymap_command_prints_the_region_and_writes_the_sources(maps, demo_data_dir, tmp_path, capsys, monkeypatch):
    out = tmp_path / "inside.csv"
    assert (
        main(["--data-dir", str(demo_data_dir), "skymap", str(maps["RING"]), "--credible", "0.9", "--out", str(out)])
        == 0
    )
    text = capsys.readouterr().out
    report = skymap.region_report(skymap.read_skymap(maps["NESTED"]), 0.9, releases_dir(demo_data_dir) / "DEMO")
    assert f"{report.area_deg2:,.1f} deg2" in text and "observed by XMM-Newton" in text
    assert f"{report.n_sources:,} DEMO sources inside" in text
    table = pd.read_csv(out)
    assert {"SRCID", "SC_RA", "SC_DEC", "PROBDENSITY_sr-1", "PROBDENSITY_deg-2"} <= set(table.columns)
    assert sorted(table.SRCID) == sorted(report.sources.SRCID)
    monkeypatch.setenv("XMM_EXPLORER_SKYMAPS", str(maps["NUNIQ"].parent))  # a map of the folder, by name
    assert main(["--data-dir", str(demo_data_dir), "skymap", "S-DEMO"]) == 0
    assert capsys.readouterr().out.startswith(f"S-DEMO: 90% credible region {report.area_deg2:,.1f} deg2")
    junk = tmp_path / "junk.fits"
    junk.write_bytes(b"SIMPLE  = nonsense")
    assert main(["--data-dir", str(demo_data_dir), "skymap", str(junk)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: junk.fits is not a readable FITS sky map") and err.count("\n") == 1


def test_the_skymap_predicate_selects_the_sources_in_the_region(maps, demo_data_dir, monkeypatch):
    monkeypatch.setenv("XMM_EXPLORER_SKYMAPS", str(maps["NESTED"].parent))
    sources = _sources(demo_data_dir)
    sel = parse_query("skymap('S-DEMO', 0.9) and sc_ep_8_flux > 0", {c: None for c in sources.columns})
    region = next(t for t in sel.terms if isinstance(t, SkyMapRegion))
    assert region == SkyMapRegion("S-DEMO", 0.9, "SC_RA", "SC_DEC")
    assert from_json(sel.to_json()) == sel and from_url(sel.to_url()) == sel
    assert "0.9 credible region of sky map 'S-DEMO'" in sel.describe()
    report = skymap.region_report(skymap.read_skymap(maps["NUNIQ"]), 0.9, releases_dir(demo_data_dir) / "DEMO")
    mask = region.evaluate(sources)
    assert sorted(sources.SRCID[mask]) == sorted(report.sources.SRCID)
    for name in ("S-DEMO-nested", "S-DEMO-ring"):
        assert (SkyMapRegion(name, 0.9, "SC_RA", "SC_DEC").evaluate(sources) == mask).all()
    with pytest.raises(QueryError, match="No sky map named 'nope'"):
        parse_query("skymap('nope')", {"RA": None, "DEC": None})
    with pytest.raises(SelectionError, match="No sky map named 'gone'"):  # a link to a map since removed
        SkyMapRegion("gone", 0.5, "SC_RA", "SC_DEC").evaluate(sources)
    with pytest.raises(QueryError, match="between 0 and 1"):
        parse_query("skymap('S-DEMO', 90)", {"RA": None, "DEC": None})
    with pytest.raises(QueryError, match="not a sky-map name"):
        parse_query("skymap('../etc/passwd')", {"RA": None, "DEC": None})


def test_explore_draws_the_contours_in_both_frames_and_keeps_the_sources_inside(maps, demo_catalogue, monkeypatch):
    from app.state import ExploreState
    from app.views.sky import SkyView
    from app.views.skymap_overlay import SkyMapControls

    monkeypatch.setenv("XMM_EXPLORER_SKYMAPS", str(maps["NESTED"].parent))
    state = ExploreState(demo_catalogue)
    sky = SkyView(state)
    controls = SkyMapControls(state, sky)
    assert set(controls.maps) == {"S-DEMO", "S-DEMO-nested", "S-DEMO-ring"} and controls.keep.disabled
    assert sky.overlays == []  # the contours join the sky when a map is first chosen (issue 19)
    controls.choice.value = "S-DEMO"
    assert sky.overlays == [controls.overlay]
    m = skymap.read_skymap(maps["NUNIQ"])
    for frame in ("icrs", "galactic"):
        state.frame = frame
        overlay = controls._contours()
        p50, p90 = (el.split() for el in overlay)
        assert len(p50) >= 1 and len(p90) >= 1
        # every outline vertex lies on the level it draws (within the 0.25-degree grid)
        for paths, level in ((p50, 0.5), (p90, 0.9)):
            xy = np.concatenate([p.array() for p in paths])
            lon, lat = projection.inverse(xy[:, 0], xy[:, 1], state.projection)
            if frame == "galactic":
                c = SkyCoord(l=lon * u.deg, b=lat * u.deg, frame="galactic").icrs
                lon, lat = c.ra.deg, c.dec.deg
            near = m.level_at(lon, lat)
            assert np.nanmedian(np.abs(near - level)) < 0.1
    controls.keep.clicks += 1
    region = state.parts["skymap"]
    assert isinstance(region, SkyMapRegion) and region.name == "S-DEMO"
    expected = skymap.region_report(m, 0.9, demo_catalogue.path)
    assert state.counts()["selected"] == expected.n_sources > 0
    assert region.to_url() in state.selection_code


def test_explore_says_so_when_there_are_no_sky_maps(demo_catalogue, tmp_path, monkeypatch):
    from app.state import ExploreState
    from app.views.sky import SkyView
    from app.views.skymap_overlay import SkyMapControls

    monkeypatch.setenv("XMM_EXPLORER_SKYMAPS", str(tmp_path))
    state = ExploreState(demo_catalogue)
    pane = SkyMapControls(state, SkyView(state)).__panel__()
    assert "No sky maps" in pane.object
