"""Export a selection to CSV, FITS, VOTable, ECSV, Parquet or a DS9 region file.

:func:`export_table` takes a DataFrame, a dask DataFrame or an iterator of DataFrame
chunks and writes it with units (from :mod:`data_loaders.schema` unless given),
column descriptions and provenance (catalogue release, the selection's ``describe()``
text, filters, UTC date, software version, row count) in each format's own metadata:

========  =======================================================================
format    units, descriptions and provenance go to
========  =======================================================================
csv       nowhere: a plain table (header row, then rows) that every reader opens;
          choose ECSV for the same text with units and provenance
ecsv      the YAML header (units, descriptions, ``meta['provenance']``)
fits      TUNIT/TCOMM cards; BINTABLE keywords (CATALOG, SELECTN, DATE, CREATOR,
          NROWS...) and HISTORY cards; CHECKSUM/DATASUM in both HDUs
votable   FIELD unit/ucd/DESCRIPTION; RESOURCE INFO elements (BINARY2 rows)
parquet   astropy's ``table_meta_yaml`` and field metadata; ``xmm_explorer.*``
ds9       leading ``#`` comment lines (ICRS circles)
========  =======================================================================

Every format is streamed: memory is bounded by the chunk size, whatever the row count.
:func:`read_id_list` and :func:`match_positions` bring a user's list back in.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from data_loaders.export.fits import write_fits
from data_loaders.export.frames import (
    CHUNK_ROWS,
    ExportError,
    ExportLimitError,
    check_limit,
    column_descriptions,
    column_ucds,
    column_units,
    empty_frame,
    iter_chunks,
    known_rows,
    open_target,
    provenance_items,
)
from data_loaders.export.idlist import match_positions, read_id_list
from data_loaders.export.tables import write_parquet
from data_loaders.export.text import write_csv, write_ds9, write_ecsv
from data_loaders.export.votable import write_votable

__all__ = [
    "FORMATS",
    "ExportError",
    "ExportLimitError",
    "export_table",
    "match_positions",
    "read_id_list",
]

#: Format name -> (file extension, MIME type).
FORMATS: dict[str, tuple[str, str]] = {
    "csv": (".csv", "text/csv"),
    "fits": (".fits", "application/fits"),
    "votable": (".vot", "application/x-votable+xml"),
    "ecsv": (".ecsv", "text/plain"),
    "parquet": (".parquet", "application/vnd.apache.parquet"),
    "ds9": (".reg", "text/plain"),
}


def export_table(
    source: Any,
    target: Any,
    fmt: str,
    *,
    columns: Sequence[str] | None,
    provenance: Mapping[str, Any] | None,
    units: Mapping[str, str | None] | None = None,
    descriptions: Mapping[str, str] | None = None,
    max_rows: int | None = None,
    chunk_rows: int = CHUNK_ROWS,
) -> int:
    """Write ``source`` to ``target`` (a path or a stream) as ``fmt``; return rows written.

    ``columns`` picks and orders the columns (None: all of the first chunk). ``units``
    and ``descriptions`` override the schema's. ``max_rows`` (e.g. the anonymous
    users' limit) raises :class:`ExportLimitError`; when the source is a chunk iterator
    the limit is noticed while writing and a partial file at a path is removed.
    Text formats (CSV, ECSV, DS9) accept text or binary streams; FITS, VOTable and
    Parquet need binary ones.
    """
    fmt = fmt.lower().strip()
    if fmt not in FORMATS:
        raise ExportError(f"'{fmt}' is not an export format; choose one of {', '.join(FORMATS)}.")
    cols = list(columns) if columns is not None else None
    rows_hint = known_rows(source)
    if rows_hint is not None:
        check_limit(rows_hint, max_rows)
    chunks = iter_chunks(source, cols, chunk_rows)
    first = next(chunks, None)
    if first is None:
        first = empty_frame(cols if cols is not None else list(getattr(source, "columns", [])))
    names = [str(c) for c in first.columns]
    unit_map = column_units(names, units)
    desc_map = column_descriptions(names, descriptions)
    prov = provenance_items(provenance, rows_hint)
    with open_target(target, binary=fmt in ("fits", "votable", "parquet")) as stream:
        if fmt == "fits":
            return write_fits(chunks, first, stream, unit_map, desc_map, prov, rows_hint, max_rows)
        if fmt == "votable":
            ucds = column_ucds(names)
            return write_votable(chunks, first, stream, unit_map, ucds, desc_map, prov, rows_hint, max_rows)
        if fmt == "parquet":
            return write_parquet(chunks, first, stream, unit_map, desc_map, prov, rows_hint, max_rows)
        if fmt == "ecsv":
            return write_ecsv(chunks, first, stream, unit_map, desc_map, prov, max_rows)
        if fmt == "csv":
            return write_csv(chunks, first, stream, max_rows)
        return write_ds9(chunks, first, stream, prov, rows_hint, max_rows)


def export_filename(stem: str, fmt: str) -> str:
    """A download file name for ``fmt`` (``stem`` reduced to safe characters)."""
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in stem) or "selection"
    return safe + FORMATS[fmt][0]
