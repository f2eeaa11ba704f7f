"""The alert task on an ingested release: compute, store under ``<release>/alerts/<run>/``, load, recall, replay.

Only the columns the criterion needs are read from the release's Parquet detections (and its
long-term table, when present). Files: ``<release dir>/alerts/<run>/alerts.parquet`` and
``alerts.jsonl``, where ``<run>`` is the preset name (``seed``, ``stonks``) or, when factor,
confidence or ``since`` differ from the preset, a name that spells them out, so a custom run
never replaces the preset's table that the Alerts page shows.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from data_loaders import projection, schema
from data_loaders.alerts.compute import compute_alerts
from data_loaders.alerts.criteria import ALERT_TYPES, DEFAULT_PRESET, PRESETS, resolve_criteria
from data_loaders.alerts.history import isin_ids
from data_loaders.alerts.io import PARQUET_NAME, read_alerts, write_alerts
from data_loaders.alerts.replay import mjd_to_datetime, monthly_rate, rate_table, replay_alerts
from data_loaders.errors import XmmExplorerError
from data_loaders.ingest import list_releases, read_release_meta, releases_dir
from data_loaders.process_cache import ProcessCache

ALERTS_DIR = "alerts"
#: Detection columns the criterion reads (EP_CHI2PROB and VAR_FLAG only when present).
INPUT_COLUMNS = ("SRCID", "DETID", "OBS_ID", "MJD_START", "EP_8_FLUX", "EP_8_FLUX_ERR", "EP_CHI2PROB", "VAR_FLAG")
#: Where ``xmm-explorer demo`` writes the planted-transient truth table, relative to the data directory.
TRUTH_FILE = Path("demo") / "4XMM_DEMO_truth.parquet"
#: Which alert types count as finding each planted kind of the demo generator.
PLANTED_MATCH = {
    "rising": ("rising", "new_source", "long_term_variable"),
    "falling": ("falling", "long_term_variable"),
    "long_term": ("long_term_variable", "rising", "falling"),
    "short_term": ("short_term_variable",),
    "new_source": ("new_source", "rising"),
}
#: Columns the Alerts page adds from the catalogue (by DETID), plus projected Hammer x/y (deg).
CATALOGUE_COLUMNS = ("IAUNAME", "RA", "DEC", "LII", "BII", "CLASS", "CLASS_PROB", "SUM_FLAG")


class AlertTaskError(XmmExplorerError):
    """The alert task was given something it cannot use (release, date, criterion)."""


@dataclass
class AlertRun:
    """The result of computing a release's alerts: the table, where it went, how long it took."""

    release: str
    run: str
    alerts: pd.DataFrame
    paths: tuple[Path, Path]
    seconds: float
    n_detections: int
    recall: pd.DataFrame | None = None
    notes: list[str] = field(default_factory=list)

    def counts(self) -> pd.Series:
        """Alerts per type, every type present (zeros included), in ALERT_TYPES order."""
        return self.alerts["ALERT_TYPE"].value_counts().reindex(list(ALERT_TYPES), fill_value=0)


def release_path(data_dir: Path, release: str | None = None) -> Path:
    """Directory of ``release`` (default: the first one); AlertTaskError naming the choices otherwise."""
    names = [r["name"] for r in list_releases(data_dir)]
    if not names:
        raise AlertTaskError(f"No ingested release under {releases_dir(data_dir)}; run `xmm-explorer demo` first.")
    name = names[0] if release is None else release
    if name not in names:
        raise AlertTaskError(f"No release {name!r} in {data_dir}; available: {', '.join(names)}.")
    return releases_dir(data_dir) / name


def run_name(preset: str = DEFAULT_PRESET, factor=None, confidence=None, since_mjd=None) -> str:
    """Directory name of a run: the preset, or e.g. ``seed-factor4-conf0.95-since60000`` when customised."""
    crit = _criteria(preset, factor, confidence)
    base = PRESETS[crit.preset]
    name = crit.preset
    if crit.factor != base.factor:
        name += f"-factor{crit.factor:g}"
    if crit.confidence != base.confidence:
        name += f"-conf{crit.confidence:g}"
    if since_mjd is not None:
        name += f"-since{float(since_mjd):g}"
    return re.sub(r"[^A-Za-z0-9._-]", "_", name)


def alerts_path(release_dir: Path, run: str = DEFAULT_PRESET) -> Path:
    """Directory holding one run's ``alerts.parquet`` and ``alerts.jsonl``."""
    return Path(release_dir) / ALERTS_DIR / run


def _criteria(preset, factor, confidence):
    try:
        return resolve_criteria(preset, factor, confidence)
    except ValueError as exc:
        raise AlertTaskError(f"{str(exc)[0].upper()}{str(exc)[1:]}.") from None


def read_inputs(release_dir: Path) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """The detection columns the criterion needs and the long-term table (None if the release has none)."""
    det_path = Path(release_dir) / schema.DETECTIONS_DIR
    present = set(pq.read_schema(next(iter(sorted(det_path.glob("*.parquet"))))).names)
    missing = [c for c in INPUT_COLUMNS[:6] if c not in present]
    if missing:
        raise AlertTaskError(f"Release {Path(release_dir).name} has no column(s) {', '.join(missing)} for alerts.")
    cols = [c for c in INPUT_COLUMNS if c in present]
    detections = pq.read_table(det_path, columns=cols).to_pandas()
    lt_path = Path(release_dir) / schema.LONGTERM_FILE
    longterm = None
    if lt_path.exists():  # every column but BAND, which the criterion does not read (strings cost)
        names = [c for c in pq.read_schema(lt_path).names if c != "BAND"]
        longterm = pq.read_table(lt_path, columns=names).to_pandas()
    return detections, longterm


def compute_release_alerts(
    data_dir: Path,
    release: str | None = None,
    *,
    preset: str = DEFAULT_PRESET,
    factor: float | None = None,
    confidence: float | None = None,
    since_mjd: float | None = None,
) -> AlertRun:
    """Compute a release's alerts and write them under ``<release>/alerts/<run>/`` (idempotent).

    Default preset ``seed`` (factor 3, 90% error bars). For synthetic releases whose demo truth
    table is present, ``recall`` holds the recall of the planted transients by kind.
    """
    rdir = release_path(Path(data_dir), release)
    crit = _criteria(preset, factor, confidence)
    run = run_name(preset, factor, confidence, since_mjd)
    t0 = time.perf_counter()
    detections, longterm = read_inputs(rdir)
    alerts = compute_alerts(
        detections, longterm, since_mjd=since_mjd, preset=crit.preset, factor=crit.factor, confidence=crit.confidence
    )
    if since_mjd is not None:
        alerts.attrs["since_mjd"] = float(since_mjd)
    paths = write_alerts(alerts, alerts_path(rdir, run))
    seconds = time.perf_counter() - t0
    result = AlertRun(rdir.name, run, alerts, paths, seconds, len(detections))
    meta = read_release_meta(rdir)
    truth_path = Path(data_dir) / TRUTH_FILE
    if meta.get("synthetic") and truth_path.exists():
        truth = pd.read_parquet(truth_path)
        known = isin_ids(truth["SRCID"].to_numpy(), detections["SRCID"].to_numpy())
        if known.mean() < 0.99:
            result.notes.append(f"{truth_path} does not describe release {rdir.name}; recall not computed.")
        else:
            result.recall = planted_recall(alerts, truth, crit.factor)
    forget(rdir, run)  # a recomputed run replaces what this process has cached
    return result


def forget(release_dir: Path, run: str) -> None:
    """Drop this process's enriched alerts of ``run`` (after the run was written again)."""
    _ALERTS.invalidate((Path(release_dir).resolve(), run))


def planted_recall(alerts: pd.DataFrame, truth: pd.DataFrame, factor: float | None = None) -> pd.DataFrame:
    """Per planted kind: N_PLANTED sources, N_FOUND (an alert of a matching type, see PLANTED_MATCH),
    N_ANY (any alert), RECALL = N_FOUND / N_PLANTED.

    With ``factor`` (and a PLANTED_FACTOR column), only planted changes larger than the criterion's
    factor count: the demo's variables follow STONKS' amplitude law, most of them below any factor.
    """
    if factor is not None and "PLANTED_FACTOR" in truth:
        big = (truth["PLANTED_FACTOR"].to_numpy() > factor) | (truth["PLANTED"] == "short_term").to_numpy()
        truth = truth.loc[big]
    rows = []
    alerted = alerts["SRCID"].to_numpy()
    for kind, types in PLANTED_MATCH.items():
        ids = truth.loc[(truth["PLANTED"] == kind).to_numpy(), "SRCID"].to_numpy()
        found = alerted[alerts["ALERT_TYPE"].isin(types).to_numpy()]
        n_found = int(isin_ids(ids, found).sum())
        n_any = int(isin_ids(ids, alerted).sum())
        rows.append((kind, ids.size, n_found, n_any, n_found / ids.size if ids.size else np.nan))
    return pd.DataFrame(rows, columns=["PLANTED", "N_PLANTED", "N_FOUND", "N_ANY", "RECALL"])


def load_release_alerts(release_dir: Path, run: str = DEFAULT_PRESET) -> pd.DataFrame | None:
    """A stored run's alerts (criterion in ``attrs``), or None if that run was never computed."""
    path = alerts_path(release_dir, run) / PARQUET_NAME
    return read_alerts(path) if path.exists() else None


def parse_epoch(text: str) -> float:
    """MJD from ``'60000'`` / ``'60000.5'`` or an ISO date ``'2023-02-01'`` (UTC); AlertTaskError otherwise."""
    from astropy.time import Time

    value = str(text).strip()
    try:
        mjd = float(value)
    except ValueError:
        try:
            mjd = float(Time(value, format="isot" if "T" in value else "iso", scale="utc").mjd)
        except ValueError:
            raise AlertTaskError(
                f"{value!r} is neither an MJD (e.g. 60000) nor an ISO date (e.g. 2023-02-01)."
            ) from None
    if not (np.isfinite(mjd) and 40000.0 <= mjd <= 80000.0):
        raise AlertTaskError(f"MJD {mjd:g} is outside 40000-80000 (1968-2078); is {value!r} a date?")
    return mjd


def replay_release(
    data_dir: Path | None,
    release: str | None,
    start_mjd: float,
    end_mjd: float,
    *,
    preset: str = DEFAULT_PRESET,
    factor: float | None = None,
    confidence: float | None = None,
    inputs: tuple[pd.DataFrame, pd.DataFrame | None] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """What the real-time pipeline would have raised for detections in [start, end): counts per type
    (:func:`~data_loaders.alerts.replay.replay_rate`) and alerts per calendar month and type.

    ``data_dir`` and ``release`` locate the release's tables; they are not read when ``inputs`` are given."""
    if not end_mjd > start_mjd:
        raise AlertTaskError(f"The replay window ends (MJD {end_mjd:g}) before it starts (MJD {start_mjd:g}).")
    crit = _criteria(preset, factor, confidence)
    if inputs is None:
        assert data_dir is not None, "replay_release reads the release from data_dir unless inputs are given"
        inputs = read_inputs(release_path(Path(data_dir), release))
    detections, longterm = inputs
    kw = {"preset": crit.preset, "factor": crit.factor, "confidence": crit.confidence}
    window = replay_alerts(detections, longterm, start_mjd, end_mjd, **kw)  # computed once for both tables
    counts = rate_table(window, detections, start_mjd, end_mjd)
    return counts, _window_months(monthly_rate(window), start_mjd, end_mjd)


def _window_months(monthly: pd.DataFrame, start_mjd: float, end_mjd: float) -> pd.DataFrame:
    """``monthly_rate`` output zero-filled over every calendar month the window touches."""
    first, last = mjd_to_datetime(np.array([start_mjd, end_mjd - 1e-6])).to_period("M")
    months = pd.period_range(first, last, freq="M").to_timestamp()
    full = pd.MultiIndex.from_product([months, list(ALERT_TYPES)], names=["MONTH", "ALERT_TYPE"])
    counts = monthly.set_index(["MONTH", "ALERT_TYPE"])["N_ALERTS"] if len(monthly) else pd.Series(dtype=np.int64)
    out = counts.reindex(full, fill_value=0).rename("N_ALERTS").reset_index()
    out["ALERT_TYPE"] = out["ALERT_TYPE"].astype("str")
    out["N_ALERTS"] = out["N_ALERTS"].astype(np.int64)
    return out


# --- the shared, read-only table the Alerts page shows (one per process, release and run) --------
_ALERTS: ProcessCache[pd.DataFrame | None] = ProcessCache("enriched alerts", max_items=8)


def enrich(alerts: pd.DataFrame, detections: pd.DataFrame) -> pd.DataFrame:
    """Alerts with the catalogue columns of their detection (``CATALOGUE_COLUMNS``, joined on DETID),
    projected all-sky coordinates ``X``/``Y`` (Hammer, ICRS, deg, RA increasing to the left) and ``DATE`` (UTC)."""
    out = alerts.copy()
    det_id = detections["DETID"].to_numpy(np.int64)
    order = np.argsort(det_id, kind="stable")
    ids = out["DETID"].to_numpy(np.int64)
    pos = np.clip(np.searchsorted(det_id[order], ids), 0, max(det_id.size - 1, 0))
    hit = det_id[order][pos] == ids if det_id.size else np.zeros(ids.size, bool)
    rows = order[pos]
    for col in CATALOGUE_COLUMNS:
        if col not in detections:
            continue
        values = detections[col].to_numpy()[rows]
        if col in alerts:  # an observation run carries its own (new detections are not in the catalogue)
            values = np.where(hit, values, alerts[col].to_numpy())
        elif values.dtype.kind == "f":
            values = np.where(hit, values, np.nan)
        out[col] = values
    if "CLASS" in out:
        cls = np.where(hit, out["CLASS"].to_numpy(), -1)
        if (~hit).any() and "CLASS" in detections:  # a new observation's detection of a known source
            src = detections["SRCID"].to_numpy(np.int64)
            s_order = np.argsort(src, kind="stable")
            want = out["SRCID"].to_numpy(np.int64)
            at = np.clip(np.searchsorted(src[s_order], want), 0, max(src.size - 1, 0))
            known = ~hit & (src[s_order][at] == want) if src.size else np.zeros(len(out), bool)
            cls = np.where(known, detections["CLASS"].to_numpy()[s_order][at], cls)
        out["CLASS"] = cls.astype(np.int8)
    ra = out["RA"].to_numpy(np.float64) if "RA" in out else np.full(len(out), np.nan)
    dec = out["DEC"].to_numpy(np.float64) if "DEC" in out else np.full(len(out), np.nan)
    x, y = projection.forward(ra, dec, "hammer")
    out["X"], out["Y"] = np.asarray(x, np.float32), np.asarray(y, np.float32)
    out["DATE"] = mjd_to_datetime(out["MJD"].to_numpy(np.float64))
    out.attrs.update(alerts.attrs)
    return out


def shared_alerts(catalogue, run: str = DEFAULT_PRESET, compute_if_missing: bool = True) -> pd.DataFrame | None:
    """The enriched alerts of ``catalogue`` (a loaded Catalogue) for ``run``, cached per process.

    When the run was never computed and ``compute_if_missing``, computes and stores it first
    (once per process even if several sessions ask at the same time). Treat the frame as read-only.
    """
    key = (Path(catalogue.path).resolve(), run)

    def compute() -> pd.DataFrame | None:
        alerts = load_release_alerts(catalogue.path, run)
        if alerts is None and compute_if_missing and run in PRESETS:
            alerts = _compute_and_write(Path(catalogue.path).parent.parent, catalogue.name, run)
        return None if alerts is None else enrich(alerts, catalogue.detections)

    enriched = _ALERTS.get(key, compute, paths=[catalogue.path])
    if enriched is None:  # not computed yet: ask again next time
        _ALERTS.invalidate(key)
    return enriched


def _compute_and_write(data_dir: Path, release: str, preset: str) -> pd.DataFrame:
    """Compute and write a preset's alerts (once per process: :func:`shared_alerts` holds its key)."""
    rdir = release_path(data_dir, release)
    detections, longterm = read_inputs(rdir)
    alerts = compute_alerts(detections, longterm, preset=preset)
    write_alerts(alerts, alerts_path(rdir, preset))
    return alerts


def is_computed(release_dir: Path, run: str = DEFAULT_PRESET) -> bool:
    """True when the run's ``alerts.parquet`` exists (the page can show it without computing)."""
    return (alerts_path(release_dir, run) / PARQUET_NAME).exists()
