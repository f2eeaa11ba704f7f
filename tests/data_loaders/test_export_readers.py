"""Every export format read back by outside readers: STILTS (as TOPCAT reads it) and astropy.

One table with every kind of column (int64 ids, float32/float64, a nullable integer, a
boolean and a nullable boolean, text with a missing value) is exported once per format,
streamed in chunks. STILTS converts each file once (``tpipe ... ofmt=votable``: one JVM
per format) and the TABLEDATA it writes is parsed here: its column types, units, UCDs,
nulls and booleans are what TOPCAT would show. astropy reads each file with its own
default reader. Regions are parsed by their format (astropy-regions is not a dependency).
"""

from __future__ import annotations

import math
import shutil
import subprocess
import warnings
import xml.etree.ElementTree as ET
from pathlib import Path

import astropy.units as u
import numpy as np
import pandas as pd
import pytest
from astropy.io import fits
from astropy.table import Table
from astropy.utils.exceptions import AstropyUserWarning

from data_loaders.export import export_table

N = 250
CHUNK = 64
FLUX = u.erg / u.cm**2 / u.s
PROVENANCE = {"catalogue": "4XMM-DR14 (synthetic demo data)", "selection": "EP_8_FLUX in [1e-14, ∞)"}
EXT = {"fits": "fits", "votable": "vot", "csv": "csv", "ecsv": "ecsv", "parquet": "parquet", "ds9": "reg"}
VO = "{http://www.ivoa.net/xml/VOTable/v1.3}"


def _frame() -> pd.DataFrame:
    rng = np.random.default_rng(16)
    names = pd.array([f"4XMM J{i:06d}.0+410000" for i in range(N)], dtype="string")
    names[[1, 70]] = pd.NA
    sum_flag = pd.array(rng.integers(0, 5, N), dtype="Int16")
    sum_flag[[2, 130]] = pd.NA
    flux = (10 ** rng.uniform(-15, -12, N)).astype("float32")
    flux[[3, 200]] = np.nan
    seen = pd.array(rng.random(N) < 0.5, dtype="boolean")
    seen[[4, 140]] = pd.NA
    return pd.DataFrame(
        {
            "SRCID": 201_000_000_000_000 + np.arange(N, dtype="int64"),
            "IAUNAME": names,
            "RA": rng.uniform(10, 11, N),
            "DEC": rng.uniform(-42, 42, N),
            "POSERR": rng.uniform(0.3, 2.0, N).astype("float32"),
            "EP_8_FLUX": flux,
            "SUM_FLAG": sum_flag,
            "VAR_FLAG": rng.random(N) < 0.3,
            "SEEN": seen,
        }
    )


FRAME = _frame()
NULLS = {"IAUNAME": [1, 70], "SUM_FLAG": [2, 130], "EP_8_FLUX": [3, 200], "SEEN": [4, 140]}


@pytest.fixture(scope="module")
def exports(tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("exports")
    paths = {}
    for fmt, ext in EXT.items():
        chunks = (FRAME.iloc[i : i + CHUNK] for i in range(0, N, CHUNK))
        paths[fmt] = out / f"selection.{ext}"
        assert export_table(chunks, paths[fmt], fmt, columns=None, provenance=PROVENANCE) == N
    return paths


def _stilts(path: Path, ifmt: str) -> tuple[dict[str, dict[str, str]], list[list[str | None]]]:
    """STILTS's reading of ``path``: FIELD attributes by name, and the TABLEDATA cells (None: null)."""
    stilts = shutil.which("stilts")
    if stilts is None:
        pytest.skip("STILTS is not installed (.ci/run installs Debian's stilts)")
    done = subprocess.run(
        [stilts, "tpipe", f"in={path}", f"ifmt={ifmt}", "ofmt=votable", "out=-"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    root = ET.fromstring(done.stdout)  # noqa: S314 - STILTS's output of our own file
    table = root.find(f".//{VO}TABLE")
    fields = {f.get("name"): dict(f.attrib) for f in table.findall(f"{VO}FIELD")}
    rows = [[td.text for td in tr.findall(f"{VO}TD")] for tr in table.iter(f"{VO}TR")]
    return fields, rows


@pytest.mark.parametrize("fmt", ["fits", "votable", "csv", "ecsv"])
def test_stilts_reads_rows_types_nulls_booleans_and_units(exports, fmt):
    fields, rows = _stilts(exports[fmt], fmt)
    assert list(fields) == list(FRAME.columns)
    assert len(rows) == N
    col = {name: [row[i] for row in rows] for i, name in enumerate(fields)}
    assert [int(v) for v in col["SRCID"]] == FRAME["SRCID"].tolist()
    np.testing.assert_array_equal([float(v) for v in col["RA"]], FRAME["RA"].to_numpy())
    np.testing.assert_array_equal(
        np.array([float(v) for v in col["POSERR"]], dtype="float32"), FRAME["POSERR"].to_numpy()
    )
    assert fields["VAR_FLAG"]["datatype"] == fields["SEEN"]["datatype"] == "boolean"
    assert col["VAR_FLAG"] == ["T" if v else "F" for v in FRAME["VAR_FLAG"]]
    assert fields["SUM_FLAG"]["datatype"] in ("short", "int")
    for name, where in NULLS.items():
        missing = [i for i, v in enumerate(col[name]) if v in (None, "", "NaN")]
        if fmt == "fits" and name == "IAUNAME":
            continue  # FITS has no null text: '' (STILTS reads it as an empty string)
        assert missing == where, name
    seen = [None if v is None else v == "T" for v in col["SEEN"]]
    assert seen == [None if v is pd.NA else bool(v) for v in FRAME["SEEN"]]
    assert col["IAUNAME"][0] == "4XMM J000000.0+410000"
    if fmt == "csv":
        assert all("unit" not in f for f in fields.values())  # plain CSV: units live in ECSV
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", u.UnitsWarning)  # astropy: 'erg' is deprecated in VOUnit
        assert u.Unit(fields["RA"]["unit"]) == u.deg
        assert u.Unit(fields["EP_8_FLUX"]["unit"], format="vounit" if fmt == "votable" else None) == FLUX
    if fmt == "votable":
        assert fields["RA"]["ucd"] == "pos.eq.ra;meta.main"
        assert fields["EP_8_FLUX"]["ucd"] == "phot.flux;em.X-ray"


def test_astropy_reads_fits_with_valid_checksums(exports):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a wrong CHECKSUM/DATASUM is an astropy warning
        with fits.open(exports["fits"], checksum=True) as hdul:
            assert [hdu.verify_checksum() for hdu in hdul] == [1, 1]
            assert [hdu.verify_datasum() for hdu in hdul] == [1, 1]
            assert hdul[1].header["NAXIS2"] == N
    with warnings.catch_warnings():
        # astropy reads FITS undefined logicals as False, and says so.
        warnings.filterwarnings("ignore", "Column 'SEEN' contains NULL", AstropyUserWarning)
        table = Table.read(exports["fits"], hdu=1)
    _check_astropy(table, text_null_is_empty=True, logical_null_is_false=True)
    with fits.open(exports["fits"], logical_as_bytes=True) as hdul:
        seen = hdul[1].data["SEEN"]
        assert np.flatnonzero(seen == b"").tolist() == NULLS["SEEN"]


def test_astropy_reads_votable(exports):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", u.UnitsWarning)  # astropy: 'erg' is deprecated in VOUnit
        table = Table.read(exports["votable"], format="votable")
    # astropy ignores the BINARY2 null flag of char arrays (STILTS honours it, above): '' here.
    _check_astropy(table, text_null_is_empty=True)
    assert table["SEEN"].dtype == bool


def test_astropy_reads_ecsv_with_units_and_provenance(exports):
    table = Table.read(exports["ecsv"], format="ascii.ecsv")
    _check_astropy(table)
    assert table["VAR_FLAG"].dtype == bool
    assert table.meta["provenance"]["selection"] == PROVENANCE["selection"]


def test_astropy_and_pandas_read_the_plain_csv(exports):
    text = exports["csv"].read_text()
    assert text.startswith('"SRCID","IAUNAME","RA",') and "#" not in text
    table = Table.read(exports["csv"])  # astropy's default reader, no options
    assert len(table) == N and table.colnames == list(FRAME.columns)
    assert table["SRCID"].tolist() == FRAME["SRCID"].tolist()
    assert table["SUM_FLAG"].mask.nonzero()[0].tolist() == NULLS["SUM_FLAG"]
    assert table["VAR_FLAG"].tolist() == ["True" if v else "False" for v in FRAME["VAR_FLAG"]]
    back = pd.read_csv(exports["csv"])
    assert back["VAR_FLAG"].tolist() == FRAME["VAR_FLAG"].tolist()
    assert back["IAUNAME"].isna().to_numpy().nonzero()[0].tolist() == NULLS["IAUNAME"]


def test_astropy_reads_parquet_units_descriptions_and_provenance(exports):
    table = Table.read(exports["parquet"])
    assert len(table) == N
    assert table["RA"].unit == u.deg and table["EP_8_FLUX"].unit == FLUX
    assert table["DEC"].description.startswith("Declination")
    assert table.meta["provenance"]["catalogue"] == PROVENANCE["catalogue"]
    assert table["SRCID"].tolist() == FRAME["SRCID"].tolist()
    assert table["VAR_FLAG"].dtype == bool and table["VAR_FLAG"].tolist() == FRAME["VAR_FLAG"].tolist()
    assert np.isnan(table["EP_8_FLUX"]).nonzero()[0].tolist() == NULLS["EP_8_FLUX"]
    # astropy turns a null integer into NaN (the column becomes float); pandas keeps it null.
    assert np.isnan(table["SUM_FLAG"]).nonzero()[0].tolist() == NULLS["SUM_FLAG"]
    assert str(table["IAUNAME"].dtype) == "<U21"
    back = pd.read_parquet(exports["parquet"])
    pd.testing.assert_frame_equal(back, FRAME, check_dtype=False)


def test_ds9_regions_are_icrs_circles_of_every_row(exports):
    lines = exports["ds9"].read_text().splitlines()
    assert lines[0] == "# Region file format: DS9 version 4.1"
    assert "fk5" not in lines
    circles = lines[lines.index("icrs") + 1 :]
    circles = [ln for ln in circles if not ln.startswith("#")]
    assert len(circles) == N
    for line, (_, row) in zip(circles, FRAME.iterrows(), strict=True):
        shape, _, label = line.partition(" # text=")
        ra, dec, radius = shape.removeprefix("circle(").removesuffix('")').split(",")
        assert math.isclose(float(ra), row.RA, abs_tol=1e-7) and math.isclose(float(dec), row.DEC, abs_tol=1e-7)
        assert float(radius) == pytest.approx(max(3 * float(row.POSERR), 2.0), abs=1e-3)
        assert label == ("" if row.IAUNAME is pd.NA else f"{{{row.IAUNAME}}}")


def _check_astropy(table: Table, text_null_is_empty: bool = False, logical_null_is_false: bool = False) -> None:
    assert len(table) == N and table.colnames == list(FRAME.columns)
    assert table["SRCID"].tolist() == FRAME["SRCID"].tolist()
    np.testing.assert_array_equal(table["RA"], FRAME["RA"].to_numpy())
    assert table["RA"].unit == u.deg and table["EP_8_FLUX"].unit == FLUX
    assert table["VAR_FLAG"].tolist() == FRAME["VAR_FLAG"].tolist()
    flux = np.ma.filled(table["EP_8_FLUX"].astype(float), np.nan)
    assert np.isnan(flux).nonzero()[0].tolist() == NULLS["EP_8_FLUX"]
    assert table["SUM_FLAG"].mask.nonzero()[0].tolist() == NULLS["SUM_FLAG"]
    names = table["IAUNAME"]
    if text_null_is_empty:
        assert [i for i, v in enumerate(names) if not v] == NULLS["IAUNAME"]
    else:
        assert names.mask.nonzero()[0].tolist() == NULLS["IAUNAME"]
    seen = table["SEEN"]
    if not logical_null_is_false:
        assert np.flatnonzero(np.ma.getmaskarray(seen)).tolist() == NULLS["SEEN"]
    expected = FRAME["SEEN"].fillna(False).to_numpy(dtype=bool)
    assert np.ma.filled(seen, False).tolist() == expected.tolist()
