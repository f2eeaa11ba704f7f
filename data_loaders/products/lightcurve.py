"""Read EPIC source lightcurves (``SRCTSR``, pn merged and MOS single-exposure) into ``Lightcurve``."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from astropy.time import Time

from data_loaders.products.errors import ProductError
from data_loaders.products.fitsfile import header_float, read_table
from data_loaders.products.names import parse_product_name

#: XMM-Newton mission time is TT seconds since this MJD (1998-01-01T00:00:00 TT).
MJDREF_XMM = 50814.0
REQUIRED = ("TIME", "RATE", "ERROR", "FRACEXP", "BACKV", "BACKE")
CAMERA_OF_INSTRUME = {"EPN": "PN", "EMOS1": "M1", "EMOS2": "M2"}
#: FITS TIMESYS values and the astropy time scale each names.
TIME_SCALES = {"TT": "tt", "TDT": "tt", "TDB": "tdb", "TAI": "tai", "UTC": "utc", "TCG": "tcg", "TCB": "tcb"}


@dataclass(frozen=True)
class VariabilityStatistics:
    """One exposure's variability keywords (written by SAS ``ekstest`` into its lightcurve header).

    ``expid`` is the exposure (``S003``, ``U002``); values are NaN where not computed:
    absent keywords and the pipeline's sentinels (``FVAR``/``FVARERR`` = -1, a ``CHI2PROB``
    outside 0..1) alike. ``source`` is the file they were read from.
    """

    expid: str
    avrate: float = float("nan")
    chi2prob: float = float("nan")
    fvar: float = float("nan")
    fvarerr: float = float("nan")
    source: str = ""


def header_statistics(header, expid: str = "", source: str = "") -> VariabilityStatistics | None:
    """The header's AVRATE, CHI2PROB, FVAR, FVARERR with sentinels as NaN; None when it has none of them.

    Merged (``X000``) lightcurves carry none: their statistics are those of the exposures.
    """
    if not any(key in header for key in ("AVRATE", "CHI2PROB", "FVAR", "FVARERR")):
        return None
    chi2prob = header_float(header, "CHI2PROB")
    fvar, fvarerr = header_float(header, "FVAR"), header_float(header, "FVARERR")
    return VariabilityStatistics(
        expid=expid,
        avrate=header_float(header, "AVRATE"),
        chi2prob=chi2prob if 0.0 <= chi2prob <= 1.0 else float("nan"),
        # FVAR is an amplitude (>= 0): the pipeline writes -1 when it could not compute it.
        fvar=fvar if fvar >= 0 else float("nan"),
        fvarerr=fvarerr if fvarerr >= 0 and fvar >= 0 else float("nan"),
        source=source,
    )


def _readonly(array: np.ndarray) -> np.ndarray:
    array.flags.writeable = False
    return array


@dataclass(frozen=True, eq=False)
class Lightcurve:
    """One EPIC source lightcurve, gaps as NaN.

    Arrays have one value per time bin: ``time`` (s since MJDREF in the file's time scale
    ``timesys``, TT for XMM; TIMEZERO added; bin centres whatever TIMEPIXR), ``mjd`` (MJDREF + time/86400, same
    scale: use ``start`` or ``times()`` for an astropy ``Time``), ``rate``/``error`` (source
    count/s, background-subtracted, 0.2-12 keV), ``fracexp`` (fraction of the bin exposed, 0..1), ``background``/
    ``background_error`` (background count/s scaled to the source region). Bins with
    FRACEXP = 0 or a non-finite rate are gaps: their rates and errors are NaN, never 0.
    ``band_rates``/``band_errors`` map band 1..5 to count/s (pn merged files only).
    ``timedel`` is the bin width (s). ``avrate``/``chi2prob``/``fvar``/``fvarerr`` are this
    file's header statistics (NaN when absent or not computed); ``statistics`` holds one
    ``VariabilityStatistics`` per exposure: this file's own for a single exposure, and the
    store fills in the S/U exposures' for a merged (``X000``) file, which has none. ``expid``
    is the file's exposure (``X000``, ``S003``...), from its name or EXPIDSTR. Arrays are
    read-only so one lightcurve can be shared between sessions.
    """

    time: np.ndarray
    mjd: np.ndarray
    rate: np.ndarray
    error: np.ndarray
    fracexp: np.ndarray
    background: np.ndarray
    background_error: np.ndarray
    timedel: float
    instrument: str
    obs_id: str
    src_num: int
    exposure: float
    avrate: float = float("nan")
    chi2prob: float = float("nan")
    fvar: float = float("nan")
    fvarerr: float = float("nan")
    mjdref: float = MJDREF_XMM
    src_ra: float = float("nan")
    src_dec: float = float("nan")
    band_rates: dict[int, np.ndarray] = field(default_factory=dict)
    band_errors: dict[int, np.ndarray] = field(default_factory=dict)
    exp_id: np.ndarray | None = None
    path: Path | None = None
    timesys: str = "TT"
    timeref: str = "LOCAL"
    expid: str = ""
    statistics: tuple[VariabilityStatistics, ...] = ()

    @property
    def camera(self) -> str:
        """PN, M1 or M2 (from INSTRUME)."""
        return CAMERA_OF_INSTRUME.get(self.instrument, self.instrument)

    @property
    def scale(self) -> str:
        """The astropy time scale of ``time``/``mjd`` (``tt`` for XMM files)."""
        return TIME_SCALES[self.timesys]

    def times(self, seconds: np.ndarray | float | None = None) -> Time:
        """``seconds`` (default: the bin centres ``time``) as an astropy ``Time`` in the file's scale."""
        seconds = self.time if seconds is None else seconds
        return Time(self.mjdref, np.asarray(seconds, float) / 86400.0, format="mjd", scale=self.scale)

    @property
    def start(self) -> Time:
        """Start of the first bin, in the file's time scale (``start.utc`` for the civil date)."""
        return self.times(float(self.time[0]) - self.timedel / 2.0)

    @property
    def gaps(self) -> np.ndarray:
        """True where the bin is a gap (no exposure or no valid rate)."""
        return ~np.isfinite(self.rate)

    def __len__(self) -> int:
        return len(self.time)

    def rebin(self, factor: int) -> Lightcurve:
        """Combine every ``factor`` consecutive bins into one, exposure-weighted.

        The new rate is total counts over total exposure, sum(r f)/sum(f); its error is
        sqrt(sum((e f)^2))/sum(f), so independent Poisson errors add in quadrature as counts.
        Gap bins (NaN) carry no exposure; a new bin made only of gaps is a gap. A trailing
        partial group becomes a full-width bin with a smaller FRACEXP.
        """
        factor = int(factor)
        if factor < 1:
            raise ValueError(f"rebin factor must be a positive integer, got {factor}")
        if factor == 1:
            return self
        n = len(self.time)
        groups = np.arange(n) // factor
        ngroups = int(groups[-1]) + 1
        weight = np.where(self.gaps, 0.0, np.nan_to_num(self.fracexp))
        wsum = np.bincount(groups, weight, ngroups)
        valid = wsum > 0

        def mean(values: np.ndarray) -> np.ndarray:
            total = np.bincount(groups, np.where(weight > 0, values * weight, 0.0), ngroups)
            return np.where(valid, total / np.where(valid, wsum, 1.0), np.nan)

        def quad(errors: np.ndarray) -> np.ndarray:
            terms = np.where(weight > 0, (errors * weight) ** 2, 0.0)
            total = np.bincount(groups, terms, ngroups)
            return np.where(valid, np.sqrt(total) / np.where(valid, wsum, 1.0), np.nan)

        first = np.flatnonzero(np.r_[True, groups[1:] != groups[:-1]])
        time = self.time[first] + (factor - 1) * self.timedel / 2.0
        return dataclasses.replace(
            self,
            time=_readonly(time),
            mjd=_readonly(self.mjdref + time / 86400.0),
            rate=_readonly(mean(self.rate)),
            error=_readonly(quad(self.error)),
            fracexp=_readonly(np.bincount(groups, np.nan_to_num(self.fracexp), ngroups) / factor),
            background=_readonly(mean(self.background)),
            background_error=_readonly(quad(self.background_error)),
            timedel=self.timedel * factor,
            band_rates={b: _readonly(mean(r)) for b, r in self.band_rates.items()},
            band_errors={b: _readonly(quad(e)) for b, e in self.band_errors.items()},
            exp_id=None if self.exp_id is None else _readonly(self.exp_id[first].copy()),
        )


def read_lightcurve(path: str | Path) -> Lightcurve:
    """Read a ``SRCTSR`` lightcurve (HDU ``RATE``); foreign or broken files raise ProductError."""
    path = Path(path)
    table = read_table(path, extname="RATE", want="a lightcurve", required=REQUIRED)
    header, cols = table.header, table.columns
    timedel = _timedel(table)
    mjdref = header_float(header, "MJDREF", float("nan"))
    if not np.isfinite(mjdref):
        mjdref = header_float(header, "MJDREFI", MJDREF_XMM) + header_float(header, "MJDREFF", 0.0)
    timesys = str(header.get("TIMESYS", table.primary.get("TIMESYS", "TT"))).strip().upper() or "TT"
    if timesys not in TIME_SCALES:
        raise ProductError(
            f"{path.name} has TIMESYS = {timesys!r}, not a time scale this reader knows "
            f"({', '.join(TIME_SCALES)}), so its times cannot be placed.",
            path,
        )
    timeref = str(header.get("TIMEREF", "LOCAL")).strip().upper() or "LOCAL"
    # TIMEPIXR says where in its bin a TIME stamp sits (0 start, 0.5 centre, 1 end); keep centres.
    timepixr = header_float(header, "TIMEPIXR", 0.5)
    timepixr = timepixr if 0.0 <= timepixr <= 1.0 else 0.5
    time = cols["TIME"].astype(float) + header_float(header, "TIMEZERO", 0.0) + (0.5 - timepixr) * timedel
    fracexp = cols["FRACEXP"].astype(float)
    gap = ~(np.isfinite(cols["RATE"].astype(float)) & (fracexp > 0))

    def masked(name: str) -> np.ndarray:
        values = cols[name].astype(float)
        return _readonly(np.where(gap, np.nan, values))

    band_rates, band_errors = {}, {}
    for band in range(1, 10):
        if f"RATE{band}" in cols:
            band_rates[band] = masked(f"RATE{band}")
            if f"RATE{band}_ERR" in cols:
                band_errors[band] = masked(f"RATE{band}_ERR")
    exp_id = None
    if "EXP_ID" in cols:
        exp_id = _readonly(np.char.strip(cols["EXP_ID"].astype(str)))
    instrument = str(header.get("INSTRUME", table.primary.get("INSTRUME", ""))).strip()
    obs_id = str(header.get("OBS_ID", table.primary.get("OBS_ID", ""))).strip()
    expid = _expid(path, header, table.primary)
    own = header_statistics(header, expid, path.name)
    src_num = header_float(header, "SRCNUM", header_float(header, "SRC_NUM", -1))
    return Lightcurve(
        time=_readonly(time),
        mjd=_readonly(mjdref + time / 86400.0),
        rate=masked("RATE"),
        error=masked("ERROR"),
        fracexp=_readonly(fracexp),
        background=masked("BACKV"),
        background_error=masked("BACKE"),
        timedel=timedel,
        instrument=instrument,
        obs_id=obs_id,
        src_num=int(src_num) if np.isfinite(src_num) else -1,
        exposure=header_float(header, "EXPOSURE"),
        avrate=own.avrate if own else float("nan"),
        chi2prob=own.chi2prob if own else float("nan"),
        fvar=own.fvar if own else float("nan"),
        fvarerr=own.fvarerr if own else float("nan"),
        mjdref=mjdref,
        src_ra=header_float(header, "SRC_RA"),
        src_dec=header_float(header, "SRC_DEC"),
        band_rates=band_rates,
        band_errors=band_errors,
        exp_id=exp_id,
        path=path,
        timesys=timesys,
        timeref=timeref,
        expid=expid,
        statistics=(own,) if own else (),
    )


def _expid(path: Path, header, primary) -> str:
    """The file's exposure id: from its PPS name, else the EXPIDSTR keyword, else ''."""
    try:
        return parse_product_name(path.name).expid
    except ProductError:
        return str(header.get("EXPIDSTR", primary.get("EXPIDSTR", ""))).strip()


def _timedel(table) -> float:
    """Bin width: the TIMEDEL column of merged files, else the TIMEDEL header keyword."""
    if "TIMEDEL" in table.columns:
        values = table.columns["TIMEDEL"].astype(float)
        values = values[np.isfinite(values) & (values > 0)]
        if len(values):
            # Merged exposures share one binning; the median shrugs off a stray row.
            return float(np.median(values))
    timedel = header_float(table.header, "TIMEDEL")
    if np.isfinite(timedel) and timedel > 0:
        return timedel
    time = table.columns["TIME"].astype(float)
    if len(time) > 1:
        return float(np.median(np.diff(time)))
    raise ProductError(
        f"{table.path.name} has no TIMEDEL (column or keyword) and a single bin, so its bin width is unknown.",
        table.path,
    )
