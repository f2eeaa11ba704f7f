"""Streaming FITS binary-table export: header first, then rows chunk by chunk.

The table is never held whole: each chunk becomes a big-endian record array written
straight to the file; the header is written first and rewritten in place at the end
(same length) with the final NAXIS2, DATASUM and CHECKSUM, so a non-seekable stream is
spooled to a temporary file first. Text columns take their width from the schema
(``21A`` for IAUNAME, the longest class name for CLASS) or from the first chunk;
missing text becomes '' (FITS has no null string), nullable integers get a TNULL
value, nullable booleans the FITS undefined logical.
Both HDUs carry CHECKSUM and DATASUM (FITS standard 4.0, appendix J); the data sum is
accumulated while the rows stream out.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import IO, Any

import numpy as np
import pandas as pd
from astropy.io import fits

from data_loaders import schema
from data_loaders.export.frames import (
    ExportError,
    ascii_text,
    chain,
    check_limit,
    kind_of,
    numpy_dtype,
    text_bytes,
    text_width_of,
    unit_spelling,
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
_ZERO_CHECKSUM = "0" * 16
_CHECKSUM_EXCLUDE = tuple(b":;<=>?@[\\]^_`")


def ones_sum(data: bytes, start: int = 0) -> int:
    """32-bit ones' complement sum of big-endian words (``len(data)`` a multiple of 4) added to ``start``."""
    words = np.frombuffer(data, dtype=">u4")
    total = int(words.sum(dtype=np.uint64)) + start
    while total >> 32:
        total = (total & 0xFFFFFFFF) + (total >> 32)
    return total


def checksum_text(value: int) -> str:
    """The 16-character CHECKSUM encoding of the complement of ``value`` (FITS 4.0, J.2)."""
    value = ~value & 0xFFFFFFFF
    asc = [0] * 16
    for i in range(4):
        byte = (value >> (24 - 8 * i)) & 0xFF
        quotient, remainder = byte // 4 + 0x30, byte % 4
        ch = [quotient + remainder, quotient, quotient, quotient]
        check = True
        while check:
            check = False
            for excluded in _CHECKSUM_EXCLUDE:
                for j in (0, 2):
                    if excluded in (ch[j], ch[j + 1]):
                        ch[j] += 1
                        ch[j + 1] -= 1
                        check = True
        for j in range(4):
            asc[4 * j + i] = ch[j]
    return bytes(asc[15:] + asc[:15]).decode("ascii")


def _sign(header: fits.Header, datasum: int) -> str:
    """``header`` as text with DATASUM and a CHECKSUM that makes the HDU sum to -0."""
    header["DATASUM"] = str(datasum)
    header["CHECKSUM"] = _ZERO_CHECKSUM
    header["CHECKSUM"] = checksum_text(ones_sum(header.tostring().encode("ascii"), datasum))
    return header.tostring()


@dataclass
class _Field:
    name: str
    kind: str
    tform: str
    dtype: str
    null: int | None = None
    width: int = 0


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
    width = max(text_width_of(series), schema.text_width(name) or 1)
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
            rec[f.name] = text_bytes(s, f.width)[0]
    return rec


def _header(
    fields: list[_Field],
    units: Mapping[str, str | None],
    descriptions: Mapping[str, str],
    provenance: Mapping[str, str],
    rows: int,
) -> fits.Header:
    cols = [
        fits.Column(name=f.name, format=f.tform, unit=unit_spelling(units.get(f.name), "fits"), null=f.null)
        for f in fields
    ]
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
    header["CHECKSUM"] = (_ZERO_CHECKSUM, "HDU checksum")
    header["DATASUM"] = ("0", "data unit checksum")
    header["COMMENT"] = "Exported by XMM Explorer; provenance follows as HISTORY."
    for key, value in provenance.items():
        if key != "rows":
            header["HISTORY"] = ascii_text(f"{key}: {value}")
    return header


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
    if not _seekable(stream):
        with tempfile.TemporaryFile() as spool:
            rows = write_fits(chunks, first, spool, units, descriptions, provenance, rows_hint, max_rows)
            spool.seek(0)
            shutil.copyfileobj(spool, stream)
        return rows
    fields = [_field(first[c]) for c in first.columns]
    primary = fits.PrimaryHDU().header
    primary["CREATOR"] = ascii_text(provenance.get("software", ""))
    primary["DATE"] = provenance.get("date_utc", "")
    stream.write(_sign(primary, 0).encode("ascii"))
    header = _header(fields, units, descriptions, provenance, rows_hint or 0)
    header_at = stream.tell()
    stream.write(header.tostring().encode("ascii"))
    rows, datasum, carry = 0, 0, b""
    for chunk in chain(first, chunks):
        rows += len(chunk)
        check_limit(rows, max_rows)
        data = _records(chunk, fields).tobytes()
        stream.write(data)
        data = carry + data
        cut = len(data) - len(data) % 4
        datasum = ones_sum(data[:cut], datasum)
        carry = data[cut:]
    datasum = ones_sum(carry + b"\x00" * (-len(carry) % 4), datasum)
    nbytes = rows * sum(np.dtype(f.dtype).itemsize for f in fields)
    stream.write(b"\x00" * (-nbytes % BLOCK))
    if rows_hint is not None and rows != rows_hint:
        raise ExportError(f"The table changed while it was exported ({rows} rows, not {rows_hint}).")
    end = stream.tell()
    header["NAXIS2"] = rows
    header["NROWS"] = rows
    text = _sign(header, datasum)
    stream.seek(header_at)
    stream.write(text.encode("ascii"))
    stream.seek(end)
    return rows


def _seekable(stream: Any) -> bool:
    try:
        return bool(stream.seekable())
    except (AttributeError, OSError, ValueError):
        return False
