"""Streaming text exports: CSV with '#' provenance lines, and DS9 region files."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import IO

import numpy as np
import pandas as pd

from data_loaders.export.frames import ExportError, ascii_text, check_limit

#: Smallest circle drawn for a source in a DS9 region file, arcsec.
DS9_MIN_RADIUS_ARCSEC = 2.0
#: DS9 circle radius = this many times POSERR (1-sigma), at least the minimum above.
DS9_POSERR_SCALE = 3.0


def _chain(first: pd.DataFrame, rest: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    if len(first):
        yield first
    yield from rest


def write_csv(
    chunks: Iterator[pd.DataFrame],
    first: pd.DataFrame,
    stream: IO[str],
    units: Mapping[str, str | None],
    descriptions: Mapping[str, str],
    provenance: Mapping[str, str],
    rows_hint: int | None,
    max_rows: int | None,
) -> int:
    """CSV with leading '# key: value' provenance and '# column NAME [unit]: ...' lines.

    The comment lines are ASCII (inf, deg) because astropy's fast CSV reader is.
    When the row count is not known in advance it is added as a final '# rows: N' line.
    """
    stream.write("# XMM Explorer export\n")
    for key, value in provenance.items():
        stream.write(ascii_text(f"# {key}: {value}") + "\n")
    for name in first.columns:
        unit = f" [{units[name]}]" if units.get(name) else ""
        stream.write(ascii_text(f"# column {name}{unit}: {descriptions.get(name) or ''}").rstrip() + "\n")
    first.iloc[:0].to_csv(stream, index=False, lineterminator="\n")
    rows = 0
    for chunk in _chain(first, chunks):
        rows += len(chunk)
        check_limit(rows, max_rows)
        chunk.to_csv(stream, index=False, header=False, lineterminator="\n")
    if rows_hint is None:
        stream.write(f"# rows: {rows}\n")
    return rows


def _pick(frame: pd.DataFrame, *names: str) -> str | None:
    lower = {c.lower(): c for c in frame.columns}
    return next((lower[n.lower()] for n in names if n.lower() in lower), None)


def write_ds9(
    chunks: Iterator[pd.DataFrame],
    first: pd.DataFrame,
    stream: IO[str],
    provenance: Mapping[str, str],
    rows_hint: int | None,
    max_rows: int | None,
) -> int:
    """A DS9 region file: one fk5 ``circle(ra,dec,r")`` per row, labelled with IAUNAME.

    The radius is ``DS9_POSERR_SCALE`` x POSERR, at least ``DS9_MIN_RADIUS_ARCSEC``.
    """
    ra_col = _pick(first, "RA", "SC_RA")
    dec_col = _pick(first, "DEC", "SC_DEC")
    if ra_col is None or dec_col is None:
        raise ExportError("A DS9 region file needs RA and DEC columns; include them in the export.")
    err_col = _pick(first, "POSERR", "SC_POSERR")
    name_col = _pick(first, "IAUNAME", "SRCID", "DETID")
    stream.write("# Region file format: DS9 version 4.1\n")
    stream.write("# XMM Explorer export\n")
    for key, value in provenance.items():
        stream.write(ascii_text(f"# {key}: {value}") + "\n")
    stream.write(
        'global color=cyan width=1 font="helvetica 10 normal roman" select=1 '
        "edit=1 move=1 delete=1 include=1 source=1\n"
    )
    stream.write("fk5\n")
    rows = 0
    for chunk in _chain(first, chunks):
        rows += len(chunk)
        check_limit(rows, max_rows)
        ra = chunk[ra_col].to_numpy(dtype="float64", na_value=np.nan)
        dec = chunk[dec_col].to_numpy(dtype="float64", na_value=np.nan)
        if err_col is not None:
            err = chunk[err_col].to_numpy(dtype="float64", na_value=np.nan)
            radius = np.fmax(DS9_POSERR_SCALE * err, DS9_MIN_RADIUS_ARCSEC)
        else:
            radius = np.full(len(chunk), DS9_MIN_RADIUS_ARCSEC)
        if name_col is not None:
            labels = chunk[name_col].astype(object).where(chunk[name_col].notna(), "")
            labels = labels.map(lambda v: ascii_text(str(v)).replace("{", "(").replace("}", ")")).to_numpy()
        else:
            labels = np.full(len(chunk), "", dtype=object)
        lines = []
        for r, d, rad, label in zip(ra, dec, radius, labels, strict=True):
            if np.isnan(r) or np.isnan(d):
                continue
            text = f" # text={{{label}}}" if label else ""
            lines.append(f'circle({r:.7f},{d:+.7f},{rad:.3f}"){text}\n')
        stream.write("".join(lines))
    if rows_hint is None:
        stream.write(f"# rows: {rows}\n")
    return rows
