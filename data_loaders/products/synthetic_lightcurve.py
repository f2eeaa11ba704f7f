"""Synthetic EPIC lightcurves in the PPS layouts: pn merged (``X000``) with its exposures, MOS single exposure."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from astropy.io import fits
from scipy.stats import chi2

from data_loaders.products.lightcurve import MJDREF_XMM
from data_loaders.products.synthetic_detection import SyntheticDetection
from data_loaders.products.synthetic_model import (
    BACKGROUND_PER_AREA,
    CAMERAS,
    background_density,
    band_fractions,
    source_counts_density,
)

_BIN_SIZES = (10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0, 5000.0)


def bin_size(rate: float, exposure: float) -> float:
    """The PPS-like choice: ~20 source counts per bin, at most 2000 and at least 8 bins."""
    choice = _BIN_SIZES[-1]
    for size in _BIN_SIZES:
        if rate * size >= 20 and exposure / size <= 2000:
            choice = size
            break
    index = _BIN_SIZES.index(choice)
    while index > 0 and exposure / _BIN_SIZES[index] < 8:
        index -= 1
    return _BIN_SIZES[index]


def _fracexp(rng: np.random.Generator, n: int) -> np.ndarray:
    """Exposure fraction per bin: partial edges, a few dips, and one or two gaps."""
    frac = np.ones(n)
    frac[0] = round(float(rng.uniform(0.3, 1.0)), 3)
    frac[-1] = round(float(rng.uniform(0.3, 1.0)), 3)
    dips = rng.random(n) < 0.05
    frac[dips] = np.round(rng.uniform(0.5, 0.95, int(dips.sum())), 3)
    if n >= 12:
        for _ in range(int(rng.integers(1, 3))):
            length = int(rng.integers(1, max(2, n // 20) + 1))
            start = int(rng.integers(2, n - length - 1))
            frac[start : start + length] = 0.0
    return frac


def _profile(det: SyntheticDetection, t: np.ndarray) -> np.ndarray:
    """Relative source brightness at mission times ``t``: flat, or a flare and a wobble of r.m.s. FVAR.

    One model per source, drawn from its own random stream over the whole observation (the
    union of the cameras' exposures), so pn and MOS see the same flare at the same time; only
    the counting noise differs between cameras.
    """
    if not det.variable or det.fvar <= 0:
        return np.ones_like(t)
    rng = det.rng("PN", "source")
    lo = min(det.tstart(c) for c in CAMERAS)
    hi = max(det.tstart(c) + det.exposure_of(c) for c in CAMERAS)
    span = max(hi - lo, 1.0)
    phase = rng.uniform(0, 2 * math.pi)
    period = span * rng.uniform(0.3, 0.8)
    centre, width = lo + span * rng.uniform(0.2, 0.8), span * rng.uniform(0.03, 0.1)

    def shape(x: np.ndarray) -> np.ndarray:
        wobble = 0.5 * np.sin(2 * math.pi * (x - lo) / period + phase)
        return wobble + 2.0 * np.exp(-0.5 * ((x - centre) / width) ** 2)

    grid = shape(np.linspace(lo, hi, 4096))  # normalised over the observation, not one camera's bins
    return np.clip(1.0 + det.fvar * (shape(t) - grid.mean()) / (grid.std() or 1.0), 0.02, None)


def _background_profile(rng: np.random.Generator, t: np.ndarray) -> np.ndarray:
    """Relative background over time; about a third of exposures catch a soft-proton flare."""
    profile = np.ones_like(t)
    if rng.random() < 0.35:
        span = max(t[-1] - t[0], 1.0)
        centre, width = t[0] + span * rng.uniform(0.1, 0.9), span * rng.uniform(0.02, 0.08)
        profile = profile + rng.uniform(5, 20) * np.exp(-0.5 * ((t - centre) / width) ** 2)
    return profile


def variability_statistics(rate: np.ndarray, error: np.ndarray) -> dict[str, float]:
    """AVRATE, CHI2PROB (constancy test) and FVAR ± FVARERR (Vaughan et al. 2003) of valid bins.

    FVAR is written as 0 when the excess variance is not positive.
    """
    ok = np.isfinite(rate) & np.isfinite(error) & (error > 0)
    r, e = rate[ok], error[ok]
    if len(r) < 2:
        return {"AVRATE": float(np.nansum(r)), "CHI2PROB": 1.0, "FVAR": 0.0, "FVARERR": 0.0}
    # The plain mean: an inverse-variance mean of Poisson rates is biased low.
    plain = mean = float(r.mean())
    chisq = float(np.sum((r - mean) ** 2 / e**2))
    prob = float(chi2.sf(chisq, len(r) - 1))
    mse = float(np.mean(e**2))
    excess = (float(r.var(ddof=1)) - mse) / plain**2 if plain > 0 else 0.0
    fvar = math.sqrt(excess) if excess > 0 else 0.0
    n = len(r)
    term2 = math.sqrt(mse / n) / plain if plain > 0 else 0.0
    term1 = math.sqrt(1.0 / (2 * n)) * mse / (plain**2 * fvar) if fvar > 0 else 0.0
    return {
        "AVRATE": round(mean, 6),
        "CHI2PROB": float(f"{prob:.6g}"),
        "FVAR": round(fvar, 6),
        "FVARERR": round(math.sqrt(term1**2 + term2**2), 6),
    }


@dataclass(frozen=True)
class _Series:
    """One camera's binned counts over its whole observation (all its exposures)."""

    time: np.ndarray
    timedel: float
    frac: np.ndarray
    exp_ids: np.ndarray
    live: np.ndarray
    total: tuple[np.ndarray, ...]  # rate, error, background, background error
    bands: dict[int, tuple[np.ndarray, ...]]


def _series(det: SyntheticDetection, camera: str) -> _Series:
    model = CAMERAS[camera]
    rng = det.rng(camera, "lightcurve")
    src_rate = det.rate * model.rate_factor
    exposure = det.exposure_of(camera)
    timedel = bin_size(src_rate, exposure)
    n = max(2, math.ceil(exposure / timedel))
    time = det.tstart(camera) + (np.arange(n) + 0.5) * timedel
    frac = _fracexp(rng, n)
    exp_ids = np.array([model.spectrum_expid] * n)
    if camera == "PN" and det.exposure > 60_000:
        # A long pn observation is often split in two exposures; the merged file spans both.
        cut = n // 2
        frac[cut - 1 : cut + 2] = 0.0
        exp_ids[cut:] = "U004"
    source = _profile(det, time) * src_rate
    bkg_rate = BACKGROUND_PER_AREA * det.backscal * model.rate_factor * _background_profile(rng, time)
    area_ratio = det.backscal_background / det.backscal
    fractions = band_fractions(lambda e: source_counts_density(camera, e, det.photon_index, det.nh))
    bkg_fractions = band_fractions(lambda e: background_density(camera, e))
    live = timedel * frac
    gap = frac <= 0
    safe_live = np.where(gap, 1.0, live)
    bands = {}
    total_src = np.zeros(n)
    total_bkg = np.zeros(n)
    for band, fraction in fractions.items():
        in_src = rng.poisson((source * fraction + bkg_rate * bkg_fractions[band]) * live)
        in_bkg = rng.poisson(bkg_rate * bkg_fractions[band] * area_ratio * live)
        total_src += in_src
        total_bkg += in_bkg
        bands[band] = _rates(in_src, in_bkg, area_ratio, safe_live, gap)
    total = _rates(total_src, total_bkg, area_ratio, safe_live, gap)
    return _Series(time, timedel, frac, exp_ids, live, total, bands)


def lightcurve_hduls(det: SyntheticDetection, camera: str) -> dict[str, fits.HDUList]:
    """The ``SRCTSR`` lightcurves of ``camera`` by exposure id, as the pipeline writes them.

    pn: the merged ``X000`` file (band columns, EXP_ID, no statistics) and one file per exposure
    (its rows of the merged file, statistics in the header); MOS: one single-exposure file.
    """
    series = _series(det, camera)
    if camera != "PN":
        expid = CAMERAS[camera].lightcurve_expid
        return {expid: _hdul(det, camera, series, np.ones(len(series.time), bool), expid=expid)}
    out = {"X000": _hdul(det, camera, series, np.ones(len(series.time), bool), expid=None)}
    for expid in dict.fromkeys(series.exp_ids.tolist()):
        out[expid] = _hdul(det, camera, series, series.exp_ids == expid, expid=expid)
    return out


def _hdul(det: SyntheticDetection, camera: str, series: _Series, rows: np.ndarray, expid: str | None) -> fits.HDUList:
    """A merged (``expid`` None: band columns, EXP_ID, TIMEDEL column, no statistics) or single-exposure file."""
    merged = expid is None
    time, frac, live, timedel = series.time[rows], series.frac[rows], series.live[rows], series.timedel
    rate, error, backv, backe = (values[rows] for values in series.total)
    tstart = float(time[0] - timedel / 2)
    columns = [
        fits.Column("TIME", "D", unit="s", array=np.round(time, 3)),
        fits.Column("RATE", "E", unit="count/s", array=rate),
        fits.Column("ERROR", "E", unit="count/s", array=error),
        fits.Column("FRACEXP", "E", array=frac),
        fits.Column("BACKV", "E", unit="count/s", array=backv),
        fits.Column("BACKE", "E", unit="count/s", array=backe),
    ]
    if merged:
        for band, values in series.bands.items():
            brate, berr, bback, bbacke = (v[rows] for v in values)
            columns += [
                fits.Column(f"RATE{band}", "E", unit="count/s", array=brate),
                fits.Column(f"RATE{band}_ERR", "E", unit="count/s", array=berr),
                fits.Column(f"BACK{band}V", "E", unit="count/s", array=bback),
                fits.Column(f"BACK{band}E", "E", unit="count/s", array=bbacke),
            ]
        columns += [
            fits.Column("EXP_ID", "4A", array=series.exp_ids[rows]),
            fits.Column("TIMEDEL", "D", unit="s", array=np.full(len(time), timedel)),
        ]
    rate_hdu = fits.BinTableHDU.from_columns(columns, name="RATE")
    header = rate_hdu.header
    cards = [
        ("HDUCLASS", "OGIP", "format conforms to OGIP standard"),
        ("HDUCLAS1", "LIGHTCURVE", "extension contains a lightcurve"),
        ("HDUCLAS2", "NET", "background-subtracted source rates"),
        ("HDUCLAS3", "RATE", ""),
        ("TIMESYS", "TT", "XMM time is Terrestrial Time"),
        ("TIMEUNIT", "s", ""),
        ("TIMEREF", "LOCAL", ""),
        ("MJDREF", MJDREF_XMM, "[d] MJD of XMM mission time zero"),
        ("TIMEPIXR", 0.5, "TIME is the bin centre"),
        ("TSTART", round(tstart, 3), "[s] start of the lightcurve"),
        ("TSTOP", round(tstart + len(time) * timedel, 3), "[s] end of the lightcurve"),
        ("EXPOSURE", round(float(np.sum(live)), 3), "[s] exposed time of the source"),
        *det.common_cards(camera),
    ]
    if not merged:
        stats = variability_statistics(rate, error)
        cards += [
            ("EXPIDSTR", expid, "exposure of this lightcurve"),
            ("TIMEDEL", timedel, "[s] bin width"),
            ("AVRATE", stats["AVRATE"], "[count/s] average source rate"),
            ("CHI2PROB", stats["CHI2PROB"], "probability of constancy (chi-square)"),
            ("FVAR", stats["FVAR"], "fractional variability amplitude"),
            ("FVARERR", stats["FVARERR"], "error on FVAR"),
        ]
    cards.append(("BACKAPP", True, "background subtracted"))
    for key, value, comment in cards:
        header[key] = (value, comment)
    return fits.HDUList(
        [
            det.primary_hdu(camera),
            rate_hdu,
            _gti_hdu("SRC_GTIS", time, timedel, frac),
            _gti_hdu("BKG_GTIS", time, timedel, frac),
            det.region_hdu("REGION_SRC", "source"),
            det.region_hdu("REGION_BKG", "background"),
        ]
    )


def _rates(in_src, in_bkg, area_ratio, live, gap):
    """Net rate, its error, background rate and error (source-region scale); NaN in gaps."""
    background = in_bkg / area_ratio / live
    rate = in_src / live - background
    error = np.sqrt(in_src + in_bkg / area_ratio**2) / live
    back_error = np.sqrt(in_bkg) / area_ratio / live
    out = []
    for values in (rate, error, background, back_error):
        out.append(np.where(gap, np.nan, values).astype(np.float32))
    return tuple(out)


def _gti_hdu(extname: str, time: np.ndarray, timedel: float, frac: np.ndarray) -> fits.BinTableHDU:
    """Good time intervals: the runs of exposed bins."""
    good = frac > 0
    edges = np.diff(np.r_[0, good.astype(int), 0])
    starts, stops = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1
    hdu = fits.BinTableHDU.from_columns(
        [
            fits.Column("START", "D", unit="s", array=np.round(time[starts] - timedel / 2, 3)),
            fits.Column("STOP", "D", unit="s", array=np.round(time[stops] + timedel / 2, 3)),
        ],
        name=extname,
    )
    hdu.header["HDUCLASS"] = "OGIP"
    hdu.header["HDUCLAS1"] = "GTI"
    hdu.header["TIMESYS"] = "TT"
    hdu.header["MJDREF"] = MJDREF_XMM
    return hdu
