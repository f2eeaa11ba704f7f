"""The per-session state of the Source view: which source, which observation, and how to show it."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import param

from app.plots.lightcurve import LONGTERM_BANDS
from data_loaders.catalogue import Catalogue

REBIN_FACTORS = (1, 2, 4, 8, 16)
#: Minimum source counts per spectral bin offered (0 = no grouping, -1 = automatic, see ``auto_min_counts``).
GROUPINGS = (-1, 0, 5, 10, 20, 50, 100, 500)
_NAME_RE = re.compile(r"^(?:\dXMM)?\s*J?\s*(\d{6}\.\d[+-]\d{6})$")


def _whole_number(text: str | int) -> int | None:
    """``text`` as a non-negative 64-bit whole number (what SRCID and DETID are), else None."""
    text = str(text).strip()
    if not text.isascii() or not text.isdigit() or len(text) > 19:
        return None
    value = int(text)
    return value if value < 2**63 else None


def _short(text, n: int = 40) -> str:
    """``text`` cut to ``n`` characters with a visible ellipsis (a link can hold megabytes)."""
    text = str(text)
    return text if len(text) <= n else text[: n - 1] + "…"


def resolve_source(
    catalogue: Catalogue, srcid: str | int | None = None, detid: str | int | None = None, name: str | None = None
) -> tuple[int | None, str]:
    """SRCID from a SRCID, DETID or IAU name (as typed by a person), and a sentence if none matches."""
    sources, det = catalogue.sources, catalogue.detections
    if srcid not in (None, ""):
        value = _whole_number(srcid)
        if value is None:
            return None, f"“{_short(srcid)}” is not a SRCID (a whole number such as {int(sources['SRCID'].iloc[0])})."
        if (sources["SRCID"].to_numpy() == value).any():
            return value, ""
        return None, f"No source with SRCID {value} in release {catalogue.name}."
    if detid not in (None, ""):
        value = _whole_number(detid)
        if value is None:
            return None, f"“{_short(detid)}” is not a DETID (a whole number)."
        hit = np.flatnonzero(det["DETID"].to_numpy() == value)
        if hit.size:
            return int(det["SRCID"].iloc[hit[0]]), ""
        return None, f"No detection with DETID {value} in release {catalogue.name}."
    if name not in (None, ""):
        text = " ".join(str(name).upper().split())
        match = _NAME_RE.match(text.replace(" ", "")) or _NAME_RE.match(text.split()[-1])
        if match:
            names = sources["IAUNAME"].astype(str).str.upper().to_numpy()
            hit = np.flatnonzero(np.char.endswith(names.astype(str), "J" + match.group(1)))
            if hit.size:
                return int(sources["SRCID"].iloc[hit[0]]), ""
        example = "4XMM J123456.7+123456"
        return None, f"No source named “{_short(name)}” in release {catalogue.name} (expected e.g. {example})."
    return None, ""


#: Detection columns the Source view reads (a subset: reading all ~330 columns costs far more).
VIEW_COLUMNS = (
    "DETID",
    "SRCID",
    "OBS_ID",
    "SRC_NUM",
    "RA",
    "DEC",
    "MJD_START",
    "MJD_STOP",
    "SUM_FLAG",
    "VAR_FLAG",
    "EP_CHI2PROB",
    "EP_FVAR",
    "EP_FVAR_ERR",
    "EP_8_DET_ML",
    "EP_8_RATE",
    "TSERIES",
    "SPECTRA",
    "PN_ONTIME",
    "M1_ONTIME",
    "M2_ONTIME",
    *(f"EP_{b}_FLUX{e}" for b in range(1, 10) for e in ("", "_ERR")),
    *(f"EP_HR{i}{e}" for i in range(1, 5) for e in ("", "_ERR")),
)


def source_detections(catalogue: Catalogue, srcid: int) -> pd.DataFrame:
    """The Source view's columns of every detection of ``srcid``, sorted by MJD_START (row groups read only)."""
    rows = np.flatnonzero(catalogue.detections["SRCID"].to_numpy() == srcid)
    if rows.size == 0:
        return pd.DataFrame(columns=list(VIEW_COLUMNS))
    columns = [c for c in VIEW_COLUMNS if c in catalogue.all_columns]
    frame = catalogue.read_rows(columns, rows)
    if "MJD_START" not in frame:  # a release without dates (capabilities.EPOCHS): file order
        return frame.reset_index(drop=True)
    return frame.sort_values("MJD_START", kind="stable").reset_index(drop=True)


def available_bands(catalogue: Catalogue) -> tuple[int, ...]:
    """The long-term lightcurve's bands this release has an ``EP_<band>_FLUX`` column for (a stacked
    release has no EP_6/EP_7), in the order of ``LONGTERM_BANDS``."""
    columns = set(catalogue.all_columns)
    return tuple(b for b in LONGTERM_BANDS if f"EP_{b}_FLUX" in columns)


def default_observation(detections: pd.DataFrame) -> str:
    """The observation shown first: the brightest detection with products, else the brightest one."""
    if detections.empty:
        return ""
    flux = detections["EP_8_FLUX"].to_numpy(float)
    with_products = detections["TSERIES"].to_numpy(bool) if "TSERIES" in detections else np.zeros(len(flux), bool)
    score = np.where(np.isfinite(flux), flux, -1.0) + np.where(with_products, 1.0, 0.0)
    return str(detections["OBS_ID"].iloc[int(np.argmax(score))])


class SourceState(param.Parameterized):
    """One session's view of one source: the SRCID, the selected observation and display choices."""

    release = param.String(default="", doc="Release name, for links and flags")
    srcid = param.Integer(default=None, allow_None=True, doc="SRCID of the source shown")
    obs_id = param.String(default="", doc="OBS_ID of the selected detection ('' = none)")
    band: param.Selector[int] = param.Selector(
        default=8, objects=list(LONGTERM_BANDS), doc="EPIC band of the long-term lightcurve (the release's only)"
    )
    rebin: param.Selector[int] = param.Selector(
        default=1, objects=list(REBIN_FACTORS), doc="Lightcurve rebinning factor"
    )
    min_counts: param.Selector[int] = param.Selector(
        default=-1, objects=list(GROUPINGS), doc="Spectral grouping, min counts per bin"
    )
    effective_area = param.Boolean(default=False, doc="Divide the spectrum by the effective area (ARF)")
    sed_level: param.Selector[str] = param.Selector(
        default="detection", objects=["detection", "source"], doc="Band fluxes of"
    )
    highlight_epochs = param.List(default=[], item_type=float, doc="MJDs marked on the long-term lightcurve")
    threaded = param.Boolean(default=True, doc="Read products in a worker thread when served")
    message = param.String(default="", doc="Why no source is shown (unknown id), for people")
    detections = param.DataFrame(default=None, allow_None=True, precedence=-1, doc="All columns of its detections")

    def __init__(self, catalogue: Catalogue, **params):
        params.setdefault("release", catalogue.name)
        super().__init__(**params)
        self.catalogue = catalogue
        bands = list(available_bands(catalogue)) or [8]
        self.param.band.objects = bands
        if self.band not in bands:
            self.band = bands[0]
        self._load_detections()

    @param.depends("srcid", watch=True)
    def _load_detections(self) -> None:
        if self.srcid is None:
            self.detections = None
            self.obs_id = ""
            return
        frame = source_detections(self.catalogue, int(self.srcid))
        if frame.empty:
            self.message = f"No source with SRCID {self.srcid} in release {self.catalogue.name}."
            self.detections, self.obs_id = None, ""
            return
        self.message = ""
        known = set(frame["OBS_ID"].astype(str))
        with param.parameterized.batch_call_watchers(self):
            self.detections = frame
            if self.obs_id not in known:
                self.obs_id = default_observation(frame)

    @property
    def source_row(self) -> pd.Series | None:
        return None if self.srcid is None else self.catalogue.source_row(int(self.srcid))

    @property
    def detection(self) -> pd.Series | None:
        """The selected detection's row (all columns), or None."""
        frame = self.detections
        if frame is None or not self.obs_id:
            return None
        hit = frame[frame["OBS_ID"].astype(str) == self.obs_id]
        return None if hit.empty else hit.iloc[0]
