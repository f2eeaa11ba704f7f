"""Releases side by side: which exist, which opens first, release-aware keys, flags that follow sources.

SRCIDs are only unique within a release (5XMM IDs bear no relation to 4XMM ones), so every
key that outlives a release is ``(release, SRCID)``: :func:`source_key` is its text form for
permalinks (``DR14:201234567890123``). When a new release arrives, :func:`carry_over_flags`
moves reviewers' current flags onto the new release's sources, by SRCID where the IDs carry
across and by position otherwise, appending new events and deleting nothing.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree
from sqlalchemy import insert

from data_loaders import ingest
from data_loaders.errors import CatalogueError

if TYPE_CHECKING:
    from data_loaders.store import Store

DEFAULT_FILE = "DEFAULT"
#: Matching tolerance: NSIGMA * sqrt(poserr_old² + poserr_new²) + FLOOR_ARCSEC.
NSIGMA = 3.0
FLOOR_ARCSEC = 1.0
#: Position error assumed for a flagged source the old catalogue no longer lists, arcsec.
FALLBACK_POSERR = 1.5
MATCH_METHODS = ("auto", "id", "position")
_KEY = re.compile(r"^(?P<release>[A-Za-z0-9_-]{1,32}):(?P<srcid>\d{1,19})$")
_CARRY = re.compile(r"^\[carried over from (?P<release>\S+) SRCID (?P<srcid>\d+)")


class ReleaseLike(Protocol):
    """What carry-over needs of a release: its name and its unique sources (``Catalogue`` fits)."""

    name: str
    sources: pd.DataFrame  # SRCID, SC_RA, SC_DEC (deg), SC_POSERR (arcsec)


# --- releases on disk -----------------------------------------------------------------------------
def list_releases(data_dir: Path) -> list[dict]:
    """Every ingested release (``release.json`` + path), with ``kind`` ('detections' or 'stacked')
    and ``has_observations`` (coverage available), sorted by name."""
    out = []
    for meta in ingest.list_releases(data_dir):
        path = Path(meta["path"])
        out.append(
            meta
            | {"kind": meta.get("kind", "detections"), "has_observations": (path / "observations.parquet").exists()}
        )
    return out


def release_names(data_dir: Path) -> list[str]:
    return [r["name"] for r in list_releases(data_dir)]


def default_release(data_dir: Path, preferred: str | None = None) -> str | None:
    """The release to open first: ``preferred`` if ingested, else the one named in
    ``releases/DEFAULT``, else the first by name (as ``load_catalogue``); None if there is none."""
    names = release_names(data_dir)
    if not names:
        return None
    if preferred in names:
        return preferred
    marker = ingest.releases_dir(data_dir) / DEFAULT_FILE
    if marker.exists() and marker.read_text().strip() in names:
        return marker.read_text().strip()
    return names[0]


def release_dir(data_dir: Path, name: str | None = None) -> Path:
    """The directory of release ``name`` (default: :func:`default_release`), for commands that add to
    an ingested release; CatalogueError in one sentence when there is none of that name."""
    name = name or default_release(data_dir)
    path = ingest.releases_dir(data_dir) / str(name)
    if name is None or not path.is_dir():
        raise CatalogueError(f"No release {name!r} in {data_dir}; run `xmm-explorer demo` or ingest one.")
    return path


def set_default_release(data_dir: Path, name: str) -> None:
    """Make ``name`` the release that opens first (operator action)."""
    if name not in release_names(data_dir):
        raise CatalogueError(f"No release {name!r} in {data_dir}; available: {', '.join(release_names(data_dir))}.")
    (ingest.releases_dir(data_dir) / DEFAULT_FILE).write_text(name + "\n")


def source_key(release: str, srcid: int) -> str:
    """Release-aware source key for permalinks and exports, e.g. ``DR14:201234567890123``."""
    key = f"{release}:{int(srcid)}"
    if not _KEY.match(key):
        raise ValueError(f"Release {release!r} cannot name a source key (letters, digits, '-' or '_').")
    return key


def parse_source_key(text: str) -> tuple[str, int]:
    """``'DR14:2012…'`` -> ``('DR14', 2012…)``; ValueError with the expected form otherwise."""
    m = _KEY.match(text.strip())
    if not m:
        raise ValueError(f"{text!r} is not a source key; expected RELEASE:SRCID such as 'DR14:201234567890123'.")
    return m["release"], int(m["srcid"])


# --- flags following sources into a new release -------------------------------------------------------
@dataclass
class CarryOverReport:
    """What :func:`carry_over_flags` did; counts are of flagged *sources* of the old release."""

    old: str
    new: str
    by: str
    carried: int = 0
    ambiguous: int = 0
    lost: int = 0
    events_written: int = 0
    events_already_present: int = 0
    #: One row per flagged old source: old_srcid, status (carried/ambiguous/lost), method (id/position),
    #: new_srcid (null unless carried), separation_arcsec, candidates (new SRCIDs, space separated).
    matches: pd.DataFrame = field(default_factory=pd.DataFrame)

    def summary(self) -> str:
        return (
            f"Flags {self.old} -> {self.new} (matched by {self.by}): {self.carried} sources carried, "
            f"{self.ambiguous} ambiguous (several candidates), {self.lost} lost; "
            f"{self.events_written} flag events written, {self.events_already_present} already present."
        )


def _current_flags(events: pd.DataFrame) -> pd.DataFrame:
    """Latest event per (srcid, label, user) that is a 'flag' (the state reviewers see)."""
    if events.empty:
        return events
    latest = events.sort_values("id").groupby(["srcid", "label", "user"], sort=False).tail(1)
    return latest[latest["action"] == "flag"].sort_values("id")


def _unit(ra: np.ndarray, dec: np.ndarray) -> np.ndarray:
    r, d = np.radians(ra), np.radians(dec)
    return np.column_stack([np.cos(d) * np.cos(r), np.cos(d) * np.sin(r), np.sin(d)])


def _sep_arcsec(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    chord = np.linalg.norm(np.atleast_2d(a) - np.atleast_2d(b), axis=1)
    return np.degrees(2 * np.arcsin(np.clip(chord / 2, 0, 1))) * 3600.0


def _positions(sources: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    ra = sources["SC_RA"].to_numpy(np.float64)
    dec = sources["SC_DEC"].to_numpy(np.float64)
    pe = sources["SC_POSERR"].to_numpy(np.float64) if "SC_POSERR" in sources else np.full(len(sources), np.nan)
    return ra, dec, np.nan_to_num(pe, nan=FALLBACK_POSERR)


def match_sources(
    flagged: pd.DataFrame,
    new: pd.DataFrame,
    by: str = "auto",
    nsigma: float = NSIGMA,
    floor_arcsec: float = FLOOR_ARCSEC,
) -> pd.DataFrame:
    """Match old sources (srcid, ra, dec, poserr) to ``new`` sources (SRCID, SC_RA, SC_DEC, SC_POSERR).

    ``by='id'``: same SRCID or lost. ``'position'``: every new source within
    ``nsigma * hypot(poserr_old, poserr_new) + floor_arcsec``; one is carried, several
    ambiguous, none lost. ``'auto'``: the same SRCID if it lies within that tolerance, else by position.
    """
    if by not in MATCH_METHODS:
        raise ValueError(f"Unknown match method {by!r}; expected one of {', '.join(MATCH_METHODS)}.")
    n_ra, n_dec, n_pe = _positions(new)
    n_ids = new["SRCID"].to_numpy(np.int64)
    n_xyz = _unit(n_ra, n_dec)
    n_xyz[~np.isfinite(n_xyz).all(1)] = 10.0
    tree = cKDTree(n_xyz)
    row_of = pd.Series(np.arange(len(new)), index=n_ids)
    row_of = row_of[~row_of.index.duplicated()]
    max_pe = float(n_pe.max(initial=0.0))
    rows = []
    for srcid, ra, dec, pe in flagged[["srcid", "ra", "dec", "poserr"]].itertuples(index=False):
        xyz = _unit(np.array([ra]), np.array([dec]))[0]
        rec = {
            "old_srcid": int(srcid),
            "status": "lost",
            "method": "position",
            "new_srcid": pd.NA,
            "separation_arcsec": np.nan,
            "candidates": "",
        }
        same = row_of.get(int(srcid))
        if by in ("id", "auto") and same is not None:
            same_sep = float(_sep_arcsec(xyz, n_xyz[same])[0])
            if by == "id" or same_sep <= nsigma * np.hypot(pe, n_pe[same]) + floor_arcsec:
                rec.update(
                    status="carried",
                    method="id",
                    new_srcid=int(srcid),
                    separation_arcsec=same_sep,
                    candidates=str(int(srcid)),
                )
                rows.append(rec)
                continue
        if by == "id":
            rec["method"] = "id"
            rows.append(rec)
            continue
        reach = nsigma * np.hypot(pe, max_pe) + floor_arcsec
        near = np.asarray(tree.query_ball_point(xyz, 2 * np.sin(np.radians(reach / 3600) / 2)), dtype=np.int64)
        if near.size:
            sep = _sep_arcsec(xyz, n_xyz[near])
            ok = sep <= nsigma * np.hypot(pe, n_pe[near]) + floor_arcsec
            near, sep = near[ok], sep[ok]
            order = np.argsort(sep)
            near, sep = near[order], sep[order]
        rec["candidates"] = " ".join(str(i) for i in n_ids[near])
        if near.size == 1:
            rec.update(status="carried", new_srcid=int(n_ids[near[0]]), separation_arcsec=float(sep[0]))
        elif near.size > 1:
            rec.update(status="ambiguous", separation_arcsec=float(sep[0]))
        rows.append(rec)
    out = pd.DataFrame(rows, columns=["old_srcid", "status", "method", "new_srcid", "separation_arcsec", "candidates"])
    out["new_srcid"] = out["new_srcid"].astype("Int64")
    return out


def carry_over_flags(
    store: Store,
    old: ReleaseLike,
    new: ReleaseLike,
    *,
    by: str = "auto",
    nsigma: float = NSIGMA,
    floor_arcsec: float = FLOOR_ARCSEC,
    dry_run: bool = False,
) -> CarryOverReport:
    """Follow the current flags of release ``old`` onto the sources of release ``new``.

    For each (source, label, user) whose latest event in ``old`` is a 'flag', a new 'flag' event
    by the same user is appended in ``new`` on the matched source (comment:
    ``[carried over from OLD SRCID n, matched by id|position] <original comment>``). Ambiguous
    and lost sources get nothing; their candidates are in ``report.matches`` for a reviewer.
    Nothing is deleted; a re-run writes only what is not there yet (idempotent). This is an
    operator action: it bypasses the reviewer-role check, as the flags were checked when made.
    Votes and campaign verdicts stay on the old release; ``report.matches`` maps their SRCIDs.
    """
    from data_loaders.store.flags import MAX_COMMENT_LENGTH
    from data_loaders.store.models import FlagEvent

    report = CarryOverReport(old=old.name, new=new.name, by=by)
    current = _current_flags(store.flag_events(old.name))
    if current.empty:
        report.matches = match_sources(pd.DataFrame(columns=["srcid", "ra", "dec", "poserr"]), new.sources, by)
        return report
    flagged = current.drop_duplicates("srcid")[["srcid", "ra", "dec"]].set_index("srcid")
    o_ra, o_dec, o_pe = _positions(old.sources)
    known = pd.DataFrame({"ra": o_ra, "dec": o_dec, "poserr": o_pe}, index=old.sources["SRCID"].to_numpy(np.int64))
    known = known[~known.index.duplicated()].reindex(flagged.index)
    flagged["poserr"] = known["poserr"].fillna(FALLBACK_POSERR)
    flagged["ra"] = known["ra"].fillna(flagged["ra"])  # the old catalogue's position, else the flag-time one
    flagged["dec"] = known["dec"].fillna(flagged["dec"])
    matches = match_sources(flagged.reset_index(), new.sources, by, nsigma, floor_arcsec)
    report.matches = matches
    counts = matches["status"].value_counts()
    report.carried, report.ambiguous, report.lost = (int(counts.get(s, 0)) for s in ("carried", "ambiguous", "lost"))

    existing = store.flag_events(new.name)
    done = set()
    for srcid, label, user, comment in existing[["srcid", "label", "user", "comment"]].itertuples(index=False):
        m = _CARRY.match(comment or "")
        if m and m["release"] == old.name:
            done.add((int(m["srcid"]), int(srcid), label, user))
    n_ra, n_dec, _ = _positions(new.sources)
    pos = pd.DataFrame({"ra": n_ra, "dec": n_dec}, index=new.sources["SRCID"].to_numpy(np.int64))
    pos = pos[~pos.index.duplicated()]
    carried = matches[matches["status"] == "carried"].set_index("old_srcid")
    batch = "carry-" + hashlib.sha1(f"{old.name}>{new.name}".encode(), usedforsecurity=False).hexdigest()[:26]
    now = store.clock()
    rows = []
    for ev in current[current["srcid"].isin(carried.index)].itertuples(index=False):
        m = carried.loc[ev.srcid]
        new_id = int(m["new_srcid"])
        if (int(ev.srcid), new_id, ev.label, ev.user) in done:
            report.events_already_present += 1
            continue
        note = f"[carried over from {old.name} SRCID {int(ev.srcid)}, matched by {m['method']}] {ev.comment or ''}"
        rows.append({
            "batch": batch, "time": now, "user_name": ev.user, "action": "flag", "label": ev.label,
            "comment": note.strip()[:MAX_COMMENT_LENGTH], "release": new.name, "srcid": new_id,
            "ra": float(pos.at[new_id, "ra"]), "dec": float(pos.at[new_id, "dec"]), "detid": None, "campaign_id": None,
        })  # fmt: skip
    if rows and not dry_run:
        with store.write() as conn:
            conn.execute(insert(FlagEvent), rows)
    report.events_written = 0 if dry_run else len(rows)
    return report


__all__ = [
    "CarryOverReport",
    "carry_over_flags",
    "default_release",
    "list_releases",
    "match_sources",
    "parse_source_key",
    "set_default_release",
    "source_key",
]
