"""Ingest of real-format files of each kind, and of the bad files that used to pass or crash (one fixture per bug)."""

import json

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from astropy.io import fits

from app.cli import main
from data_loaders import capabilities, schema
from data_loaders.catalogue import Catalogue
from data_loaders.errors import IngestError
from data_loaders.ingest import ingest
from tests.data_loaders import real_format


def _meta(report):
    return json.loads((report.path / schema.RELEASE_META_FILE).read_text())


def _added_tables(tmp_path, srcids):
    """Classifications, counterparts, long-term points and observations for ``srcids``, in XMM2ATHENA names."""
    srcids = np.asarray(srcids, dtype=np.int64)
    probs = np.full((srcids.size, 7), 1 / 7, dtype=np.float32)
    cls = pd.DataFrame({"SRCID": srcids, **{f"PbaC{i}": probs[:, i] for i in range(7)}})
    cls["prediction"] = np.zeros(srcids.size, np.int8)
    cls["prediction_name"] = "AGN"
    cp = pd.DataFrame({"SRCID": srcids, "CATALOGUE": "Gaia DR3", "CP_ID": "x", "CP_RA": 1.0, "CP_DEC": 2.0,
                       "SEPARATION": np.float32(0.5), "MATCH_PROB": np.float32(0.9)})  # fmt: skip
    lt = pd.DataFrame({"SRCID": srcids, "MISSION": "Swift", "OBS_ID": "00031234001", "MJD": 58000.0,
                       "FLUX": np.float32(1e-13), "FLUX_ERR": np.float32(1e-14), "UPPER_LIMIT": False,
                       "BAND": "0.3-10"})  # fmt: skip
    paths = {}
    for kind, frame in (("classifications", cls), ("counterparts", cp), ("longterm", lt)):
        paths[kind] = tmp_path / f"given_{kind}.parquet"
        frame.to_parquet(paths[kind])
    return paths


def _observations(tmp_path, obs_ids, mjd):
    path = tmp_path / "obs.parquet"
    pd.DataFrame({"OBS_ID": obs_ids, "RA_PNT": 40.1, "DEC_PNT": -7.9, "MJD_START": mjd, "MJD_STOP": np.add(mjd, 0.3),
                  "PN_ONTIME": 3e4, "M1_ONTIME": 3e4, "M2_ONTIME": 3e4}).to_parquet(path)  # fmt: skip
    return path


# --- the three kinds ---------------------------------------------------------------------------------
def test_per_detection_slice_is_read_with_every_column_group(tmp_path):
    report = ingest(real_format.per_detection(tmp_path / "dr14.fits"), tmp_path / "data", name="DR14")
    assert report.kind_label == "per-detection 4XMM-DRn catalogue" and report.n_detections == 60
    meta = _meta(report)
    assert meta["kind"] == "detections"
    absent = set(meta["capabilities"]["absent"])
    # Every column group of the file is there; the added tables (none given) are not.
    in_file = set(fits.getdata(tmp_path / "dr14.fits", 1).columns.names)
    file_groups = {g.name for g in capabilities.GROUPS.values() if g.table is None and set(g.detections) <= in_file
                   and set(g.sources) <= in_file and (g.detections or g.sources)}  # fmt: skip
    assert file_groups and not file_groups & absent
    assert {capabilities.CLASSIFICATIONS, capabilities.COUNTERPARTS, capabilities.LONGTERM,
            capabilities.OBSERVATIONS} <= absent  # fmt: skip
    cat = Catalogue(report.path)
    assert cat.detections["OBS_ID"].notna().all() and len(cat.sources) == 30
    obs_class = pq.read_table(report.path / schema.DETECTIONS_DIR, columns=["DETID", "OBS_CLASS"]).to_pandas()
    assert obs_class.set_index("DETID").loc[101234500000003, "OBS_CLASS"] is pd.NA or np.isnan(
        obs_class.set_index("DETID").loc[101234500000003, "OBS_CLASS"]
    )  # TNULL -> null


def test_stacked_slice_with_a_detid_column_is_read_as_stacked(tmp_path):
    """Bug: a stacked file carrying DETID was read as per-detection (kind was decided by 'no DETID')."""
    path = real_format.stacked(tmp_path / "dr13s.fits", extra=[real_format.stacked_detid()])
    report = ingest(path, tmp_path / "data", name="DR13S")
    assert report.kind_label == "stacked 4XMM-DRns catalogue"
    assert report.n_summary_rows == 12 and report.n_detections == 36
    det = pq.read_table(report.path / schema.DETECTIONS_DIR, columns=["DETID", "OBS_ID"]).to_pandas()
    assert det["DETID"].between(104000000000000, 104000000000000 + 48).all()  # the file's own DETIDs kept
    assert _meta(report)["kind"] == "stacked"


def test_fivexmm_slice_marks_upper_limits(tmp_path):
    report = ingest(real_format.fivexmm(tmp_path / "5xmm.fits"), tmp_path / "data", name="X5")
    assert report.kind_label == "5XMM-like stacked catalogue with upper limits"
    assert report.n_upper_limits == sum((s + k) % 3 == 0 for s in range(10) for k in range(4))
    lt = pd.read_parquet(report.path / schema.LONGTERM_FILE)
    assert lt["UPPER_LIMIT"].sum() == report.n_upper_limits
    assert np.allclose(lt.loc[lt.UPPER_LIMIT, "FLUX"], 3e-14)


def test_stacked_ingest_takes_every_option(tmp_path):
    """Bug: the stacked path dropped --products/--classifications/--counterparts/--longterm."""
    path = real_format.stacked(tmp_path / "dr13s.fits")
    srcids = fits.getdata(path, 1)["SRCID"][::4]
    added = _added_tables(tmp_path, srcids)
    products = tmp_path / "products"
    products.mkdir()
    code = main([
        "--data-dir", str(tmp_path / "data"), "-q", "ingest", str(path), "--name", "ST",
        "--classifications", str(added["classifications"]), "--counterparts", str(added["counterparts"]),
        "--longterm", str(added["longterm"]), "--products", str(products),
        "--observations", str(_observations(tmp_path, ["0700000000"], [53000.0])),
    ])  # fmt: skip
    assert code == 0
    release = tmp_path / "data" / "releases" / "ST"
    meta = json.loads((release / schema.RELEASE_META_FILE).read_text())
    assert meta["added_tables"] == ["classifications", "counterparts", "longterm", "observations"]
    assert meta["products"] == str(products.resolve())
    tables = {capabilities.CLASSIFICATIONS, capabilities.COUNTERPARTS, capabilities.LONGTERM, capabilities.OBSERVATIONS}
    assert not tables & set(meta["capabilities"]["absent"])
    lt = pd.read_parquet(release / schema.LONGTERM_FILE)
    assert set(lt["MISSION"]) == {"XMM", "Swift"}  # the given points merged with the file's own
    cat = Catalogue(release)
    assert (cat.sources["CLASS"] == 0).sum() == 12 and cat.counterparts is not None


def test_stacked_file_without_mjd_start(tmp_path, capsys):
    """Bug: a stacked file without MJD_START ended in KeyError: MJD_START."""
    path = real_format.stacked(tmp_path / "nodates.fits", drop=("MJD_START", "MJD_STOP"))
    report = ingest(path, tmp_path / "data", name="ND")
    assert "no MJD_START" in report.summary() and "longterm" not in report.added_tables
    obs = _observations(tmp_path, ["0700000000", "0700001010", "0700002020"], [53000.0, 53400.0, 53800.0])
    dated = ingest(path, tmp_path / "data", name="ND", observations=obs)
    lt = pd.read_parquet(dated.path / schema.LONGTERM_FILE)
    assert sorted(set(lt["MJD"].round(2))) == [53000.15, 53400.15, 53800.15]


# --- what is not a catalogue, or contradicts itself ------------------------------------------------------
def test_header_contradicting_the_columns_is_one_sentence(tmp_path):
    path = real_format.stacked(tmp_path / "odd.fits", header={"EXTNAME": "4XMM_DR14cat"}, drop=("IAUNAME",))
    with pytest.raises(IngestError, match=r"columns of a stacked catalogue .* header says a per-detection one"):
        ingest(path, tmp_path / "data")


def test_foreign_tables_say_what_they_look_like(tmp_path):
    lc = tmp_path / "P0123700101PNS003SRCTSR8001.FTZ"
    cols = [fits.Column("TIME", "D", unit="s", array=np.arange(5.0)), fits.Column("RATE", "E", array=np.ones(5))]
    fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU.from_columns(cols, name="RATE")]).writeto(lc)
    expected = r"^P0123700101PNS003SRCTSR8001.FTZ is not an XMM catalogue: it looks like a lightcurve"
    with pytest.raises(IngestError, match=expected):
        ingest(lc, tmp_path / "data")
    stack = real_format.stacked(tmp_path / "s.fits", drop=("N_OBS", "N_CONTRIB"))
    with pytest.raises(IngestError, match="looks like a stacked catalogue .* no N_OBS or N_CONTRIB column"):
        ingest(stack, tmp_path / "data")
    five = real_format.fivexmm(tmp_path / "f.fits", drop=("EP_FLUX_ERR",))
    expected = r"looks like a 5XMM-like stacked catalogue with upper limits .* no EP_FLUX_ERR column\."
    with pytest.raises(IngestError, match=expected):
        ingest(five, tmp_path / "data")


# --- bad input: one sentence, nothing written -------------------------------------------------------------
def test_ra_as_text_is_refused(tmp_path):
    """Bug: RA stored as text was ingested silently."""
    n = 60
    ra_text = fits.Column("RA", "12A", array=np.array([f"{150 + i * 0.01:.5f}" for i in range(n)]))
    path = real_format.per_detection(tmp_path / "ra_text.fits", drop=("RA",), extra=[ra_text])
    with pytest.raises(
        IngestError,
        match=r"^Column RA of ra_text.fits is text \(TFORM 12A\); "
        r"a catalogue stores it as a floating-point number in deg\.$",
    ):
        ingest(path, tmp_path / "data")
    assert not (tmp_path / "data" / "releases").exists() or not any((tmp_path / "data" / "releases").iterdir())


def test_units_of_another_kind_or_scale_are_refused_and_spellings_pass(tmp_path):
    rad = fits.Column("POSERR", "E", unit="deg", array=np.full(60, 3e-4, np.float32))
    path = real_format.per_detection(tmp_path / "poserr_deg.fits", drop=("POSERR",), extra=[rad])
    expected = r"Column POSERR of poserr_deg.fits is in deg; .* in arcsec \(1 deg = 3600 arcsec\)"
    with pytest.raises(IngestError, match=expected):
        ingest(path, tmp_path / "data")
    secs = fits.Column("DEC", "D", unit="s", array=np.zeros(60))
    path = real_format.per_detection(tmp_path / "dec_s.fits", drop=("DEC",), extra=[secs])
    with pytest.raises(IngestError, match=r"^Column DEC of dec_s.fits is in s, not a unit of angle like deg\.$"):
        ingest(path, tmp_path / "data")
    # 'degrees' (the stacked fixture's spelling) is deg: accepted.
    assert ingest(real_format.stacked(tmp_path / "st.fits"), tmp_path / "data", name="S").n_detections == 36


def test_duplicate_detids_are_refused_or_dropped_and_reported(tmp_path):
    """Bug: duplicate DETIDs were kept silently."""
    detid = 101234500000000 + np.arange(60)
    detid[[10, 11, 40]] = detid[[9, 9, 39]]
    repeated = fits.Column("DETID", "K", array=detid)
    path = real_format.per_detection(tmp_path / "dups.fits", drop=("DETID",), extra=[repeated])
    with pytest.raises(
        IngestError,
        match=r"dups.fits has 3 rows whose DETID repeats an earlier row \(e.g. 101234500000009, 101234500000039\)",
    ):
        ingest(path, tmp_path / "data")
    report = ingest(path, tmp_path / "data", name="D", drop_duplicates=True)
    assert report.n_detections == 57 and "3 rows with a repeated DETID dropped" in report.summary()
    assert pq.read_table(report.path / schema.DETECTIONS_DIR, columns=["DETID"]).column(0).to_pandas().is_unique


def test_truncated_fits_is_one_sentence(tmp_path, capsys):
    """Bug: a truncated FITS ended in a 34-line traceback."""
    full = real_format.per_detection(tmp_path / "full.fits", n=2000)
    cut = tmp_path / "cut.fits"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    assert main(["--data-dir", str(tmp_path / "data"), "-q", "ingest", str(cut)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: cut.fits is truncated: its table of 2,000 rows needs") and "\n" not in err
    garbage = tmp_path / "garbage.fits"
    garbage.write_bytes(full.read_bytes()[:2880] + b"\x00garbage" * 100)
    with pytest.raises(IngestError, match="garbage.fits"):
        ingest(garbage, tmp_path / "data")


def test_minimal_nine_column_file_gets_positions_and_says_what_is_missing(tmp_path):
    """Bug: a nine-column file ingested, then the Source view crashed on SC_RA, MJD_FIRST, SC_EXTENT."""
    keep = set(schema.REQUIRED_COLUMNS)
    full = real_format.per_detection(tmp_path / "x.fits")
    drop = [c for c in fits.getdata(full, 1).columns.names if c not in keep]
    report = ingest(real_format.per_detection(tmp_path / "nine.fits", drop=drop), tmp_path / "data", name="NINE")
    cat = Catalogue(report.path)
    assert cat.sources[["SC_RA", "SC_DEC"]].notna().all().all()  # derived from the best detection
    caps = cat.capabilities
    assert caps.has(capabilities.SOURCE_POSITIONS)
    assert caps.reason(capabilities.SOURCE_EXTENT) == ("No unique-source extent: this release has no SC_EXTENT column.")
    desc = pq.read_schema(report.path / schema.SOURCES_FILE).field("SC_RA").metadata[b"description"].decode()
    assert "smallest POSERR" in desc


def test_partial_classification_table_is_refused_at_ingest(tmp_path):
    """Bug: a classification table with only some PbaC* columns passed ingest, then failed at load."""
    path = real_format.per_detection(tmp_path / "dr14.fits")
    partial = tmp_path / "dr14_classifications.parquet"
    pd.DataFrame({"SRCID": [201400000000000], "PbaC0": [0.9], "PbaC1": [0.1], "prediction": [0]}).to_parquet(partial)
    with pytest.raises(
        IngestError,
        match=r"dr14_classifications.parquet is not a complete classifications table: "
        r"it has no PbaC2, PbaC3, PbaC4, PbaC5, PbaC6 columns\.",
    ):
        ingest(path, tmp_path / "data", name="P")
