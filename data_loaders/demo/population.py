"""Unique X-ray sources: positions in the fields, logN-logS fluxes, classes and spectra."""

from __future__ import annotations

import numpy as np
import pandas as pd
from astropy import units as u
from astropy.coordinates import SkyCoord

from data_loaders.demo.sky import FIELD_RADIUS_DEG, offset_radec
from data_loaders.schema import CLASS_NAMES

S_BREAK = 1.0e-14  # erg/cm2/s, 0.2-12 keV
K_BREAK = 250.0  # sources per deg2 brighter than S_BREAK
SLOPE_BRIGHT, SLOPE_FAINT = 1.5, 0.6  # cumulative logN-logS slopes
F_LIM_10KS = 6.0e-15  # rough on-axis 0.2-12 keV limit for 10 ks

# Class priors at high latitude, in the plane, and in nearby galaxies (CLASS_NAMES order).
_P_HIGH = np.array([0.80, 0.08, 0.003, 0.005, 0.02, 0.002, 0.09])
_P_PLANE = np.array([0.33, 0.42, 0.06, 0.09, 0.005, 0.005, 0.09])
_P_GALAXY = np.array([0.40, 0.08, 0.01, 0.01, 0.01, 0.40, 0.09])
# Photon index (mean, sd), log NH range, long-term variability (dex) per class.
# AGN: Gamma 1.9 +- 0.2 (e.g. Nandra & Pounds 1994; Ricci et al. 2017), 30% of them absorbed (below);
# stars, blazars and clusters softer, binaries harder.
_GAMMA = np.array([[1.9, 0.2], [3.3, 0.5], [1.4, 0.4], [1.2, 0.3], [2.2, 0.3], [1.7, 0.3], [2.2, 0.3]])
_LOGNH = np.array([[19.8, 21.0], [19.0, 20.5], [21.5, 23.3], [20.5, 22.0], [20.0, 20.8], [21.0, 22.0], [20.0, 21.0]])
# Epoch-to-epoch scatter is an assumption of the demo, not a published figure (see docs/ALERTS.md); the
# variable population itself (per class: fraction of the multi-epoch sources and amplitude law, from
# published figures) is planted separately (planting.CLASS_LAWS).
_VAR_DEX = np.array([0.12, 0.15, 0.35, 0.2, 0.25, 0.25, 0.01])
EXTENDED = CLASS_NAMES.index("extended")


def flux_limit(exposure_s: np.ndarray) -> np.ndarray:
    """Approximate on-axis 0.2-12 keV detection limit for an exposure (s)."""
    return F_LIM_10KS * (np.asarray(exposure_s) / 1e4) ** -0.75


def n_brighter(s: np.ndarray) -> np.ndarray:
    """Cumulative logN-logS N(>S) per deg2 (broken power law)."""
    s = np.asarray(s, dtype=float)
    x = s / S_BREAK
    faint = K_BREAK * (1 + SLOPE_BRIGHT / SLOPE_FAINT * (x**-SLOPE_FAINT - 1))
    return np.where(x >= 1, K_BREAK * x**-SLOPE_BRIGHT, faint)


def sample_fluxes(s_min: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Draw one flux per entry from the broken power law above s_min (vectorised)."""
    xm = np.minimum(s_min / S_BREAK, 1.0)
    n_faint = K_BREAK * SLOPE_BRIGHT / SLOPE_FAINT * (xm**-SLOPE_FAINT - 1)
    p_bright = K_BREAK / (K_BREAK + n_faint)
    u1 = rng.random(s_min.size)
    u2 = rng.random(s_min.size)
    bright = np.maximum(S_BREAK, s_min) * (1 - u2) ** (-1 / SLOPE_BRIGHT)
    faint = S_BREAK * (1 + u2 * (xm**-SLOPE_FAINT - 1)) ** (-1 / SLOPE_FAINT)
    f = np.where(u1 < p_bright, bright, faint)
    return np.minimum(f, 3e-10)


def class_priors(abs_b: np.ndarray, env_galaxy: np.ndarray) -> np.ndarray:
    """(n, 7) class probabilities from Galactic latitude and environment."""
    w = np.clip((abs_b - 3.0) / 17.0, 0, 1)[:, None]
    p = w * _P_HIGH + (1 - w) * _P_PLANE
    p = np.where(env_galaxy[:, None], _P_GALAXY, p)
    return p / p.sum(1, keepdims=True)


def _draw_class(p: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    cum = np.cumsum(p, axis=1)
    return np.minimum((rng.random((p.shape[0], 1)) > cum).sum(1), p.shape[1] - 1)


def make_sources(groups: pd.DataFrame, obs: pd.DataFrame, density: float, rng: np.random.Generator) -> pd.DataFrame:
    """Sources scattered over every field group down to below its deepest limit."""
    deepest = obs.groupby("GROUP")[["PN_ONTIME", "M1_ONTIME"]].max().max(axis=1)
    t_max = deepest.reindex(range(len(groups))).to_numpy()
    s_min = 0.45 * flux_limit(t_max)
    radius = FIELD_RADIUS_DEG + groups.SPREAD.to_numpy()
    area = np.pi * radius**2
    plane_boost = 1 + 0.8 * np.exp(-np.abs(groups.BII.to_numpy()) / 8.0)
    lam = density * area * n_brighter(s_min) * plane_boost
    n_per = rng.poisson(lam)
    gidx = np.repeat(np.arange(len(groups)), n_per)
    n = gidx.size
    ang = rng.uniform(0, 2 * np.pi, n)
    r = radius[gidx] * np.sqrt(rng.random(n))
    flux = sample_fluxes(s_min[gidx], rng)
    # PI targets: a bright source at the centre of most field groups.
    tgt = rng.random(len(groups)) < 0.6
    tg = np.flatnonzero(tgt)
    gidx = np.r_[gidx, tg]
    ang = np.r_[ang, np.zeros(tg.size)]
    r = np.r_[r, rng.uniform(0, 0.002, tg.size)]
    flux = np.r_[flux, 10 ** rng.uniform(-13, -10.3, tg.size)]
    is_target = np.r_[np.zeros(n, bool), np.ones(tg.size, bool)]
    ra, dec = offset_radec(groups.RA.to_numpy()[gidx], groups.DEC.to_numpy()[gidx], r * np.cos(ang), r * np.sin(ang))
    gal = SkyCoord(ra=ra * u.deg, dec=dec * u.deg).galactic
    lii, bii = gal.l.deg, gal.b.deg
    env_gal = (groups.ENV.to_numpy() == "galaxy")[gidx]
    cls = _draw_class(class_priors(np.abs(bii), env_gal), rng)
    bright_tgt = is_target & (flux > 1e-12)
    tgt_cls = np.where(
        np.abs(bii) < 10,
        rng.choice([1, 2, 3], bright_tgt.size, p=[0.3, 0.4, 0.3]),
        rng.choice([0, 4, 6, 1], bright_tgt.size, p=[0.5, 0.2, 0.2, 0.1]),
    )
    tgt_cls = np.where(env_gal, 5, tgt_cls)
    cls = np.where(bright_tgt, tgt_cls, cls)
    flux = np.where(cls == CLASS_NAMES.index("bk_AGN"), flux * 3, flux)
    m = cls.size
    gamma = rng.normal(_GAMMA[cls, 0], _GAMMA[cls, 1])
    lognh = rng.uniform(_LOGNH[cls, 0], _LOGNH[cls, 1])
    absorbed = (cls == 0) & (rng.random(m) < 0.3)
    lognh = np.where(absorbed, rng.uniform(21.5, 23.5, m), lognh)
    extent = np.where(cls == EXTENDED, 10 ** rng.uniform(np.log10(6), np.log10(80), m), 0.0)
    spurious_ext = (cls != EXTENDED) & (rng.random(m) < 0.06)
    extent = np.where(spurious_ext, rng.uniform(6, 25, m), extent)
    order = np.lexsort((dec, ra, gidx))
    src = (
        pd.DataFrame(
            {
                "GROUP": gidx,
                "RA": ra,
                "DEC": dec,
                "LII": lii,
                "BII": bii,
                "FLUX": flux,
                "CLASS": cls.astype(np.int8),
                "GAMMA": gamma,
                "LOGNH": lognh,
                "EXTENT": extent,
                "VAR_DEX": _VAR_DEX[cls],
                "TARGET": is_target,
            }
        )
        .iloc[order]
        .reset_index(drop=True)
    )
    return src


def long_term_sigma_dex(cls: np.ndarray) -> np.ndarray:
    """Epoch-to-epoch scatter (dex) of each source's flux from its class (CLASS_NAMES index; -1: unknown,
    given the AGN value, the most common class). The same per-class figures the demo sky uses."""
    cls = np.asarray(cls, dtype=np.int64)
    return np.where(cls >= 0, _VAR_DEX[np.clip(cls, 0, _VAR_DEX.size - 1)], _VAR_DEX[0])
