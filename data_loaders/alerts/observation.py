"""Alerts for one new observation: its EPIC source list against everything a release knows at those positions.

This is the task "inserted into the pipeline" (STONKS, Quintin et al. 2024): every detection of
the list is matched to the release's unique sources within the combined position errors
(astropy ``search_around_sky``); a matched detection is compared with its source's other
detections and long-term points (other missions, XMM upper limits); an unmatched one with the
XMM upper limits at its position from the release's other observations. The criterion is the
release task's (:func:`~data_loaders.alerts.compute.compute_alerts`), applied to the list's
detections only. If the observation is already in the release, its own rows are left out of the
history, so it is compared only with the other observations.

:func:`observation_alerts` is the pure part (frames in, frames out); :func:`run_observation`
reads a release, writes the run under ``<release>/alerts/obs<OBS_ID>[-<criterion>]/`` and
replaces an earlier run of the same list.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import astropy.units as u
import numpy as np
import pandas as pd
import pyarrow.dataset as ds
import pyarrow.parquet as pq
from astropy.coordinates import SkyCoord, search_around_sky

from data_loaders import coverage, projection, schema
from data_loaders.alerts.compute import compute_alerts
from data_loaders.alerts.criteria import ALERT_TYPES, DEFAULT_PRESET, SHORT_TERM_CHI2PROB, STONKS_TYPES
from data_loaders.alerts.history import build_points, mission_names
from data_loaders.alerts.io import write_alerts
from data_loaders.alerts.source_list import BANDS, SourceList, read_source_list

#: Match radius in units of the combined 1-sigma position error, sqrt(RADEC_ERR² + SYSERR² + POSERR²).
#: With POSERR the total error of a source, 3 of them hold all but exp(-9/2) ~ 1% of true pairs
#: of a 2-D Gaussian (per-axis sigma = error/sqrt 2: all but exp(-9) ~ 1e-4).
MATCH_SIGMA = 3.0
#: Systematic position error added to a new detection's statistical RADEC_ERR (arcsec; 4XMM's
#: SYSERRCC is 0.37-0.52").
SYSERR_ARCSEC = 0.5
RUN_PREFIX = "obs"
RUN_FILE = "run.json"
JSON_NAME = "alerts.json"
POINTS_NAME = "points.parquet"
#: Extra columns an observation run's alerts carry (the page cannot look them up by DETID).
OBSERVATION_COLUMNS = ("RA", "DEC", "RADEC_ERR", "LII", "BII", "IAUNAME", "SRC_NUM", "MATCH", "MATCH_SEP")
MATCH_KINDS = ("catalogue", "upper_limits", "none")


@dataclass
class ObservationResult:
    """What one source list gave: its alerts, per-detection matches and the history that was compared."""

    obs_id: str
    alerts: pd.DataFrame
    matches: pd.DataFrame  # one row per list detection: SRC_NUM, SRCID, DETID, MATCH, MATCH_SEP, N_UPPER_LIMITS
    points: pd.DataFrame  # build_points of every source with an alert (MISSION added), the new points included
    in_release: bool

    def counts(self) -> dict[str, int]:
        """Detections read / matched / compared with upper limits only / never observed, alerts per type."""
        kinds = self.matches["MATCH"].value_counts()
        by_type = self.alerts["ALERT_TYPE"].value_counts().reindex(list(ALERT_TYPES), fill_value=0)
        return {
            "read": len(self.matches),
            "matched": int(kinds.get("catalogue", 0)),
            "upper_limits_only": int(kinds.get("upper_limits", 0)),
            "never_observed": int(kinds.get("none", 0)),
            "alerts": len(self.alerts),
            **{t: int(n) for t, n in by_type.items()},
        }

    def summary(self) -> str:
        """One line that accounts for every detection of the list."""
        c = self.counts()
        types = ", ".join(f"{t} {c[t]}" for t in ALERT_TYPES)
        again = " (already in the release: compared with the other observations only)" if self.in_release else ""
        return (
            f"Observation {self.obs_id}{again}: {c['read']} detections read = {c['matched']} matched to catalogue "
            f"sources + {c['upper_limits_only']} compared with upper limits only + {c['never_observed']} never "
            f"observed before; {c['alerts']} alerts ({types})."
        )


def detection_ids(obs_id: str, src_num: np.ndarray) -> np.ndarray:
    """DETID of a list's detections: 1e14 + OBS_ID * 1e4 + SRC_NUM (the demo catalogue's rule)."""
    return 10**14 + int(obs_id) * 10**4 + np.asarray(src_num, dtype=np.int64)


def match_sources(sl: pd.DataFrame, sources: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Row of the matched source in ``sources`` per detection (-1: none) and its separation (arcsec).

    ``sl``: RA, DEC (deg), RADEC_ERR (arcsec). ``sources``: SC_RA, SC_DEC (deg), SC_POSERR (arcsec).
    A pair matches when its separation is within MATCH_SIGMA combined errors; each detection takes
    its closest source in units of that error, and a source claimed by several detections keeps
    only the closest (one-to-one, as the catalogue's own source grouping).
    """
    n = len(sl)
    row = np.full(n, -1, dtype=np.int64)
    sep_out = np.full(n, np.nan)
    if n == 0 or len(sources) == 0:
        return row, sep_out
    det_err = np.hypot(np.nan_to_num(sl["RADEC_ERR"].to_numpy(np.float64), nan=1.5), SYSERR_ARCSEC)
    src_err = np.nan_to_num(sources["SC_POSERR"].to_numpy(np.float64), nan=1.5)
    c1 = SkyCoord(sl["RA"].to_numpy(np.float64) * u.deg, sl["DEC"].to_numpy(np.float64) * u.deg)
    c2 = SkyCoord(sources["SC_RA"].to_numpy(np.float64) * u.deg, sources["SC_DEC"].to_numpy(np.float64) * u.deg)
    limit = MATCH_SIGMA * float(np.hypot(det_err.max(), src_err.max()))
    i1, i2, sep, _ = search_around_sky(c1, c2, limit * u.arcsec)
    sep = sep.to_value(u.arcsec)
    norm = sep / np.hypot(det_err[i1], src_err[i2])
    ok = norm <= MATCH_SIGMA
    i1, i2, sep, norm = i1[ok], i2[ok], sep[ok], norm[ok]
    order = np.lexsort((i2, norm))  # best pairs first; ties by source row
    i1, i2, sep = i1[order], i2[order], sep[order]
    taken_det = np.zeros(n, bool)
    taken_src: set[int] = set()
    for a, b, s in zip(i1.tolist(), i2.tolist(), sep.tolist(), strict=True):  # pairs within the field: few
        if taken_det[a] or b in taken_src:
            continue
        taken_det[a] = True
        taken_src.add(b)
        row[a], sep_out[a] = b, s
    return row, sep_out


def position_upper_limits(
    observations: pd.DataFrame, ra: np.ndarray, dec: np.ndarray, exclude_obs_id: str, sigma: float = 3.0
) -> pd.DataFrame:
    """XMM upper limits at each position from every other observation covering it (coverage's method).

    Returns long-term rows (ROW: index into ra/dec, OBS_ID, MJD = observation start, FLUX = the
    ``sigma`` limit in erg/cm²/s, 0.2-12 keV).
    """
    cols = ["ROW", "OBS_ID", "MJD", "FLUX"]
    if len(ra) == 0 or observations is None or len(observations) == 0:
        return pd.DataFrame(
            {c: pd.Series(dtype=t) for c, t in zip(cols, ("int64", "str", "float64", "float64"), strict=True)}
        )
    obs = observations.loc[observations["OBS_ID"].astype(str).str.strip().to_numpy() != exclude_obs_id]
    o_ra, o_dec = obs["RA_PNT"].to_numpy(np.float64), obs["DEC_PNT"].to_numpy(np.float64)
    radius = (
        np.nan_to_num(obs["FIELD_RADIUS"].to_numpy(np.float64), nan=coverage.FIELD_RADIUS_DEG)
        if "FIELD_RADIUS" in obs
        else np.full(len(obs), coverage.FIELD_RADIUS_DEG)
    )
    # Observations near the list first (cheap), then every (detection, observation) pair.
    near = projection.separation_deg(o_ra, o_dec, float(np.mean(ra)), float(np.mean(dec))) < 2.0 + radius
    idx = np.flatnonzero(near)
    sep = projection.separation_deg(o_ra[idx][None, :], o_dec[idx][None, :], ra[:, None], dec[:, None])
    det_i, k = np.nonzero(sep <= radius[idx][None, :])
    o = idx[k]
    flux, _, _ = coverage.flux_upper_limit(
        obs["PN_ONTIME"].to_numpy()[o],
        obs["M1_ONTIME"].to_numpy()[o],
        obs["M2_ONTIME"].to_numpy()[o],
        sep[det_i, k] * 60.0,
        sigma,
    )
    return pd.DataFrame(
        {
            "ROW": det_i.astype(np.int64),
            "OBS_ID": obs["OBS_ID"].astype(str).str.strip().to_numpy()[o],
            "MJD": obs["MJD_START"].to_numpy(np.float64)[o],
            "FLUX": flux,
        }
    )


def _names(ra: np.ndarray, dec: np.ndarray) -> np.ndarray:
    """IAU-style names for new positions ('4XMM Jhhmmss.s+ddmmss', truncated like the SSC)."""
    c = SkyCoord(ra * u.deg, dec * u.deg)
    hms = c.ra.hms
    dms = c.dec.signed_dms
    out = []
    for h, m, s, sg, d, dm, dsec in zip(hms.h, hms.m, hms.s, dms.sign, dms.d, dms.m, dms.s, strict=True):
        ss = np.floor(s * 10) / 10
        out.append(
            f"4XMM J{int(h):02d}{int(m):02d}{ss:04.1f}{'+' if sg >= 0 else '-'}{int(d):02d}{int(dm):02d}{int(dsec):02d}"
        )
    return np.array(out, dtype=object)


def observation_alerts(
    source_list: SourceList,
    sources: pd.DataFrame,
    detections: pd.DataFrame,
    longterm: pd.DataFrame | None,
    observations: pd.DataFrame | None,
    *,
    preset: str = DEFAULT_PRESET,
    factor: float | None = None,
    confidence: float | None = None,
) -> ObservationResult:
    """Alerts of one source list against a release's sources, detections, long-term table and observations.

    ``sources``: SRCID, SC_RA, SC_DEC, SC_POSERR (arcsec) and optionally IAUNAME (any subset of
    the release's sources that covers the list's positions). ``detections``/``longterm``: at least
    the history of the matched sources (more rows do no harm). The list's own observation is
    removed from the history. Output alerts have the columns of ``compute_alerts`` plus
    :data:`OBSERVATION_COLUMNS`; rows in the list's order of detection (``compute_alerts`` order).
    """
    obs_id = source_list.obs_id
    sl = source_list.detections.reset_index(drop=True)
    n = len(sl)
    row, sep = match_sources(sl, sources)
    matched = row >= 0
    src_ids = sources["SRCID"].to_numpy(np.int64)
    srcid = np.where(matched, src_ids[np.maximum(row, 0)] if len(sources) else -1, -sl["SRC_NUM"].to_numpy(np.int64))
    detid = detection_ids(obs_id, sl["SRC_NUM"].to_numpy())

    hist = detections.loc[
        np.isin(detections["SRCID"].to_numpy(np.int64), srcid[matched])
        & (detections["OBS_ID"].astype(str).str.strip().to_numpy() != obs_id)
    ]
    in_release = bool((detections["OBS_ID"].astype(str).str.strip().to_numpy() == obs_id).any())
    chi = sl["EP_CHI2PROB"].to_numpy(np.float64)
    with np.errstate(invalid="ignore"):
        var_flag = chi <= SHORT_TERM_CHI2PROB
    new = pd.DataFrame(
        {
            "SRCID": srcid,
            "DETID": detid,
            "OBS_ID": pd.array([obs_id] * n, dtype="str"),
            "MJD_START": np.full(n, source_list.mjd_start),
            "EP_8_FLUX": sl["EP_TOT_FLUX"].to_numpy(np.float64),
            "EP_8_FLUX_ERR": sl["ERR_EP_TOT_FLUX"].to_numpy(np.float64),
            "EP_CHI2PROB": chi,
            "VAR_FLAG": var_flag,
        }
    )
    hist = hist.reindex(columns=new.columns)
    hist = hist.assign(
        EP_CHI2PROB=hist["EP_CHI2PROB"].astype(np.float64),
        VAR_FLAG=hist["VAR_FLAG"].astype("boolean").fillna(False).astype(bool),
    ).astype({c: new[c].dtype for c in new.columns})
    both = pd.concat([hist, new], ignore_index=True) if len(hist) else new

    lt_parts = []
    if longterm is not None and len(longterm):
        lt = longterm.loc[np.isin(longterm["SRCID"].to_numpy(np.int64), srcid[matched])]
        if "OBS_ID" in lt:
            same = (lt["MISSION"].astype(str).to_numpy() == "XMM") & (
                lt["OBS_ID"].astype(str).str.strip().to_numpy() == obs_id
            )
            lt = lt.loc[~same]
        lt_parts.append(lt)
    uls = position_upper_limits(observations, sl["RA"].to_numpy()[~matched], sl["DEC"].to_numpy()[~matched], obs_id)
    unmatched_rows = np.flatnonzero(~matched)
    n_ul = np.zeros(n, np.int64)
    if len(uls):
        det_rows = unmatched_rows[uls["ROW"].to_numpy()]
        np.add.at(n_ul, det_rows, 1)
        lt_parts.append(
            pd.DataFrame(
                {
                    "SRCID": srcid[det_rows],
                    "MISSION": "XMM",
                    "OBS_ID": uls["OBS_ID"].to_numpy(),
                    "MJD": uls["MJD"].to_numpy(),
                    "FLUX": uls["FLUX"].to_numpy(),
                    "FLUX_ERR": np.nan,
                    "UPPER_LIMIT": True,
                    "BAND": "0.2-12.0",
                }
            )
        )
    history_lt = pd.concat(lt_parts, ignore_index=True) if lt_parts else None

    alerts = compute_alerts(both, history_lt, preset=preset, factor=factor, confidence=confidence)
    alerts = alerts.loc[np.isin(alerts["DETID"].to_numpy(), detid)].reset_index(drop=True)

    kind = np.where(matched, "catalogue", np.where(n_ul > 0, "upper_limits", "none"))
    names = np.empty(n, dtype=object)
    if "IAUNAME" in sources and matched.any():
        names[matched] = sources["IAUNAME"].astype(str).str.strip().to_numpy()[row[matched]]
    if (~matched).any():
        names[~matched] = _names(sl["RA"].to_numpy()[~matched], sl["DEC"].to_numpy()[~matched])
    if n:
        gal = SkyCoord(sl["RA"].to_numpy() * u.deg, sl["DEC"].to_numpy() * u.deg).galactic
        lii, bii = gal.l.deg, gal.b.deg
    else:
        lii = bii = np.zeros(0)
    matches = pd.DataFrame(
        {
            "SRC_NUM": sl["SRC_NUM"].to_numpy(np.int64),
            "SRCID": srcid,
            "DETID": detid,
            "RA": sl["RA"].to_numpy(np.float64),
            "DEC": sl["DEC"].to_numpy(np.float64),
            "RADEC_ERR": sl["RADEC_ERR"].to_numpy(np.float64),
            "LII": lii,
            "BII": bii,
            "IAUNAME": pd.array(names.astype(str) if n else [], dtype="str"),
            "MATCH": pd.array(kind if n else [], dtype="str"),
            "MATCH_SEP": sep,
            "N_UPPER_LIMITS": n_ul,
        }
    )
    at = pd.Index(matches["DETID"]).get_indexer(alerts["DETID"])
    for c in OBSERVATION_COLUMNS:
        alerts[c] = matches[c].to_numpy()[at] if len(alerts) else matches[c].iloc[:0].to_numpy()
    alerts.attrs["obs_id"] = obs_id
    alerts.attrs["source_list"] = source_list.path.name
    alerts.attrs["mjd_start"] = source_list.mjd_start

    alerted = np.unique(alerts["SRCID"].to_numpy())
    pts = build_points(
        both.loc[np.isin(both["SRCID"].to_numpy(), alerted)],
        None if history_lt is None else history_lt.loc[np.isin(history_lt["SRCID"].to_numpy(), alerted)],
    )
    pts["MISSION"] = pd.array(np.array(mission_names(), dtype=object)[pts["MISSION_CODE"].to_numpy()], dtype="str")
    pts["NEW"] = np.isin(pts["DETID"].to_numpy(), detid)
    return ObservationResult(obs_id, alerts, matches, pts.drop(columns=["DET_ROW"]), in_release)


# --- the task on an ingested release ------------------------------------------------------------------
@dataclass
class ObservationRun:
    """A written observation run: the result, its directory, files and timings (s)."""

    result: ObservationResult
    directory: Path
    files: list[Path]
    seconds: float
    png_seconds: float = 0.0
    notes: list[str] = field(default_factory=list)


def observation_run_name(obs_id: str, run: str) -> str:
    """Directory of an observation run: ``obs<OBS_ID>`` for the default preset, ``obs<OBS_ID>-<run>`` otherwise."""
    return f"{RUN_PREFIX}{obs_id}" if run == DEFAULT_PRESET else f"{RUN_PREFIX}{obs_id}-{run}"


def list_observation_runs(release_dir: Path) -> list[dict]:
    """The observation runs of a release (their run.json), newest observation first."""
    root = Path(release_dir) / "alerts"
    runs = []
    for p in sorted(root.glob(f"{RUN_PREFIX}*/{RUN_FILE}")) if root.exists() else []:
        try:
            meta = json.loads(p.read_text())
        except (OSError, ValueError):
            continue
        runs.append({**meta, "run": p.parent.name})
    return sorted(runs, key=lambda r: (-float(r.get("mjd_start", 0)), r["run"]))


def _field_filter(ra: np.ndarray, dec: np.ndarray, margin_deg: float = 0.1):
    """A dataset filter on the ingest's HEALPix column covering every detection of the list (plus a margin).

    Detections are stored in HEALPix order (``data_loaders.ingest``), so the row groups' statistics
    let Parquet skip everything outside these pixel ranges.
    """
    from astropy_healpix import HEALPix

    from data_loaders.ingest import HPX_COLUMN, HPX_NSIDE

    ra0, dec0 = float(np.mean(ra)), float(np.mean(dec))
    reach = float(projection.separation_deg(ra, dec, ra0, dec0).max())
    pix = np.unique(
        HEALPix(nside=HPX_NSIDE, order="nested").cone_search_lonlat(
            ra0 * u.deg, dec0 * u.deg, radius=(reach + margin_deg) * u.deg
        )
    )
    breaks = np.flatnonzero(np.diff(pix) > 1)
    starts, ends = np.r_[pix[0], pix[breaks + 1]], np.r_[pix[breaks], pix[-1]]
    expr = None
    for a, b in zip(starts.tolist(), ends.tolist(), strict=True):
        term = (ds.field(HPX_COLUMN) >= a) & (ds.field(HPX_COLUMN) <= b)
        expr = term if expr is None else expr | term
    return expr, (ra0, dec0, reach)


def read_field(release_dir: Path, ra: np.ndarray, dec: np.ndarray) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The release's sources near the list's detections and all their detections, in one pruned read.

    Returns ``(sources, detections)``: sources (SRCID, SC_RA, SC_DEC, SC_POSERR, IAUNAME) within
    0.05 deg of the farthest detection from the list's centre, and every detection of the field's
    pixels with the criterion's columns (a superset of the matched sources' history: a source's
    detections lie within arcseconds of it).
    """
    from data_loaders.alerts.release import INPUT_COLUMNS

    dataset = ds.dataset(Path(release_dir) / schema.DETECTIONS_DIR, format="parquet")
    src_cols = ["SC_RA", "SC_DEC", "SC_POSERR", "IAUNAME"]
    cols = [c for c in (*INPUT_COLUMNS, *src_cols) if c in dataset.schema.names]
    empty = pd.DataFrame({c: pd.Series(dtype="float64") for c in ("SRCID", *src_cols)})
    if len(ra) == 0:
        return empty, dataset.schema.empty_table().select([c for c in cols if c not in src_cols]).to_pandas()
    expr, (ra0, dec0, reach) = _field_filter(ra, dec)
    table = dataset.to_table(columns=cols, filter=expr)
    frame = table.to_pandas()
    first = ~frame["SRCID"].duplicated().to_numpy()
    sources = frame.loc[first, ["SRCID", *src_cols]].reset_index(drop=True)
    near = projection.separation_deg(sources["SC_RA"], sources["SC_DEC"], ra0, dec0) <= reach + 0.05
    sources = sources.loc[near].sort_values("SRCID", kind="stable").reset_index(drop=True)
    return sources, frame.drop(columns=src_cols)


def read_longterm(release_dir: Path, srcids: np.ndarray) -> pd.DataFrame | None:
    """Long-term rows of the given sources only (None when the release has no long-term table)."""
    lt_path = Path(release_dir) / schema.LONGTERM_FILE
    if not lt_path.exists():
        return None
    wanted = [int(s) for s in np.unique(srcids)]
    expr = ds.field("SRCID").isin(wanted)
    if wanted:  # the table is sorted by SRCID: the range lets Parquet skip row groups
        expr = (ds.field("SRCID") >= wanted[0]) & (ds.field("SRCID") <= wanted[-1]) & expr
    return ds.dataset(lt_path, format="parquet").to_table(filter=expr).to_pandas()


def read_history(release_dir: Path, srcids: np.ndarray) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Detections (the criterion's columns) and long-term rows of the given sources only."""
    from data_loaders.alerts.release import INPUT_COLUMNS

    dataset = ds.dataset(Path(release_dir) / schema.DETECTIONS_DIR, format="parquet")
    cols = [c for c in INPUT_COLUMNS if c in dataset.schema.names]
    wanted = [int(s) for s in np.unique(srcids)]
    detections = dataset.to_table(columns=cols, filter=ds.field("SRCID").isin(wanted)).to_pandas()
    return detections, read_longterm(release_dir, srcids)


def alert_records(result: ObservationResult, source_list: SourceList) -> list[dict]:
    """alerts.json: one object per alert (position, names, type, ratio with errors, the epochs compared)."""
    sl = source_list.detections.set_index("SRC_NUM")
    out = []
    for a in result.alerts.itertuples(index=False):
        d = sl.loc[int(a.SRC_NUM)]
        f, e = float(a.FLUX), float(a.FLUX_ERR)
        cf = float(a.COMPARED_FLUX)
        compared = None
        ratio_err = None
        if np.isfinite(a.MJD_COMPARED):
            pts = result.points
            hit = pts.loc[
                (pts["SRCID"].to_numpy() == a.SRCID)
                & np.isclose(pts["MJD"].to_numpy(), a.MJD_COMPARED)
                & np.isclose(pts["FLUX"].to_numpy(), cf)
            ]
            ce = float(hit["FLUX_ERR"].iat[0]) if len(hit) else np.nan
            ul = bool(a.COMPARED_IS_UPPER_LIMIT)
            compared = {
                "mjd": float(a.MJD_COMPARED),
                "mission": str(a.COMPARED_MISSION),
                "flux": cf,
                "flux_err": None if ul or not np.isfinite(ce) else ce,
                "upper_limit": ul,
            }
            if not ul and np.isfinite(ce) and f > 0 and cf > 0:
                ratio_err = float(a.RATIO) * float(np.hypot(e / f, ce / cf))
        out.append(
            {
                "alert_id": str(a.ALERT_ID),
                "type": str(a.ALERT_TYPE),
                "stonks_type": STONKS_TYPES[str(a.ALERT_TYPE)],
                "position": {"ra": float(a.RA), "dec": float(a.DEC), "radec_err_arcsec": float(a.RADEC_ERR)},
                "names": {
                    "iauname": str(a.IAUNAME),
                    "srcid": int(a.SRCID) if a.MATCH == "catalogue" else None,
                    "obs_id": result.obs_id,
                    "src_num": int(a.SRC_NUM),
                    "detid": int(a.DETID),
                },
                "match": {
                    "kind": str(a.MATCH),
                    "separation_arcsec": None if not np.isfinite(a.MATCH_SEP) else float(a.MATCH_SEP),
                },
                "ratio": {
                    "value": None if not np.isfinite(a.RATIO) else float(a.RATIO),
                    "error": ratio_err,
                    "low": None if not np.isfinite(a.RATIO_LOW) else float(a.RATIO_LOW),
                    "is_lower_bound": bool(compared is not None and compared["upper_limit"]),
                },
                "criterion": {"preset": str(a.PRESET), "factor": float(a.FACTOR), "confidence": float(a.CONFIDENCE)},
                "epochs": {
                    "new": {
                        "mjd": float(a.MJD),
                        "obs_id": result.obs_id,
                        "flux": f,
                        "flux_err": e,
                        "band_flux": [float(d[f"EP_{b}_FLUX"]) for b in BANDS],
                        "band_flux_err": [float(d[f"ERR_EP_{b}_FLUX"]) for b in BANDS],
                        "ep_chi2prob": None if not np.isfinite(a.EP_CHI2PROB) else float(a.EP_CHI2PROB),
                    },
                    "compared": compared,
                },
                "png": f"{a.ALERT_ID}.png",
            }
        )
    return out


def _json_default(v):
    if isinstance(v, np.generic):
        return v.item()
    raise TypeError(type(v))


def run_observation(
    data_dir: Path,
    release: str | None,
    path: str | Path,
    *,
    preset: str = DEFAULT_PRESET,
    factor: float | None = None,
    confidence: float | None = None,
    figures: bool = True,
) -> ObservationRun:
    """Run the alert task on one source list and write ``<release>/alerts/obs<OBS_ID>[-<run>]/``.

    Files: alerts.parquet / alerts.jsonl (the release task's format plus the observation
    columns), alerts.json (:func:`alert_records`), points.parquet (the compared histories),
    run.json (the summary) and, with ``figures``, one ``<ALERT_ID>.png`` per alert. The directory
    is built beside the old one and swapped in, so a second run of the same list replaces it.
    """
    from data_loaders.alerts.release import _criteria, release_path, run_name

    t0 = time.perf_counter()
    crit = _criteria(preset, factor, confidence)
    rdir = release_path(Path(data_dir), release)
    sl = read_source_list(path)
    det = sl.detections
    sources, detections = read_field(rdir, det["RA"].to_numpy(), det["DEC"].to_numpy())
    row, _ = match_sources(det, sources)
    longterm = read_longterm(rdir, sources["SRCID"].to_numpy()[row[row >= 0]])
    in_release = _observation_in_release(rdir, sl.obs_id)
    obs_path = rdir / coverage.OBSERVATIONS_FILE
    observations = pd.read_parquet(obs_path) if obs_path.exists() else None
    result = observation_alerts(
        sl,
        sources,
        detections,
        longterm,
        observations,
        preset=crit.preset,
        factor=crit.factor,
        confidence=crit.confidence,
    )
    result.in_release = result.in_release or in_release
    run = observation_run_name(sl.obs_id, run_name(crit.preset, factor, confidence))
    root = rdir / "alerts"
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{run}.", dir=root))
    files = list(write_alerts(result.alerts, tmp))
    (tmp / JSON_NAME).write_text(json.dumps(alert_records(result, sl), indent=1, default=_json_default))
    result.points.to_parquet(tmp / POINTS_NAME, index=False)
    meta = {
        "obs_id": sl.obs_id,
        "source_list": sl.path.name,
        "mjd_start": sl.mjd_start,
        "mjd_stop": sl.mjd_stop,
        "date_obs": str(sl.header.get("DATE-OBS")),
        "in_release": result.in_release,
        "summary": result.summary(),
        "counts": result.counts(),
        **crit.metadata(),
    }
    (tmp / RUN_FILE).write_text(json.dumps(meta, indent=1, default=_json_default))
    files += [tmp / JSON_NAME, tmp / POINTS_NAME, tmp / RUN_FILE]
    seconds = time.perf_counter() - t0
    png_seconds = 0.0
    if figures and len(result.alerts):
        from data_loaders.alerts.figures import write_alert_figures

        t1 = time.perf_counter()
        files += write_alert_figures(result, sl, tmp)
        png_seconds = time.perf_counter() - t1
    final = root / run
    old = None
    if final.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{run}.old.", dir=root))
        final.rename(old / run)
    tmp.rename(final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    files = [final / f.name for f in files]
    from data_loaders.alerts.release import forget

    forget(rdir, run)
    return ObservationRun(result, final, files, seconds, png_seconds)


def _observation_in_release(release_dir: Path, obs_id: str) -> bool:
    p = Path(release_dir) / coverage.OBSERVATIONS_FILE
    if not p.exists():
        return False
    ids = pq.read_table(p, columns=["OBS_ID"]).column("OBS_ID").to_pandas().astype(str).str.strip()
    return bool((ids == obs_id).any())


def read_points(run_dir: Path) -> pd.DataFrame | None:
    """The flux points an observation run wrote beside its alerts (None when it wrote none)."""
    path = Path(run_dir) / POINTS_NAME
    return pd.read_parquet(path) if path.exists() else None
