"""Photometric redshifts: joined by SRCID or position, the rest-frame luminosity, filters, the Source view line."""

from __future__ import annotations

import html
import shutil

import astropy.units as u
import numpy as np
import pandas as pd
import pytest
from astropy.cosmology import Planck18
from astropy.table import Table

from app.cli import main
from app.query import parse_query
from app.views.source.shape import BandShape
from app.views.source.state import SourceState
from data_loaders import capabilities, photoz, schema
from data_loaders.catalogue import Catalogue


@pytest.fixture(scope="module")
def release(tmp_path_factory, demo_data_dir):
    root = tmp_path_factory.mktemp("z-data")
    shutil.copytree(demo_data_dir, root / "data", ignore=shutil.ignore_patterns("*.db*", "server-*.log"))
    return root / "data" / "releases" / "DEMO"


def test_by_srcid_through_the_command_with_the_luminosity_of_the_formula(release, tmp_path):
    sources = pd.read_parquet(release / schema.SOURCES_FILE)
    table = photoz.demo_photoz(sources, seed=3)
    path = tmp_path / "z.fits"
    t = Table.from_pandas(table)
    t.write(path)
    assert main(["--data-dir", str(release.parent.parent), "photoz", str(path), "--release", "DEMO"]) == 0
    joined = pd.read_parquet(release / photoz.PHOTOZ_FILE)
    assert sorted(joined.SRCID) == sorted(table.SRCID)
    row = joined.iloc[0]
    src = sources.set_index("SRCID").loc[row.SRCID]
    gamma = src["PL_GAMMA"] if "PL_GAMMA" in src and np.isfinite(src["PL_GAMMA"]) else 1.9
    assert pytest.approx(gamma) == row.LX_GAMMA and bool(row.LX_GAMMA_FITTED) == ("PL_GAMMA" in src and gamma != 1.9)
    expected = (
        4 * np.pi * Planck18.luminosity_distance(row.PHOTO_Z).to_value(u.cm) ** 2 * src["SC_EP_8_FLUX"]
        * (1 + row.PHOTO_Z) ** (gamma - 2)
    )  # fmt: skip
    assert pytest.approx(expected, rel=1e-9) == row.LX and pytest.approx(np.log10(expected)) == row.LOG_LX
    assert row.LX_ABSORPTION == "observed"


def test_photon_index_fitted_where_present_else_1_9():
    sources = pd.DataFrame({"SRCID": [1, 2], "SC_EP_8_FLUX": [1e-14, 1e-14], "PL_GAMMA": [1.4, np.nan]})
    joined = pd.DataFrame({"SRCID": [1, 2], "PHOTO_Z": [1.0, 1.0], "PHOTO_Z_LO": [0.9, 0.9], "PHOTO_Z_HI": [1.1, 1.1]})
    out = photoz.with_luminosity(joined, sources)
    assert list(out.LX_GAMMA) == [1.4, 1.9] and list(out.LX_GAMMA_FITTED) == [True, False]
    assert out.LX[0] / out.LX[1] == pytest.approx(2 ** (1.4 - 1.9))
    assert "fitted Γ = 1.40" in photoz.summary(out.iloc[0]) and "Γ = 1.9 assumed" in photoz.summary(out.iloc[1])
    assert "not absorption-corrected" in photoz.summary(out.iloc[1])


def test_by_position_takes_the_nearest_source_within_the_errors():
    sources = pd.DataFrame({"SRCID": [1, 2], "SC_RA": [10.0, 10.01], "SC_DEC": [0.0, 0.0], "SC_POSERR": [1.0, 1.0]})
    table = pd.DataFrame(
        {"RA": [10.0 + 1 / 3600, 10.01 + 10 / 3600], "DEC": [0.0, 0.0], "PHOTO_Z": [0.5, 2.0],
         "PHOTO_Z_LO": [0.4, 1.8], "PHOTO_Z_HI": [0.6, 2.2]}
    )  # fmt: skip
    joined = photoz.join_photoz(sources, table)
    assert list(joined.SRCID) == [1] and list(joined.PHOTO_Z) == [0.5]  # 10" is beyond 3x1"


def test_filter_and_the_source_view_line(release, demo_catalogue):
    cat = Catalogue(release)
    assert cat.capabilities.has(capabilities.PHOTOZ) and not demo_catalogue.capabilities.has(capabilities.PHOTOZ)
    sel = parse_query("log_lx > 43 and photo_z < 2", {c: None for c in cat.columns("sources")})
    z = pd.read_parquet(release / photoz.PHOTOZ_FILE)
    expected = set(z.SRCID[(z.LOG_LX.astype(np.float32) > 43) & (z.PHOTO_Z.astype(np.float32) < 2)])
    assert set(cat.sources.SRCID[sel.evaluate(cat.sources)]) == expected and expected
    srcid = int(z.SRCID.iloc[0])
    line = html.unescape(BandShape(SourceState(cat, srcid=srcid)).redshift.object)
    assert f"z = {z.PHOTO_Z.iloc[0]:.3f}" in line and "erg/s" in line and "Planck18" in line
    assert "no photoz table" in BandShape(SourceState(demo_catalogue, srcid=srcid)).redshift.object


def test_bad_redshift_tables_get_one_sentence(tmp_path):
    junk = tmp_path / "junk.fits"
    junk.write_text("nope")
    with pytest.raises(photoz.PhotozError, match=r"^junk.fits is not a readable FITS, Parquet or CSV redshift table"):
        photoz.read_photoz(junk)
    noz = tmp_path / "noz.csv"
    pd.DataFrame({"SRCID": [1], "REDSHIFT": [0.3]}).to_csv(noz, index=False)
    with pytest.raises(photoz.PhotozError, match="noz.csv has no PHOTO_Z column"):
        photoz.read_photoz(noz)
    nobody = tmp_path / "nobody.csv"
    pd.DataFrame({"Z": [0.3], "Z_LO": [0.2], "Z_HI": [0.4]}).to_csv(nobody, index=False)
    with pytest.raises(photoz.PhotozError, match="names no source: give a SRCID column or RA and DEC"):
        photoz.read_photoz(nobody)
    outside = tmp_path / "outside.csv"
    pd.DataFrame({"SRCID": [1], "Z": [0.3], "Z_LO": [0.4], "Z_HI": [0.5]}).to_csv(outside, index=False)
    with pytest.raises(photoz.PhotozError, match="outside their PHOTO_Z_LO..PHOTO_Z_HI interval"):
        photoz.read_photoz(outside)


def test_the_sky_colours_by_luminosity_or_says_why_not(release, demo_catalogue):
    from app.state import ExploreState
    from app.views.sky import SkyView

    state = ExploreState(Catalogue(release), colour_by="lx")
    view = SkyView(state)
    el = view._image(x_range=None, y_range=None, width=300, height=150)
    assert (np.asarray(el.dimension_values(2)) > 0).sum() > 5 and view._kind[1] == "bgy"
    assert "mean log L_X" in html.unescape(view.legend_html())
    bare = ExploreState(demo_catalogue, colour_by="lx")
    bare_view = SkyView(bare)
    bare_view._image(x_range=None, y_range=None, width=300, height=150)
    assert "no photoz table" in html.unescape(bare_view.legend_html()) and bare_view._kind[1] != "bgy"
