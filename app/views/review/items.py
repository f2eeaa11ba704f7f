"""Where a campaign's items come from: an Explore selection, a typed query, or an uploaded list.

Every function returns ``(srcid, ra, dec[, detid])`` tuples (RA/Dec in deg, ICRS) in queue
order, the shape ``Store.create_campaign`` takes. Nothing here writes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from app.query import parse_query, query_columns
from data_loaders.catalogue import Catalogue
from data_loaders.export import match_positions, read_id_list

#: Most items one campaign may hold (a team reviews hundreds to a few thousand).
MAX_ITEMS = 50_000
#: Default radius to match uploaded positions to sources, arcsec.
DEFAULT_MATCH_RADIUS = 5.0


class ItemsError(ValueError):
    """The items could not be built; the message is one sentence for the user."""


def _check_count(n: int, what: str) -> None:
    if n == 0:
        raise ItemsError(f"{what} matches no source.")
    if n > MAX_ITEMS:
        raise ItemsError(f"{what} matches {n:,} rows; a campaign holds at most {MAX_ITEMS:,}. Narrow it down first.")


def items_from_rows(catalogue: Catalogue, level: str, rows: np.ndarray) -> list[tuple]:
    """Items for row indices of ``catalogue.frame(level)``: sources, or detections with their DETID."""
    frame = catalogue.frame(level)
    rows = np.asarray(rows, dtype=np.int64)
    srcid = frame["SRCID"].to_numpy(np.int64)[rows]
    if level == "sources":
        ra, dec = frame["SC_RA"].to_numpy(np.float64)[rows], frame["SC_DEC"].to_numpy(np.float64)[rows]
        return list(zip(srcid.tolist(), ra.tolist(), dec.tolist(), strict=True))
    ra, dec = frame["RA"].to_numpy(np.float64)[rows], frame["DEC"].to_numpy(np.float64)[rows]
    detid = frame["DETID"].to_numpy(np.int64)[rows]
    return list(zip(srcid.tolist(), ra.tolist(), dec.tolist(), detid.tolist(), strict=True))


def campaign_items_from_state(state) -> list[tuple]:
    """Items for the rows an Explore session shows now (``state.shown`` of ``state.level``)."""
    _check_count(state.shown.count(), "The current Explore selection")
    cols = ["SRCID", "SC_RA", "SC_DEC"] if state.level == "sources" else ["SRCID", "RA", "DEC", "DETID"]
    frame = pd.concat(list(state.shown.chunks(cols)), ignore_index=True)
    return list(zip(*(frame[c].tolist() for c in cols), strict=True))


def items_from_query(catalogue: Catalogue, text: str, level: str = "sources") -> list[tuple]:
    """Items for the rows matching a typed query (``app.query`` grammar); QueryError if it is not valid."""
    if not text.strip():
        raise ItemsError("Type a query first, e.g. sc_det_ml > 100 and sc_extent > 0.")
    selection = parse_query(text, query_columns(catalogue, level))
    mask = np.asarray(selection.evaluate(catalogue.frame(level)), dtype=bool)
    rows = np.flatnonzero(mask)
    _check_count(rows.size, f"The query {text.strip()!r}")
    return items_from_rows(catalogue, level, rows)


def _rows_of_ids(values: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Row of each ``ids`` value in ``values`` (in the order given, unknown ones dropped)."""
    order = np.argsort(values, kind="stable")
    pos = np.searchsorted(values, ids, sorter=order)
    pos = np.clip(pos, 0, max(len(values) - 1, 0))
    rows = order[pos]
    return rows[values[rows] == ids]


def items_from_upload(
    catalogue: Catalogue, data: bytes, filename: str, radius_arcsec: float = DEFAULT_MATCH_RADIUS
) -> tuple[list[tuple], str]:
    """Items for an uploaded CSV/VOTable of SRCIDs, DETIDs, IAU names or RA/DEC; plus a sentence on matching.

    Positions become the nearest unique source within ``radius_arcsec``; IDs not in the
    release are dropped and counted. Raises ExportError/ItemsError with one sentence.
    """
    if not data:
        raise ItemsError("Choose a CSV or VOTable file first.")
    wanted = read_id_list(data, filename)
    n_in = len(wanted)
    if "SRCID" in wanted:
        ids = pd.unique(wanted["SRCID"].to_numpy(np.int64))
        rows = _rows_of_ids(catalogue.sources["SRCID"].to_numpy(np.int64), ids)
        level = "sources"
    elif "DETID" in wanted:
        ids = pd.unique(wanted["DETID"].to_numpy(np.int64))
        rows = _rows_of_ids(catalogue.detections["DETID"].to_numpy(np.int64), ids)
        level = "detections"
    elif "IAUNAME" in wanted:
        names = catalogue.sources["IAUNAME"].astype(str).str.strip().to_numpy()
        lookup = {n: i for i, n in enumerate(names)}
        rows = np.array([lookup[n] for n in pd.unique(wanted["IAUNAME"]) if n in lookup], dtype=np.int64)
        level = "sources"
    else:
        src = catalogue.sources
        idx_list, idx_cat, _sep = match_positions(
            src["SC_RA"].to_numpy(), src["SC_DEC"].to_numpy(), wanted["RA"], wanted["DEC"], radius_arcsec
        )
        # Sorted by list index then separation: the first hit per position is the nearest source.
        first = np.unique(idx_list, return_index=True)[1]
        rows = pd.unique(idx_cat[first])
        level = "sources"
        _check_count(len(rows), f"'{filename}' (within {radius_arcsec:g} arcsec)")
        return items_from_rows(catalogue, level, rows), (
            f"{len(first):,} of {n_in:,} positions matched a source within {radius_arcsec:g} arcsec "
            f"({len(rows):,} distinct sources)."
        )
    _check_count(len(rows), f"'{filename}'")
    what = "identifiers" if "IAUNAME" not in wanted else "names"
    return items_from_rows(catalogue, level, rows), f"{len(rows):,} of {n_in:,} {what} found in {catalogue.name}."
