"""A very large synthetic release written directly as HEALPix-ordered Parquet, in bounded memory.

``generate_demo`` builds the whole sky in one go (about 5.5 GB at 1M detections), which does
not scale to 10^8 rows. Here the sky is cut into independent *observation-group partitions*:
each partition is a complete little sky (field groups, observations, sources, detections)
made by the same generator functions as the ordinary demo, with its own random stream
``default_rng([seed, partition, rows])``, so the output depends only on
``(n_detections, seed)``, never on the number of worker processes or their timing.
Sources never straddle partitions (a source belongs to one field group), so the SC_* values
and the unique-source table are exact per partition.

Writing happens in two passes:

1. every partition is generated (in worker processes), its rows tagged with the HEALPix
   index ``HPX`` (nside 64, nested, as ingest does), sorted by (HPX, DETID) and spilled to a
   zstd-compressed Arrow IPC file in record batches of at most ``spill_batch_rows(n)`` rows
   (sources likewise, by (HPX, SRCID));
2. the main process streams the partitions' files together in (HPX, DETID) order into
   ``detections.parquet/part-0.parquet``, in row groups of exactly ``ROW_GROUP_SIZE`` rows
   (``sources.parquet`` likewise). Identifiers grow with the partition index (OBS_ID starts
   with it), so within one pixel the (HPX, DETID) order is partition 0's rows, then partition
   1's, ...: a k-way merge of sorted streams by (HPX, partition) (:class:`_Merge`), with no
   sort in the main process. It holds one spill batch per partition (``MERGE_BUFFER_ROWS``
   rows in all, up to 512 partitions) plus about two row groups, whatever the number of rows.
   Spill files are read, not memory-mapped: the pages of a memory map stay in the process's
   resident set, so reading every spill file through one grew the merge by the size of the
   whole spill (~115 bytes per detection).

The output depends only on ``(n_detections, seed, rows_per_partition)`` (and
``row_group_size``): each row group is written from one contiguous chunk, so neither the
spill batch size nor the merge's steps show in the bytes.

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
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
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

from data_loaders import pyramid, schema
from data_loaders.demo.catalogue import build_catalogue
from data_loaders.demo.detections import observe_enough, trim_to
from data_loaders.demo.sky import make_groups, make_observations
from data_loaders.ingest import HPX_COLUMN, HPX_NSIDE, ROW_GROUP_SIZE, install_release, releases_dir

#: Detections per generated partition: ~1.3 GB peak in the process generating it.
ROWS_PER_PARTITION = 200_000
#: The merge holds one decompressed spill batch per partition, about this many rows in all
#: (~50 MB of detections, ~60 MB of sources): spill batches have MERGE_BUFFER_ROWS // partitions
#: rows, at least MIN_SPILL_BATCH_ROWS (at 10^8 rows, 500 partitions: 524-row batches). Past
#: 512 partitions the merge buffer grows as 512 rows per partition.
MERGE_BUFFER_ROWS = 262_144
MIN_SPILL_BATCH_ROWS = 512
MAX_PARTITIONS = 10_000  # OBS_ID carries the partition in 4 digits
GENERATOR_VERSION = 1

# The catalogue's own columns; the derived PL_* fit is added by `xmm-explorer bandfit --release`.
DETECTION_COLUMNS = (*(c for c in schema.EXPLORE_COLUMNS if c not in schema.BANDFIT_NAMES), "MJD_STOP")
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


def spill_batch_rows(n_partitions: int) -> int:
    """Rows per spill record batch when there are ``n_partitions`` partitions."""
    return max(MIN_SPILL_BATCH_ROWS, MERGE_BUFFER_ROWS // max(n_partitions, 1))


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
# Decompress in the calling thread: each Arrow CPU thread that allocates keeps its own
# allocator heap. Merging 4M rows with 32 CPU threads peaked at 0.70 GB with threaded
# decompression, 0.37 GB without (as with 2 threads).
_IPC_READ_OPTIONS = ipc.IpcReadOptions(use_threads=False)


def _spill(table: pa.Table, path: Path, id_column: str, batch_rows: int) -> tuple[int, int]:
    """Write ``table`` sorted by (HPX, id) in record batches of ``batch_rows``; returns the id range."""
    table = table.take(pc.sort_indices(table, [(HPX_COLUMN, "ascending"), (id_column, "ascending")]))
    with pa.OSFile(str(path), "wb") as sink, ipc.new_file(sink, table.schema, options=_IPC_OPTIONS) as writer:
        writer.write_table(table, max_chunksize=batch_rows)
    ids = pc.min_max(table.column(id_column))
    return ids["min"].as_py(), ids["max"].as_py()


def _partition_task(job: tuple[int, int, int, str, int]) -> tuple[int, int, int, tuple, tuple, int]:
    """Worker: generate one partition and spill it; returns its sizes, id ranges and peak RSS."""
    seed, index, n_rows, tmp, batch_rows = job
    det, src = generate_partition(seed, index, n_rows)
    det_ids = _spill(det, Path(tmp) / f"det-{index:05d}.arrow", "DETID", batch_rows)
    src_ids = _spill(src, Path(tmp) / f"src-{index:05d}.arrow", "SRCID", batch_rows)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return index, det.num_rows, src.num_rows, det_ids, src_ids, rss


class _SpillFile:
    """One partition's spill file, read a record batch at a time (read, not memory-mapped).

    With more partitions than spare file descriptors it is reopened for each batch.
    """

    def __init__(self, path: Path, keep_open: bool):
        self._path = str(path)
        self._keep_open = keep_open
        self._file = self._reader = None
        reader = self._open()
        self.n_batches, self.schema = reader.num_record_batches, reader.schema
        self.next = 0
        self._release()

    def _open(self) -> ipc.RecordBatchFileReader:
        if self._reader is None:
            self._file = pa.OSFile(self._path, "rb")
            self._reader = ipc.open_file(self._file, options=_IPC_READ_OPTIONS)
        return self._reader

    def _release(self) -> None:
        if not self._keep_open:
            self.close()

    def read_next(self) -> pa.RecordBatch | None:
        """The next non-empty batch, or None (and the file closed) at the end."""
        while self.next < self.n_batches:
            batch = self._open().get_batch(self.next)
            self.next += 1
            if batch.num_rows:
                self._release()
                return batch
        self.close()
        return None

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
        self._file = self._reader = None


#: Merge keys: stream i's rows are ``i * _KEY_SHIFT + HPX`` (HPX < 12 * 64**2 < _KEY_SHIFT - 1),
#: and the unused end of its row of the key array is ``i * _KEY_SHIFT + _KEY_PAD``.
_KEY_SHIFT = 1 << 17
_KEY_PAD = _KEY_SHIFT - 1
_DONE = np.iinfo(np.int64).max


class _Merge:
    """Pass 2: k-way merge of the partitions' spill files by (HPX, partition) into one Parquet file.

    Each file is sorted by (HPX, id) and ids grow with the partition index, so the
    (HPX, partition, row) order is the (HPX, id) order. One batch per partition is loaded.
    Every step finds the loaded batch ending at the smallest (HPX, partition) -- no row after
    that can be in a batch not loaded yet -- and emits every loaded row up to it, which uses
    up at least that batch. Steps work on one (partitions x batch_rows) array of keys
    ``partition * _KEY_SHIFT + HPX``, which is sorted as a whole: a step is a few numpy calls
    (one ``searchsorted`` finds where every partition stops), not a Python loop over
    partitions. Emitted rows are kept as row numbers into the loaded batches and gathered by
    one ``take`` per row group, written as one contiguous chunk. Memory: one batch per
    partition, the batches that still hold unwritten rows (about a row group) and the row
    group being written.
    """

    def __init__(self, files: list[_SpillFile], batch_rows: int):
        k = len(files)
        self.files = files
        self.batch_rows = batch_rows
        self.part = np.arange(k)
        self.offset = self.part * _KEY_SHIFT
        self.keys = np.empty((k, batch_rows), np.int64)  # row i: keys of partition i's loaded batch
        self.n_loaded = np.zeros(k, np.int64)  # rows of each loaded batch (0: partition done)
        self.pos = np.zeros(k, np.int64)  # its first row not emitted yet
        self.last = np.full(k, _DONE)  # its last HPX (_DONE: partition done)
        self.base = np.zeros(k, np.int64)  # row number of its first row in `chunks`
        self.chunks: list[pa.RecordBatch] = []  # batches still holding rows not written
        self.n_chunk_rows = 0
        self.pending: list[np.ndarray] = []  # emitted rows not written: row numbers into `chunks`
        self.n_pending = 0
        for i in range(k):
            self._load(i)

    def _load(self, i: int) -> None:
        batch = self.files[i].read_next()
        if batch is None:
            self.n_loaded[i], self.pos[i], self.last[i] = 0, 0, _DONE
            self.keys[i] = self.offset[i] + _KEY_PAD
            return
        if batch.num_rows > self.batch_rows:
            raise RuntimeError(f"spill batch of {batch.num_rows} rows, more than {self.batch_rows}")
        hpx = batch.column(HPX_COLUMN).to_numpy()
        self.keys[i, : hpx.size] = self.offset[i] + hpx
        self.keys[i, hpx.size :] = self.offset[i] + _KEY_PAD
        self.n_loaded[i], self.pos[i], self.last[i], self.base[i] = hpx.size, 0, hpx[-1], self.n_chunk_rows
        self.chunks.append(batch)
        self.n_chunk_rows += hpx.size

    def step(self) -> bool:
        """Emit the next run of rows (to ``pending``); False when every partition is done."""
        j = int(np.argmin(self.last))  # smallest last HPX; the lowest partition among equals
        if self.last[j] == _DONE:
            return False
        # Up to HPX <= last[j] in partitions <= j, HPX < last[j] in the others.
        query = self.offset + self.last[j] + (self.part <= j)
        ends = np.searchsorted(self.keys.reshape(-1), query) - self.part * self.batch_rows
        emit = np.flatnonzero(ends > self.pos)
        lengths = ends[emit] - self.pos[emit]
        which = np.repeat(emit, lengths)
        first = np.repeat(np.cumsum(lengths) - lengths, lengths)
        row = np.arange(which.size) - first + np.repeat(self.pos[emit], lengths)
        order = np.argsort(self.keys[which, row] - self.offset[which], kind="stable")  # HPX, partition
        self.pending.append((self.base[which] + row)[order])
        self.n_pending += which.size
        self.pos[emit] = ends[emit]
        for i in emit[self.pos[emit] == self.n_loaded[emit]]:
            self._load(int(i))
        return True

    def take(self, n: int) -> pa.Table:
        """The first ``n`` pending rows, as one chunk; forgets the batches no longer needed."""
        rows = np.concatenate(self.pending)
        table = pa.Table.from_batches(self.chunks, self.files[0].schema).take(rows[:n]).combine_chunks()
        rest = rows[n:]
        starts = np.cumsum([0] + [c.num_rows for c in self.chunks])
        live = self.n_loaded > 0
        chunk_of_rest = np.searchsorted(starts, rest, "right") - 1
        chunk_of_live = np.searchsorted(starts, self.base[live], "right") - 1
        keep = np.unique(np.r_[chunk_of_rest, chunk_of_live])
        shift = np.zeros(len(self.chunks), np.int64)
        shift[keep] = np.cumsum([0] + [self.chunks[c].num_rows for c in keep[:-1]]) - starts[keep]
        self.chunks = [self.chunks[c] for c in keep]
        self.n_chunk_rows = sum(c.num_rows for c in self.chunks)
        self.base[live] += shift[chunk_of_live]
        rest = rest + shift[chunk_of_rest]
        self.pending, self.n_pending = ([rest] if rest.size else []), rest.size
        return table


def _merge(kind: str, spill: Path, n_parts: int, batch_rows: int, out: Path, row_group_size: int) -> None:
    """Merge the ``kind`` spill files of ``n_parts`` partitions into ``out``, in exact row groups."""
    soft_limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    keep_open = soft_limit == resource.RLIM_INFINITY or n_parts + 64 <= soft_limit
    files = [_SpillFile(spill / f"{kind}-{i:05d}.arrow", keep_open) for i in range(n_parts)]
    try:
        merge = _Merge(files, batch_rows)
        with pq.ParquetWriter(out, files[0].schema, compression="zstd") as writer:
            while merge.step():
                while merge.n_pending >= row_group_size:
                    writer.write_table(merge.take(row_group_size), row_group_size=row_group_size)
            if merge.n_pending:
                writer.write_table(merge.take(merge.n_pending), row_group_size=row_group_size)
    finally:
        for f in files:
            f.close()


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
    sky_pyramid: bool = True,
) -> PartitionedReport:
    """Write a synthetic release of ``n_detections`` detections as ``data_dir/releases/name``.

    Same ``(n_detections, seed, rows_per_partition)`` gives byte-identical tables whatever
    ``workers`` is. ``workers`` processes generate partitions (default: CPU count, at most 2;
    0 generates in this process, the lowest-memory option); peak memory is about 1.3 GB per
    generating process, and ~0.4 GB in this process (merge included) whatever ``n_detections``
    is. Disk: the release takes ~255 bytes per detection, ~340 at the peak (the release and the
    source spill; the detection spill is deleted before the sources are merged). ``progress``
    is True for a progress bar on stderr, or a callable ``(stage, done, total)``.
    ``row_group_size`` (default 100k, as ingest) is smaller only in tests that need many row
    groups. ``sky_pyramid`` writes the sky's HEALPix pyramid after the release (:mod:`data_loaders.pyramid`;
    a separate process when ``workers`` > 0, ~4 GB at 3*10^7 rows; about 18 s per 10^6 rows on a busy
    machine). The release is written beside its final place and renamed in at the end, like an
    ingest.
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
        batch_rows = spill_batch_rows(len(sizes))
        jobs = [(seed, i, n, str(spill), batch_rows) for i, n in enumerate(sizes)]
        results = {}
        max_worker_rss = 0
        outputs: Iterator[tuple[int, int, int, tuple, tuple, int]]
        if workers <= 0:
            outputs = map(_partition_task, jobs)
            pool = None
        else:
            # 'spawn': workers start clean (no copy of the parent's memory, no inherited threads).
            pool = mp.get_context("spawn").Pool(workers, maxtasksperchild=25)
            outputs = pool.imap_unordered(_partition_task, jobs)
        try:
            for index, n_det, n_src, det_ids, src_ids, rss in outputs:
                results[index] = (n_det, n_src, det_ids, src_ids)
                max_worker_rss = max(max_worker_rss, rss)
                report_progress("generate", len(results), len(sizes))
        finally:
            if pool is not None:
                pool.close()
                pool.join()
        det_dir = tmp / schema.DETECTIONS_DIR
        det_dir.mkdir()
        order = [results[i] for i in range(len(sizes))]
        for column, ranges in (("DETID", [r[2] for r in order]), ("SRCID", [r[3] for r in order])):
            # The merge relies on it: every id of partition i is below every id of partition i + 1.
            if any(a[1] >= b[0] for a, b in zip(ranges[:-1], ranges[1:], strict=True)):
                raise RuntimeError(f"{column} ranges of the partitions overlap")
        _merge("det", spill, len(sizes), batch_rows, det_dir / "part-0.parquet", row_group_size)
        for i in range(len(sizes)):
            (spill / f"det-{i:05d}.arrow").unlink()  # disk: the detection spill is not needed any more
        report_progress("merge detections", 1, 2)
        _merge("src", spill, len(sizes), batch_rows, tmp / schema.SOURCES_FILE, row_group_size)
        report_progress("merge sources", 2, 2)
        shutil.rmtree(spill)
        n_det = sum(r[0] for r in order)
        n_src = sum(r[1] for r in order)
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
        # Zoomed-out sky views of every row draw from it (see data_loaders.pyramid). In its own
        # process when there are workers: its memory grows with the non-empty HEALPix cells
        # (~4 GB at 30M rows), and the merge's stays bounded.
        if not sky_pyramid:
            pass
        elif workers > 0:
            proc = mp.get_context("spawn").Process(target=pyramid.build_all, args=(final,))
            proc.start()
            proc.join()
            if proc.exitcode != 0:
                raise RuntimeError(f"building the sky pyramid of {final} failed (exit code {proc.exitcode})")
        else:
            pyramid.build_all(final)
        report_progress("sky pyramid", 1, 1)
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
