"""Alert output: alerts.parquet (criterion in the schema metadata) and alerts.jsonl, atomic and idempotent."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from data_loaders.alerts.compute import ALERT_COLUMNS

PARQUET_NAME = "alerts.parquet"
JSONL_NAME = "alerts.jsonl"
METADATA_KEY = b"xmm_explorer.alerts"


def _atomic_write(path: Path, write) -> None:
    """Write through ``write(tmp_path)`` to a temporary file beside ``path``, then rename over it."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_alerts(alerts: pd.DataFrame, out_dir: str | os.PathLike) -> tuple[Path, Path]:
    """Write ``alerts.parquet`` and ``alerts.jsonl`` into ``out_dir``; returns both paths.

    The Parquet schema metadata key ``xmm_explorer.alerts`` holds the criterion (preset, factor,
    confidence, default preset and a note) from ``alerts.attrs``. Each file is written to a
    temporary name and renamed, so readers never see half a file; the same alerts give
    byte-identical files on every run (no timestamps, fixed column order, no index).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    frame = alerts.reset_index(drop=True)
    cols = [c for c in ALERT_COLUMNS if c in frame.columns] + [c for c in frame.columns if c not in ALERT_COLUMNS]
    frame = frame[cols]
    meta = {k: v for k, v in alerts.attrs.items()}
    table = pa.Table.from_pandas(frame, preserve_index=False)
    schema_meta = dict(table.schema.metadata or {})
    schema_meta[METADATA_KEY] = json.dumps(meta, sort_keys=True).encode("utf-8")
    table = table.replace_schema_metadata(schema_meta)

    parquet_path = out / PARQUET_NAME
    jsonl_path = out / JSONL_NAME
    _atomic_write(parquet_path, lambda p: pq.write_table(table, p, compression="zstd"))

    def write_jsonl(p: Path) -> None:
        text = frame.to_json(orient="records", lines=True, double_precision=15) if len(frame) else ""
        if text and not text.endswith("\n"):
            text += "\n"
        p.write_text(text, encoding="utf-8")

    _atomic_write(jsonl_path, write_jsonl)
    return parquet_path, jsonl_path


def read_alerts(path: str | os.PathLike) -> pd.DataFrame:
    """Read ``alerts.parquet`` (a file or its directory); the criterion metadata goes to ``attrs``."""
    p = Path(path)
    if p.is_dir():
        p = p / PARQUET_NAME
    table = pq.read_table(p)
    frame = table.to_pandas()
    raw = (table.schema.metadata or {}).get(METADATA_KEY)
    if raw:
        frame.attrs.update(json.loads(raw))
    return frame
