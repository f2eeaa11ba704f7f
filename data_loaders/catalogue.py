"""The catalogue of one ingested release, loaded once per process and shared read-only.

``Catalogue.detections`` and ``Catalogue.sources`` hold only the columns the Explore page
plots and filters, as numpy float32 where precision allows (datashader rejects Arrow-backed
numbers); other columns are read from the Parquet release on demand.
"""

from __future__ import annotations

import threading
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pyarrow.types as pat

from data_loaders import projection, schema
from data_loaders.errors import CatalogueError
from data_loaders.ingest import HPX_COLUMN, list_releases, read_release_meta, releases_dir

#: Columns kept in memory for the unique-source level (one row per SRCID).
SOURCE_LEVEL_COLUMNS = (
    "SRCID",
    "IAUNAME",
    "SC_RA",
    "SC_DEC",
    "LII",
    "BII",
    "SC_POSERR",
    "SC_DET_ML",
    "SC_EP_1_FLUX",
    "SC_EP_2_FLUX",
    "SC_EP_3_FLUX",
    "SC_EP_4_FLUX",
    "SC_EP_5_FLUX",
    "SC_EP_8_FLUX",
    "SC_EP_8_FLUX_ERR",
    "SC_EP_8_FMIN",
    "SC_EP_8_FMAX",
    "SC_HR1",
    "SC_HR2",
    "SC_HR3",
    "SC_HR4",
    "SC_EXTENT",
    "SC_SUM_FLAG",
    "SC_VAR_FLAG",
    "SC_CHI2PROB",
    "N_DETECTIONS",
    "MJD_FIRST",
    "MJD_LAST",
    HPX_COLUMN,
    "VAR_PROB",  # stacked releases: variability between observations
    "FRATIO",
    *schema.BANDFIT_NAMES,  # the five-band fit of the SC_ fluxes
)
LEVELS = ("detections", "sources")
FRAMES = ("icrs", "galactic")


def _numpy_frame(table) -> pd.DataFrame:
    """Arrow table -> pandas with numpy dtypes: float32 for measurements, float64 for positions."""
    out = {}
    for name in table.column_names:
        col = table.column(name)
        t = col.type
        if pat.is_floating(t):
            keep64 = name in ("RA", "DEC", "SC_RA", "SC_DEC", "LII", "BII") or name.startswith("MJD")
            out[name] = col.to_numpy().astype(np.float64 if keep64 else np.float32)
        elif pat.is_integer(t):
            arr = col.to_numpy(zero_copy_only=False)
            if col.null_count:
                out[name] = pd.array(col.to_pylist(), dtype="Int64")
            else:
                out[name] = arr
        elif str(t) == "bool":
            out[name] = col.fill_null(False).to_numpy(zero_copy_only=False).astype(bool)
        else:
            if col.num_chunks > 1:
                # One chunk per file or row group: taking rows from a chunked column costs about
                # a millisecond per call whatever their number (every page of the table does it).
                col = pa.chunked_array([col.combine_chunks()], type=t)
            out[name] = col.to_pandas()
    return pd.DataFrame(out)


class ReleaseDirectory:
    """What every catalogue backend knows of an ingested release directory: path and metadata."""

    def __init__(self, path: Path):
        self.path = Path(path)
        if not (self.path / schema.RELEASE_META_FILE).exists():
            raise CatalogueError(f"{self.path} is not an ingested release (no {schema.RELEASE_META_FILE}).")
        self.meta = read_release_meta(self.path)
        self.name: str = self.meta["name"]
        self.title: str = self.meta.get("title", self.name)
        self.synthetic: bool = bool(self.meta.get("synthetic"))


class Catalogue(ReleaseDirectory):
    """One ingested release (``data_dir/releases/NAME``) in memory.

    Attributes
    ----------
    name, title : str
        Release name (e.g. ``DR14``) and display title.
    synthetic : bool
        True for the generated demo catalogue (the UI labels it "synthetic demo data").
    detections : pandas.DataFrame
        One row per detection with ``schema.EXPLORE_COLUMNS`` (those present): positions in
        deg (float64), fluxes in erg/cm2/s, HRs, extent in arcsec (float32), flags.
    sources : pandas.DataFrame
        One row per SRCID with ``SOURCE_LEVEL_COLUMNS``: SC_ values, galactic LII/BII (deg).
    """

    def __init__(self, path: Path):
        super().__init__(path)
        self._dataset_path = self.path / schema.DETECTIONS_DIR
        self.all_columns = pq.read_schema(self._dataset_path / "part-0.parquet").names
        # UPPER_LIMIT marks the non-detection rows of stacked (5XMM-like) releases.
        wanted = [c for c in (*schema.EXPLORE_COLUMNS, HPX_COLUMN, "UPPER_LIMIT") if c in self.all_columns]
        self.detections = _numpy_frame(pq.read_table(self._dataset_path, columns=wanted))
        src_names = pq.read_schema(self.path / schema.SOURCES_FILE).names
        self.sources = _numpy_frame(
            pq.read_table(self.path / schema.SOURCES_FILE, columns=[c for c in SOURCE_LEVEL_COLUMNS if c in src_names])
        )
        self._xy: dict[tuple[str, str, str], tuple[np.ndarray, np.ndarray]] = {}
        self._lock = threading.Lock()
        self._add_class_columns()

    def _add_class_columns(self) -> None:
        """CLASS (index into schema.CLASS_NAMES, -1 unclassified) and CLASS_PROB on both levels."""
        cls = self.classifications
        for frame in (self.detections, self.sources):
            frame["CLASS"] = np.full(len(frame), -1, dtype=np.int8)
            frame["CLASS_PROB"] = np.full(len(frame), np.nan, dtype=np.float32)
        if cls is None or cls.empty:
            return
        probs = cls[[f"PbaC{i}" for i in range(len(schema.CLASS_NAMES))]].to_numpy(np.float32)
        srcid = cls["SRCID"].to_numpy(np.int64)
        order = np.argsort(srcid)
        srcid, probs = srcid[order], probs[order]
        pred = cls["prediction"].to_numpy(np.int8)[order]
        for frame in (self.detections, self.sources):
            ids = frame["SRCID"].to_numpy(np.int64)
            pos = np.clip(np.searchsorted(srcid, ids), 0, len(srcid) - 1)
            hit = srcid[pos] == ids
            frame.loc[hit, "CLASS"] = pred[pos[hit]]
            frame.loc[hit, "CLASS_PROB"] = probs[pos[hit]].max(axis=1)

    def __repr__(self) -> str:
        return f"Catalogue({self.name!r}, {len(self.detections):,} detections, {len(self.sources):,} sources)"

    # --- positions ---------------------------------------------------------------------------
    def frame(self, level: str) -> pd.DataFrame:
        if level not in LEVELS:
            raise ValueError(f"level must be one of {LEVELS}, not {level!r}")
        return self.detections if level == "detections" else self.sources

    def lonlat(self, level: str, frame: str) -> tuple[np.ndarray, np.ndarray]:
        """Longitude/latitude (deg) of every row of ``level`` in ``frame`` (icrs or galactic)."""
        df = self.frame(level)
        if frame == "galactic":
            return df["LII"].to_numpy(np.float64), df["BII"].to_numpy(np.float64)
        if level == "sources":
            return df["SC_RA"].to_numpy(np.float64), df["SC_DEC"].to_numpy(np.float64)
        return df["RA"].to_numpy(np.float64), df["DEC"].to_numpy(np.float64)

    def xy(self, level: str, frame: str, proj: str) -> tuple[np.ndarray, np.ndarray]:
        """Projected plane coordinates (float32, deg) computed once per process and cached."""
        key = (level, frame, proj)
        with self._lock:
            if key not in self._xy:
                lon, lat = self.lonlat(level, frame)
                x, y = projection.forward(lon, lat, proj)
                self._xy[key] = (x.astype(np.float32), y.astype(np.float32))
            return self._xy[key]

    def derived(self, level: str, key: str, compute) -> np.ndarray:
        """A per-process cached array derived from a level's columns (e.g. log10 of a flux)."""
        full = ("derived", level, key)
        with self._lock:
            if full not in self._xy:
                self._xy[full] = compute()
            return self._xy[full]

    def log10(self, level: str, column: str) -> np.ndarray:
        """log10 of a positive column (NaN where not positive), float32, cached per process."""

        def compute():
            v = self.frame(level)[column].to_numpy(np.float32)
            with np.errstate(divide="ignore", invalid="ignore"):
                return np.where(v > 0, np.log10(v), np.nan).astype(np.float32)

        return self.derived(level, f"log10:{column}", compute)

    def _tree(self, level: str, frame: str):
        """KD-tree on unit vectors of a level's positions, built once per process."""
        from scipy.spatial import cKDTree

        key = ("tree", level, frame)
        with self._lock:
            if key not in self._xy:
                lon, lat = (np.radians(a) for a in self.lonlat(level, frame))
                xyz = np.column_stack([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)])
                xyz[~np.isfinite(xyz).all(axis=1)] = 10.0  # rows without a position are far from the sphere
                self._xy[key] = cKDTree(xyz)
            return self._xy[key]

    def nearest(
        self, level: str, frame: str, lon: float, lat: float, max_sep_deg: float, mask: np.ndarray | None = None
    ) -> int | None:
        """Row index of the nearest row of ``level`` within ``max_sep_deg`` (and in ``mask``), or None."""
        tree = self._tree(level, frame)
        lo, la = np.radians(lon), np.radians(lat)
        point = [np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo), np.sin(la)]
        chord = 2.0 * np.sin(np.radians(max_sep_deg) / 2.0)
        k = 1
        while True:
            dist, idx = tree.query(point, k=k, distance_upper_bound=chord)
            dist, idx = np.atleast_1d(dist), np.atleast_1d(idx)
            found = idx[np.isfinite(dist)]
            if mask is not None:
                found = found[mask[found]]
            if found.size:
                return int(found[0])
            if np.isinf(dist[-1]) or k >= 4096:
                return None
            k *= 8

    # --- on-demand reads ---------------------------------------------------------------------
    def read_columns(self, columns: list[str], level: str = "detections") -> pd.DataFrame:
        """Read extra columns for every row of ``level`` (aligned with ``self.frame(level)``)."""
        if level == "sources":
            return _numpy_frame(pq.read_table(self.path / schema.SOURCES_FILE, columns=columns))
        unknown = [c for c in columns if c not in self.all_columns]
        if unknown:
            raise CatalogueError(f"Release {self.name} has no column(s) {', '.join(unknown)}.")
        return _numpy_frame(pq.read_table(self._dataset_path, columns=columns))

    def read_rows(self, columns: list[str], rows: np.ndarray, level: str = "detections") -> pd.DataFrame:
        """Read ``columns`` for the given row positions only (touching just their row groups)."""
        path = self._dataset_path / "part-0.parquet" if level == "detections" else self.path / schema.SOURCES_FILE
        pf = pq.ParquetFile(path)
        unknown = [c for c in columns if c not in pf.schema_arrow.names]
        if unknown:
            raise CatalogueError(f"Release {self.name} has no column(s) {', '.join(unknown)} at the {level} level.")
        rows = np.asarray(rows, dtype=np.int64)
        starts = np.cumsum([0] + [pf.metadata.row_group(i).num_rows for i in range(pf.num_row_groups)])
        groups = np.unique(np.searchsorted(starts, rows, side="right") - 1)
        if groups.size == 0:
            return _numpy_frame(pf.schema_arrow.empty_table().select(columns))
        table = pf.read_row_groups(groups.tolist(), columns=columns)
        offsets = np.concatenate([[0], np.cumsum([starts[g + 1] - starts[g] for g in groups])])
        local = np.empty(rows.size, dtype=np.int64)
        for k, g in enumerate(groups):
            inside = (rows >= starts[g]) & (rows < starts[g + 1])
            local[inside] = rows[inside] - starts[g] + offsets[k]
        return _numpy_frame(table.take(pa.array(local)))

    def detections_of(self, srcid: int, columns: list[str] | None = None) -> pd.DataFrame:
        """Every detection of one source (all columns, or ``columns``), sorted by MJD_START.

        The rows are found in memory and read by position, touching only their row groups and
        only the requested columns.
        """
        rows = np.flatnonzero(self.detections["SRCID"].to_numpy() == srcid)
        wanted = list(self.all_columns if columns is None else dict.fromkeys(["SRCID", *columns]))
        if rows.size == 0:
            return pd.DataFrame(columns=wanted)
        frame = self.read_rows(wanted, rows)
        return frame.sort_values("MJD_START", kind="stable").reset_index(drop=True) if "MJD_START" in frame else frame

    def source_row(self, srcid: int) -> pd.Series | None:
        """The unique-source row of ``srcid`` (None if unknown)."""
        hit = self.sources.index[self.sources["SRCID"].to_numpy() == srcid]
        return None if len(hit) == 0 else self.sources.loc[hit[0]]

    # --- added-value tables ------------------------------------------------------------------
    def _optional_table(self, filename: str) -> pd.DataFrame | None:
        p = self.path / filename
        return pd.read_parquet(p) if p.exists() else None

    @cached_property
    def classifications(self) -> pd.DataFrame | None:
        return self._optional_table(schema.CLASSIFICATIONS_FILE)

    @cached_property
    def counterparts(self) -> pd.DataFrame | None:
        return self._optional_table(schema.COUNTERPARTS_FILE)

    @cached_property
    def longterm(self) -> pd.DataFrame | None:
        return self._optional_table(schema.LONGTERM_FILE)

    @property
    def products_root(self) -> Path | None:
        p = self.meta.get("products")
        return Path(p) if p else None


_CACHE: dict[Path, Catalogue] = {}
_CACHE_LOCK = threading.Lock()


def load_catalogue(data_dir: Path, release: str | None = None) -> Catalogue:
    """The shared, read-only catalogue of ``release`` (default: the first one), loaded once per process."""
    releases = list_releases(data_dir)
    if not releases:
        raise CatalogueError(
            f"No ingested release under {releases_dir(data_dir)}; run `xmm-explorer demo` or `ingest FILE`."
        )
    names = [r["name"] for r in releases]
    if release is None:
        from data_loaders.releases import default_release  # the operator's choice (releases/DEFAULT) or the first

        release = default_release(data_dir)
    if release not in names:
        raise CatalogueError(f"No release {release!r} in {data_dir}; available: {', '.join(names)}.")
    path = (releases_dir(data_dir) / release).resolve()
    with _CACHE_LOCK:
        if path not in _CACHE:
            _CACHE[path] = Catalogue(path)
        return _CACHE[path]
