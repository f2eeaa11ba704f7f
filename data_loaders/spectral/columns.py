"""The five-band fit as columns: of a frame or Arrow table, of an ingested release, of any table file.

* :func:`band_fit_columns` fits the rows of a table that has the five EPIC band fluxes and errors,
  named as the catalogue names them per detection (``EP_1_FLUX``...) or per source
  (``SC_EP_1_FLUX``...), and returns the ``PL_*`` columns (``schema.BANDFIT_COLUMNS``).
* :func:`add_to_release` adds them to an ingested release without ingesting again: detections
  from their own band fluxes, the source table from the ``SC_`` ones (ingest calls it too).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from data_loaders import schema
from data_loaders.errors import XmmExplorerError
from data_loaders.spectral.bandfit import fit_band_fluxes

#: Version of the fit recorded in release.json (``band_fit``); bump when its results change.
BANDFIT_VERSION = 1
NAMINGS = ("EP_{}_FLUX", "SC_EP_{}_FLUX")


class BandFitError(XmmExplorerError):
    """A table or release the five-band fit cannot use (the message is one sentence)."""


def band_names(columns) -> tuple[list[str], list[str]] | None:
    """(flux, error) column names of bands 1-5 in ``columns`` (EP_ naming first); None if neither is complete."""
    have = set(columns)
    for fmt in NAMINGS:
        flux = [fmt.format(b) for b in schema.BASIC_BANDS]
        err = [f"{name}_ERR" for name in flux]
        if all(c in have for c in flux + err):
            return flux, err
    return None


def fit_names(columns, prefix: str) -> tuple[list[str], list[str]] | None:
    """:func:`band_names` of ``columns`` when they are named with ``prefix`` (``EP_`` per detection, ``SC_``
    per source), else None: the names ingest fits while it writes a table (so no table is written twice)."""
    names = band_names(columns)
    return names if names and names[0][0].startswith(prefix) else None


def _as_float(table, name: str) -> np.ndarray:
    col = table[name]
    if isinstance(col, pa.ChunkedArray | pa.Array):
        return np.asarray(col.to_numpy(zero_copy_only=False), dtype=np.float64)
    return np.asarray(col.to_numpy(dtype=np.float64, na_value=np.nan))


def band_fit_columns(table, names: tuple[list[str], list[str]] | None = None) -> dict[str, np.ndarray]:
    """The ``PL_*`` columns for each row of ``table`` (pandas frame or Arrow table)."""
    names = names or band_names(table.columns if hasattr(table, "columns") else table.column_names)
    if names is None:
        raise BandFitError(
            "The table has no complete set of five band fluxes with errors "
            "(EP_1_FLUX..EP_5_FLUX and their _ERR, or SC_EP_1_FLUX..SC_EP_5_FLUX and their _ERR)."
        )
    flux_cols, err_cols = names
    flux = np.column_stack([_as_float(table, c) for c in flux_cols])
    err = np.column_stack([_as_float(table, c) for c in err_cols])
    return fit_band_fluxes(flux, err).columns()


def arrow_fields() -> list[pa.Field]:
    """Arrow fields of the ``PL_*`` columns with the schema's units and descriptions."""
    types = {"E": pa.float32(), "I": pa.int16(), "B": pa.uint8()}
    out = []
    for col in schema.BANDFIT_COLUMNS:
        meta = {b"description": col.description.encode()}
        if col.unit:
            meta[b"unit"] = col.unit.encode()
        out.append(pa.field(col.name, types[col.fits_format], metadata=meta))
    return out


def with_fit_columns(table: pa.Table, names: tuple[list[str], list[str]] | None = None) -> pa.Table:
    """``table`` with the ``PL_*`` columns set (replaced where it had them already)."""
    cols = band_fit_columns(table, names)
    for fld in arrow_fields():
        arr = pa.array(cols[fld.name], type=fld.type)
        if fld.name in table.column_names:
            table = table.set_column(table.column_names.index(fld.name), fld, arr)
        else:
            table = table.append_column(fld, arr)
    return table


def _rewrite_parquet(path: Path, names: tuple[list[str], list[str]]) -> int:
    """Add the fit columns to one Parquet file row group by row group; replaces the file atomically."""
    source = pq.ParquetFile(path)
    tmp = path.with_name(f".{path.name}.bandfit-{os.getpid()}")
    writer = None
    n = 0
    try:
        for g in range(source.num_row_groups):
            group = with_fit_columns(source.read_row_group(g), names)
            if writer is None:
                meta = source.schema_arrow.metadata
                writer = pq.ParquetWriter(tmp, group.schema.with_metadata(meta), compression="zstd")
            writer.write_table(group.replace_schema_metadata(source.schema_arrow.metadata), row_group_size=len(group))
            n += len(group)
        if writer is None:  # an empty file: keep its schema, with the new fields
            empty = with_fit_columns(source.schema_arrow.empty_table(), names)
            pq.write_table(empty, tmp, compression="zstd")
    finally:
        if writer is not None:
            writer.close()
    os.replace(tmp, path)
    return n


def add_fit_columns(path: Path) -> dict:
    """Add (or recompute) the ``PL_*`` columns in the Parquet files of a release directory.

    Detections are fitted from their ``EP_`` band fluxes, the unique sources from ``SC_EP_`` ones.
    Returns what was done (``version``, ``detections``, ``sources``: rows fitted), for release.json.
    """
    path = Path(path)
    det_dir = path / schema.DETECTIONS_DIR
    parts = sorted(det_dir.glob("*.parquet")) if det_dir.is_dir() else []
    done = {"version": BANDFIT_VERSION, "detections": 0, "sources": 0}
    det_names = fit_names(pq.read_schema(parts[0]).names, "EP_") if parts else None
    if det_names:
        for part in parts:
            done["detections"] += _rewrite_parquet(part, det_names)
    src_file = path / schema.SOURCES_FILE
    src_names = fit_names(pq.read_schema(src_file).names, "SC_") if src_file.exists() else None
    if src_names:
        done["sources"] = _rewrite_parquet(src_file, src_names)
    return done


def add_to_release(path: Path) -> dict:
    """Add the ``PL_*`` columns to an ingested release without ingesting again; records it in release.json."""
    path = Path(path)
    meta_file = path / schema.RELEASE_META_FILE
    if not meta_file.exists():
        raise BandFitError(f"{path} is not an ingested release (no {schema.RELEASE_META_FILE}).")
    done = add_fit_columns(path)
    if not done["detections"] and not done["sources"]:
        raise BandFitError(
            f"Release {path.name} has no five band fluxes with errors to fit "
            "(EP_1..5_FLUX per detection or SC_EP_1..5_FLUX per source)."
        )
    from data_loaders.ingest import write_release_meta

    meta = json.loads(meta_file.read_text())
    meta["band_fit"] = done
    meta.pop("capabilities", None)
    write_release_meta(path, meta)  # its column groups again: pages now offer the fit
    return done
