"""Read EPIC source lightcurves (``SRCTSR``, pn merged and MOS single-exposure) into ``Lightcurve``."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from data_loaders.products.errors import ProductError
from data_loaders.products.fitsfile import header_float, read_table

#: XMM-Newton mission time is TT seconds since this MJD (1998-01-01T00:00:00 TT).
MJDREF_XMM = 50814.0
REQUIRED = ("TIME", "RATE", "ERROR", "FRACEXP", "BACKV", "BACKE")
CAMERA_OF_INSTRUME = {"EPN": "PN", "EMOS1": "M1", "EMOS2": "M2"}


def _readonly(array: np.ndarray) -> np.ndarray:
    array.flags.writeable = False
    return array


@dataclass(frozen=True, eq=False)
class Lightcurve:
    """One EPIC source lightcurve, gaps as NaN.

    Arrays have one value per time bin: ``time`` (s, XMM mission time TT, bin centres),
    ``mjd`` (MJDREF + time/86400), ``rate``/``error`` (source count/s, background-subtracted,
    0.2-12 keV), ``fracexp`` (fraction of the bin exposed, 0..1), ``background``/
    ``background_error`` (background count/s scaled to the source region). Bins with
    FRACEXP = 0 or a non-finite rate are gaps: their rates and errors are NaN, never 0.
    ``band_rates``/``band_errors`` map band 1..5 to count/s (pn merged files only).
    ``timedel`` is the bin width (s); header statistics are NaN when absent. Arrays are
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

    @property
    def camera(self) -> str:
        """PN, M1 or M2 (from INSTRUME)."""
        return CAMERA_OF_INSTRUME.get(self.instrument, self.instrument)

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
    time = cols["TIME"].astype(float)
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
        src_num=int(header_float(header, "SRCNUM", -1)),
        exposure=header_float(header, "EXPOSURE"),
        avrate=header_float(header, "AVRATE"),
        chi2prob=header_float(header, "CHI2PROB"),
        fvar=header_float(header, "FVAR"),
        fvarerr=header_float(header, "FVARERR"),
        mjdref=mjdref,
        src_ra=header_float(header, "SRC_RA"),
        src_dec=header_float(header, "SRC_DEC"),
        band_rates=band_rates,
        band_errors=band_errors,
        exp_id=exp_id,
        path=path,
    )


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
