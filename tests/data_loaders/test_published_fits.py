"""Published spectral-fit tables (XMM2ATHENA layout): FITS and CSV as CDS gives them, joined per source or
detection, shown beside the five-band fit; bad files get one sentence."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from app.cli import main
from app.views.source.tables import fits_html
from data_loaders import capabilities, schema
from data_loaders.catalogue import Catalogue
from data_loaders.spectral import published
from tests.shown import shown


@pytest.fixture(scope="module")
def release(tmp_path_factory, demo_data_dir):
    root = tmp_path_factory.mktemp("fits-data")
    shutil.copytree(demo_data_dir / "releases" / "DEMO", root / "DEMO")
    return root / "DEMO"


def _table(release, n=3) -> pd.DataFrame:
    src = pd.read_parquet(release / schema.SOURCES_FILE, columns=["SRCID"]).SRCID.to_numpy()[:n]
    det = pd.read_parquet(release / schema.DETECTIONS_DIR, columns=["DETID", "SRCID"]).iloc[-1]
    return pd.DataFrame(
        {"SRCID": [*src, -1], "DETID": [-1] * n + [int(det.DETID)], "MODEL": ["PL"] * n + ["BB"],
         "NH": [0.1, 0.2, 0.3, 0.05], "NH_LO": [0.05, 0.1, 0.2, 0.01], "NH_HI": [0.2, 0.3, 0.4, 0.1],
         "GAMMA": [1.8, 2.0, 1.6, np.nan], "GAMMA_LO": [1.6, 1.9, 1.4, np.nan], "GAMMA_HI": [2.0, 2.1, 1.8, np.nan],
         "KT": [np.nan] * n + [0.4], "KT_LO": [np.nan] * n + [0.3], "KT_HI": [np.nan] * n + [0.5],
         "STAT": [40.0, 55.5, 12.0, 30.0], "DOF": [38, 50, 10, 28]}
    ), int(det.SRCID)  # fmt: skip


@pytest.mark.parametrize("suffix", [".fits", ".csv"])
def test_fits_and_csv_read_back_and_join_by_source_and_by_detection(release, tmp_path, suffix):
    table, det_srcid = _table(release)
    path = published.write_fits_table(table, tmp_path / f"fits{suffix}")
    if suffix == ".fits":
        from astropy.table import Table

        assert str(Table.read(path)["KT"].unit) == "keV" and str(Table.read(path)["NH"].unit) == "1e+22 / cm2"
    back = published.read_fits_table(path)
    np.testing.assert_allclose(back.GAMMA, table.GAMMA)
    joined = published.attach_spectral_fits(release, path)
    assert len(joined) == 4 and det_srcid in set(joined.SRCID)
    bb = joined[joined.MODEL == "BB"].iloc[0]
    assert det_srcid == bb.SRCID and pytest.approx(0.4) == bb.KT
    cat = Catalogue(release)
    assert cat.capabilities.has(capabilities.SPECTRAL_FITS) and len(cat.spectral_fits) == 4


def test_the_source_view_shows_them_beside_the_five_band_fit():
    row = pd.Series({"PL_GAMMA": 1.9, "PL_GAMMA_ERR_LO": 0.1, "PL_GAMMA_ERR_HI": 0.2, "PL_NH": 0.01,
                     "PL_NH_ERR_LO": 0.005, "PL_NH_ERR_HI": 0.02, "PL_FIT_STAT": 3.2, "PL_FIT_DOF": 2})  # fmt: skip
    fits = pd.DataFrame({"SRCID": [1], "DETID": [-1], "MODEL": ["<b>PL</b>"], "NH": [0.1], "NH_LO": [0.05],
                         "NH_HI": [0.2], "GAMMA": [1.8], "GAMMA_LO": [1.6], "GAMMA_HI": [2.0], "KT": [np.nan],
                         "KT_LO": [np.nan], "KT_HI": [np.nan], "STAT": [40.0], "DOF": [38]})  # fmt: skip
    html = fits_html(row, fits)
    text = shown(html)
    assert "five-band" in text and "1.90 (1.80–2.10)" in text and "3.2 / 2" in text
    assert "published" in text and "1.80 (1.60–2.00)" in text and "40.0 / 38" in text
    assert "kT" not in text and "<b>PL" not in html and "<b>PL</b>" in text
    assert fits_html(pd.Series(dtype=float), None) == ""


def test_bad_fit_tables_get_one_sentence(release, tmp_path):
    not_fits = tmp_path / "x.fits"
    not_fits.write_text("hello")
    pd.DataFrame({"SRCID": [1], "FLUX": [1.0]}).to_csv(tmp_path / "flux.csv", index=False)
    pd.DataFrame({"GAMMA": [1.8], "STAT": [3.0]}).to_csv(tmp_path / "noid.csv", index=False)
    pd.DataFrame({"SRCID": [1], "GAMMA": [1.8], "STAT": [3.0]}).to_csv(tmp_path / "nomatch.csv", index=False)
    cases = {
        not_fits: "is not a readable FITS or CSV spectral-fit table",
        tmp_path / "flux.csv": "is not a spectral-fit table: it has none of the parameter columns NH, GAMMA, KT",
        tmp_path / "noid.csv": "is a fit table without SRCID or DETID",
        tmp_path / "nomatch.csv": "No row of nomatch.csv matches a source or detection of release DEMO",
    }
    for path, sentence in cases.items():
        with pytest.raises(published.SpectralFitsError, match=sentence) as err:
            published.attach_spectral_fits(release, path)
        assert "\n" not in str(err.value)


def test_ingest_takes_spectral_fits(tmp_path, demo_data_dir):
    """``ingest --spectral-fits`` attaches the table after the catalogue (the demo's own FITS catalogue)."""
    fits_file = next((demo_data_dir / "demo").glob("*_cat.fits"))
    src = pd.read_parquet(demo_data_dir / "releases" / "DEMO" / schema.SOURCES_FILE)
    path = published.write_fits_table(published.demo_fits(src, seed=1), tmp_path / "pub.fits")
    data = tmp_path / "data"
    assert (
        main(["--data-dir", str(data), "-q", "ingest", str(fits_file), "--name", "X", "--spectral-fits", str(path)])
        == 0
    )
    assert len(Catalogue(data / "releases" / "X").spectral_fits) == len(published.demo_fits(src, seed=1))
