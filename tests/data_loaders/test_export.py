"""Every export format written and read back; streaming, limits, traps, id-list import."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import astropy.units as u
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from astropy.io import fits, votable
from astropy.table import Table

from app.selection import Cone, Range
from data_loaders.export import (
    ExportError,
    ExportLimitError,
    export_table,
    match_positions,
    read_id_list,
)

ROOT = Path(__file__).resolve().parents[2]
SELECTION = Range("EP_8_FLUX", 1e-14, None) & Cone(10.68, 41.27, 0.5)
PROVENANCE = {
    "catalogue": "4XMM-DR14 (synthetic demo data)",
    "selection": SELECTION.describe(),
    "filters": "clean sample",
    "date_utc": "2026-01-02T03:04:05",
}
FLUX = u.erg / u.cm**2 / u.s


def _frame(n: int = 7, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    names = pd.array([f"4XMM J{i:06d}.0+410000" for i in range(n)], dtype="string")
    names[1] = pd.NA
    sum_flag = pd.array(rng.integers(0, 5, n), dtype="Int16")
    sum_flag[2] = pd.NA
    flux = (10 ** rng.uniform(-15, -12, n)).astype("float32")
    flux[3] = np.nan
    return pd.DataFrame(
        {
            "SRCID": 201_000_000_000_000 + np.arange(n, dtype="int64"),
            "IAUNAME": names,
            "RA": rng.uniform(10, 11, n),
            "DEC": rng.uniform(41, 42, n),
            "POSERR": rng.uniform(0.3, 2.0, n).astype("float32"),
            "EP_8_FLUX": flux,
            "SUM_FLAG": sum_flag,
            "VAR_FLAG": rng.random(n) < 0.5,
            "N_SMALL": rng.integers(-5, 5, n).astype("int8"),
        }
    )


def _chunks(frame: pd.DataFrame, size: int):
    return (frame.iloc[i : i + size] for i in range(0, len(frame), size))


def test_fits_values_units_provenance(tmp_path):
    df = _frame()
    path = tmp_path / "sel.fits"
    assert export_table(df, path, "fits", columns=None, provenance=PROVENANCE) == len(df)
    table = Table.read(path, hdu=1)
    assert table["EP_8_FLUX"].unit == FLUX and table["RA"].unit == u.deg
    assert np.array_equal(table["SRCID"], df["SRCID"])
    np.testing.assert_array_equal(table["EP_8_FLUX"], df["EP_8_FLUX"].to_numpy())
    # FITS has no null text: missing names are '' on disk, which astropy reads as masked.
    assert list(fits.getdata(path, 1)["IAUNAME"][:3]) == ["4XMM J000000.0+410000", "", "4XMM J000002.0+410000"]
    assert table["IAUNAME"].mask.tolist()[:3] == [False, True, False]
    assert table["SUM_FLAG"].mask.tolist() == [False, False, True] + [False] * 4
    assert table["SUM_FLAG"].dtype.kind == table["N_SMALL"].dtype.kind == "i"
    assert table["SUM_FLAG"].dtype.itemsize == table["N_SMALL"].dtype.itemsize == 2
    assert table["VAR_FLAG"].tolist() == df["VAR_FLAG"].tolist()
    header = fits.getheader(path, 1)
    assert header["NAXIS2"] == header["NROWS"] == 7
    assert header["SELECTN"] == "EP_8_FLUX in [1e-14, inf) AND cone(10.68deg, +41.27deg, 0.5deg)"
    assert header["CATALOG"] == PROVENANCE["catalogue"]
    assert header["DATE"] == "2026-01-02T03:04:05"
    assert header["CREATOR"].startswith("xmm-explorer")
    history = " ".join(header["HISTORY"])
    assert "filters: clean sample" in history and "catalogue: 4XMM-DR14" in history
    assert header["TCOMM1"] == "Unique source identifier (groups detections)"


def test_fits_string_column_with_missing_values_and_object_dtype(tmp_path):
    df = pd.DataFrame({"NOTE": ["a", None, np.nan, "longer text"], "X": [1.0, 2.0, 3.0, 4.0]})
    path = tmp_path / "notes.fits"
    export_table(df, path, "fits", columns=["NOTE"], provenance={})
    with fits.open(path) as hdul:
        assert hdul[1].columns["NOTE"].format == "11A"
        assert list(hdul[1].data["NOTE"]) == ["a", "", "", "longer text"]
        assert hdul[1].columns.names == ["NOTE"]


def test_fits_nullable_boolean_is_fits_null(tmp_path):
    df = pd.DataFrame({"FLAG": pd.array([True, None, False], dtype="boolean")})
    path = tmp_path / "flags.fits"
    export_table(df, path, "fits", columns=None, provenance={})
    with fits.open(path, logical_as_bytes=True) as hdul:
        # numpy shows the NUL byte (FITS undefined logical) as b"".
        assert hdul[1].data["FLAG"].tolist() == [b"T", b"", b"F"]


def test_votable_infos_units_and_int8(tmp_path):
    df = _frame()
    path = tmp_path / "sel.vot"
    export_table(df, path, "votable", columns=None, provenance=PROVENANCE)
    with warnings.catch_warnings():
        # astropy's own VOUnit parser warns that 'erg' is deprecated when reading it back.
        warnings.simplefilter("ignore", u.UnitsWarning)
        vot = votable.parse(path)
        read = vot.get_first_table().to_table()
    infos = {info.name: info.value for info in vot.resources[0].infos}
    assert infos["selection"] == SELECTION.describe()
    assert infos["catalogue"] == PROVENANCE["catalogue"] and infos["rows"] == "7"
    table = vot.get_first_table()
    assert table.description == SELECTION.describe()
    assert table.get_field_by_id("EP_8_FLUX").description.startswith("EPIC flux in band 8")
    assert read["N_SMALL"].dtype == np.int16
    assert read["N_SMALL"].tolist() == df["N_SMALL"].tolist()
    assert read["EP_8_FLUX"].unit == FLUX
    assert read["SUM_FLAG"].mask.tolist()[2] is True
    assert read["IAUNAME"][0] == "4XMM J000000.0+410000"


def test_ecsv_meta_and_masks(tmp_path):
    df = _frame()
    path = tmp_path / "sel.ecsv"
    export_table(df, path, "ecsv", columns=["SRCID", "IAUNAME", "EP_8_FLUX", "SUM_FLAG"], provenance=PROVENANCE)
    table = Table.read(path, format="ascii.ecsv")
    assert table.colnames == ["SRCID", "IAUNAME", "EP_8_FLUX", "SUM_FLAG"]
    assert table.meta["provenance"]["selection"] == SELECTION.describe()
    assert table.meta["provenance"]["rows"] == "7"
    assert table["EP_8_FLUX"].unit == FLUX
    assert table["IAUNAME"].mask.tolist()[:3] == [False, True, False]
    assert table["SUM_FLAG"].mask.tolist()[2] is True


def test_csv_is_a_plain_table(tmp_path):
    df = _frame()
    path = tmp_path / "sel.csv"
    export_table(df, path, "csv", columns=None, provenance=PROVENANCE)
    lines = path.read_text().splitlines()
    assert lines[0] == '"SRCID","IAUNAME","RA","DEC","POSERR","EP_8_FLUX","SUM_FLAG","VAR_FLAG","N_SMALL"'
    assert len(lines) == 8 and not any(ln.startswith("#") for ln in lines)
    back = pd.read_csv(path)
    assert back["SRCID"].tolist() == df["SRCID"].tolist()
    np.testing.assert_allclose(back["RA"], df["RA"], rtol=0, atol=0)
    assert back["IAUNAME"].isna().tolist()[1] and back["SUM_FLAG"].isna().tolist()[2]
    assert back["VAR_FLAG"].tolist() == df["VAR_FLAG"].tolist()


def test_parquet_metadata(tmp_path):
    df = _frame()
    path = tmp_path / "sel.parquet"
    export_table(df, path, "parquet", columns=None, provenance=PROVENANCE)
    table = Table.read(path)
    assert table["EP_8_FLUX"].unit == FLUX and table.meta["provenance"]["selection"] == SELECTION.describe()
    assert table["IAUNAME"].dtype.str == "<U21"  # the schema's width, though no value here is that long
    schema = pq.read_schema(path)
    prov = json.loads(schema.metadata[b"xmm_explorer.provenance"])
    assert prov["selection"] == SELECTION.describe() and prov["rows"] == "7"
    assert schema.field("EP_8_FLUX").metadata[b"unit"] == b"erg/cm**2/s"
    assert schema.field("DEC").metadata[b"description"].startswith(b"Declination")
    back = pd.read_parquet(path)
    pd.testing.assert_frame_equal(back, df, check_dtype=False)
    assert back["SUM_FLAG"].isna().tolist()[2]


def test_ds9_regions(tmp_path):
    df = _frame()
    df.loc[0, "POSERR"] = 0.1
    path = tmp_path / "sel.reg"
    export_table(df, path, "ds9", columns=["RA", "DEC", "POSERR", "IAUNAME"], provenance=PROVENANCE)
    lines = path.read_text().splitlines()
    assert lines[0] == "# Region file format: DS9 version 4.1"
    assert "# selection: EP_8_FLUX in [1e-14, inf) AND cone(10.68deg, +41.27deg, 0.5deg)" in lines
    circles = [ln for ln in lines if ln.startswith("circle(")]
    assert len(circles) == 7 and lines[lines.index(circles[0]) - 1] == "icrs"
    assert circles[0] == (f'circle({df.RA[0]:.7f},{df.DEC[0]:+.7f},2.000") # text={{4XMM J000000.0+410000}}')
    assert circles[2].endswith(f'{3 * df.POSERR[2]:.3f}") # text={{4XMM J000002.0+410000}}')
    assert "text" not in circles[1]


@pytest.mark.parametrize("fmt", ["csv", "fits", "parquet", "ds9", "votable", "ecsv"])
def test_streaming_equals_one_shot(tmp_path, fmt):
    df = _frame(n=1000, seed=9)
    one, many = tmp_path / f"one.{fmt}", tmp_path / f"many.{fmt}"
    assert export_table(df, one, fmt, columns=None, provenance=PROVENANCE) == 1000
    assert export_table(_chunks(df, 137), many, fmt, columns=None, provenance=PROVENANCE) == 1000
    if fmt == "fits":
        with fits.open(one) as a, fits.open(many) as b:
            assert a[1].header["NAXIS2"] == b[1].header["NAXIS2"] == 1000
            assert b[1].header["NROWS"] == 1000
            assert a[1].data.tobytes() == b[1].data.tobytes()
        assert one.stat().st_size == many.stat().st_size and one.stat().st_size % 2880 == 0
    elif fmt == "votable":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", u.UnitsWarning)
            a, b = votable.parse_single_table(one).to_table(), votable.parse_single_table(many).to_table()
        assert a.pformat(max_lines=-1, max_width=-1) == b.pformat(max_lines=-1, max_width=-1) and len(b) == 1000
    elif fmt == "parquet":
        assert pq.read_table(one).equals(pq.read_table(many))
        assert pq.read_metadata(many).metadata[b"xmm_explorer.rows"] == b"1000"
    else:

        def body(p):
            return [ln for ln in p.read_text().splitlines() if not ln.startswith(("# rows", "#     rows", "# - prov"))]

        assert body(one) == body(many)


def test_fits_to_non_seekable_stream_and_dask(tmp_path):
    class Pipe(io.RawIOBase):
        def __init__(self):
            self.buffer = bytearray()

        def writable(self):
            return True

        def seekable(self):
            return False

        def write(self, data):
            self.buffer += data
            return len(data)

    df = _frame(n=300)
    pipe = Pipe()
    assert export_table(_chunks(df, 64), pipe, "fits", columns=None, provenance={}) == 300
    with fits.open(io.BytesIO(bytes(pipe.buffer))) as hdul:
        assert len(hdul[1].data) == 300
    dd = pytest.importorskip("dask.dataframe")
    path = tmp_path / "dask.fits"
    assert export_table(dd.from_pandas(df, npartitions=3), path, "fits", columns=["SRCID", "RA"], provenance={}) == 300
    assert Table.read(path)["SRCID"].tolist() == df["SRCID"].tolist()


def test_text_formats_write_to_streams():
    df = _frame()
    text, raw = io.StringIO(), io.BytesIO()
    export_table(df, text, "csv", columns=["SRCID"], provenance={})
    export_table(df, raw, "ecsv", columns=["SRCID"], provenance={})
    assert text.getvalue().count("\n2010000000000") == 7
    assert b"# %ECSV" in raw.getvalue()
    with pytest.raises(ExportError, match="binary"):
        export_table(df, io.StringIO(), "fits", columns=None, provenance={})


def test_max_rows_limit(tmp_path):
    df = _frame(n=50)
    path = tmp_path / "big.fits"
    with pytest.raises(ExportLimitError, match="limited to 10 rows"):
        export_table(df, path, "fits", columns=None, provenance={}, max_rows=10)
    assert not path.exists()
    with pytest.raises(ExportLimitError, match="limited to 10 rows"):
        export_table(_chunks(df, 8), path, "parquet", columns=None, provenance={}, max_rows=10)
    assert not path.exists()
    assert export_table(df, path, "csv", columns=None, provenance={}, max_rows=50) == 50


def test_fits_checksums_survive_streaming_and_pipes():
    """CHECKSUM/DATASUM in both HDUs, whether the rows come whole, in chunks or go to a pipe."""
    df = _frame(n=301)
    whole, chunked = io.BytesIO(), io.BytesIO()
    export_table(df, whole, "fits", columns=None, provenance=PROVENANCE)
    export_table(_chunks(df, 50), chunked, "fits", columns=None, provenance=PROVENANCE)
    for buffer in (whole, chunked):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            with fits.open(io.BytesIO(buffer.getvalue()), checksum=True) as hdul:
                assert [(h.verify_checksum(), h.verify_datasum()) for h in hdul] == [(1, 1), (1, 1)]
                assert hdul[1].header["DATASUM"] != "0" and len(hdul[1].data) == 301


def test_votable_fields_are_booleans_with_units_and_ucds(tmp_path):
    path = tmp_path / "sel.vot"
    export_table(_frame(), path, "votable", columns=None, provenance=PROVENANCE)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", u.UnitsWarning)
        fields = {f.name: f for f in votable.parse_single_table(path).fields}
    assert fields["VAR_FLAG"].datatype == "boolean"
    assert fields["RA"].ucd == "pos.eq.ra;meta.main" and fields["RA"].ref == "icrs"
    assert fields["EP_8_FLUX"].ucd == "phot.flux;em.X-ray"
    assert fields["IAUNAME"].datatype == "char" and fields["IAUNAME"].arraysize == "21"


def test_bad_requests(tmp_path):
    df = _frame()
    with pytest.raises(ExportError, match="'xlsx' is not an export format"):
        export_table(df, tmp_path / "x", "xlsx", columns=None, provenance={})
    with pytest.raises(ExportError, match="no column 'NOPE'"):
        export_table(df, tmp_path / "x.csv", "csv", columns=["NOPE"], provenance={})
    with pytest.raises(ExportError, match="needs RA and DEC"):
        export_table(df, tmp_path / "x.reg", "ds9", columns=["SRCID"], provenance={})
    chunks = [pd.DataFrame({"NOTE": ["ab"]}), pd.DataFrame({"NOTE": ["much longer"]})]
    for fmt in ("fits", "votable"):
        with pytest.raises(ExportError, match="longer than 2 characters"):
            export_table(iter(chunks), tmp_path / f"n.{fmt}", fmt, columns=None, provenance={})
        assert not (tmp_path / f"n.{fmt}").exists()


def test_empty_selection(tmp_path):
    path = tmp_path / "empty.fits"
    empty = _frame().iloc[:0]
    assert export_table(empty, path, "fits", columns=["SRCID", "RA"], provenance={}) == 0
    assert len(Table.read(path)) == 0
    assert export_table(iter([]), tmp_path / "e.csv", "csv", columns=["SRCID", "IAUNAME"], provenance={}) == 0


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["fits", "parquet", "votable", "csv", "ecsv"])
def test_streaming_memory_is_bounded(tmp_path, fmt):
    """1M rows x 10 float64 columns (80 MB) exported in 50k-row chunks."""
    script = textwrap.dedent(f"""
        import resource, sys
        import numpy as np, pandas as pd
        sys.path.insert(0, {str(ROOT)!r})
        from data_loaders.export import export_table
        def chunks():
            rng = np.random.default_rng(0)
            for _ in range(20):
                yield pd.DataFrame(rng.random((50_000, 10)), columns=[f"C{{i}}" for i in range(10)])
        warm = next(chunks())
        export_table(warm, {str(tmp_path / "warm")!r}, {fmt!r}, columns=None, provenance={{}})
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        n = export_table(chunks(), {str(tmp_path / "big")!r}, {fmt!r}, columns=None,
                         provenance={{}})
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(n, (after - before) / 1024)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=240)
    rows, growth_mb = out.stdout.split()
    assert int(rows) == 1_000_000
    assert float(growth_mb) < 40, f"peak RSS grew {growth_mb} MB for an 80 MB table"
    if fmt == "fits":
        with fits.open(tmp_path / "big", memmap=True) as hdul:
            assert hdul[1].header["NAXIS2"] == 1_000_000
            assert hdul[1].data["C9"][-1] == pytest.approx(hdul[1].data["C9"][-1])
    elif fmt == "parquet":
        assert pq.read_metadata(tmp_path / "big").num_rows == 1_000_000


# --- id lists ------------------------------------------------------------------------


def test_read_id_list_csv_forms():
    ids = read_id_list(b"srcid\n201000000000001\n201000000000002\n", "mine.csv")
    assert ids.columns.tolist() == ["SRCID"] and ids["SRCID"].dtype == np.int64
    assert ids["SRCID"].tolist() == [201000000000001, 201000000000002]
    pos = read_id_list(b"# my list\nname,ra,dec\na,10.5,41.2\nb,11.0,-5\n", "pos.csv")
    assert pos.to_dict("list") == {"RA": [10.5, 11.0], "DEC": [41.2, -5.0]}
    names = read_id_list(b"IAUName\n4XMM J004244.3+411609\n\n", "n.csv")
    assert names["IAUNAME"].tolist() == ["4XMM J004244.3+411609"]


def test_read_id_list_votable(tmp_path):
    path = tmp_path / "ids.xml"
    Table({"DETID": np.array([101, 102], dtype="int64"), "x": [1.0, 2.0]}).write(path, format="votable")
    assert read_id_list(path, "ids.xml")["DETID"].tolist() == [101, 102]
    buf = io.BytesIO()
    Table({"RA": [1.0], "DEC": [2.0]}).write(buf, format="votable")
    assert read_id_list(buf.getvalue(), "upload.vot").to_dict("list") == {"RA": [1.0], "DEC": [2.0]}


@pytest.mark.parametrize(
    ("data", "name", "message"),
    [
        (b"", "empty.csv", "'empty.csv' is empty"),
        (b"flux,mag\n1,2\n", "f.csv", r"no usable column \(found: flux, mag\); expected a SRCID"),
        (b"srcid\nabc\n", "s.csv", "SRCID value 'abc' that is not a whole number"),
        (b"ra,dec\n10,95\n", "p.csv", "row 1 has no valid RA/DEC"),
        (b"<?xml version='1.0'?><VOTABLE><oops", "bad.xml", "'bad.xml' is not a readable VOTable"),
        (b"\xff\xfe\x00garbage", "bin.csv", "not a UTF-8 text CSV"),
    ],
)
def test_read_id_list_errors(data, name, message):
    with pytest.raises(ExportError, match=message):
        read_id_list(data, name)


def test_match_positions_against_brute_force():
    rng = np.random.default_rng(5)
    cat_ra, cat_dec = rng.uniform(10, 10.2, 2000), rng.uniform(41, 41.2, 2000)
    ra, dec = cat_ra[:20] + 1e-4, cat_dec[:20]
    li, ci, sep = match_positions(cat_ra, cat_dec, ra, dec, radius_arcsec=10)
    from astropy.coordinates import SkyCoord

    cat = SkyCoord(cat_ra * u.deg, cat_dec * u.deg)
    for i in range(20):
        seps = SkyCoord(ra[i] * u.deg, dec[i] * u.deg).separation(cat).arcsec
        expected = np.flatnonzero(seps <= 10)
        assert sorted(ci[li == i].tolist()) == sorted(expected.tolist())
        assert ci[li == i][0] == np.argmin(seps)
    assert np.all(np.diff(li) >= 0) and sep.max() <= 10
    with pytest.raises(ExportError, match="positive"):
        match_positions(cat_ra, cat_dec, ra, dec, 0)
