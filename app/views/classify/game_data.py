"""Per-process, read-only game data: gold answers, the candidate pool, tutorial examples, the sky backdrop.

Built once per catalogue and shared by every session (like the catalogue itself); nothing
here is ever sent to a browser. ``clues`` gathers what a volunteer may see about one source.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from app.plots import sky as skyplot
from data_loaders.catalogue import Catalogue
from data_loaders.citizen import CATEGORIES, gold_set
from data_loaders.citizen.history import vote_counts
from data_loaders.citizen.queue import candidate_pool, playable
from data_loaders.process_cache import ProcessCache
from data_loaders.schema import CLASS_NAMES

VOTE_COUNT_TTL = 30.0  # s: the queue may use vote counts this old
BACKDROP_SIZE = (420, 210)
BACKDROP_CMAP = ["#1d4ed8", "#3b82f6", "#93c5fd", "#e0f2fe"]


@dataclass
class GameData:
    """What the game knows about one release, shared by all sessions of a process."""

    catalogue: Catalogue
    gold: dict[int, str]
    gold_ids: np.ndarray
    pool: pd.DataFrame
    backdrop: np.ndarray
    examples: dict[str, int]
    _counts: pd.Series = field(default_factory=lambda: pd.Series(dtype="int64"))
    _counts_time: float = -1e9
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def true_class(self, srcid: int) -> str | None:
        """The known class of a gold source (None otherwise). Server-side only."""
        return self.gold.get(int(srcid))

    def vote_counts(self, store) -> pd.Series:
        """Votes per SRCID, refreshed at most every ``VOTE_COUNT_TTL`` seconds."""
        with self._lock:
            if time.monotonic() - self._counts_time > VOTE_COUNT_TTL:
                self._counts = vote_counts(store, self.catalogue.name)
                self._counts_time = time.monotonic()
            return self._counts


def _examples(catalogue: Catalogue, gold: pd.DataFrame) -> dict[str, int]:
    """One typical, bright gold source per category for the tutorial (SRCID by category key)."""
    src = catalogue.sources
    ok = playable(src)
    frame = src.loc[ok, ["SRCID", "SC_EP_8_FLUX"]].merge(gold, on="SRCID")
    cls = catalogue.classifications
    if cls is not None:
        probs = cls[["SRCID", *(f"PbaC{i}" for i in range(len(CLASS_NAMES)))]]
        frame = frame.merge(probs, on="SRCID", how="left")
    with_lc = set() if catalogue.longterm is None else set(catalogue.longterm["SRCID"].unique())
    frame["has_lc"] = frame["SRCID"].isin(with_lc)
    out = {}
    for cat in CATEGORIES:
        if cat.primary is None:
            continue
        rows = frame[frame["TRUE_CLASS"] == cat.primary]
        if rows.empty:
            continue
        pcol = f"PbaC{CLASS_NAMES.index(cat.primary)}"
        typical = rows[pcol].fillna(0) if pcol in rows else 0
        score = typical + rows["has_lc"] * 0.5 + np.log10(rows["SC_EP_8_FLUX"].clip(lower=1e-17)) * 0.05
        out[cat.key] = int(rows.loc[score.idxmax(), "SRCID"])
    return out


def _build(catalogue: Catalogue) -> GameData:
    gold = gold_set(catalogue)
    gold_ids = gold["SRCID"].to_numpy(np.int64)
    playable_ids = catalogue.sources["SRCID"].to_numpy(np.int64)[playable(catalogue.sources)]
    examples = _examples(catalogue, gold)
    # Tutorial examples are shown with their answer: never ask about them.
    play_gold = np.setdiff1d(np.intersect1d(gold_ids, playable_ids), list(examples.values()))
    pool = candidate_pool(catalogue.sources, catalogue.classifications, gold_ids)
    x, y = catalogue.xy("sources", "galactic", "hammer")
    xr_, yr_ = skyplot.full_extent("hammer")
    backdrop = skyplot.spread(skyplot.sky_rgba(x, y, None, xr_, yr_, *BACKDROP_SIZE, cmap=BACKDROP_CMAP), 1)
    return GameData(
        catalogue=catalogue,
        gold=dict(zip(gold_ids.tolist(), gold["TRUE_CLASS"].tolist(), strict=True)),
        gold_ids=play_gold,
        pool=pool,
        backdrop=backdrop,
        examples=examples,
    )


_GAMES: ProcessCache[GameData] = ProcessCache("classify game data", max_items=4)


def game_data(catalogue: Catalogue) -> GameData:
    """The shared GameData of ``catalogue`` (built on first use in this process)."""
    return _GAMES.get(str(catalogue.path), lambda: _build(catalogue), paths=[catalogue.path])


@dataclass(frozen=True)
class Clues:
    """What a volunteer sees about one source (never its class)."""

    srcid: int
    name: str
    lon: float
    lat: float
    fluxes: tuple[float, ...]
    extent: float
    variable: bool
    lc_mjd: np.ndarray
    lc_flux: np.ndarray
    lc_upper: np.ndarray
    lc_mission: np.ndarray
    magnitudes: dict[str, float]


def clues(catalogue: Catalogue, srcid: int) -> Clues:
    """Gather the clues of ``srcid`` from the catalogue's tables (positions in galactic deg)."""
    row = catalogue.source_row(int(srcid))
    if row is None:
        raise ValueError(f"No source {srcid} in release {catalogue.name}.")
    lt = catalogue.longterm
    rows = lt[lt["SRCID"] == int(srcid)] if lt is not None else None
    if rows is not None and len(rows):
        mjd, flux = rows["MJD"].to_numpy(np.float64), rows["FLUX"].to_numpy(np.float64)
        upper, mission = rows["UPPER_LIMIT"].to_numpy(bool), rows["MISSION"].to_numpy(object)
    else:
        mjd = np.array([float(row.get("MJD_FIRST", np.nan))])
        flux = np.array([float(row["SC_EP_8_FLUX"])])
        upper, mission = np.zeros(1, bool), np.array(["XMM"], dtype=object)
    mags: dict[str, float] = {}
    cps = catalogue.counterparts
    if cps is not None:
        mine = cps[cps["SRCID"] == int(srcid)].sort_values("MATCH_PROB", ascending=False)
        for col, label in (("MAG_G", "visible (G)"), ("MAG_J", "near-infrared (J)"), ("MAG_W1", "infrared (W1)")):
            vals = mine[col].dropna()
            if len(vals):
                mags[label] = float(vals.iloc[0])
    return Clues(
        srcid=int(srcid),
        name=str(row["IAUNAME"]),
        lon=float(row["LII"]),
        lat=float(row["BII"]),
        fluxes=tuple(float(row[f"SC_EP_{b}_FLUX"]) for b in range(1, 6)),
        extent=float(np.nan_to_num(row["SC_EXTENT"])),
        variable=bool(row.get("SC_VAR_FLAG", False)),
        lc_mjd=mjd,
        lc_flux=flux,
        lc_upper=upper,
        lc_mission=mission,
        magnitudes=mags,
    )
