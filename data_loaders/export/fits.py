"""Streaming FITS binary-table export: header first, then rows chunk by chunk.

The table is never held whole: each chunk becomes a big-endian record array written
straight to the file. The row count goes into NAXIS2 up front when it is known, else
the card is rewritten in place at the end (a non-seekable stream is spooled to a
temporary file first). Text columns take their width from the schema (``21A`` for
IAUNAME) or from the first chunk; missing text becomes '' (FITS has no null string),
nullable integers get a TNULL value, nullable booleans the FITS undefined logical.
"""

from __future__ import annotations

import shutil
import tempfile
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import IO, Any

import astropy.units as u
import numpy as np
import pandas as pd
from astropy.io import fits

from data_loaders import schema
from data_loaders.export.frames import (
    ExportError,
    ascii_text,
    check_limit,
    kind_of,
    numpy_dtype,
    text_values,
)

BLOCK = 2880
_PROVENANCE_KEYS = {
    "catalogue": "CATALOG",
    "release": "CATREL",
    "selection": "SELECTN",
    "filters": "FILTERS",
    "date_utc": "DATE",
    "software": "CREATOR",
    "rows": "NROWS",
    "user": "EXPUSER",
}
_INT_FORMS = {1: ("I", ">i2"), 2: ("I", ">i2"), 4: ("J", ">i4"), 8: ("K", ">i8")}


@dataclass
class _Field:
    name: str
    kind: str
    tform: str
    dtype: str
    null: int | None = None
    width: int = 0


def fits_unit(unit: str | None) -> str | None:
    """A unit in the FITS standard spelling ('erg cm-2 s-1'), or the text as given."""
    if not unit:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", u.UnitsWarning)
        parsed = u.Unit(unit, parse_strict="silent")
    if isinstance(parsed, u.UnrecognizedUnit):
        return ascii_text(unit)
    try:
        return parsed.to_string("fits")
    except (ValueError, u.UnitsError):
        return ascii_text(unit)


def _field(series: pd.Series) -> _Field:
    name = str(series.name)
    kind = kind_of(series)
    if kind == "bool":
        return _Field(name, kind, "L", "S1")
    if kind == "float":
        size = numpy_dtype(series).itemsize
        return _Field(name, kind, "E", ">f4") if size <= 4 else _Field(name, kind, "D", ">f8")
    if kind == "int":
        np_type = numpy_dtype(series)
        if np_type == np.uint8:
            tform, dtype = "B", "u1"
        else:
            # Unsigned types need the next signed size up; int8 has no FITS type of its own.
            size = np_type.itemsize * (2 if np_type.kind == "u" else 1)
            tform, dtype = _INT_FORMS[min(size, 8)]
        nullable = series.dtype != np_type
        null = None
        if nullable:
            col = schema.COLUMNS_BY_NAME.get(name)
            null = col.null if col and col.null is not None else int(np.iinfo(dtype).min)
        return _Field(name, kind, tform, dtype, null)
    values, _ = text_values(series)
    longest = max((len(v.encode("ascii", "replace")) for v in values), default=0)
    col = schema.COLUMNS_BY_NAME.get(name)
    width = max(longest, 1)
    if col is not None and col.is_string:
        width = max(width, int(col.fits_format[:-1] or 1))
    return _Field(name, kind, f"{width}A", f"S{width}", width=width)


def _records(chunk: pd.DataFrame, fields: list[_Field]) -> np.ndarray:
    rec = np.empty(len(chunk), dtype=[(f.name, f.dtype) for f in fields])
    for f in fields:
        s = chunk[f.name]
        if f.kind == "bool":
            missing = s.isna().to_numpy(dtype=bool)
            truth = s.to_numpy(dtype=bool, na_value=False)
            rec[f.name] = np.where(missing, b"\x00", np.where(truth, b"T", b"F"))
        elif f.kind == "float":
            rec[f.name] = s.to_numpy(dtype="float64", na_value=np.nan)
        elif f.kind == "int":
            fill = f.null if f.null is not None else 0
            if s.isna().any() and f.null is None:
                raise ExportError(
                    f"The column '{f.name}' has missing values in a later chunk "
                    "but was a plain integer column before; make it nullable."
                )
            rec[f.name] = s.to_numpy(dtype="int64", na_value=fill)
        else:
            if kind_of(s) != "str":
                s = s.astype("string")
            values, _ = text_values(s)
            encoded = (
                np.array([v.encode("ascii", "replace") for v in values], dtype=f"S{max(f.width, 1)}")
                if len(values)
                else None
            )
            if len(values) and max(len(v) for v in values) > f.width:
                raise ExportError(
                    f"The column '{f.name}' has text longer than {f.width} "
                    "characters after the first chunk; export it whole or "
                    "as Parquet."
                )
            if encoded is not None:
                rec[f.name] = encoded
    return rec


def _header(
    fields: list[_Field],
    units: Mapping[str, str | None],
    descriptions: Mapping[str, str],
    provenance: Mapping[str, str],
    rows: int,
) -> fits.Header:
    cols = [fits.Column(name=f.name, format=f.tform, unit=fits_unit(units.get(f.name)), null=f.null) for f in fields]
    hdu = fits.BinTableHDU.from_columns(cols, nrows=0)
    header = hdu.header
    header["NAXIS2"] = rows
    header["EXTNAME"] = ("SELECTION", "Rows exported from XMM Explorer")
    for i, f in enumerate(fields, start=1):
        text = ascii_text(descriptions.get(f.name) or "")
        if text:
            header[f"TCOMM{i}"] = text[:68]
    for key, value in provenance.items():
        word = _PROVENANCE_KEYS.get(key)
        if word and key != "rows":
            header[word] = ascii_text(value)
    header["NROWS"] = (rows, "Number of rows exported")
    header["COMMENT"] = "Exported by XMM Explorer; provenance follows as HISTORY."
    for key, value in provenance.items():
        if key != "rows":
            header["HISTORY"] = ascii_text(f"{key}: {value}")
    return header


def _rewrite_int_card(
    stream: IO[bytes], header_at: int, header_text: str, key: str, value: int, comment: str | None = None
) -> None:
    for i in range(0, len(header_text), 80):
        if header_text[i : i + 8].rstrip() == key:
            card = fits.Card(key, value, comment).image
            stream.seek(header_at + i)
            stream.write(card.encode("ascii"))
            return


def write_fits(
    chunks: Iterator[pd.DataFrame],
    first: pd.DataFrame,
    stream: IO[bytes],
    units: Mapping[str, str | None],
    descriptions: Mapping[str, str],
    provenance: Mapping[str, str],
    rows_hint: int | None,
    max_rows: int | None,
) -> int:
    """Write ``first`` then every chunk as one BINTABLE; returns the number of rows."""
    seekable = rows_hint is not None or _seekable(stream)
    if not seekable:
        with tempfile.TemporaryFile() as spool:
            rows = write_fits(chunks, first, spool, units, descriptions, provenance, None, max_rows)
            spool.seek(0)
            shutil.copyfileobj(spool, stream)
        return rows
    fields = [_field(first[c]) for c in first.columns]
    primary = fits.PrimaryHDU()
    primary.header["CREATOR"] = ascii_text(provenance.get("software", ""))
    primary.header["DATE"] = provenance.get("date_utc", "")
    stream.write(primary.header.tostring().encode("ascii"))
    header = _header(fields, units, descriptions, provenance, rows_hint or 0)
    header_text = header.tostring()
    header_at = stream.tell() if rows_hint is None else 0
    stream.write(header_text.encode("ascii"))
    rows = 0
    nbytes = 0
    for chunk in _chain(first, chunks):
        rows += len(chunk)
        check_limit(rows, max_rows)
        data = _records(chunk, fields).tobytes()
        stream.write(data)
        nbytes += len(data)
    stream.write(b"\x00" * (-nbytes % BLOCK))
    if rows_hint is not None and rows != rows_hint:
        raise ExportError(f"The table changed while it was exported ({rows} rows, not {rows_hint}).")
    if rows_hint is None:
        end = stream.tell()
        _rewrite_int_card(stream, header_at, header_text, "NAXIS2", rows, header.comments["NAXIS2"] or None)
        _rewrite_int_card(stream, header_at, header_text, "NROWS", rows, header.comments["NROWS"])
        stream.seek(end)
    return rows


def _seekable(stream: Any) -> bool:
    try:
        return bool(stream.seekable())
    except (AttributeError, OSError, ValueError):
        return False


def _chain(first: pd.DataFrame, rest: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    if len(first):
        yield first
    yield from rest
