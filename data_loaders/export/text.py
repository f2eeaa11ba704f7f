"""Streaming text exports: plain CSV and ECSV (rows written by pyarrow's CSV writer), DS9 regions.

CSV is a plain table: the header row first, no comment lines, so STILTS, TOPCAT, pandas
and astropy's default reader open it as is. Units, descriptions and provenance go to
ECSV, whose YAML header astropy writes (from a zero-row table) and whose rows are the
same comma-separated text. Booleans are written ``True``/``False`` (what astropy's ECSV
reader accepts; STILTS and pandas read them too); a missing value is an empty field.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Mapping
from typing import IO

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from data_loaders.export.frames import ExportError, ascii_text, chain, check_limit
from data_loaders.export.tables import arrow_schema, arrow_table, to_astropy

#: Smallest circle drawn for a source in a DS9 region file, arcsec.
DS9_MIN_RADIUS_ARCSEC = 2.0
#: DS9 circle radius = this many times POSERR (1-sigma), at least the minimum above.
DS9_POSERR_SCALE = 3.0


def _booleans_as_text(table: pa.Table) -> pa.Table:
    for i, field in enumerate(table.schema):
        if pa.types.is_boolean(field.type):
            table = table.set_column(i, field.name, pc.if_else(table.column(i), "True", "False"))
    return table


def _write_rows(
    chunks: Iterator[pd.DataFrame],
    first: pd.DataFrame,
    stream: IO[bytes],
    header: bool,
    max_rows: int | None,
) -> int:
    schema = arrow_schema(first)
    rows = 0
    options = pacsv.WriteOptions(include_header=header)
    writer = None
    try:
        for chunk in chain(first, chunks):
            rows += len(chunk)
            check_limit(rows, max_rows)
            table = _booleans_as_text(arrow_table(chunk, schema))
            if writer is None:
                writer = pacsv.CSVWriter(stream, table.schema, write_options=options)
            writer.write_table(table)
        if writer is None and header:  # an empty selection still gets its header row
            pacsv.write_csv(_booleans_as_text(schema.empty_table()), stream, write_options=options)
    finally:
        if writer is not None:
            writer.close()
    return rows


def write_csv(chunks: Iterator[pd.DataFrame], first: pd.DataFrame, stream: IO[bytes], max_rows: int | None) -> int:
    """A plain CSV table: one header row of column names, then the rows."""
    return _write_rows(chunks, first, stream, True, max_rows)


def write_ecsv(
    chunks: Iterator[pd.DataFrame],
    first: pd.DataFrame,
    stream: IO[bytes],
    units: Mapping[str, str | None],
    descriptions: Mapping[str, str],
    provenance: Mapping[str, str],
    max_rows: int | None,
) -> int:
    """ECSV 1.0 with ``delimiter: ','``: units, descriptions and ``meta['provenance']`` in the header."""
    empty = to_astropy(first.iloc[:0], units, descriptions)
    empty.meta["provenance"] = dict(provenance)
    header = io.StringIO()
    empty.write(header, format="ascii.ecsv", delimiter=",")
    stream.write(header.getvalue().encode("utf-8"))
    return _write_rows(chunks, first, stream, False, max_rows)


def _pick(frame: pd.DataFrame, *names: str) -> str | None:
    lower = {c.lower(): c for c in frame.columns}
    return next((lower[n.lower()] for n in names if n.lower() in lower), None)


def write_ds9(
    chunks: Iterator[pd.DataFrame],
    first: pd.DataFrame,
    stream: IO[bytes],
    provenance: Mapping[str, str],
    rows_hint: int | None,
    max_rows: int | None,
) -> int:
    """A DS9 region file: one ICRS ``circle(ra,dec,r")`` per row, labelled with IAUNAME.

    The radius is ``DS9_POSERR_SCALE`` x POSERR, at least ``DS9_MIN_RADIUS_ARCSEC``;
    rows without a position are left out.
    """
    ra_col = _pick(first, "RA", "SC_RA")
    dec_col = _pick(first, "DEC", "SC_DEC")
    if ra_col is None or dec_col is None:
        raise ExportError("A DS9 region file needs RA and DEC columns; include them in the export.")
    err_col = _pick(first, "POSERR", "SC_POSERR")
    name_col = _pick(first, "IAUNAME", "SRCID", "DETID")
    head = ["# Region file format: DS9 version 4.1", "# XMM Explorer export"]
    head += [ascii_text(f"# {key}: {value}") for key, value in provenance.items()]
    head += [
        'global color=cyan width=1 font="helvetica 10 normal roman" select=1 edit=1 move=1 delete=1 include=1 source=1',
        "icrs",
    ]
    stream.write(("\n".join(head) + "\n").encode("ascii"))
    rows = 0
    for chunk in chain(first, chunks):
        rows += len(chunk)
        check_limit(rows, max_rows)
        ra = chunk[ra_col].to_numpy(dtype="float64", na_value=np.nan)
        dec = chunk[dec_col].to_numpy(dtype="float64", na_value=np.nan)
        keep = ~(np.isnan(ra) | np.isnan(dec))
        if err_col is not None:
            err = chunk[err_col].to_numpy(dtype="float64", na_value=np.nan)
            radius = np.fmax(DS9_POSERR_SCALE * err, DS9_MIN_RADIUS_ARCSEC)
        else:
            radius = np.full(len(chunk), DS9_MIN_RADIUS_ARCSEC)
        if name_col is not None:
            names = chunk[name_col].astype("string").replace("", pd.NA)
            names = names.str.replace("{", "(", regex=False).str.replace("}", ")", regex=False)
            labels = (" # text={" + names + "}").fillna("").to_numpy(dtype=object)
        else:
            labels = np.full(len(chunk), "", dtype=object)
        lines = [
            f'circle({r:.7f},{d:+.7f},{rad:.3f}"){label}\n'
            for r, d, rad, label in zip(
                ra[keep].tolist(), dec[keep].tolist(), radius[keep].tolist(), labels[keep], strict=True
            )
        ]
        stream.write("".join(lines).encode("ascii", "replace"))
    if rows_hint is None:
        stream.write(f"# rows: {rows}\n".encode("ascii"))
    return rows
