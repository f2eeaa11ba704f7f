"""Ingest: round trip of values/nulls/units, HEALPix order, bad input, atomic replacement."""

import json

import numpy as np
import pyarrow.parquet as pq
import pytest
from astropy.io import fits

from data_loaders import schema
from data_loaders.catalogue import Catalogue, load_catalogue
from data_loaders.errors import IngestError
from data_loaders.ingest import HPX_COLUMN, ingest, list_releases


def tiny_catalogue(path, n=500, seed=3, drop=(), bad_rows=0):
    """A small 4XMM-like FITS table in the official conventions (TNULL ints, NaN floats, 'L' bools)."""
    rng = np.random.default_rng(seed)
    ra = rng.uniform(0, 360, n)
    dec = rng.uniform(-80, 80, n)
    if bad_rows:
        ra[:bad_rows] = np.nan
        dec[bad_rows : 2 * bad_rows] = 123.0
    flux = 10 ** rng.uniform(-15, -11, n)
    flux[5] = np.nan
    obs_class = rng.integers(0, 5, n).astype(np.int32)
    obs_class[7] = -1
    srcid = 200000000000000 + rng.integers(0, n // 2, n)
    cols = [
        fits.Column("DETID", "K", array=np.arange(n, dtype=np.int64) + 100000000000000),
        fits.Column("SRCID", "K", array=srcid),
        fits.Column("IAUNAME", "21A", array=np.array([f"4XMM J{i:06d}.0+000000" for i in srcid % 1000000])),
        fits.Column("OBS_ID", "10A", array=np.array([f"{i:010d}" for i in rng.integers(100000000, 900000000, n)])),
        fits.Column("RA", "D", unit="deg", array=ra),
        fits.Column("DEC", "D", unit="deg", array=dec),
        fits.Column("POSERR", "E", unit="arcsec", array=rng.uniform(0.5, 3, n).astype(np.float32)),
        fits.Column("EP_8_FLUX", "E", unit=schema.FLUX_UNIT, array=flux.astype(np.float32)),
        fits.Column("EP_8_FLUX_ERR", "E", unit=schema.FLUX_UNIT, array=(flux * 0.1).astype(np.float32)),
        fits.Column("SUM_FLAG", "I", array=rng.integers(0, 5, n).astype(np.int16)),
        fits.Column("OBS_CLASS", "J", null=-1, array=obs_class),
        fits.Column("VAR_FLAG", "L", array=rng.random(n) < 0.1),
        fits.Column("VAR_EXP_ID", "4A", array=np.where(rng.random(n) < 0.1, "S003", "")),
        fits.Column("SC_RA", "D", unit="deg", array=ra),
        fits.Column("SC_DEC", "D", unit="deg", array=dec),
        fits.Column("SC_EP_8_FLUX", "E", unit=schema.FLUX_UNIT, array=flux.astype(np.float32)),
        fits.Column("N_DETECTIONS", "I", array=np.ones(n, np.int16)),
        fits.Column("FOREIGN_EXTRA", "E", unit="ct", array=np.arange(n, dtype=np.float32)),
    ]
    cols = [c for c in cols if c.name not in drop]
    hdu = fits.BinTableHDU.from_columns(cols, name="SRCLIST")
    hdu.header["CATALOG"] = "4XMM-TINY"
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(path, overwrite=True)
    return path


def read_back(report):
    return pq.read_table(report.path / schema.DETECTIONS_DIR)


def test_round_trip_values_nulls_units(tmp_path):
    src = tiny_catalogue(tmp_path / "tiny.fits")
    report = ingest(src, tmp_path / "data", name="TINY")
    table = read_back(report)
    assert table.num_rows == 500 and report.n_detections == 500
    assert "FOREIGN_EXTRA" in table.column_names  # every input column is kept
    frame = table.to_pandas().sort_values("DETID").reset_index(drop=True)
    with fits.open(src) as h:
        orig = h[1].data
        assert np.array_equal(frame["DETID"].to_numpy(), orig["DETID"])
        assert np.allclose(frame["RA"].to_numpy(), orig["RA"])
        flux = frame["EP_8_FLUX"].to_numpy()
        assert np.isnan(flux[5]) and np.allclose(flux[~np.isnan(flux)], orig["EP_8_FLUX"][~np.isnan(orig["EP_8_FLUX"])])
    # TNULL integers become nulls; blank strings become nulls; booleans stay booleans
    assert frame["OBS_CLASS"].isna().sum() == 1 and frame.loc[7, "OBS_CLASS"] is not None
    assert frame["OBS_CLASS"].isna().iloc[7]
    assert frame["VAR_EXP_ID"].isna().sum() == (frame["VAR_EXP_ID"] != "S003").sum()
    assert frame["VAR_FLAG"].dtype == bool
    field = table.schema.field("EP_8_FLUX")
    assert field.metadata[b"unit"] == schema.FLUX_UNIT.encode()
    assert b"description" in field.metadata
    assert table.schema.field("OBS_CLASS").metadata[b"fits_tnull"] == b"-1"


def test_rows_are_healpix_ordered_and_row_groups_prunable(tmp_path, monkeypatch):
    import data_loaders.ingest as ing

    monkeypatch.setattr(ing, "ROW_GROUP_SIZE", 100)
    report = ingest(tiny_catalogue(tmp_path / "t.fits"), tmp_path / "data", name="T")
    hpx = read_back(report).column(HPX_COLUMN).to_numpy()
    assert np.all(np.diff(hpx) >= 0)
    meta = pq.ParquetFile(report.path / schema.DETECTIONS_DIR / "part-0.parquet").metadata
    assert meta.num_row_groups == 5
    ranges = [
        (
            meta.row_group(i).column(meta.schema.names.index(HPX_COLUMN)).statistics.min,
            meta.row_group(i).column(meta.schema.names.index(HPX_COLUMN)).statistics.max,
        )
        for i in range(5)
    ]
    assert all(a[1] <= b[0] for a, b in zip(ranges, ranges[1:], strict=False))


def test_bad_coordinates_are_counted_and_kept(tmp_path):
    report = ingest(tiny_catalogue(tmp_path / "t.fits", bad_rows=4), tmp_path / "data", name="T")
    assert report.n_bad_coordinates == 8
    assert "8 rows have NaN or out-of-range RA/DEC" in report.summary()
    hpx = read_back(report).column(HPX_COLUMN).to_numpy()
    assert (hpx == -1).sum() == 8 and report.n_detections == 500


def test_not_a_fits_file(tmp_path):
    p = tmp_path / "cat.fits"
    p.write_text("RA,DEC\n1,2\n")
    with pytest.raises(IngestError, match="cat.fits is not a FITS file"):
        ingest(p, tmp_path / "data")


def test_missing_required_columns_are_listed(tmp_path):
    p = tiny_catalogue(tmp_path / "t.fits", drop=("SRCID", "POSERR"))
    with pytest.raises(IngestError, match=r"looks like a per-detection 4XMM catalogue .* has no SRCID, POSERR columns"):
        ingest(p, tmp_path / "data")


def test_image_only_fits_is_rejected(tmp_path):
    p = tmp_path / "img.fits"
    fits.PrimaryHDU(np.zeros((4, 4))).writeto(p)
    with pytest.raises(IngestError, match="no binary table"):
        ingest(p, tmp_path / "data")


def test_failed_ingest_leaves_previous_release_intact(tmp_path):
    data = tmp_path / "data"
    first = ingest(tiny_catalogue(tmp_path / "a.fits", n=300), data, name="R")
    bad_added = tmp_path / "bad.parquet"
    bad_added.write_bytes(b"not parquet at all")
    with pytest.raises(IngestError, match="not a readable Parquet file"):
        ingest(tiny_catalogue(tmp_path / "b.fits", n=400), data, name="R", added={"classifications": bad_added})
    releases = list_releases(data)
    assert [r["name"] for r in releases] == ["R"] and releases[0]["n_detections"] == 300
    # Nothing left over: R points at its one version directory, no temporary directory remains.
    hidden = [p.name for p in (data / "releases").iterdir() if p.name.startswith(".")]
    assert hidden == [(data / "releases" / "R").readlink().name]
    assert read_back(first).num_rows == 300


def test_reingest_replaces_and_catalogue_loads(tmp_path):
    data = tmp_path / "data"
    ingest(tiny_catalogue(tmp_path / "a.fits", n=300), data, name="R")
    ingest(tiny_catalogue(tmp_path / "b.fits", n=400), data, name="R")
    meta = json.loads((data / "releases" / "R" / schema.RELEASE_META_FILE).read_text())
    assert meta["n_detections"] == 400
    cat = Catalogue(data / "releases" / "R")
    assert len(cat.detections) == 400
    assert cat.detections["EP_8_FLUX"].dtype == np.float32
    assert cat.detections["RA"].dtype == np.float64
    assert load_catalogue(data) is load_catalogue(data, "R")
