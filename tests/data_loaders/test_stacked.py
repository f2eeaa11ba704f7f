"""Stacked catalogue: demo generator, ingest round trip with upper-limit rows, derived tables."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from astropy.io import fits

from data_loaders import schema
from data_loaders.catalogue import Catalogue
from data_loaders.demo.stacked import generate_stacked, write_stacked_demo, write_stacked_fits
from data_loaders.errors import IngestError
from data_loaders.ingest import ingest
from data_loaders.ingest_stacked import ingest_stacked, is_stacked_file

N, SEED = 3000, 11


@pytest.fixture(scope="module")
def stacked(tmp_path_factory):
    root = tmp_path_factory.mktemp("stacked")
    files = write_stacked_demo(root / "demo", N, SEED)
    report = ingest(files.catalogue, root)  # through the ordinary ingest: dispatched on the layout
    return files, report


def _fits_rows(path):
    with fits.open(path) as hdul:
        hdu = hdul["STACKCAT"]
        units = {c.name: c.unit for c in hdu.columns}
        nulls = {c.name: c.null for c in hdu.columns}
        frame = pd.DataFrame({c: np.asarray(hdu.data[c]).astype(hdu.data[c].dtype.newbyteorder("=")) for c in
                              ("SRCID", "OBS_ID", "N_CONTRIB", "EP_FLUX", "EP_FLUX_ERR", "EP_FLUX_UL", "UPPER_LIMIT",
                               "MJD_START", "MJD_STOP")})  # fmt: skip
    frame["OBS_ID"] = frame["OBS_ID"].str.strip()
    return frame, units, nulls


def test_the_fits_file_has_summary_rows_and_upper_limit_rows(stacked):
    files, _ = stacked
    rows, units, nulls = _fits_rows(files.catalogue)
    assert units["EP_FLUX"] == "erg/cm**2/s" and units["RA"] == "deg" and nulls["N_CONTRIB"] == -1
    summary = rows.OBS_ID == ""
    assert (rows.N_CONTRIB[summary] >= 1).all() and (rows.N_CONTRIB[~summary] == -1).all()
    ul = rows.UPPER_LIMIT.astype(bool)
    assert ul.sum() > 0 and not ul[summary].any()
    assert rows.EP_FLUX[ul].isna().all() and (rows.EP_FLUX_UL[ul] > 0).all()
    assert rows.EP_FLUX_UL[~ul].isna().all() and rows.EP_FLUX[~ul].notna().all()
    # N_CONTRIB counts the observation rows of each source.
    per_src = rows[~summary].groupby("SRCID").size()
    assert (per_src.reindex(rows.SRCID[summary]) == rows[summary].set_index("SRCID").N_CONTRIB).all()
    # Same sky as the per-detection demo: the detected observation rows are exactly its N detections.
    assert (~ul & ~summary).sum() == N
    with fits.open(files.catalogue) as hdul:
        assert str(hdul[1].data["IAUNAME"][0]).startswith("4XMMs J")


def test_ingest_round_trip_keeps_values_nulls_units_and_marked_upper_limits(stacked):
    files, report = stacked
    rows, _, _ = _fits_rows(files.catalogue)
    obs_rows = rows[rows.OBS_ID != ""]
    meta = json.loads((report.path / schema.RELEASE_META_FILE).read_text())
    assert meta["kind"] == "stacked" and meta["synthetic"] is True and report.name == "DEMO-STACKED"
    assert meta["n_detections"] == len(obs_rows) and meta["n_upper_limits"] == int(obs_rows.UPPER_LIMIT.sum())
    table = pq.read_table(report.path / schema.DETECTIONS_DIR)
    assert table.schema.field("EP_FLUX").metadata[b"unit"] == b"erg/cm**2/s"
    assert table.schema.field("EP_8_FLUX").metadata[b"unit"] == b"erg/cm**2/s"
    assert table.schema.field("EP_FLUX_UL").metadata[b"unit"] == b"erg/cm**2/s"
    assert b"upper limit" in table.schema.field("UPPER_LIMIT").metadata[b"description"]
    det = table.to_pandas()
    assert len(det) == len(obs_rows) and det.DETID.is_unique
    assert (np.diff(det.HPX.to_numpy()) >= 0).all()
    assert det.N_CONTRIB.isna().all()  # null in observation rows, kept null
    key = ["SRCID", "OBS_ID"]
    merged = det.merge(obs_rows, on=key, suffixes=("", "_fits"), validate="one_to_one")
    assert len(merged) == len(obs_rows)
    assert (merged.UPPER_LIMIT_fits.astype(bool) == merged.UPPER_LIMIT).all()
    np.testing.assert_array_equal(merged.EP_FLUX.to_numpy(np.float32), merged.EP_FLUX_fits.to_numpy(np.float32))
    np.testing.assert_array_equal(merged.EP_8_FLUX.to_numpy(np.float32), merged.EP_FLUX_fits.to_numpy(np.float32))
    ul = merged.UPPER_LIMIT
    assert merged.EP_FLUX[ul].isna().all() and (merged.EP_FLUX_UL[ul] > 0).all()


def test_sources_map_to_the_explore_names(stacked):
    files, report = stacked
    rows, _, _ = _fits_rows(files.catalogue)
    src = pd.read_parquet(report.path / schema.SOURCES_FILE).set_index("SRCID")
    summary = rows[rows.OBS_ID == ""].set_index("SRCID")
    obs_rows = rows[rows.OBS_ID != ""]
    assert src.index.equals(summary.index.sort_values())
    n_det = obs_rows[~obs_rows.UPPER_LIMIT.astype(bool)].groupby("SRCID").size().reindex(src.index, fill_value=0)
    assert (n_det == src.N_DETECTIONS).all()
    assert (summary.N_CONTRIB.reindex(src.index) == src.N_DETECTIONS + src.N_UPPER_LIMITS).all()
    np.testing.assert_allclose(src.SC_EP_8_FLUX, summary.EP_FLUX.reindex(src.index), rtol=1e-6)
    multi = src.N_DETECTIONS >= 2
    assert (src.SC_EP_8_FMIN[multi] <= src.SC_EP_8_FMAX[multi]).all()
    assert src.IAUNAME.str.startswith("4XMMs J").all()
    assert src.LII.between(0, 360).all()


def test_longterm_table_carries_fluxes_and_upper_limits(stacked):
    files, report = stacked
    rows, _, _ = _fits_rows(files.catalogue)
    obs_rows = rows[rows.OBS_ID != ""]
    lt = pd.read_parquet(report.path / schema.LONGTERM_FILE)
    assert list(lt.columns) == [c[0] for c in schema.LONGTERM_COLUMNS]
    assert len(lt) == len(obs_rows) and (lt.MISSION == "XMM").all()
    assert lt.UPPER_LIMIT.sum() == obs_rows.UPPER_LIMIT.sum()
    m = lt.merge(obs_rows, on=["SRCID", "OBS_ID"], validate="one_to_one")
    ul = m.UPPER_LIMIT_x
    np.testing.assert_allclose(m.FLUX[ul], m.EP_FLUX_UL[ul], rtol=1e-6)
    np.testing.assert_allclose(m.FLUX[~ul], m.EP_FLUX[~ul], rtol=1e-6)
    assert m.FLUX_ERR[ul].isna().all() and m.FLUX_ERR[~ul].notna().all()
    np.testing.assert_allclose(m.MJD, 0.5 * (m.MJD_START + m.MJD_STOP))


def test_catalogue_loads_a_stacked_release(stacked):
    _, report = stacked
    cat = Catalogue(report.path)
    assert {"EP_8_FLUX", "SC_EP_8_FLUX", "N_DETECTIONS", "MJD_START", "EP_8_DET_ML"} <= set(cat.detections.columns)
    assert len(cat.sources) == report.n_sources
    assert cat.longterm is not None and cat.longterm.UPPER_LIMIT.any()
    srcid = int(cat.sources.SRCID[cat.sources.N_DETECTIONS >= 2].iloc[0])
    assert len(cat.detections_of(srcid)) >= 2


def test_a_file_without_summary_rows_or_upper_limits_is_read_too(tmp_path):
    table, _ = generate_stacked(1500, 3, upper_limits=False)
    table = table[table.OBS_ID != ""]
    path = tmp_path / "plain_cat.fits"
    write_stacked_fits(table, path, catalog="4XMM-DR13s")
    with fits.open(path) as hdul:  # drop UPPER_LIMIT entirely, like 4XMM-DRns
        cols = [c for c in hdul[1].columns if c.name not in ("UPPER_LIMIT", "EP_FLUX_UL")]
        fits.HDUList([hdul[0].copy(), fits.BinTableHDU.from_columns(cols)]).writeto(path, overwrite=True)
    assert is_stacked_file(path)
    report = ingest_stacked(path, tmp_path)
    assert report.name == "DR13s" and report.n_upper_limits == 0
    src = pd.read_parquet(report.path / schema.SOURCES_FILE)
    assert (src.N_DETECTIONS == src.N_CONTRIB).all()
    assert src.SC_EP_8_FLUX.notna().all()


def test_foreign_input_is_refused_in_one_sentence(tmp_path, demo_data_dir):
    per_detection = demo_data_dir / "demo" / "4XMM_DEMO_cat.fits"
    assert not is_stacked_file(per_detection)
    with pytest.raises(IngestError, match="is a per-detection 4XMM-DRn catalogue, not a stacked catalogue"):
        ingest_stacked(per_detection, tmp_path)
    assert not is_stacked_file(tmp_path / "missing.fits")
    with pytest.raises(IngestError, match="does not exist"):
        ingest_stacked(tmp_path / "missing.fits", tmp_path)


def test_cli_stacked_demo_coverage_and_upgrade_flags(tmp_path, capsys):
    from app.cli import main
    from data_loaders.catalogue import Catalogue
    from data_loaders.store import open_store

    data = tmp_path / "data"
    assert main(["--data-dir", str(data), "-q", "stacked-demo", "--detections", "1500", "--seed", "5"]) == 0
    assert "upper limits" in capsys.readouterr().out
    release = data / "releases" / "DEMO-STACKED"
    obs = pd.read_parquet(release / "observations.parquet")
    at = f"{obs.RA_PNT.iloc[0]} {obs.DEC_PNT.iloc[0]}"
    assert main(["--data-dir", str(data), "coverage", "--release", "DEMO-STACKED", "--at", at,
                 "--moc", str(tmp_path / "fp.json")]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "deg2" in out and obs.OBS_ID.iloc[0] in out and (tmp_path / "fp.json").exists()
    # The same sky ingested twice under two names: every flag is carried by position.
    assert main(["--data-dir", str(data), "-q", "stacked-demo", "--detections", "1500", "--seed", "5",
                 "--name", "DEMO-STACKED2"]) == 0  # fmt: skip
    src = Catalogue(release).sources.head(5)
    with open_store(None, data) as store:
        store.grant_role("ada", "reviewer")
        store.add_flags("ada", "DEMO-STACKED", list(zip(src.SRCID, src.SC_RA, src.SC_DEC, strict=True)), "OK")
    capsys.readouterr()
    assert main(["--data-dir", str(data), "upgrade-flags", "DEMO-STACKED", "DEMO-STACKED2"]) == 0
    assert (
        "5 sources carried, 0 ambiguous (several candidates), 0 lost; 5 flag events written" in capsys.readouterr().out
    )


def test_stacked_ingest_fits_the_five_bands_of_measurements_not_upper_limits(stacked):
    import json

    from data_loaders import schema
    from data_loaders.spectral import bandfit

    _, report = stacked
    meta = json.loads((report.path / schema.RELEASE_META_FILE).read_text())
    assert meta["band_fit"]["detections"] == report.n_detections and meta["band_fit"]["sources"] > 0
    cat = Catalogue(report.path)
    det = cat.detections
    upper = det.UPPER_LIMIT.to_numpy(bool)
    assert (det.PL_FIT_FLAG.to_numpy()[upper] == bandfit.FEW_BANDS).all()  # no band fluxes: not fitted
    assert (det.PL_FIT_FLAG.to_numpy()[~upper] == bandfit.GOOD).mean() > 0.5
    assert cat.capabilities.has("band_fit") and cat.capabilities.has("source_band_fit")
