"""Table exports through astropy (VOTable, ECSV; materialised) and pyarrow (Parquet; streamed)."""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator, Mapping
from typing import IO, Any

import astropy.units as u
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from astropy.table import Column, MaskedColumn, Table

from data_loaders.export.frames import (
    ExportError,
    check_limit,
    kind_of,
    numpy_dtype,
    text_values,
)

#: VOTable and ECSV are written from one in-memory table (astropy takes ~20 s per 1M
#: VOTable rows); larger selections must go to FITS or Parquet.
MATERIALISE_MAX_ROWS = 500_000
PROVENANCE_KEY = b"xmm_explorer.provenance"


def _chain(first: pd.DataFrame, rest: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    if len(first):
        yield first
    yield from rest


def _unit(text: str | None) -> u.UnitBase | None:
    if not text:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", u.UnitsWarning)
        return u.Unit(text, parse_strict="silent")


def materialise(
    first: pd.DataFrame, chunks: Iterator[pd.DataFrame], fmt: str, max_rows: int | None, limit: int
) -> pd.DataFrame:
    """All chunks as one frame, refusing more than ``limit`` rows for this format."""
    parts, rows = [], 0
    for chunk in _chain(first, chunks):
        rows += len(chunk)
        check_limit(rows, max_rows)
        if rows > limit:
            raise ExportError(
                f"{fmt.upper()} export is limited to {limit:,} rows; choose FITS or Parquet for larger selections."
            )
        parts.append(chunk)
    return pd.concat(parts, ignore_index=True) if parts else first


def to_astropy(
    frame: pd.DataFrame, units: Mapping[str, str | None], descriptions: Mapping[str, str], votable: bool = False
) -> Table:
    """An astropy Table with units, descriptions and masks for missing values.

    For VOTable, int8 becomes int16 and unsigned wider than 8 bits the next signed type.
    """
    table = Table()
    for name in frame.columns:
        s = frame[name]
        kind = kind_of(s)
        missing = s.isna().to_numpy(dtype=bool)
        if kind == "str":
            values, missing = text_values(s)
            data: Any = values.astype(str) if len(values) else np.array([], dtype="U1")
        elif kind == "float":
            data = s.to_numpy(dtype=numpy_dtype(s), na_value=np.nan)
            missing = np.zeros(len(s), dtype=bool)  # NaN is its own marker
        elif kind == "bool":
            data = s.to_numpy(dtype=bool, na_value=False)
        else:
            np_type = numpy_dtype(s)
            if votable and np_type == np.int8:
                np_type = np.dtype("int16")
            elif votable and np_type.kind == "u" and np_type.itemsize > 1:
                np_type = np.dtype(f"int{min(np_type.itemsize * 16, 64)}")
            data = s.to_numpy(dtype=np_type, na_value=0)
        cls = MaskedColumn if missing.any() else Column
        kwargs = {"mask": missing} if missing.any() else {}
        table[name] = cls(
            data, name=name, unit=_unit(units.get(name)), description=descriptions.get(name) or None, **kwargs
        )
    return table


def write_votable(
    frame: pd.DataFrame,
    stream: IO[bytes],
    units: Mapping[str, str | None],
    descriptions: Mapping[str, str],
    provenance: Mapping[str, str],
) -> int:
    from astropy.io.votable import from_table
    from astropy.io.votable.tree import Info

    vot = from_table(to_astropy(frame, units, descriptions, votable=True))
    resource = vot.resources[0]
    resource.description = "Rows exported from XMM Explorer"
    for key, value in provenance.items():
        resource.infos.append(Info(name=key, value=value))
    table = resource.tables[0]
    table.name = "selection"
    table.description = provenance.get("selection", "XMM Explorer export")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", u.UnitsWarning)
        vot.to_xml(stream, tabledata_format="binary2")
    return len(frame)


def write_ecsv(
    frame: pd.DataFrame,
    stream: IO[str],
    units: Mapping[str, str | None],
    descriptions: Mapping[str, str],
    provenance: Mapping[str, str],
) -> int:
    table = to_astropy(frame, units, descriptions)
    table.meta["provenance"] = dict(provenance)
    table.write(stream, format="ascii.ecsv")
    return len(frame)


def _arrow_schema(
    first: pd.DataFrame, units: Mapping[str, str | None], descriptions: Mapping[str, str], provenance: Mapping[str, str]
) -> pa.Schema:
    base = pa.Schema.from_pandas(first, preserve_index=False)
    fields = []
    for field in base:
        meta = {}
        if units.get(field.name):
            meta[b"unit"] = str(units[field.name]).encode()
        if descriptions.get(field.name):
            meta[b"description"] = descriptions[field.name].encode()
        fields.append(field.with_metadata(meta or None))
    meta = dict(base.metadata or {})
    meta[PROVENANCE_KEY] = json.dumps(dict(provenance)).encode()
    for key, value in provenance.items():
        meta[f"xmm_explorer.{key}".encode()] = value.encode()
    return pa.schema(fields, metadata=meta)


def write_parquet(
    chunks: Iterator[pd.DataFrame],
    first: pd.DataFrame,
    stream: Any,
    units: Mapping[str, str | None],
    descriptions: Mapping[str, str],
    provenance: Mapping[str, str],
    rows_hint: int | None,
    max_rows: int | None,
) -> int:
    """Parquet through ``ParquetWriter``: one row group per chunk, nothing held whole.

    Units and descriptions are field metadata; provenance is schema metadata (JSON under
    ``xmm_explorer.provenance`` plus one ``xmm_explorer.<key>`` entry per item).
    """
    schema = _arrow_schema(first, units, descriptions, provenance)
    rows = 0
    with pq.ParquetWriter(stream, schema, compression="zstd") as writer:
        for chunk in _chain(first, chunks):
            rows += len(chunk)
            check_limit(rows, max_rows)
            try:
                table = pa.Table.from_pandas(chunk, schema=schema, preserve_index=False)
            except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
                raise ExportError(f"A later chunk does not match the first one's column types ({exc}).") from None
            writer.write_table(table)
        if rows_hint is None:
            writer.add_key_value_metadata({"xmm_explorer.rows": str(rows)})
    return rows
