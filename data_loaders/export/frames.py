"""Shared export plumbing: errors, provenance, column metadata and chunked input."""

from __future__ import annotations

import datetime as _dt
import io
import os
import warnings
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from importlib import metadata
from typing import IO, Any, cast

import astropy.units as u
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from data_loaders import schema
from data_loaders.errors import XmmExplorerError

#: Rows per chunk when a whole in-memory frame is exported in pieces.
CHUNK_ROWS = 100_000

_ASCII = {
    "∞": "inf",
    "°": "deg",
    "′": "arcmin",
    "″": "arcsec",
    "−": "-",
    "…": "...",
    "×": "x",
    "≤": "<=",
    "≥": ">=",
    "–": "-",
    "—": "-",
}


class ExportError(XmmExplorerError, ValueError):
    """A table cannot be exported as asked; the message is one sentence for the user."""


class ExportLimitError(ExportError):
    """The selection has more rows than this export may write."""


def software_version() -> str:
    try:
        return f"xmm-explorer {metadata.version('xmm-explorer')}"
    except metadata.PackageNotFoundError:
        return "xmm-explorer (development checkout)"


def provenance_items(provenance: Mapping[str, Any] | None, rows: int | None) -> dict[str, str]:
    """Ordered provenance: the caller's items, plus date_utc, software and rows if absent."""
    items: dict[str, str] = {}
    for key, value in (provenance or {}).items():
        if value is None:
            continue
        if hasattr(value, "describe") and callable(value.describe):
            value = value.describe()  # a Selection passed as is
        items[str(key)] = str(value).replace("\n", " ")
    items.setdefault("date_utc", _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%S"))
    items.setdefault("software", software_version())
    if rows is not None:
        items["rows"] = str(rows)
    return items


def ascii_text(text: str) -> str:
    """Text safe for FITS headers and DS9 files (which are ASCII)."""
    for k, v in _ASCII.items():
        text = text.replace(k, v)
    return text.encode("ascii", "replace").decode("ascii")


def column_units(names: Iterable[str], units: Mapping[str, Any] | None) -> dict[str, str | None]:
    """Unit of every exported column: the caller's, else the schema's, else None."""
    units = units or {}
    return {
        n: (str(units[n]) if units.get(n) is not None else None) if n in units else schema.unit_of(n) for n in names
    }


def unit_spelling(unit: str | None, fmt: str) -> str | None:
    """``unit`` in astropy's ``fmt`` spelling ('fits': 'erg cm-2 s-1', 'vounit': 'erg.s**-1.cm**-2'),
    or the ASCII text as given when astropy cannot parse or spell it."""
    if not unit:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", u.UnitsWarning)
        parsed = u.Unit(unit, parse_strict="silent")
        if isinstance(parsed, u.UnrecognizedUnit):
            return ascii_text(unit)
        try:
            return parsed.to_string(fmt)
        except (ValueError, u.UnitsError):
            return ascii_text(unit)


def column_ucds(names: Iterable[str]) -> dict[str, str | None]:
    """UCD of every exported column (the schema's; None where it names none)."""
    return {n: schema.ucd_of(n) for n in names}


def column_descriptions(names: Iterable[str], descriptions: Mapping[str, str] | None) -> dict[str, str]:
    descriptions = descriptions or {}
    return {n: descriptions.get(n) or schema.describe(n) for n in names}


def kind_of(series: pd.Series) -> str:
    """'bool', 'int', 'float' or 'str' -- the four shapes every exporter knows."""
    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return kind_of(pd.Series(np.asarray(series.astype(object))))
    if pd.api.types.is_bool_dtype(dtype):
        return "bool"
    if pd.api.types.is_integer_dtype(dtype):
        return "int"
    if pd.api.types.is_float_dtype(dtype):
        return "float"
    if pd.api.types.is_string_dtype(dtype) or pd.api.types.is_object_dtype(dtype):
        return "str"
    raise ExportError(
        f"The column '{series.name}' has the type {dtype}, which cannot be "
        "exported; convert it to numbers or text first."
    )


def numpy_dtype(series: pd.Series) -> np.dtype:
    """The plain numpy dtype behind a (possibly nullable or Arrow-backed) column."""
    dtype = series.dtype
    numpy_type = getattr(dtype, "numpy_dtype", None)
    if numpy_type is not None:
        return np.dtype(numpy_type)
    if isinstance(dtype, pd.ArrowDtype):
        return np.dtype(dtype.pyarrow_dtype.to_pandas_dtype())
    return np.dtype(dtype)


def text_values(series: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(object array of str with '' for missing, missing mask) of a text column."""
    missing = series.isna().to_numpy(dtype=bool)
    values = series.astype(object).where(~missing, "").map(str).to_numpy(dtype=object)
    return values, missing


def _arrow_text(series: pd.Series) -> pa.LargeStringArray:
    """A text column as one Arrow large_string array (values that are not text become text)."""
    try:
        arr = pa.array(series, type=pa.large_string(), from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        arr = pa.array(series.astype("string"), type=pa.large_string(), from_pandas=True)
    return arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr


def text_width_of(series: pd.Series) -> int:
    """Characters of the longest value of a text column (0 when all are missing)."""
    longest = pc.max(pc.utf8_length(_arrow_text(series))).as_py() if len(series) else None
    return int(longest or 0)


def text_bytes(series: pd.Series, width: int) -> tuple[np.ndarray, np.ndarray]:
    """(ASCII bytes of width ``width``, NUL-padded; missing mask) of a text column.

    Built from the Arrow buffers with one numpy mask (no Python per value); non-ASCII
    characters become '?'. Raises :class:`ExportError` when a value is longer than
    ``width`` (the width a fixed-width file declared from an earlier chunk).
    """
    arr = _arrow_text(series)
    missing = arr.is_null().to_numpy(zero_copy_only=False)
    arr = arr.fill_null("")
    if pc.all(pc.string_is_ascii(arr)).as_py() is False:
        arr = pa.array([v.encode("ascii", "replace").decode() for v in arr.to_pylist()], type=pa.large_string())
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int64)[arr.offset : arr.offset + len(arr) + 1]
    lengths = np.diff(offsets)
    if lengths.max(initial=0) > width:
        raise ExportError(
            f"The column '{series.name}' has text longer than {width} characters after the "
            "first chunk; export it whole or as Parquet."
        )
    width = max(width, 1)
    out = np.zeros((len(arr), width), dtype=np.uint8)
    if len(arr) and offsets[-1] > offsets[0]:
        data = np.frombuffer(arr.buffers()[2], dtype=np.uint8)[offsets[0] : offsets[-1]]
        out[np.arange(width) < lengths[:, None]] = data
    return out.view(f"S{width}").ravel(), missing


def _dask(frame: Any) -> bool:
    return type(frame).__module__.startswith("dask")


def iter_chunks(source: Any, columns: list[str] | None, chunk_rows: int = CHUNK_ROWS) -> Iterator[pd.DataFrame]:
    """DataFrame chunks of ``source`` (a DataFrame, a dask DataFrame or an iterable of
    DataFrames) restricted to ``columns``; whole frames are sliced, never copied entire."""
    if isinstance(source, pd.DataFrame):
        pieces: Iterable[pd.DataFrame] = (source.iloc[i : i + chunk_rows] for i in range(0, len(source), chunk_rows))
    elif _dask(source):
        pieces = (source.get_partition(i).compute() for i in range(source.npartitions))
    elif isinstance(source, Iterable) and not isinstance(source, str | bytes | Mapping):
        pieces = source
    else:
        raise ExportError(
            f"Cannot export a {type(source).__name__}; pass a DataFrame or an iterator of DataFrame chunks."
        )
    for piece in pieces:
        if not isinstance(piece, pd.DataFrame):
            raise ExportError(f"An export chunk is a {type(piece).__name__}, not a DataFrame.")
        if columns is not None:
            missing = [c for c in columns if c not in piece.columns]
            if missing:
                raise ExportError(f"The table has no column {', '.join(map(repr, missing))} to export.")
            piece = piece[list(columns)]
        yield piece.reset_index(drop=True)


def chain(first: pd.DataFrame, rest: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    """``first`` (unless it is the empty stand-in of an empty source), then the other chunks."""
    if len(first):
        yield first
    yield from rest


def known_rows(source: Any) -> int | None:
    return len(source) if isinstance(source, pd.DataFrame) else None


def check_limit(rows: int, max_rows: int | None) -> None:
    if max_rows is not None and rows > max_rows:
        raise ExportLimitError(
            f"This export is limited to {max_rows:,} rows and the selection "
            f"has more; narrow the selection or sign in for larger exports."
        )


def empty_frame(columns: list[str]) -> pd.DataFrame:
    """A zero-row frame with the schema's dtypes, for exports of an empty selection."""
    dtypes = {"K": "int64", "J": "int32", "I": "int16", "B": "uint8", "E": "float32", "D": "float64", "L": "bool"}
    out = {}
    for name in columns:
        col = schema.COLUMNS_BY_NAME.get(name)
        fmt = col.fits_format if col else "D"
        out[name] = pd.Series([], dtype=object if fmt.endswith("A") else dtypes.get(fmt, "float64"))
    return pd.DataFrame(out)


class _TextSink(io.RawIOBase):
    """A binary stream over a text stream (the text writers write whole UTF-8 lines)."""

    def __init__(self, text: io.TextIOBase):
        self.text = text

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self.text.write(bytes(data).decode("utf-8"))
        return len(data)


@contextmanager
def open_target(target: Any, binary: bool) -> Iterator[IO[bytes]]:
    """A writable binary stream for a path (removed again if writing fails) or a given stream.

    A text stream is accepted only when ``binary`` is false (the text formats).
    """
    if isinstance(target, str | os.PathLike):
        path = os.fspath(target)
        try:
            with open(path, "wb") as handle:
                yield handle
        except BaseException:
            if os.path.exists(path):
                os.remove(path)
            raise
        return
    if isinstance(target, io.TextIOBase):
        if binary:
            raise ExportError("This format is binary; pass a file path or a binary stream.")
        # typeshed's IO[bytes] is nominal and io.RawIOBase is not declared one; the text writers only write bytes to it.
        yield cast(IO[bytes], _TextSink(target))
        return
    yield target
