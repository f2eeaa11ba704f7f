"""Turn one session's selection into export chunks and files: rows, columns, units, provenance, limits.

:func:`plan_export` freezes what the user sees (``state.shown``, a subset of the catalogue on
either engine) into an :class:`ExportPlan`; :func:`iter_chunks` yields DataFrames of at most
``chunk_rows`` rows from :meth:`Subset.chunks` (class codes as names), so memory stays bounded
whatever the selection's size; :func:`write_export` hands them to
:func:`data_loaders.export.export_table`. Anonymous users may export at most
``$XMM_EXPLORER_EXPORT_LIMIT`` rows (default 100,000; 0 means no limit), and so may
signed-in users below :data:`FULL_EXPORT_ROLE`: the limit is lifted by a role an admin
grants, not by an account anyone can create (a sign-up is a classifier).
:func:`match_list` turns an uploaded list into an ``Ids`` selection.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from app import fields
from app.selection import Ids
from data_loaders import schema
from data_loaders.catalogue import Catalogue, CatalogueEngine, Subset
from data_loaders.export import FORMATS, ExportError, ExportLimitError, export_filename, export_table
from data_loaders.export import match_positions as _match_positions
from data_loaders.export import read_id_list as _read_id_list
from data_loaders.process_cache import ProcessCache

log = logging.getLogger("xmm_explorer.export")

LIMIT_ENV = "XMM_EXPLORER_EXPORT_LIMIT"
DEFAULT_ANONYMOUS_LIMIT = 100_000
CHUNK_ROWS = 100_000
HIDDEN_COLUMNS = ("HPX",)
DERIVED = {
    "CLASS": (None, "Most probable class of the machine classifier (empty: unclassified)"),
    "CLASS_PROB": (None, "Probability of the most probable class"),
}

try:
    from app.auth import current_user
except ImportError:  # pragma: no cover - sign-in is optional

    def current_user() -> str | None:
        return None


def anonymous_limit() -> int | None:
    """Row limit for anonymous exports (``$XMM_EXPLORER_EXPORT_LIMIT``; 0: none)."""
    raw = os.environ.get(LIMIT_ENV, "").strip()
    try:
        value = int(raw.replace("_", "").replace(",", "")) if raw else DEFAULT_ANONYMOUS_LIMIT
    except ValueError:
        log.warning("%s=%r is not a whole number; using %d", LIMIT_ENV, raw, DEFAULT_ANONYMOUS_LIMIT)
        value = DEFAULT_ANONYMOUS_LIMIT
    return value if value > 0 else None


#: Least role that exports without the row limit (granted by an admin; sign-ups are classifiers).
FULL_EXPORT_ROLE = "reviewer"


def row_limit(user: str | None) -> int | None:
    """The export limit of ``user`` (None: no limit, for a role of at least :data:`FULL_EXPORT_ROLE`)."""
    if user:
        from app.store_access import get_store
        from data_loaders.store.roles import role_rank

        if role_rank(get_store().role_of(user)) >= role_rank(FULL_EXPORT_ROLE):
            return None
    return anonymous_limit()


def limit_sentence(max_rows: int, n_rows: int) -> str:
    """The one sentence saying an export is over the limit."""
    return (
        f"Exports are limited to {max_rows:,} rows unless an admin gives you the {FULL_EXPORT_ROLE} role, "
        f"and this selection has {n_rows:,}; narrow the selection."
    )


def default_columns(catalogue: CatalogueEngine, level: str, band: int = 8) -> list[str]:
    """The columns exported unless the user picks others (those the release has)."""
    return fields.export_columns(level, available_columns(catalogue, level), band)


def _parquet_path(catalogue: CatalogueEngine, level: str) -> Path:
    if level == "detections":
        return catalogue.path / schema.DETECTIONS_DIR / "part-0.parquet"
    return catalogue.path / schema.SOURCES_FILE


_FIELDS: ProcessCache[tuple[tuple[str, str | None, str], ...]] = ProcessCache("Parquet field metadata", max_items=16)


def _field_metadata(path: Path) -> tuple[tuple[str, str | None, str], ...]:
    def read() -> tuple[tuple[str, str | None, str], ...]:
        out = []
        for f in pq.read_schema(path):
            meta = f.metadata or {}
            unit = meta.get(b"unit", b"").decode() or None
            out.append((f.name, unit, meta.get(b"description", b"").decode()))
        return tuple(out)

    return _FIELDS.get(path, read, paths=[path])


def column_metadata(catalogue: CatalogueEngine, level: str) -> dict[str, tuple[str | None, str]]:
    """Column name -> (unit, description) from the release's Parquet field metadata, then the schema."""
    out = {
        name: (unit or schema.unit_of(name), desc or schema.describe(name))
        for name, unit, desc in _field_metadata(_parquet_path(catalogue, level))
    }
    out.update({k: v for k, v in DERIVED.items() if k in catalogue.columns(level)})
    return out


def available_columns(catalogue: CatalogueEngine, level: str) -> list[str]:
    """Every column that can be exported at ``level``: the release's, then the in-memory derived ones."""
    names = [n for n in column_metadata(catalogue, level) if n not in HIDDEN_COLUMNS]
    return names + [c for c in catalogue.columns(level) if c not in names and c not in HIDDEN_COLUMNS]


@dataclass
class ExportPlan:
    """What one export writes: the rows (a :class:`~data_loaders.catalogue.Subset`) and columns."""

    catalogue: Catalogue
    level: str
    rows: Subset
    columns: list[str]
    selection: str
    provenance: dict[str, str] = field(default_factory=dict)

    @property
    def n_rows(self) -> int:
        return self.rows.count()

    def units(self) -> dict[str, str | None]:
        meta = column_metadata(self.catalogue, self.level)
        return {c: meta.get(c, (None, ""))[0] for c in self.columns}

    def descriptions(self) -> dict[str, str]:
        meta = column_metadata(self.catalogue, self.level)
        return {c: meta.get(c, (None, ""))[1] for c in self.columns}


def plan_export(state, columns: Sequence[str] | None = None) -> ExportPlan:
    """Freeze the state's visible rows and the chosen columns (None: the defaults) into a plan."""
    cat, level = state.catalogue, state.level
    cols = list(dict.fromkeys(columns)) if columns else default_columns(cat, level, state.band)
    have = set(available_columns(cat, level))
    unknown = [c for c in cols if c not in have]
    if unknown:
        raise ExportError(f"Release {cat.name} has no column {', '.join(map(repr, unknown))} at the {level} level.")
    if not cols:
        raise ExportError("Choose at least one column to export.")
    selection = state.full_selection().describe()
    rows = state.shown
    prov = {
        "catalogue": f"{cat.name}: {cat.title}"
        + (" (synthetic demo data)" if cat.synthetic and "synthetic" not in cat.title.lower() else ""),
        "release": cat.name,
        "synthetic": "yes" if cat.synthetic else "no",
        "level": level,
        "selection": selection,
        "rows": str(rows.count()),
    }
    return ExportPlan(cat, level, rows, cols, selection, prov)


def check_rows(plan: ExportPlan, max_rows: int | None) -> None:
    """Raise :class:`ExportLimitError` (one sentence) if the plan has more rows than allowed."""
    if max_rows is not None and plan.n_rows > max_rows:
        raise ExportLimitError(limit_sentence(max_rows, plan.n_rows))


def iter_chunks(plan: ExportPlan, chunk_rows: int = CHUNK_ROWS) -> Iterator[pd.DataFrame]:
    """DataFrames of the plan's rows and columns, in catalogue order, at most ``chunk_rows`` rows each."""
    for chunk in plan.rows.chunks(plan.columns, chunk_rows):
        codes = {c: schema.class_names(chunk[c]).to_numpy() for c in schema.CLASS_CODE_COLUMNS if c in chunk}
        if codes:
            chunk = chunk.assign(**codes)
        yield chunk


def write_export(plan: ExportPlan, fmt: str, target, max_rows: int | None = None, chunk_rows: int = CHUNK_ROWS) -> int:
    """Write the plan as ``fmt`` to ``target`` (a path or a stream); return the rows written."""
    check_rows(plan, max_rows)
    return export_table(
        iter_chunks(plan, chunk_rows),
        target,
        fmt,
        columns=plan.columns,
        provenance=plan.provenance,
        units=plan.units(),
        descriptions=plan.descriptions(),
        max_rows=max_rows,
        chunk_rows=chunk_rows,
    )


def filename_for(plan: ExportPlan, fmt: str) -> str:
    """A download name such as ``DEMO-sources-1234.fits``."""
    return export_filename(f"{plan.catalogue.name}-{plan.level}-{plan.n_rows}", fmt)


def export_to_file(plan: ExportPlan, fmt: str, max_rows: int | None = None, directory: Path | None = None) -> Path:
    """Write the plan to a new temporary file (the caller owns it) and return its path."""
    fd, name = tempfile.mkstemp(prefix="xmm-export-", suffix=FORMATS[fmt][0], dir=directory)
    os.close(fd)
    try:
        write_export(plan, fmt, name, max_rows)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    return Path(name)


def take_file(path: Path) -> bytes:
    """The bytes of a file :func:`export_to_file` wrote, deleting the file (a download sent in one message)."""
    try:
        return Path(path).read_bytes()
    finally:
        Path(path).unlink(missing_ok=True)


# --- import a list ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ListMatch:
    """An uploaded list matched to the catalogue: the selection and how many entries found a row."""

    selection: Ids | None
    kind: str
    n_list: int
    n_matched: int
    unmatched: tuple[str, ...] = ()

    def summary(self) -> str:
        what = {"RA/DEC": "positions"}.get(self.kind, f"{self.kind} values")
        text = f"{self.n_matched:,} of {self.n_list:,} {what} matched"
        if self.n_matched < self.n_list:
            shown = ", ".join(self.unmatched[:5]) + (", …" if self.n_list - self.n_matched > 5 else "")
            text += f"; {self.n_list - self.n_matched:,} not found ({shown})"
        return text + "."


def match_list(catalogue: CatalogueEngine, level: str, data, filename: str, radius_arcsec: float = 5.0) -> ListMatch:
    """Match an uploaded CSV/VOTable of SRCIDs, DETIDs, IAU names or RA/DEC to rows of ``level``.

    The selection is ``Ids('SRCID', ...)`` (``Ids('DETID', ...)`` for DETIDs at the detection
    level); positions match every row of ``level`` within ``radius_arcsec``.
    """
    lst = _read_id_list(data, filename)
    kind = "RA/DEC" if "RA" in lst.columns else lst.columns[0]
    everything = catalogue.select(level)
    if kind == "RA/DEC":
        ra_col, dec_col = fields.column("ra", level), fields.column("dec", level)
        found = np.zeros(len(lst), dtype=bool)
        parts: list[np.ndarray] = []
        for chunk in everything.chunks([ra_col, dec_col, "SRCID"]):  # bounded memory on any engine
            idx_list, idx_cat, _ = _match_positions(
                chunk[ra_col].to_numpy(np.float64),
                chunk[dec_col].to_numpy(np.float64),
                lst["RA"],
                lst["DEC"],
                radius_arcsec,
            )
            found[idx_list] = True
            parts.append(chunk["SRCID"].to_numpy(np.int64)[idx_cat])
        ids = np.concatenate(parts) if parts else np.zeros(0, np.int64)
        unmatched = tuple(f"{r:.5f} {d:+.5f}" for r, d in lst.loc[~found, ["RA", "DEC"]].to_numpy())
        return ListMatch(Ids("SRCID", ids) if ids.size else None, kind, len(lst), int(found.sum()), unmatched)
    values = lst[kind].to_numpy()
    if kind == "DETID" and level == "sources":
        hit = catalogue.find("detections", "DETID", values.astype(np.int64), ["DETID", "SRCID"])
        found_values, ids, column = hit["DETID"].to_numpy(np.int64), hit["SRCID"].to_numpy(np.int64), "SRCID"
    elif kind == "IAUNAME":
        column = "SRCID"
        wanted = pd.Series(values).astype(str).str.strip()
        hit = catalogue.find(level, "IAUNAME", sorted({*wanted, *wanted.str.upper()}), ["IAUNAME", "SRCID"])
        found_values, ids = hit["IAUNAME"].astype(str).str.upper().to_numpy(), hit["SRCID"].to_numpy(np.int64)
        values = wanted.str.upper().to_numpy()
    else:
        column = "SRCID" if kind == "SRCID" else "DETID"
        hit = catalogue.find(level, kind, values.astype(np.int64), [kind])
        found_values = ids = hit[kind].to_numpy(np.int64)
    found = np.isin(values, found_values)
    unmatched = tuple(str(v) for v in values[~found])
    return ListMatch(Ids(column, ids) if ids.size else None, kind, len(values), int(found.sum()), unmatched)
