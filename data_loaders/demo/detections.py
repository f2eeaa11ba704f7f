"""Source-in-field coverage pairs, epoch fluxes and the detection decision (ML >= 6)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from data_loaders.demo import planting
from data_loaders.demo.population import flux_limit, make_sources, n_brighter
from data_loaders.demo.sky import FIELD_RADIUS_DEG, tangent_offsets
from data_loaders.demo.spectra import BKG_RATE, spectral_lookup

ML_MIN = 6.0


@dataclass
class Pairs:
    """Every (source, observation) where the source lies inside the field of view."""

    src: np.ndarray  # source index
    obs: np.ndarray  # observation index
    offax: np.ndarray  # arcmin
    mjd: np.ndarray  # mid-observation MJD
    flux: np.ndarray  # true 0.2-12 keV flux at that epoch
    ontime: np.ndarray  # (n, 3) s, 0 where the camera is off
    expected: np.ndarray  # (n, 3) expected source counts
    background: np.ndarray  # (n, 3) background counts in the cell
    measured: np.ndarray  # (n, 3) measured counts
    det_ml: np.ndarray  # EPIC detection likelihood
    detected: np.ndarray  # bool

    def take(self, idx: np.ndarray) -> Pairs:
        return Pairs(**{k: v[idx] for k, v in self.__dict__.items()})


def expected_detections(groups: pd.DataFrame, obs: pd.DataFrame) -> float:
    """Rough number of detections for unit source density (used to set the density)."""
    t = np.fmax(obs.PN_ONTIME.to_numpy(), obs.M1_ONTIME.to_numpy())
    boost = 1 + 0.8 * np.exp(-np.abs(groups.BII.to_numpy()[obs.GROUP.to_numpy()]) / 8.0)
    per_obs = np.pi * FIELD_RADIUS_DEG**2 * 0.75 * n_brighter(flux_limit(t) * 1.4) * boost
    return float(per_obs.sum())


def coverage_pairs(src: pd.DataFrame, obs: pd.DataFrame) -> tuple[np.ndarray, ...]:
    """Cross every source with every observation of its group; keep those inside 15'."""
    s_group = src.GROUP.to_numpy()
    o_group = obs.GROUP.to_numpy()
    o_order = np.argsort(o_group, kind="stable")
    n_groups = int(max(s_group.max(initial=0), o_group.max(initial=0))) + 1
    o_count = np.bincount(o_group, minlength=n_groups)
    o_start = np.r_[0, np.cumsum(o_count)[:-1]]
    reps = o_count[s_group]
    si = np.repeat(np.arange(len(src)), reps)
    within = np.arange(si.size) - np.repeat(np.cumsum(reps) - reps, reps)
    oi = o_order[o_start[s_group[si]] + within]
    dx, dy = tangent_offsets(
        obs.RA_PNT.to_numpy()[oi], obs.DEC_PNT.to_numpy()[oi], src.RA.to_numpy()[si], src.DEC.to_numpy()[si]
    )
    theta = np.hypot(dx, dy)
    keep = theta < FIELD_RADIUS_DEG
    return si[keep], oi[keep], (theta[keep] * 60.0).astype(np.float64)


def catalogue_limit(obs: pd.DataFrame, oi: np.ndarray, offax_arcmin: np.ndarray, sigma: float = 3.0) -> np.ndarray:
    """``sigma`` times the EP_8 flux error of a source-free position (erg/cm2/s): the demo's XMM upper
    limit on the catalogue's flux scale, computed as the band photometry computes errors (per band and
    camera from the background, cameras combined by inverse variance, bands summed in quadrature)."""
    from data_loaders.demo.spectra import BKG_BAND_FRAC, canonical_ecf

    ontime = np.nan_to_num(obs[["PN_ONTIME", "M1_ONTIME", "M2_ONTIME"]].to_numpy()[oi])
    vign = 1 - 0.45 * (np.asarray(offax_arcmin) / 15.0) ** 2
    bkg = BKG_RATE[None, :] * ontime * obs.BKG_SCALE.to_numpy()[oi][:, None]  # (n, 3)
    var_cb = np.maximum(bkg[:, :, None] * BKG_BAND_FRAC[None, None, :], 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        err_cb = np.sqrt(var_cb) / (ontime[:, :, None] * vign[:, None, None]) / canonical_ecf()[None]
        w = np.where((ontime > 0)[:, :, None], 1.0 / err_cb**2, 0.0)
        err_b = 1.0 / np.sqrt(w.sum(1))
    return sigma * np.sqrt((err_b**2).sum(1))


def observe(src: pd.DataFrame, obs: pd.DataFrame, rng: np.random.Generator) -> tuple[Pairs, dict[str, np.ndarray]]:
    """Plant variables, compute epoch fluxes and counts, and decide detections."""
    si, oi, theta = coverage_pairs(src, obs)
    mjd = 0.5 * (obs.MJD_START.to_numpy() + obs.MJD_STOP.to_numpy())[oi]
    order = np.lexsort((mjd, si))
    si, oi, theta, mjd = si[order], oi[order], theta[order], mjd[order]
    plant = planting.choose_planted(si, mjd, len(src), rng, cls=src.CLASS.to_numpy())
    kind = plant["KIND"]
    base = src.FLUX.to_numpy().copy()
    k = kind > 0
    newsrc = kind == planting.PLANTED_KINDS.index("new_source")
    # A variable's drawn (logN-logS) flux is the geometric mean of its two states, so variables
    # are as faint as the other sources (not made bright to be found: most are never alerted on).
    var = k & ~newsrc
    base[var] = base[var] / np.sqrt(plant["FACTOR"][var])
    base[newsrc] = 10 ** rng.uniform(-13.3, -12.0, int(newsrc.sum()))
    # New sources stay at a quarter of every earlier detection limit, then appear at FACTOR times
    # the deepest earlier upper limit on the catalogue's flux scale (catalogue_limit); FACTOR then
    # becomes the ratio of the two states, as for the other kinds.
    pre = newsrc[si] & (mjd < plant["T0"][si])
    t_pre = np.fmax(obs.PN_ONTIME.to_numpy(), obs.M1_ONTIME.to_numpy())[oi[pre]]
    lim_pre = np.full(len(src), np.inf)
    np.minimum.at(lim_pre, si[pre], flux_limit(t_pre))
    ul_pre = np.full(len(src), np.inf)
    np.minimum.at(ul_pre, si[pre], catalogue_limit(obs, oi[pre], theta[pre]))
    ok = newsrc & np.isfinite(ul_pre) & np.isfinite(lim_pre)
    base = np.where(ok, plant["FACTOR"] * ul_pre, base)
    plant["FACTOR"] = np.where(ok, base / (0.25 * np.where(ok, lim_pre, 1.0)), plant["FACTOR"])
    plant["BASE_FLUX"] = base
    var_dex = np.where(k, 0.03, src.VAR_DEX.to_numpy())
    mult = planting.multiplier(kind[si], plant["FACTOR"][si], plant["T0"][si], plant["PERIOD"][si], mjd)
    flux = base[si] * mult * 10 ** (rng.normal(0, 1, si.size) * var_dex[si])
    frac, ecf = spectral_lookup(src.GAMMA.to_numpy(), src.LOGNH.to_numpy())
    cnt_per_flux = np.einsum("nb,ncb->nc", frac, ecf)  # (n_src, 2): pn, MOS
    cnt_per_flux = cnt_per_flux[:, [0, 1, 1]]
    ontime = np.nan_to_num(obs[["PN_ONTIME", "M1_ONTIME", "M2_ONTIME"]].to_numpy()[oi])
    gap = rng.random((si.size, 3)) < np.array([0.05, 0.035, 0.035])  # chip gaps, dead CCDs
    ontime[gap] = 0.0
    vign = 1 - 0.45 * (theta / 15.0) ** 2
    expected = flux[:, None] * cnt_per_flux[si] * ontime * vign[:, None]
    ext = src.EXTENT.to_numpy()[si]
    bscale = obs.BKG_SCALE.to_numpy()[oi] * (1 + (ext / 6.0) ** 2)
    background = BKG_RATE[None, :] * ontime * bscale[:, None]
    var = expected + background
    measured = expected + rng.normal(0, 1, var.shape) * np.sqrt(var)
    with np.errstate(invalid="ignore", divide="ignore"):
        det_ml = 0.5 * np.clip(measured.sum(1), 0, None) ** 2 / var.sum(1)
    det_ml = np.nan_to_num(det_ml)
    pairs = Pairs(si, oi, theta, mjd, flux, ontime, expected, background, measured, det_ml, det_ml >= ML_MIN)
    return pairs, plant


def trim_to(pairs: Pairs, n_src: int, n_detections: int, rng: np.random.Generator) -> Pairs:
    """Drop whole random sources (and then trailing detections) to get exactly n detections."""
    det_per_src = np.bincount(pairs.src[pairs.detected], minlength=n_src)
    cand = rng.permutation(np.flatnonzero(det_per_src > 0))
    cum = np.cumsum(det_per_src[cand])
    n_full = int(np.searchsorted(cum, n_detections, side="right"))
    keep_src = np.zeros(n_src, bool)
    keep_src[cand[:n_full]] = True
    shortfall = n_detections - (int(cum[n_full - 1]) if n_full else 0)
    keep = keep_src[pairs.src]
    if shortfall > 0 and n_full < cand.size:
        last = cand[n_full]
        idx = np.flatnonzero((pairs.src == last) & pairs.detected)
        drop = idx[shortfall:]
        pairs.detected[drop] = False
        keep |= pairs.src == last
        pairs.det_ml[drop] = np.minimum(pairs.det_ml[drop], ML_MIN - 0.5)
    return pairs.take(np.flatnonzero(keep))


def observe_enough(groups, obs: pd.DataFrame, n_detections: int, rng: np.random.Generator):
    """Draw sources and observe them, raising the source density until at least ``n_detections`` are seen.

    Returns ``(sources, pairs, plant)`` as :func:`make_sources` and :func:`observe` give them;
    the caller trims the pairs to exactly ``n_detections`` with :func:`trim_to`.
    """
    density = 1.15 * n_detections / max(expected_detections(groups, obs), 1e-9)
    for _attempt in range(8):
        src = make_sources(groups, obs, density, rng)
        pairs, plant = observe(src, obs, rng)
        n_det = int(pairs.detected.sum())
        if n_det >= n_detections:
            return src, pairs, plant
        density *= 1.3 * n_detections / max(n_det, 1)
    raise RuntimeError("could not reach the requested number of detections")  # pragma: no cover - absurd inputs
