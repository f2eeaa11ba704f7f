"""Ingest an official-format 4XMM FITS catalogue into a HEALPix-ordered Parquet release.

The FITS file is memory-mapped and copied in row chunks, so a 1M x 330-column file is
never held in memory whole. Every column of the input is kept, with its unit and
description in the Parquet field metadata. Rows are ordered by HEALPix (nested,
``HPX_NSIDE``) of their position so that cone and box queries prune row groups. The
release is written beside its final place and renamed in at the end: an interrupted
ingest leaves no half-written release.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import astropy.units as u
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy_healpix import HEALPix

from data_loaders import schema
from data_loaders.errors import IngestError

log = logging.getLogger(__name__)

HPX_NSIDE = 64  # ~0.9 deg pixels: a 15' XMM field touches one to four of them
HPX_COLUMN = "HPX"
ROW_GROUP_SIZE = 100_000
INGEST_VERSION = 1


@dataclass
class IngestReport:
    """What an ingest did, for the CLI and the logs."""

    name: str
    path: Path
    n_detections: int
    n_sources: int
    n_columns: int
    n_bad_coordinates: int
    added_tables: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> str:
        lines = [
            f"Release {self.name}: {self.n_detections:,} detections of {self.n_sources:,} sources, "
            f"{self.n_columns} columns -> {self.path}",
        ]
        if self.n_bad_coordinates:
            lines.append(
                f"{self.n_bad_coordinates:,} rows have NaN or out-of-range RA/DEC: kept in the "
                f"release (HPX = -1) but they cannot be placed on the sky."
            )
        if self.added_tables:
            lines.append("Added-value tables: " + ", ".join(self.added_tables))
        if self.seconds:
            lines.append(f"{self.seconds:.1f} s ({self.n_detections / max(self.seconds, 1e-9):,.0f} rows/s)")
        return "\n".join(lines)


def releases_dir(data_dir: Path) -> Path:
    return Path(data_dir) / "releases"


def _open_table(path: Path) -> tuple[fits.HDUList, fits.BinTableHDU]:
    path = Path(path)
    if not path.exists():
        raise IngestError(f"{path} does not exist.")
    try:
        hdul = fits.open(path, memmap=True, lazy_load_hdus=False)
    except (OSError, ValueError, TypeError) as exc:
        raise IngestError(f"{path.name} is not a FITS file ({exc}).") from exc
    tables = [h for h in hdul if isinstance(h, fits.BinTableHDU)]
    if not tables:
        hdul.close()
        raise IngestError(f"{path.name} has no binary table HDU; a 4XMM catalogue is a FITS binary table.")
    hdu = max(tables, key=lambda h: h.header.get("NAXIS2", 0))
    names = set(hdu.columns.names)
    missing = [c for c in schema.REQUIRED_COLUMNS if c not in names]
    if missing:
        hdul.close()
        raise IngestError(f"{path.name} is not a 4XMM-like catalogue: missing required column(s) {', '.join(missing)}.")
    if hdu.header.get("NAXIS2", 0) == 0:
        hdul.close()
        raise IngestError(f"{path.name} has an empty catalogue table (0 rows).")
    return hdul, hdu


def _arrow_column(col: fits.Column, values: np.ndarray, tnull) -> pa.Array:
    """One FITS column chunk -> Arrow, keeping FITS nulls as nulls (NaN floats stay NaN)."""
    fmt = col.format.upper()
    if values.dtype.kind in "SU":
        strings = np.char.rstrip(values.astype(str))
        return pa.array(strings, type=pa.string(), mask=strings == "")
    if fmt.endswith("L"):
        return pa.array(np.asarray(values, dtype=bool))
    arr = np.asarray(values)
    arr = arr.astype(arr.dtype.newbyteorder("=")) if arr.dtype.byteorder == ">" else arr
    if arr.ndim > 1:  # vector columns are rare in 4XMM; keep them as lists
        return pa.array(list(arr))
    if tnull is not None and arr.dtype.kind in "iu":
        return pa.array(arr, mask=arr == tnull)
    return pa.array(arr)


def _field_metadata(col: fits.Column, header: fits.Header, index: int) -> dict[bytes, bytes]:
    meta = {}
    unit = col.unit or schema.unit_of(col.name)
    if unit:
        meta[b"unit"] = str(unit).encode()
    desc = schema.describe(col.name) or header.comments[f"TTYPE{index + 1}"] or ""
    if desc:
        meta[b"description"] = desc.encode()
    if col.null is not None:
        meta[b"fits_tnull"] = str(col.null).encode()
    return meta


def _hpx_order(ra: np.ndarray, dec: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """HEALPix index per row (-1 for bad coordinates), the row order, and the bad-row mask."""
    bad = ~(np.isfinite(ra) & np.isfinite(dec)) | (dec < -90) | (dec > 90) | (ra < 0) | (ra >= 360)
    hp = HEALPix(nside=HPX_NSIDE, order="nested")
    hpx = np.full(ra.size, -1, dtype=np.int64)
    good = ~bad
    hpx[good] = hp.lonlat_to_healpix(ra[good] * u.deg, dec[good] * u.deg)
    # Bad rows sort last (HPX = -1 would sort first; give them a large key instead).
    key = np.where(bad, np.iinfo(np.int64).max, hpx)
    order = np.lexsort((np.arange(ra.size), key))
    return hpx, order, bad


def _write_detections(
    hdu: fits.BinTableHDU, out: Path, progress: Callable[[int], None] | None
) -> tuple[int, int, list[str]]:
    data = hdu.data
    ra = np.asarray(data.field("RA"), dtype=np.float64)
    dec = np.asarray(data.field("DEC"), dtype=np.float64)
    hpx, order, bad = _hpx_order(ra, dec)
    cols = list(hdu.columns)
    fields = [
        pa.field(
            c.name, _arrow_column(c, data.field(c.name)[:1], c.null).type, metadata=_field_metadata(c, hdu.header, i)
        )
        for i, c in enumerate(cols)
    ]
    fields.append(
        pa.field(
            HPX_COLUMN,
            pa.int64(),
            metadata={b"description": f"HEALPix nested index, nside {HPX_NSIDE} (-1: no valid position)".encode()},
        )
    )
    arrow_schema = pa.schema(fields, metadata={b"xmm_explorer_ingest": str(INGEST_VERSION).encode()})
    out.mkdir(parents=True)
    n = ra.size
    with pq.ParquetWriter(out / "part-0.parquet", arrow_schema, compression="zstd") as writer:
        for start in range(0, n, ROW_GROUP_SIZE):
            idx = np.sort(order[start : start + ROW_GROUP_SIZE])  # ascending reads from the memmap
            chunk = data[idx]
            arrays = [_arrow_column(c, chunk.field(c.name), c.null) for c in cols]
            arrays.append(pa.array(hpx[idx]))
            table = pa.Table.from_arrays(arrays, schema=arrow_schema)
            # Within the group, order by HEALPix so statistics stay tight.
            table = table.take(pa.array(np.argsort(hpx[idx], kind="stable")))
            writer.write_table(table, row_group_size=ROW_GROUP_SIZE)
            if progress:
                progress(len(idx))
    return n, int(bad.sum()), [c.name for c in cols]


def _write_sources(detections_dir: Path, out: Path) -> int:
    """Derive the unique-source table (one row per SRCID) from the SC_ columns."""
    available = pq.read_schema(detections_dir / "part-0.parquet").names
    wanted = list(dict.fromkeys(c for c in ("SRCID", "IAUNAME", *schema.SOURCE_COLUMNS) if c in available))
    table = pq.read_table(detections_dir, columns=wanted)
    frame = table.to_pandas().drop_duplicates("SRCID", keep="first").sort_values("SRCID")
    if "N_DETECTIONS" not in frame:
        counts = table.column("SRCID").value_counts()
        frame["N_DETECTIONS"] = frame["SRCID"].map(
            dict(zip(counts.field(0).to_pylist(), counts.field(1).to_pylist(), strict=True))
        )
    if "SC_RA" in frame and "SC_DEC" in frame:
        ra = frame["SC_RA"].to_numpy(np.float64, na_value=np.nan)
        dec = frame["SC_DEC"].to_numpy(np.float64, na_value=np.nan)
        hpx, _, bad = _hpx_order(ra, dec)
        frame[HPX_COLUMN] = hpx
        gal = SkyCoord(np.where(bad, 0, ra) * u.deg, np.where(bad, 0, dec) * u.deg, frame="icrs").galactic
        frame["LII"] = np.where(bad, np.nan, gal.l.deg)
        frame["BII"] = np.where(bad, np.nan, gal.b.deg)
    src = pa.Table.from_pandas(frame, preserve_index=False)
    src = src.replace_schema_metadata({**(src.schema.metadata or {}), **table.schema.metadata})
    pq.write_table(src, out, compression="zstd", row_group_size=ROW_GROUP_SIZE)
    return len(frame)


_ADDED_TABLES = {
    "classifications": (schema.CLASSIFICATIONS_FILE, ("SRCID", "PbaC0", "prediction")),
    "counterparts": (schema.COUNTERPARTS_FILE, ("SRCID", "CATALOGUE", "SEPARATION")),
    "longterm": (schema.LONGTERM_FILE, ("SRCID", "MJD", "FLUX", "UPPER_LIMIT")),
}


def _copy_added_table(kind: str, src: Path, dest_dir: Path) -> None:
    filename, required = _ADDED_TABLES[kind]
    try:
        names = pq.read_schema(src).names
    except (OSError, pa.ArrowException) as exc:
        raise IngestError(f"{src.name} ({kind}) is not a readable Parquet file ({exc}).") from exc
    missing = [c for c in required if c not in names]
    if missing:
        raise IngestError(f"{src.name} is not a {kind} table: missing column(s) {', '.join(missing)}.")
    shutil.copyfile(src, dest_dir / filename)


def ingest(
    fits_path: Path,
    data_dir: Path,
    name: str | None = None,
    *,
    title: str | None = None,
    added: dict[str, Path] | None = None,
    products: Path | None = None,
    synthetic: bool | None = None,
    progress: bool = False,
) -> IngestReport:
    """Ingest ``fits_path`` as release ``name`` under ``data_dir/releases``.

    ``added`` maps 'classifications' / 'counterparts' / 'longterm' to Parquet files;
    files named ``<stem-without-_cat>_<kind>.parquet`` beside the FITS file are found
    automatically. ``products`` is the archive-layout product directory of this release.
    """
    import time

    t0 = time.perf_counter()
    fits_path = Path(fits_path)
    # Stacked catalogues (4XMM-DRns, 5XMM: summary + observation rows) have their own reader.
    from data_loaders.ingest_stacked import ingest_stacked, is_stacked_file

    if is_stacked_file(fits_path):
        return ingest_stacked(fits_path, data_dir, name, title=title, synthetic=synthetic, progress=progress)
    hdul, hdu = _open_table(fits_path)
    header = hdu.header
    if synthetic is None:
        synthetic = bool(header.get("SYNTHETC", False))
    name = name or str(header.get("CATALOG", fits_path.stem)).replace("4XMM-", "") or fits_path.stem
    if not name.replace("-", "").replace("_", "").isalnum():
        raise IngestError(f"Release name {name!r} must be letters, digits, '-' or '_'.")
    added = dict(added or {})
    stem = fits_path.stem.removesuffix("_cat")
    for kind in _ADDED_TABLES:
        candidate = fits_path.with_name(f"{stem}_{kind}.parquet")
        if kind not in added and candidate.exists():
            added[kind] = candidate

    root = releases_dir(data_dir)
    root.mkdir(parents=True, exist_ok=True)
    final = root / name
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}.ingest-", dir=root))
    try:
        bar = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=int(header["NAXIS2"]), unit="rows", desc=f"ingest {fits_path.name}")
        n, n_bad, columns = _write_detections(hdu, tmp / schema.DETECTIONS_DIR, bar.update if bar else None)
        if bar:
            bar.close()
        hdul.close()
        n_sources = _write_sources(tmp / schema.DETECTIONS_DIR, tmp / schema.SOURCES_FILE)
        from data_loaders.spectral.columns import add_fit_columns

        band_fit = add_fit_columns(tmp)  # derived columns: the five-band power-law fit (PL_*)
        for kind, path in added.items():
            _copy_added_table(kind, Path(path), tmp)
        meta = {
            "name": name,
            "title": title or str(header.get("CATALOG", f"4XMM-{name}")),
            "synthetic": synthetic,
            "kind": "detections",
            "source_file": str(fits_path.resolve()),
            "ingested": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "ingest_version": INGEST_VERSION,
            "n_detections": n,
            "n_sources": n_sources,
            "n_bad_coordinates": n_bad,
            "n_columns": len(columns),
            "healpix_nside": HPX_NSIDE,
            "added_tables": sorted(added),
            "products": str(Path(products).resolve()) if products else None,
            "band_fit": band_fit,
        }
        (tmp / schema.RELEASE_META_FILE).write_text(json.dumps(meta, indent=2))
        install_release(tmp, final)
    except BaseException:
        hdul.close()
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    report = IngestReport(
        name=name,
        path=final,
        n_detections=n,
        n_sources=n_sources,
        n_columns=len(columns),
        n_bad_coordinates=n_bad,
        added_tables=sorted(added),
        seconds=time.perf_counter() - t0,
    )
    log.info(report.summary())
    return report


def install_release(built: Path, final: Path) -> None:
    """Move a fully written release directory into its place, replacing any older one.

    The old release is moved aside first and removed only once the new one is in place, so a
    crash leaves either the old release or the new one, never a half-written mix.
    """
    old = None
    if final.exists():
        old = final.parent / f".{final.name}.old-{os.getpid()}"
        final.rename(old)
    built.rename(final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def read_release_meta(path: Path) -> dict:
    """The release.json of an ingested release directory."""
    return json.loads((Path(path) / schema.RELEASE_META_FILE).read_text())


def list_releases(data_dir: Path) -> list[dict]:
    """Metadata of every ingested release under ``data_dir``, sorted by name."""
    root = releases_dir(data_dir)
    if not root.exists():
        return []
    out = []
    for p in sorted(root.iterdir()):
        if p.is_dir() and not p.name.startswith(".") and (p / schema.RELEASE_META_FILE).exists():
            out.append(read_release_meta(p) | {"path": str(p)})
    return out


def source_frame_columns(path: Path) -> list[str]:
    """Columns of an ingested release's detection table."""
    return pq.read_schema(Path(path) / schema.DETECTIONS_DIR / "part-0.parquet").names
