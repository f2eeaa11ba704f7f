"""The per-session state of the Alerts page: filters, the visible alerts, the selected one, reviews, replay.

The alert table itself is shared read-only per process (``data_loaders.alerts.release.shared_alerts``);
a session holds a boolean mask over it and the selected ALERT_ID, never a copy.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import param

from data_loaders import schema
from data_loaders.alerts import observation
from data_loaders.alerts import release as task
from data_loaders.alerts.criteria import ALERT_TYPES, DEFAULT_PRESET, PRESETS
from data_loaders.alerts.history import build_points, mission_names
from data_loaders.catalogue import Catalogue
from data_loaders.store import ALERT_LABELS

REVIEW_CHOICES = ("all", "not reviewed", "reviewed", "confirmed", "artefact")
CLASS_CHOICES = (*schema.CLASS_NAMES, "unclassified")
#: Store label -> review status shown on the page.
STATUS_OF_LABEL = {"alert-confirmed": "confirmed", "alert-artefact": "artefact"}
FILTER_PARAMS = ("types", "ratio_min", "ratio_low_min", "dates", "classes", "log_flux", "abs_b_min", "review")


def _log10(values: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(values > 0, np.log10(values), np.nan)


class AlertsState(param.Parameterized):
    """Filters over one release's alerts (one preset), the current page's selection and the reviewer."""

    preset: param.Selector[str] = param.Selector(
        objects=list(PRESETS), default=DEFAULT_PRESET, doc="criterion preset shown"
    )
    types = param.ListSelector(default=list(ALERT_TYPES), objects=list(ALERT_TYPES))
    ratio_min = param.Number(default=0.0, bounds=(0, None), doc="minimum flux ratio (0: no limit)")
    ratio_low_min = param.Number(default=0.0, bounds=(0, None), doc="minimum ratio of the error-bar ends")
    dates = param.DateRange(default=None, allow_None=True, doc="alert (detection start) dates, UTC")
    classes = param.ListSelector(default=[], objects=list(CLASS_CHOICES), doc="classifier classes (empty: all)")
    log_flux = param.Range(default=None, allow_None=True, doc="log10 of the 0.2-12 keV flux, erg/cm2/s")
    abs_b_min = param.Number(default=0.0, bounds=(0.0, 90.0), doc="minimum |galactic latitude|, deg")
    review: param.Selector[str] = param.Selector(objects=list(REVIEW_CHOICES), default="all")
    selected = param.String(default=None, allow_None=True, doc="ALERT_ID of the alert shown in detail")
    user = param.String(default=None, allow_None=True, doc="signed-in user (None: anonymous)")
    message = param.String(default="", doc="last review/replay message, one sentence")
    version = param.Integer(default=0, doc="bumped whenever the visible alerts change")
    run = param.String(
        default=None, allow_None=True, doc="alert run shown: None for the preset's release run, or obs<OBS_ID>[-...]"
    )

    def __init__(self, catalogue: Catalogue, store=None, alerts: pd.DataFrame | None = None, **params):
        super().__init__(**params)
        self.catalogue = catalogue
        self.store = store
        run = self.run or self.preset
        if alerts is None:
            alerts = task.shared_alerts(catalogue, run, compute_if_missing=not self.run)
        if alerts is None:
            raise ValueError(f"No {run} alerts for release {catalogue.name}.")
        self.alerts: pd.DataFrame = alerts
        self._points = None
        if self.is_observation_run:
            self.preset = str(self.alerts.attrs.get("preset", self.preset))
            assert self.run is not None  # is_observation_run: a non-empty run name
            self._points = observation.read_points(task.alerts_path(catalogue.path, self.run))
        self._set_bounds()
        self.status = np.full(len(self.alerts), "", dtype=object)
        self.refresh_status()
        self.visible = self.mask()
        self.param.watch(self._on_filters, list(FILTER_PARAMS))

    # --- filtering ---------------------------------------------------------------------------
    def _set_bounds(self) -> None:
        a = self.alerts
        self._log_flux = _log10(a["FLUX"].to_numpy(np.float64))
        self._dates = pd.to_datetime(a["DATE"]).to_numpy() if "DATE" in a else None
        finite = self._log_flux[np.isfinite(self._log_flux)]
        lo, hi = (
            (float(np.floor(finite.min() * 10) / 10), float(np.ceil(finite.max() * 10) / 10))
            if finite.size
            else (-16.0, -9.0)
        )
        self.param.log_flux.bounds = (lo, hi)
        if self.log_flux is None:
            self.log_flux = (lo, hi)
        if self._dates is not None and len(a):
            d0 = pd.Timestamp(np.nanmin(self._dates)).floor("D").to_pydatetime()
            d1 = (pd.Timestamp(np.nanmax(self._dates)).floor("D") + pd.Timedelta(days=1)).to_pydatetime()
            self.param.dates.bounds = (d0, d1)
            if self.dates is None:
                self.dates = (d0, d1)

    def mask(self) -> np.ndarray:
        """Boolean mask of the alerts passing every filter."""
        a = self.alerts
        m = np.array(a["ALERT_TYPE"].isin(list(self.types)).to_numpy(), dtype=bool)
        with np.errstate(invalid="ignore"):
            if self.ratio_min > 0:
                m &= a["RATIO"].to_numpy(np.float64) >= self.ratio_min
            if self.ratio_low_min > 0:
                m &= a["RATIO_LOW"].to_numpy(np.float64) >= self.ratio_low_min
            if self.abs_b_min > 0:
                m &= np.abs(a["BII"].to_numpy(np.float64)) >= self.abs_b_min
            if self.log_flux is not None:
                lo, hi = self.log_flux
                m &= (self._log_flux >= lo) & (self._log_flux <= hi)
        if self.dates is not None and self._dates is not None:
            d0, d1 = (np.datetime64(pd.Timestamp(d)) for d in self.dates)
            m &= (self._dates >= d0) & (self._dates <= d1)
        if self.classes:
            cls = a["CLASS"].to_numpy(np.int64)
            wanted = [schema.CLASS_NAMES.index(c) for c in self.classes if c in schema.CLASS_NAMES]
            if "unclassified" in self.classes:
                wanted.append(-1)
            m &= np.isin(cls, wanted)
        if self.review != "all":
            st = self.status
            m &= {
                "not reviewed": st == "",
                "reviewed": st != "",
                "confirmed": st == "confirmed",
                "artefact": st == "artefact",
            }[self.review]
        return m

    def _on_filters(self, *_) -> None:
        self.visible = self.mask()
        self.version += 1

    def visible_alerts(self) -> pd.DataFrame:
        """The alerts passing the filters (a view for plots; small by construction)."""
        return self.alerts.loc[self.visible]

    # --- selection ---------------------------------------------------------------------------
    def select_row(self, row: int) -> None:
        """Select the alert at position ``row`` of the shared table."""
        self.selected = str(self.alerts["ALERT_ID"].iat[int(row)])
        self.message = ""

    def selected_alert(self) -> pd.Series | None:
        """The selected alert's row (None if nothing or an unknown ID is selected)."""
        if not self.selected:
            return None
        hit = np.flatnonzero(self.alerts["ALERT_ID"].to_numpy() == self.selected)
        return None if hit.size == 0 else self.alerts.iloc[int(hit[0])]

    def nearest_visible(self, x: float, y: float, tolerance: float) -> int | None:
        """Row of the visible alert nearest the projected point (x, y), within ``tolerance`` deg."""
        rows = np.flatnonzero(self.visible)
        if rows.size == 0:
            return None
        d2 = (self.alerts["X"].to_numpy()[rows] - x) ** 2 + (self.alerts["Y"].to_numpy()[rows] - y) ** 2
        k = int(np.nanargmin(d2)) if np.isfinite(d2).any() else -1
        return int(rows[k]) if k >= 0 and d2[k] <= tolerance**2 else None

    @property
    def is_observation_run(self) -> bool:
        """True when the page shows one new observation's run (``alerts --observation``)."""
        return bool(self.run and self.run.startswith(observation.RUN_PREFIX))

    def history(self, srcid: int) -> pd.DataFrame:
        """The source's flux points as the criterion compared them (MJD, FLUX, FLUX_ERR, UPPER_LIMIT, MISSION).

        For an observation run, the points that run compared (its points.parquet: the new detection included).
        """
        if self._points is not None:
            return self._points.loc[self._points["SRCID"].to_numpy() == int(srcid)].reset_index(drop=True)
        det = self.catalogue.detections
        rows = det["SRCID"].to_numpy() == int(srcid)
        d = det.loc[rows, ["SRCID", "DETID", "OBS_ID", "MJD_START", "EP_8_FLUX", "EP_8_FLUX_ERR"]]
        lt = self.catalogue.longterm
        if lt is not None:
            lt = lt.loc[lt["SRCID"].to_numpy() == int(srcid)]
        pts = build_points(d, lt)
        names = np.array(mission_names(), dtype=object)
        pts["MISSION"] = names[pts["MISSION_CODE"].to_numpy()]
        return pts

    # --- reviews -----------------------------------------------------------------------------
    @property
    def can_review(self) -> bool:
        """True when someone is signed in and a store is configured (the store still checks the role)."""
        return self.store is not None and bool(self.user and self.user.strip() not in ("", "guest"))

    def refresh_status(self) -> None:
        """Review status of every alert from the flag store: latest alert label per (SRCID, DETID)."""
        self.status = np.full(len(self.alerts), "", dtype=object)
        if self.store is None:
            return
        ev = self.store.flag_events(self.catalogue.name)
        ev = ev.loc[ev["label"].isin(ALERT_LABELS).to_numpy() & ev["detid"].notna().to_numpy()]
        if ev.empty:
            return
        last = ev.groupby(["srcid", "detid"], sort=False).tail(1)
        last = last.assign(status=np.where(last["action"] == "flag", last["label"].map(STATUS_OF_LABEL), ""))
        key = pd.MultiIndex.from_arrays([last["srcid"].astype("int64"), last["detid"].astype("int64")])
        lookup = pd.Series(last["status"].to_numpy(), index=key)
        mine = pd.MultiIndex.from_arrays([self.alerts["SRCID"].to_numpy(), self.alerts["DETID"].to_numpy()])
        found = lookup.reindex(mine).to_numpy()
        self.status = np.where(pd.isna(found), "", found).astype(object)

    def review_selected(self, verdict: str, comment: str = "") -> bool:
        """Record 'confirmed' or 'artefact' for the selected alert; False with ``message`` set on refusal."""
        alert = self.selected_alert()
        if alert is None:
            self.message = "Select an alert first."
            return False
        if self.store is None:
            self.message = "No flag store is configured for this server."
            return False
        label = f"alert-{verdict}"
        ra, dec = float(alert["RA"]), float(alert["DEC"])
        try:
            self.store.add_flags(
                self.user,
                self.catalogue.name,
                [(int(alert["SRCID"]), ra, dec, int(alert["DETID"]))],
                label,
                comment,
                vocabulary=ALERT_LABELS,
            )
        except (PermissionError, ValueError, LookupError) as exc:
            self.message = str(exc)
            return False
        self.refresh_status()
        self.message = f"Recorded '{verdict}' for alert {alert['ALERT_ID']} by {self.user}."
        self._on_filters()
        return True

    # --- replay ------------------------------------------------------------------------------
    def replay(self, start: dt.date, end: dt.date) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Counts per type and per month the pipeline would have raised for detections in [start, end)."""
        start_mjd = task.parse_epoch(pd.Timestamp(start).strftime("%Y-%m-%d"))
        end_mjd = task.parse_epoch(pd.Timestamp(end).strftime("%Y-%m-%d"))
        # The in-memory detections already hold every column the criterion reads.
        inputs = (self.catalogue.detections, self.catalogue.longterm)
        return task.replay_release(None, self.catalogue.name, start_mjd, end_mjd, preset=self.preset, inputs=inputs)
