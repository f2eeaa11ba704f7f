"""Ingest an official-format 4XMM FITS catalogue into a HEALPix-ordered Parquet release.

The FITS file is memory-mapped and copied in row chunks, so a 1M x 330-column file is
never held in memory whole. Every column of the input is kept, with its unit and
description in the Parquet field metadata. Rows are ordered by HEALPix (nested,
``HPX_NSIDE``) of their position so that cone and box queries prune row groups. The
release is written beside its final place and swapped in atomically at the end
(:mod:`data_loaders.release_swap`): an interrupted ingest leaves the old or the new release,
and its temporary files are removed at the next start. The file is checked first
(:mod:`data_loaders.ingest_checks`, :mod:`data_loaders.catalogue_kind`): a bad file is one
sentence, before anything is written.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import astropy.units as u
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy_healpix import HEALPix

from data_loaders import capabilities, schema
from data_loaders.errors import IngestError
from data_loaders.process_cache import invalidate_path

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
    kind_label: str = ""
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        lines = [
            f"Release {self.name}: {self.n_detections:,} detections of {self.n_sources:,} sources, "
            f"{self.n_columns} columns -> {self.path}",
        ]
        if self.kind_label:
            lines.append(f"Read as a {self.kind_label}.")
        lines += self.notes
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
    hdu: fits.BinTableHDU,
    out: Path,
    progress: Callable[[int], None] | None,
    keep: np.ndarray | None = None,
    fit: tuple[list[str], list[str]] | None = None,
) -> tuple[int, int, list[str]]:
    """Write every row (or the rows where ``keep``) HEALPix-ordered; (rows, rows without position, columns).

    ``fit``: the five band-flux and error columns; the five-band fit (``PL_*``) is then computed chunk by
    chunk and written with the rows (any ``PL_*`` column of the file is replaced), so the file is written once.
    """
    from data_loaders.spectral.columns import arrow_fields, with_fit_columns

    data = hdu.data
    ra = np.asarray(data.field("RA"), dtype=np.float64)
    dec = np.asarray(data.field("DEC"), dtype=np.float64)
    hpx, order, bad = _hpx_order(ra, dec)
    if keep is not None:
        order = order[keep[order]]
        bad = bad & keep
    fit_fields = arrow_fields() if fit else []
    all_cols = list(hdu.columns)
    cols = [c for c in all_cols if c.name not in {f.name for f in fit_fields}]
    fields = [
        pa.field(
            c.name, _arrow_column(c, data.field(c.name)[:1], c.null).type, metadata=_field_metadata(c, hdu.header, i)
        )
        for i, c in enumerate(cols)
    ]
    name_from_srcid = "IAUNAME" not in hdu.columns.names
    if name_from_srcid:  # pages name sources by IAUNAME; say plainly that this is no IAU name
        fields.append(pa.field("IAUNAME", pa.string(), metadata={b"description": NO_IAU_NAME.encode()}))
    fields.append(
        pa.field(
            HPX_COLUMN,
            pa.int64(),
            metadata={b"description": f"HEALPix nested index, nside {HPX_NSIDE} (-1: no valid position)".encode()},
        )
    )
    fields += fit_fields
    arrow_schema = pa.schema(fields, metadata={b"xmm_explorer_ingest": str(INGEST_VERSION).encode()})
    base_schema = pa.schema(fields[: len(fields) - len(fit_fields)], metadata=arrow_schema.metadata)
    out.mkdir(parents=True)
    n = order.size
    with pq.ParquetWriter(out / "part-0.parquet", arrow_schema, compression="zstd") as writer:
        for start in range(0, n, ROW_GROUP_SIZE):
            idx = np.sort(order[start : start + ROW_GROUP_SIZE])  # ascending reads from the memmap
            chunk = data[idx]
            arrays = [_arrow_column(c, chunk.field(c.name), c.null) for c in cols]
            if name_from_srcid:
                arrays.append(pa.array(np.char.add("SRCID ", np.asarray(chunk.field("SRCID")).astype(str))))
            arrays.append(pa.array(hpx[idx]))
            table = pa.Table.from_arrays(arrays, schema=base_schema)
            # Within the group, order by HEALPix so statistics stay tight.
            table = table.take(pa.array(np.argsort(hpx[idx], kind="stable")))
            if fit:
                table = with_fit_columns(table, fit).cast(arrow_schema)
            writer.write_table(table, row_group_size=ROW_GROUP_SIZE)
            if progress:
                progress(len(idx))
        if n == 0 and fit:
            writer.write_table(arrow_schema.empty_table())
    return n, int(bad.sum()), [c.name for c in all_cols]


NO_IAU_NAME = capabilities.NO_IAU_NAME

#: Unique-source columns ingest derives when the file lacks them, and how.
DERIVED_DESCRIPTIONS = {
    "SC_RA": "RA of the source's detection with the smallest POSERR (the file has no SC_RA)",
    "SC_DEC": "DEC of the source's detection with the smallest POSERR (the file has no SC_DEC)",
    "SC_POSERR": "POSERR of that detection (the file has no unique-source position)",
    "MJD_FIRST": "Earliest MJD_START of the source's detections",
    "MJD_LAST": "Latest MJD_START of the source's detections",
    "SC_EP_8_FLUX": "Error-weighted mean EP_8_FLUX of the source's detections (the file has no SC_EP_8_FLUX)",
    "SC_EP_8_FLUX_ERR": "Error of that mean",
    "SC_SUM_FLAG": "Highest SUM_FLAG of the source's detections (the file has no SC_SUM_FLAG)",
}


def _write_sources(detections_dir: Path, out: Path) -> tuple[int, bool]:
    """Derive the unique-source table (one row per SRCID) from the SC_ columns; (rows, band fit done).

    Where the file has the five ``SC_EP_`` band fluxes, the five-band fit (``PL_*``) is added before
    the table is written (once).

    A file without unique-source positions or first/last dates gets them from its detections
    (:data:`DERIVED_DESCRIPTIONS`, also in the Parquet field descriptions).
    """
    available = pq.read_schema(detections_dir / "part-0.parquet").names
    wanted = list(dict.fromkeys(c for c in ("SRCID", "IAUNAME", *schema.SOURCE_COLUMNS) if c in available))
    if "SC_RA" not in available or "SC_DEC" not in available:
        wanted += ["RA", "DEC", "POSERR"]  # no unique-source position: take the best-measured detection's
    if "MJD_FIRST" not in available and "MJD_START" in available:
        wanted.append("MJD_START")
    if "SC_EP_8_FLUX" not in available:
        wanted += ["EP_8_FLUX", "EP_8_FLUX_ERR"]
    if "SC_SUM_FLAG" not in available:
        wanted.append("SUM_FLAG")
    wanted = list(dict.fromkeys(wanted))
    table = pq.read_table(detections_dir, columns=wanted)
    full = table.to_pandas()
    frame = full.drop_duplicates("SRCID", keep="first").sort_values("SRCID")
    derived = []
    if "SC_RA" not in frame or "SC_DEC" not in frame:
        best = full.sort_values(["SRCID", "POSERR"], kind="stable").drop_duplicates("SRCID").set_index("SRCID")
        for src, col in (("RA", "SC_RA"), ("DEC", "SC_DEC"), ("POSERR", "SC_POSERR")):
            frame[col] = best[src].reindex(frame["SRCID"]).to_numpy()
        derived += ["SC_RA", "SC_DEC", "SC_POSERR"]
    if "MJD_START" in frame and "MJD_FIRST" not in available:
        mjd = full.groupby("SRCID")["MJD_START"]
        frame["MJD_FIRST"] = mjd.min().reindex(frame["SRCID"]).to_numpy()
        frame["MJD_LAST"] = mjd.max().reindex(frame["SRCID"]).to_numpy()
        derived += ["MJD_FIRST", "MJD_LAST"]
    if "SC_EP_8_FLUX" not in available:
        f = full["EP_8_FLUX"].to_numpy(np.float64, na_value=np.nan)
        with np.errstate(divide="ignore", invalid="ignore"):
            w = 1.0 / full["EP_8_FLUX_ERR"].to_numpy(np.float64, na_value=np.nan) ** 2
        w = np.where(np.isfinite(w) & np.isfinite(f), w, 0.0)
        sums = pd.DataFrame({"w": w, "wf": w * np.nan_to_num(f)}).groupby(full["SRCID"].to_numpy()).sum()
        sums = sums.reindex(frame["SRCID"].to_numpy())
        with np.errstate(divide="ignore", invalid="ignore"):
            frame["SC_EP_8_FLUX"] = np.where(sums.w > 0, sums.wf / sums.w, np.nan).astype(np.float32)
            frame["SC_EP_8_FLUX_ERR"] = np.where(sums.w > 0, 1 / np.sqrt(sums.w), np.nan).astype(np.float32)
        derived += ["SC_EP_8_FLUX", "SC_EP_8_FLUX_ERR"]
    if "SC_SUM_FLAG" not in available:
        frame["SC_SUM_FLAG"] = full.groupby("SRCID")["SUM_FLAG"].max().reindex(frame["SRCID"]).to_numpy()
        derived.append("SC_SUM_FLAG")
    frame = frame.drop(columns=[c for c in ("RA", "DEC", "POSERR", "MJD_START", "EP_8_FLUX", "EP_8_FLUX_ERR",
                                            "SUM_FLAG") if c in frame])  # fmt: skip
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
    fields = [
        f.with_metadata({b"description": DERIVED_DESCRIPTIONS[f.name].encode()}) if f.name in derived else f
        for f in src.schema
    ]
    src = src.cast(pa.schema(fields, metadata={**(src.schema.metadata or {}), **table.schema.metadata}))
    from data_loaders.spectral.columns import fit_names, with_fit_columns

    fit = fit_names(src.column_names, "SC_")
    if fit:
        src = with_fit_columns(src, fit)
    pq.write_table(src, out, compression="zstd", row_group_size=ROW_GROUP_SIZE)
    return len(frame), fit is not None


#: Added-value tables an ingest takes (``--classifications`` ...); the columns each needs are those
#: of its capability, so a table that passes ingest is one every page can use.
ADDED_TABLES = (capabilities.CLASSIFICATIONS, capabilities.COUNTERPARTS, capabilities.LONGTERM)


def check_added_table(kind: str, src: Path) -> list[str]:
    """The column names of added-value table ``src`` of ``kind``; IngestError if unreadable or incomplete."""
    group = capabilities.GROUPS[kind]
    src = Path(src)
    try:
        names = pq.read_schema(src).names
    except (OSError, pa.ArrowException) as exc:
        raise IngestError(f"{src.name} ({kind}) is not a readable Parquet file ({exc}).") from exc
    missing = [c for c in group.table_columns if c not in names]
    if missing:
        raise IngestError(
            f"{src.name} is not a complete {kind} table: it has no {', '.join(missing)} column"
            f"{'s' if len(missing) > 1 else ''}."
        )
    return names


def _copy_added_table(kind: str, src: Path, dest_dir: Path) -> None:
    check_added_table(kind, src)
    table = capabilities.GROUPS[kind].table
    if table is None:
        raise IngestError(f"{kind!r} is not an added-value table kind; expected one of {', '.join(ADDED_TABLES)}.")
    shutil.copyfile(src, dest_dir / table)


def find_added(fits_path: Path, added: dict[str, Path] | None) -> dict[str, Path]:
    """``added`` plus the tables named ``<stem without _cat>_<kind>.parquet`` found beside the file."""
    out = {k: Path(v) for k, v in (added or {}).items() if v}
    unknown = [k for k in out if k not in ADDED_TABLES]
    if unknown:
        raise IngestError(f"Unknown added-value table kind {unknown[0]!r}; expected one of {', '.join(ADDED_TABLES)}.")
    stem = Path(fits_path).stem.removesuffix("_cat")
    for kind in ADDED_TABLES:
        candidate = Path(fits_path).with_name(f"{stem}_{kind}.parquet")
        if kind not in out and candidate.exists():
            out[kind] = candidate
    return out


def release_name(name: str | None, header: fits.Header, fits_path: Path) -> str:
    """The release name: given, else from the CATALOG keyword ('4XMM-DR14' -> 'DR14'), else the file stem."""
    name = name or str(header.get("CATALOG", fits_path.stem)).replace("4XMM-", "") or fits_path.stem
    if not name.replace("-", "").replace("_", "").isalnum():
        raise IngestError(f"Release name {name!r} must be letters, digits, '-' or '_'.")
    return name


def ingest(
    fits_path: Path,
    data_dir: Path,
    name: str | None = None,
    *,
    title: str | None = None,
    added: dict[str, Path] | None = None,
    products: Path | None = None,
    observations: Path | None = None,
    synthetic: bool | None = None,
    drop_duplicates: bool = False,
    progress: bool = False,
) -> IngestReport:
    """Ingest ``fits_path`` (any kind :mod:`catalogue_kind` recognises) as release ``name`` under ``data_dir/releases``.

    ``added`` maps 'classifications' / 'counterparts' / 'longterm' to Parquet files;
    files named ``<stem-without-_cat>_<kind>.parquet`` beside the FITS file are found
    automatically. ``products`` is the archive-layout product directory of this release;
    ``observations`` the observation table (coverage). Repeated DETIDs are refused unless
    ``drop_duplicates`` (the first row of each is kept and the others counted in the report).
    Stacked files go to :func:`data_loaders.ingest_stacked.ingest_stacked` with the same options.
    """
    import time

    from data_loaders import release_swap
    from data_loaders.catalogue_kind import recognise
    from data_loaders.ingest_checks import check_columns, duplicate_sentence, duplicated, open_fits_table

    t0 = time.perf_counter()
    fits_path = Path(fits_path)
    root = releases_dir(data_dir)
    release_swap.clean_stale(root)
    hdul, hdu = open_fits_table(fits_path)
    try:
        kind = recognise(hdu, hdul[0].header, fits_path.name)
    except BaseException:
        hdul.close()
        raise
    if kind.stacked:
        hdul.close()
        from data_loaders.ingest_stacked import ingest_stacked

        return ingest_stacked(
            fits_path, data_dir, name, title=title, added=added, products=products, observations=observations,
            synthetic=synthetic, drop_duplicates=drop_duplicates, kind=kind,
        )  # fmt: skip
    header = hdu.header
    tmp = None
    try:
        notes = check_columns(hdu, schema.COLUMNS_BY_NAME, fits_path.name)
        detid = np.asarray(hdu.data.field("DETID"))
        repeat = duplicated(detid)
        if repeat.any() and not drop_duplicates:
            raise IngestError(duplicate_sentence(fits_path.name, "DETID", detid, repeat))
        if repeat.any():
            notes.append(f"{int(repeat.sum()):,} rows with a repeated DETID dropped (the first row of each kept).")
        if synthetic is None:
            synthetic = bool(header.get("SYNTHETC", hdul[0].header.get("SYNTHETC", False)))
        name = release_name(name, header, fits_path)
        added = find_added(fits_path, added)
        for table_kind, path in added.items():
            check_added_table(table_kind, path)  # before the long part: a bad table fails at once
        tmp = release_swap.build_dir(root, name)
        bar = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=int(header["NAXIS2"]), unit="rows", desc=f"ingest {fits_path.name}")
        from data_loaders.spectral.columns import BANDFIT_VERSION, fit_names

        # Derived columns, the five-band power-law fit (PL_*), are computed while each table is written.
        det_fit = fit_names(hdu.columns.names, "EP_")
        n, n_bad, columns = _write_detections(
            hdu,
            tmp / schema.DETECTIONS_DIR,
            bar.update if bar else None,
            keep=~repeat if repeat.any() else None,
            fit=det_fit,
        )
        if bar:
            bar.close()
        hdul.close()
        n_sources, src_fit = _write_sources(tmp / schema.DETECTIONS_DIR, tmp / schema.SOURCES_FILE)
        band_fit = {
            "version": BANDFIT_VERSION,
            "detections": n if det_fit else 0,
            "sources": n_sources if src_fit else 0,
        }
        for table_kind, path in added.items():
            _copy_added_table(table_kind, path, tmp)
        tables = sorted(added)
        if observations is not None:
            from data_loaders.coverage import attach_observations

            attach_observations(tmp, Path(observations))
            tables.append("observations")
        meta = {
            "name": name,
            "title": title or str(header.get("CATALOG", f"4XMM-{name}")),
            "synthetic": synthetic,
            "kind": "detections",
            "kind_label": kind.label,
            "source_file": str(fits_path.resolve()),
            "ingested": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "ingest_version": INGEST_VERSION,
            "n_detections": n,
            "n_sources": n_sources,
            "n_bad_coordinates": n_bad,
            "n_duplicates_dropped": int(repeat.sum()),
            "n_columns": len(columns),
            "healpix_nside": HPX_NSIDE,
            "added_tables": tables,
            "products": str(Path(products).resolve()) if products else None,
            "notes": notes,
            "band_fit": band_fit,
        }
        write_release_meta(tmp, meta)
        final = root / name
        release_swap.install_release(tmp, final)
    except BaseException:
        hdul.close()
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
        raise
    report = IngestReport(
        name=name,
        path=final,
        n_detections=n,
        n_sources=n_sources,
        n_columns=len(columns),
        n_bad_coordinates=n_bad,
        added_tables=tables,
        seconds=time.perf_counter() - t0,
        kind_label=kind.label,
        notes=notes,
    )
    log.info(report.summary())
    return report


def write_release_meta(release_dir: Path, meta: dict) -> None:
    """Write ``release.json`` with the column groups the release has (:mod:`data_loaders.capabilities`)."""
    meta = {**meta, "capabilities": capabilities.scan_release(release_dir).to_meta()}
    (Path(release_dir) / schema.RELEASE_META_FILE).write_text(json.dumps(meta, indent=2))


def install_release(built: Path, final: Path) -> None:
    """Make the fully written release ``built`` the release ``final`` atomically (see :mod:`release_swap`)."""
    from data_loaders.release_swap import install_release as swap

    swap(built, final)


def read_release_meta(path: Path) -> dict:
    """The release.json of an ingested release directory."""
    return json.loads((Path(path) / schema.RELEASE_META_FILE).read_text())


def record_added_table(release_dir: Path, table: str) -> None:
    """Name ``table`` among the release's added-value tables in its release.json (written aside and
    renamed, so a reader never sees half a file); nothing when the directory has no release.json.

    What this process cached from the release is forgotten, so its next page reads the table.
    """
    meta_path = Path(release_dir) / schema.RELEASE_META_FILE
    if not meta_path.exists():
        return
    meta = json.loads(meta_path.read_text())
    meta["added_tables"] = sorted(set(meta.get("added_tables") or []) | {table})
    tmp = meta_path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(meta, indent=2))
    tmp.replace(meta_path)
    invalidate_path(release_dir)


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
