"""Arrow and astropy views of export chunks, and the streamed Parquet export.

Parquet carries its metadata twice, for two kinds of reader: astropy's own
``table_meta_yaml`` (the ECSV-style header that ``Table.read`` turns back into units,
descriptions and ``meta['provenance']``, plus ``table::len::NAME`` for text widths), and
plain field metadata (``unit``, ``description``) with ``xmm_explorer.*`` schema entries
for pyarrow and pandas users.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator, Mapping
from typing import Any

import astropy.units as u
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from astropy.table import Column, MaskedColumn, Table
from astropy.table import meta as table_meta

from data_loaders import schema as catalogue_schema
from data_loaders.export.frames import (
    ExportError,
    chain,
    check_limit,
    kind_of,
    numpy_dtype,
    text_values,
    text_width_of,
)

PROVENANCE_KEY = b"xmm_explorer.provenance"


def _unit(text: str | None) -> u.UnitBase | None:
    if not text:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", u.UnitsWarning)
        return u.Unit(text, parse_strict="silent")


def to_astropy(frame: pd.DataFrame, units: Mapping[str, str | None], descriptions: Mapping[str, str]) -> Table:
    """An astropy Table with units, descriptions and masks for missing values."""
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
            data = s.to_numpy(dtype=numpy_dtype(s), na_value=0)
        cls = MaskedColumn if missing.any() else Column
        kwargs = {"mask": missing} if missing.any() else {}
        table[name] = cls(
            data, name=name, unit=_unit(units.get(name)), description=descriptions.get(name) or None, **kwargs
        )
    return table


def arrow_schema(first: pd.DataFrame) -> pa.Schema:
    """The Arrow schema of the export (pandas' own metadata left out)."""
    return pa.Schema.from_pandas(first, preserve_index=False).remove_metadata()


def arrow_table(chunk: pd.DataFrame, schema: pa.Schema) -> pa.Table:
    """One chunk as an Arrow table of ``schema`` (NaN becomes null), or one sentence why not."""
    try:
        return pa.Table.from_pandas(chunk, schema=schema, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise ExportError(f"A later chunk does not match the first one's column types ({exc}).") from None


def _parquet_schema(
    first: pd.DataFrame, units: Mapping[str, str | None], descriptions: Mapping[str, str], provenance: Mapping[str, str]
) -> pa.Schema:
    base = pa.Schema.from_pandas(first, preserve_index=False)  # pandas' metadata restores its dtypes
    fields = []
    for field in base:
        meta = {}
        if units.get(field.name):
            meta[b"unit"] = str(units[field.name]).encode()
        if descriptions.get(field.name):
            meta[b"description"] = descriptions[field.name].encode()
        fields.append(field.with_metadata(meta or None))
    empty = to_astropy(first.iloc[:0], units, descriptions)
    empty.meta["provenance"] = dict(provenance)
    meta = dict(base.metadata or {})
    meta[b"table_meta_yaml"] = "\n".join(table_meta.get_yaml_from_table(empty)).encode()
    for name in first.columns:
        if kind_of(first[name]) == "str":
            width = max(text_width_of(first[name]), catalogue_schema.text_width(name) or 1)
            meta[f"table::len::{name}".encode()] = str(width).encode()
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

    Text widths for astropy (``table::len::NAME``) are the schema's or the first
    chunk's longest value, whichever is larger (the schema is written before the rows).
    """
    schema = _parquet_schema(first, units, descriptions, provenance)
    rows = 0
    with pq.ParquetWriter(stream, schema, compression="zstd") as writer:
        for chunk in chain(first, chunks):
            rows += len(chunk)
            check_limit(rows, max_rows)
            writer.write_table(arrow_table(chunk, schema))
        if rows_hint is None:
            writer.add_key_value_metadata({"xmm_explorer.rows": str(rows)})
    return rows
