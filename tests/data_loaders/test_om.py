"""XMM-OM source lists (SUSS layout): read, match within position errors, filter, and the Source view's SED."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from app.cli import main
from app.query import parse_query
from app.views.source.shape import BandShape
from app.views.source.state import SourceState
from data_loaders import capabilities, om, schema
from data_loaders.catalogue import Catalogue
from tests.shown import shown


@pytest.fixture(scope="module")
def with_om(tmp_path_factory, demo_data_dir):
    """A private copy of the demo release with the demo's OM list attached through the command."""
    import shutil

    root = tmp_path_factory.mktemp("om-data")
    shutil.copytree(demo_data_dir, root / "data", ignore=shutil.ignore_patterns("*.db*", "server-*.log"))
    release = root / "data" / "releases" / "DEMO"
    sources = pd.read_parquet(release / schema.SOURCES_FILE)
    listed = om.demo_om(sources, seed=5)
    path = om.write_om_fits(listed, root / "suss.fits")
    assert main(["--data-dir", str(root / "data"), "om", str(path), "--release", "DEMO"]) == 0
    return release, listed, path


def test_the_demo_list_reads_back_with_units_and_matches_its_x_ray_sources(with_om):
    release, listed, path = with_om
    from astropy.table import Table

    t = Table.read(path)
    assert str(t["POSERR"].unit) == "arcsec" and str(t["UVW1_AB_MAG"].unit) == "mag" and str(t["RA"].unit) == "deg"
    back = om.read_om(path)
    assert len(back) == len(listed)
    np.testing.assert_allclose(back["UVW1_AB_MAG"], listed["UVW1_AB_MAG"])
    matched = pd.read_parquet(release / om.OM_FILE)
    # every counterpart was placed within the errors (Gaussian): at 3 sigma nearly all are found again
    assert len(matched) >= 0.95 * len(listed)
    assert matched["SRCID"].is_unique and (matched["OM_SEP"] < 15).all()
    by_num = listed.set_index("SRCNUM")
    got = matched.set_index("OM_SRCNUM")
    np.testing.assert_allclose(got["OM_UVW2_AB_MAG"], by_num.loc[got.index, "UVW2_AB_MAG"])
    np.testing.assert_array_equal(got["OM_V_QUALITY_FLAG"], by_num.loc[got.index, "V_QUALITY_FLAG"])


def test_match_takes_the_nearest_within_the_combined_errors():
    sources = pd.DataFrame({"SRCID": [1, 2], "SC_RA": [10.0, 20.0], "SC_DEC": [0.0, 0.0], "SC_POSERR": [1.0, 1.0]})
    arcsec = 1 / 3600
    listed = pd.DataFrame(
        {"RA": [10.0 + 2 * arcsec, 10.0 + 1 * arcsec, 20.0 + 6 * arcsec], "DEC": [0.0, 0.0, 0.0],
         "POSERR": [1.0, 1.0, 1.0], "SRCNUM": [7, 8, 9], "U_AB_MAG": [19.0, 20.0, 21.0]}
    )  # fmt: skip
    matched = om.match_om(sources, listed)
    # source 1: nearest (1") of two within 3*sqrt(2)=4.2"; source 2: 6" is beyond 4.2"
    assert list(matched.SRCID) == [1] and list(matched.OM_SRCNUM) == [8]
    assert matched.OM_SEP.iloc[0] == pytest.approx(1.0, rel=1e-3)
    assert matched.OM_U_AB_MAG.iloc[0] == 20.0


def test_om_columns_are_filterable_and_the_capability_follows_the_table(with_om, demo_catalogue):
    release, _, _ = with_om
    cat = Catalogue(release)
    assert cat.capabilities.has(capabilities.OM)
    assert not demo_catalogue.capabilities.has(capabilities.OM)
    assert "no om table" in demo_catalogue.capabilities.reason(capabilities.OM)
    cols = {c: schema.unit_of(c) for c in cat.columns("sources")}
    sel = parse_query("om_uvw1_ab_mag < 20 and om_sep < 2", cols)
    mask = sel.evaluate(cat.sources)
    m = pd.read_parquet(release / om.OM_FILE).set_index("SRCID")
    expected = set(m.index[(m.OM_UVW1_AB_MAG < 20) & (m.OM_SEP < 2)])
    assert set(cat.sources.SRCID[mask]) == expected and expected


def test_the_source_view_draws_the_om_points_beside_the_x_ray_bands(with_om, demo_catalogue):
    release, _, _ = with_om
    cat = Catalogue(release)
    m = pd.read_parquet(release / om.OM_FILE)
    srcid = int(m.SRCID[m.OM_UVW1_AB_MAG.notna()].iloc[0])
    shape = BandShape(SourceState(cat, srcid=srcid))
    data = shape.sed_figure.om_source.data
    assert "UVW1" in list(data["filter"]) and all(e < 0.01 for e in data["energy"])
    row = m[srcid == m.SRCID].iloc[0]
    i = list(data["filter"]).index("UVW1")
    assert data["density"][i] == pytest.approx(10 ** (-0.4 * (row.OM_UVW1_AB_MAG + 48.6)) * 2.417989e17, rel=1e-5)
    assert "XMM-OM counterpart" in shown(shape.note.object) and shape.sed_figure.figure.x_range.start < 0.01
    assert "&#" not in shown(shape.note.object)  # escaped once, at the pane
    # a release without an OM table says so in one line, and draws no OM point
    other = BandShape(SourceState(demo_catalogue, srcid=srcid))
    assert len(other.sed_figure.om_source.data["filter"]) == 0 and "no om table" in shown(other.note.object)


def test_bad_om_lists_get_one_sentence(tmp_path):
    junk = tmp_path / "junk.fits"
    junk.write_text("nothing here")
    with pytest.raises(om.OmError, match=r"^junk.fits is not a readable FITS or Parquet OM source list"):
        om.read_om(junk)
    nomag = tmp_path / "nomag.parquet"
    pd.DataFrame({"RA": [1.0], "DEC": [2.0], "POSERR": [1.0]}).to_parquet(nomag)
    with pytest.raises(om.OmError) as e:
        om.read_om(nomag)
    text = str(e.value)
    assert "is not an XMM-OM (SUSS) source list: it lacks a <filter>_AB_MAG column" in text and "\n" not in text
    noerr = tmp_path / "nopos.parquet"
    pd.DataFrame({"RA": [1.0], "U_AB_MAG": [20.0]}).to_parquet(noerr)
    with pytest.raises(om.OmError, match="it lacks DEC, POSERR"):
        om.read_om(noerr)


def test_om_class_and_photoz_columns_work_on_both_engines(with_om, tmp_path):
    """OM_CLASS (the list's CLASS through the one decoder) and the photoz columns filter alike on Dask."""
    from data_loaders.dask_catalogue import DaskCatalogue
    from data_loaders.photoz import attach_photoz, demo_photoz

    release, listed, _ = with_om
    matched = pd.read_parquet(release / om.OM_FILE)
    by_num = listed.set_index("SRCNUM")
    expected = schema.class_code(by_num.loc[matched.OM_SRCNUM, "CLASS"])
    np.testing.assert_array_equal(matched["OM_CLASS"], expected)
    assert set(schema.class_names(matched["OM_CLASS"], missing="—")) == {"AGN", "star", "CV", "—"}
    z_file = tmp_path / "z.parquet"
    demo_photoz(pd.read_parquet(release / schema.SOURCES_FILE), seed=3).to_parquet(z_file)
    attach_photoz(release, z_file)
    memory, dask_cat = Catalogue(release), DaskCatalogue(release)
    for level in ("sources", "detections"):
        cols = {c: schema.unit_of(c) for c in memory.columns(level)}
        assert {"OM_CLASS", "OM_SEP", "PHOTO_Z", "LOG_LX"} <= set(dask_cat.columns(level))
        sel = parse_query("om_class == 1 or (photo_z > 0.5 and log_lx > 43) or om_uvw1_ab_mag < 19", cols)
        a, b = memory.select(level, sel), dask_cat.select(level, sel)
        assert a.count() == b.count() > 0
        np.testing.assert_array_equal(np.sort(a.srcids()), np.sort(b.srcids()))
    srcid = int(matched.SRCID.iloc[0])
    assert dask_cat.source_row(srcid)["OM_CLASS"] == memory.source_row(srcid)["OM_CLASS"] == matched.OM_CLASS.iloc[0]


def test_a_class_column_reads_as_codes_of_the_one_class_list():
    assert list(schema.class_code(["AGN", " Star ", "cv", "", "quasar", 0, 6, 7, None, 2.5])) == [
        0, 1, 3, -1, -1, 0, 6, -1, -1, -1
    ]  # fmt: skip


def test_the_source_header_line_gathers_what_the_release_knows(with_om, tmp_path):
    """Class, five-band fit, redshift, OM, counterpart and sky-map region of one source from the real tables."""
    from app.views.source.known import known_line, source_facts
    from data_loaders import skymap
    from data_loaders.photoz import attach_photoz

    release, _, _ = with_om
    matched = pd.read_parquet(release / om.OM_FILE)
    cat = Catalogue(release)
    have_fit = cat.sources.set_index("SRCID")["PL_GAMMA"].notna()
    srcid = int(next(s for s in matched.SRCID[matched.OM_UVW1_AB_MAG.notna()] if have_fit.get(s, False)))
    pd.DataFrame({"SRCID": [srcid], "PHOTO_Z": [0.5], "PHOTO_Z_LO": [0.4], "PHOTO_Z_HI": [0.6]}).to_parquet(
        tmp_path / "z.parquet"
    )
    attach_photoz(release, tmp_path / "z.parquet")
    row = cat.source_row(srcid)
    prob = skymap.banana_map(row.SC_RA, row.SC_DEC, row.SC_RA + 2, row.SC_DEC + 1, nside=64)
    (tmp_path / "maps").mkdir()
    skymap.write_flat(prob, tmp_path / "maps" / "GW-TEST.fits")
    line = known_line(source_facts(Catalogue(release), srcid, skymap_folder=tmp_path / "maps"))
    assert "five-band fit Γ = " in line and "photometric z = 0.50 (0.40–0.60)" in line
    assert " · OM " in line and "UVW1 " in line and " AB" in line and "inside the 50% region of GW-TEST" in line
    has_cp = cat.counterparts is not None and srcid in set(cat.counterparts.SRCID)
    assert ("best counterpart" in line) == has_cp
    has_class = cat.classifications is not None and srcid in set(cat.classifications.SRCID)
    assert ("(machine, " in line) == has_class
