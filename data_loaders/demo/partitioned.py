"""A very large synthetic release written directly as HEALPix-ordered Parquet, in bounded memory.

``generate_demo`` builds the whole sky in one go (about 5.5 GB at 1M detections), which does
not scale to 10^8 rows. Here the sky is cut into independent *observation-group partitions*:
each partition is a complete little sky (field groups, observations, sources, detections)
made by the same generator functions as the ordinary demo, with its own random stream
``default_rng([seed, partition, rows])``, so the output depends only on
``(n_detections, seed)``, never on the number of worker processes or their timing.
Sources never straddle partitions (a source belongs to one field group), so the SC_* values
and the unique-source table are exact per partition.

Writing happens in two passes, each holding only one partition or one sky bucket in memory:

1. every partition is generated (in worker processes), its rows tagged with the HEALPix
   index ``HPX`` (nside 64, nested, as ingest does), sorted by HPX and spilled to a
   compressed Arrow IPC file with one record batch per coarse *bucket* (nside 8);
2. for each bucket in sky order, the batches of every partition are gathered, sorted by
   (HPX, DETID) and appended to ``detections.parquet/part-0.parquet`` in row groups of
   exactly ``ROW_GROUP_SIZE`` rows (``sources.parquet`` likewise, by (HPX, SRCID)).

The result has the layout of an ingested release (``release.json``, ``detections.parquet``,
``sources.parquet``) and opens with :class:`data_loaders.catalogue.Catalogue` or
:class:`data_loaders.dask_catalogue.DaskCatalogue`. Only the columns the Explore page reads
are written: ``schema.EXPLORE_COLUMNS`` (+ ``MJD_STOP``, ``HPX``) per detection and every
``SC_*`` column per source. There are no added-value tables (classifications, counterparts,
long-term lightcurves) and no products.
"""

from __future__ import annotations

import datetime as dt
import json
import multiprocessing as mp
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import astropy.units as u
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.ipc as ipc
import pyarrow.parquet as pq
from astropy.coordinates import SkyCoord
from astropy_healpix import HEALPix

from data_loaders import schema
from data_loaders.demo.catalogue import build_catalogue
from data_loaders.demo.detections import observe_enough, trim_to
from data_loaders.demo.sky import make_groups, make_observations
from data_loaders.ingest import HPX_COLUMN, HPX_NSIDE, ROW_GROUP_SIZE, install_release, releases_dir

#: Detections per generated partition: ~1.3 GB peak in the process generating it.
ROWS_PER_PARTITION = 200_000
#: Spill buckets are nside-16 pixels (3072 of them): HPX (nside 64, nested) >> 4. The merge
#: holds one bucket at a time; at 10^8 rows the densest (Galactic centre) holds a few 10^5 rows.
BUCKET_SHIFT = 4
N_BUCKETS = 12 * 16 * 16
#: The merge sorts at most about this many rows at once (pixel runs of a bucket).
MERGE_ROWS = 500_000
MAX_PARTITIONS = 10_000  # OBS_ID carries the partition in 4 digits
GENERATOR_VERSION = 1

DETECTION_COLUMNS = (*schema.EXPLORE_COLUMNS, "MJD_STOP")
SOURCE_TABLE_COLUMNS = tuple(dict.fromkeys(("SRCID", "IAUNAME", *schema.SOURCE_COLUMNS)))

_ARROW = {
    "K": pa.int64(),
    "J": pa.int32(),
    "I": pa.int16(),
    "B": pa.uint8(),
    "E": pa.float32(),
    "D": pa.float64(),
    "L": pa.bool_(),
}


def _field(name: str) -> pa.Field:
    col = schema.COLUMNS_BY_NAME[name]
    meta = {b"description": col.description.encode()}
    if col.unit:
        meta[b"unit"] = col.unit.encode()
    return pa.field(name, pa.string() if col.is_string else _ARROW[col.fits_format], metadata=meta)


def _hpx_field(what: str) -> pa.Field:
    desc = f"HEALPix nested index of {what}, nside {HPX_NSIDE}"
    return pa.field(HPX_COLUMN, pa.int64(), metadata={b"description": desc.encode()})


_META = {b"xmm_explorer_generator": f"partitioned-demo/{GENERATOR_VERSION}".encode()}
DETECTION_SCHEMA = pa.schema([*(_field(c) for c in DETECTION_COLUMNS), _hpx_field("the detection")], metadata=_META)
SOURCE_SCHEMA = pa.schema(
    [*(_field(c) for c in SOURCE_TABLE_COLUMNS), _field("LII"), _field("BII"), _hpx_field("SC_RA/SC_DEC")],
    metadata=_META,
)


@dataclass
class PartitionedReport:
    """What :func:`write_partitioned_demo` wrote, with its timing."""

    name: str
    path: Path
    n_detections: int
    n_sources: int
    n_partitions: int
    seconds: float

    def summary(self) -> str:
        rate = self.n_detections / max(self.seconds, 1e-9)
        return (
            f"Release {self.name}: {self.n_detections:,} detections of {self.n_sources:,} sources in "
            f"{self.n_partitions} partitions -> {self.path} ({self.seconds:.0f} s, {rate:,.0f} rows/s)"
        )


def partition_sizes(n_detections: int, rows_per_partition: int = ROWS_PER_PARTITION) -> list[int]:
    """Rows of each partition: as even as possible, none above ``rows_per_partition``."""
    if n_detections < 1:
        raise ValueError("n_detections must be positive")
    n_parts = -(-n_detections // rows_per_partition)
    if n_parts > MAX_PARTITIONS:
        raise ValueError(f"{n_detections:,} detections need more than {MAX_PARTITIONS} partitions")
    base, extra = divmod(n_detections, n_parts)
    return [base + (1 if i < extra else 0) for i in range(n_parts)]


def _healpix(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    hp = HEALPix(nside=HPX_NSIDE, order="nested")
    return np.asarray(hp.lonlat_to_healpix(lon * u.deg, lat * u.deg), dtype=np.int64)


def generate_partition(seed: int, index: int, n_rows: int) -> tuple[pa.Table, pa.Table]:
    """One independent piece of the sky with exactly ``n_rows`` detections.

    Returns ``(detections, sources)`` Arrow tables (``DETECTION_SCHEMA``, ``SOURCE_SCHEMA``),
    unsorted. Identifiers are unique across partitions: OBS_ID is ``PPPPKKKKKK`` (partition,
    observation rank), and DETID/SRCID are derived from OBS_ID as in the ordinary demo.
    """
    if not 0 <= index < MAX_PARTITIONS:
        raise ValueError(f"partition index must be in [0, {MAX_PARTITIONS})")
    rng = np.random.default_rng([seed, index, n_rows])
    # The steps of generate_demo (data_loaders.demo), for one partition's worth of sky.
    n_obs = max(4, round(n_rows / 75))
    groups = make_groups(n_obs, rng)
    obs = make_observations(groups, rng)
    obs["OBS_ID"] = np.char.add(f"{index:04d}", np.char.zfill(np.arange(len(obs)).astype("U6"), 6)).astype(str)
    src, pairs, plant = observe_enough(groups, obs, n_rows, rng)
    pairs = trim_to(pairs, len(src), n_rows, rng)
    det = pairs.take(np.flatnonzero(pairs.detected))
    del pairs
    cat, _kept = build_catalogue(det, src, obs, plant, rng)
    del det, src, plant
    arrays = [
        pa.array(cat[c].to_numpy(), type=f.type) for c, f in zip(DETECTION_COLUMNS, DETECTION_SCHEMA, strict=False)
    ]
    arrays.append(pa.array(_healpix(cat["RA"].to_numpy(), cat["DEC"].to_numpy())))
    detections = pa.Table.from_arrays(arrays, schema=DETECTION_SCHEMA)
    first = ~cat["SRCID"].duplicated().to_numpy()
    src_frame = cat.loc[first, list(SOURCE_TABLE_COLUMNS)]
    del cat
    ra, dec = src_frame["SC_RA"].to_numpy(np.float64), src_frame["SC_DEC"].to_numpy(np.float64)
    gal = SkyCoord(ra * u.deg, dec * u.deg, frame="icrs").galactic
    arrays = [pa.array(src_frame[c].to_numpy(), type=SOURCE_SCHEMA.field(c).type) for c in SOURCE_TABLE_COLUMNS]
    arrays += [pa.array(gal.l.deg), pa.array(gal.b.deg), pa.array(_healpix(ra, dec))]
    sources = pa.Table.from_arrays(arrays, schema=SOURCE_SCHEMA)
    return detections, sources


_IPC_OPTIONS = ipc.IpcWriteOptions(compression="zstd")


def _spill(table: pa.Table, path: Path) -> dict[int, int]:
    """Write ``table`` sorted by HPX as one record batch per bucket; returns bucket -> batch number."""
    table = table.take(pc.sort_indices(table, [(HPX_COLUMN, "ascending")]))
    bucket = table.column(HPX_COLUMN).to_numpy() >> BUCKET_SHIFT
    edges = np.flatnonzero(np.r_[True, bucket[1:] != bucket[:-1], True])
    index = {}
    with pa.OSFile(str(path), "wb") as sink, ipc.new_file(sink, table.schema, options=_IPC_OPTIONS) as writer:
        for k, (lo, hi) in enumerate(zip(edges[:-1], edges[1:], strict=True)):
            writer.write_batch(table.slice(lo, hi - lo).combine_chunks().to_batches()[0])
            index[int(bucket[lo])] = k
    return index


def _partition_task(job: tuple[int, int, int, str]) -> tuple[int, dict[int, int], dict[int, int], int, int, int]:
    """Worker: generate one partition and spill it; returns its bucket indexes and sizes."""
    import resource

    seed, index, n_rows, tmp = job
    det, src = generate_partition(seed, index, n_rows)
    det_index = _spill(det, Path(tmp) / f"det-{index:05d}.arrow")
    src_index = _spill(src, Path(tmp) / f"src-{index:05d}.arrow")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return index, det_index, src_index, det.num_rows, src.num_rows, rss


class _RowGroupWriter:
    """Append sorted tables to one Parquet file in row groups of exactly ``ROW_GROUP_SIZE`` rows."""

    def __init__(self, path: Path, arrow_schema: pa.Schema, row_group_size: int = ROW_GROUP_SIZE):
        self._size = row_group_size
        self._writer = pq.ParquetWriter(path, arrow_schema, compression="zstd")
        self._pending: list[pa.Table] = []
        self._n = 0

    def append(self, table: pa.Table) -> None:
        self._pending.append(table)
        self._n += table.num_rows
        if self._n >= self._size:
            whole = pa.concat_tables(self._pending)
            cut = (self._n // self._size) * self._size
            self._writer.write_table(whole.slice(0, cut), row_group_size=self._size)
            rest = whole.slice(cut)
            self._pending, self._n = ([rest] if rest.num_rows else []), rest.num_rows

    def close(self) -> None:
        if self._n:
            self._writer.write_table(pa.concat_tables(self._pending), row_group_size=self._size)
        self._writer.close()


def _merge(kind: str, tmp: Path, indexes: list[dict[int, int]], out: Path, id_column: str, row_group_size: int) -> None:
    """Pass 2: bucket by bucket, gather every partition's batch, sort, append to ``out``."""
    readers = [ipc.open_file(pa.memory_map(str(tmp / f"{kind}-{i:05d}.arrow"))) for i in range(len(indexes))]
    writer = _RowGroupWriter(out, readers[0].schema, row_group_size)
    try:
        for b in range(N_BUCKETS):
            batches = [r.get_batch(idx[b]) for r, idx in zip(readers, indexes, strict=True) if b in idx]
            if not batches:
                continue
            # Every batch is HPX-sorted: merge runs of whole pixels, not the bucket at once.
            hpx = [rb.column(HPX_COLUMN).to_numpy() for rb in batches]
            pixels = np.unique(np.concatenate(hpx))
            per_pixel = sum(np.bincount(np.searchsorted(pixels, h), minlength=pixels.size) for h in hpx)
            cuts = [0]
            acc = 0
            for k, n in enumerate(per_pixel):
                if acc and acc + n > MERGE_ROWS:
                    cuts.append(k)
                    acc = 0
                acc += int(n)
            cuts.append(pixels.size)
            for lo_k, hi_k in zip(cuts[:-1], cuts[1:], strict=True):
                lo, hi = pixels[lo_k], pixels[hi_k - 1]
                pieces = []
                for batch, h in zip(batches, hpx, strict=True):
                    a, b_ = np.searchsorted(h, lo, "left"), np.searchsorted(h, hi, "right")
                    if b_ > a:
                        pieces.append(batch.slice(a, b_ - a))
                table = pa.Table.from_batches(pieces)
                table = table.take(pc.sort_indices(table, [(HPX_COLUMN, "ascending"), (id_column, "ascending")]))
                writer.append(table)
    finally:
        writer.close()


def write_partitioned_demo(
    data_dir: Path,
    name: str = "BIG",
    n_detections: int = 10_000_000,
    seed: int = 42,
    progress: bool | Callable[[str, int, int], None] = False,
    *,
    workers: int | None = None,
    rows_per_partition: int = ROWS_PER_PARTITION,
    row_group_size: int = ROW_GROUP_SIZE,
    title: str | None = None,
) -> PartitionedReport:
    """Write a synthetic release of ``n_detections`` detections as ``data_dir/releases/name``.

    Same ``(n_detections, seed, rows_per_partition)`` gives byte-identical tables whatever
    ``workers`` is. ``workers`` processes generate partitions (default: CPU count, at most 2;
    0 generates in this process, the lowest-memory option); peak memory is about 1.3 GB per
    generating process plus ~0.5 GB for the merge. ``progress`` is True for a progress bar on
    stderr, or a callable ``(stage, done, total)``. ``row_group_size`` (default 100k, as ingest)
    is smaller only in tests that need many row groups. The release is written beside its final
    place and renamed in at the end, like an ingest.
    """
    t0 = time.perf_counter()
    if not name.replace("-", "").replace("_", "").isalnum():
        raise ValueError(f"Release name {name!r} must be letters, digits, '-' or '_'.")
    sizes = partition_sizes(n_detections, rows_per_partition)
    if workers is None:
        workers = min(2, os.cpu_count() or 1)
    workers = min(workers, len(sizes))
    root = releases_dir(data_dir)
    root.mkdir(parents=True, exist_ok=True)
    final = root / name
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}.bigdemo-", dir=root))
    spill = tmp / "spill"
    spill.mkdir()
    report_progress = _progress(progress, len(sizes))
    try:
        jobs = [(seed, i, n, str(spill)) for i, n in enumerate(sizes)]
        results = {}
        max_worker_rss = 0
        if workers <= 0:
            outputs = map(_partition_task, jobs)
            pool = None
        else:
            # 'spawn': workers start clean (no copy of the parent's memory, no inherited threads).
            pool = mp.get_context("spawn").Pool(workers, maxtasksperchild=25)
            outputs = pool.imap_unordered(_partition_task, jobs)
        try:
            for index, det_idx, src_idx, n_det, n_src, rss in outputs:
                results[index] = (det_idx, src_idx, n_det, n_src)
                max_worker_rss = max(max_worker_rss, rss)
                report_progress("generate", len(results), len(sizes))
        finally:
            if pool is not None:
                pool.close()
                pool.join()
        det_dir = tmp / schema.DETECTIONS_DIR
        det_dir.mkdir()
        order = [results[i] for i in range(len(sizes))]
        _merge("det", spill, [r[0] for r in order], det_dir / "part-0.parquet", "DETID", row_group_size)
        report_progress("merge detections", 1, 2)
        _merge("src", spill, [r[1] for r in order], tmp / schema.SOURCES_FILE, "SRCID", row_group_size)
        report_progress("merge sources", 2, 2)
        shutil.rmtree(spill)
        n_det = sum(r[2] for r in order)
        n_src = sum(r[3] for r in order)
        meta = {
            "name": name,
            "title": title or f"4XMM synthetic sky, {n_det:,} detections",
            "synthetic": True,
            "kind": "detections",
            "source_file": None,
            "ingested": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "ingest_version": 1,
            "n_detections": n_det,
            "n_sources": n_src,
            "n_bad_coordinates": 0,
            "n_columns": len(DETECTION_SCHEMA),
            "healpix_nside": HPX_NSIDE,
            "added_tables": [],
            "products": None,
            "generator": {
                "name": "partitioned-demo",
                "version": GENERATOR_VERSION,
                "seed": seed,
                "partitions": len(sizes),
                "rows_per_partition": rows_per_partition,
                "max_worker_rss_bytes": int(max_worker_rss),
            },
        }
        (tmp / schema.RELEASE_META_FILE).write_text(json.dumps(meta, indent=2))
        install_release(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return PartitionedReport(name, final, n_det, n_src, len(sizes), time.perf_counter() - t0)


def _progress(progress, total: int) -> Callable[[str, int, int], None]:
    if callable(progress):
        return progress
    if not progress:
        return lambda stage, done, n: None
    from tqdm import tqdm

    bar = tqdm(total=total, desc="generate partitions", unit="part", file=sys.stderr)

    def update(stage: str, done: int, n: int) -> None:
        if stage == "generate":
            bar.update(done - bar.n)
            if done == n:
                bar.close()
        else:
            print(f"{stage}: done", file=sys.stderr)

    return update


__all__ = [
    "DETECTION_SCHEMA",
    "SOURCE_SCHEMA",
    "PartitionedReport",
    "generate_partition",
    "partition_sizes",
    "write_partitioned_demo",
]
