"""Pointed observations: field groups on the Galactic plane, bulge, famous deep fields."""

from __future__ import annotations

import numpy as np
import pandas as pd
from astropy import units as u
from astropy.coordinates import SkyCoord

FIELD_RADIUS_DEG = 0.25  # 15 arcmin
MJD_FIRST_OBS = 51575.0  # 2000-02-01
MJD_LAST_OBS = 60309.0  # 2023-12-31
MJD_REV0 = 51522.0  # launch, revolution 0
REV_PERIOD_D = 1.9958
N_OBS_DR14 = 13_864

#: Famous fields: name, RA, Dec, number of observations at DR14 scale, pointing spread (deg),
#: environment ('galaxy' marks nearby galaxies rich in extragalactic XRBs).
FAMOUS_FIELDS = (
    ("Galactic centre", 266.4168, -29.0078, 90, 0.04, "plane"),
    ("Lockman Hole", 163.20, 57.50, 45, 0.03, "high"),
    ("CDF-S", 53.12, -27.81, 33, 0.02, "high"),
    ("M31", 10.68, 41.27, 40, 0.45, "galaxy"),
    ("COSMOS", 150.12, 2.21, 55, 0.55, "high"),
    ("XMM-LSS", 35.5, -4.5, 60, 0.9, "high"),
    ("LMC", 80.89, -69.76, 60, 1.2, "galaxy"),
    ("SMC", 13.19, -72.83, 30, 0.9, "galaxy"),
    ("Orion", 83.82, -5.39, 20, 0.15, "plane"),
    ("Pleiades", 56.75, 24.12, 8, 0.2, "plane"),
    ("M33", 23.46, 30.66, 14, 0.3, "galaxy"),
    ("Eta Carinae", 161.26, -59.68, 25, 0.05, "plane"),
    ("Cygnus X-1", 299.59, 35.20, 12, 0.02, "plane"),
    ("Coma cluster", 194.95, 27.98, 12, 0.35, "high"),
    ("Perseus cluster", 49.95, 41.51, 10, 0.15, "high"),
    ("Vela pulsar", 128.84, -45.18, 15, 0.05, "plane"),
    ("Crab", 83.63, 22.01, 10, 0.02, "plane"),
    ("RX J1856.5-3754", 284.15, -37.91, 70, 0.01, "high"),
)
#: Nearby galaxies (RA, Dec, radius deg) where extragalactic X-ray binaries are common.
GALAXY_ZONES = ((10.68, 41.27, 1.5), (80.89, -69.76, 5.0), (13.19, -72.83, 2.5), (23.46, 30.66, 0.6))


def _group_sizes(n_obs: int, rng: np.random.Generator) -> np.ndarray:
    """Observations per ordinary field group (mostly one, a tail of revisits)."""
    sizes = []
    total = 0
    while total < n_obs:
        k = np.where(rng.random(4096) < 0.8, 1, np.minimum(rng.zipf(1.9, 4096) + 1, 40))
        sizes.append(k)
        total += int(k.sum())
    s = np.concatenate(sizes)
    cs = np.cumsum(s)
    m = int(np.searchsorted(cs, n_obs)) + 1
    s = s[:m].copy()
    s[-1] -= int(s.sum() - n_obs)
    return s[s > 0]


def _random_centres(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Field centres: Galactic plane and bulge heavy, the rest isotropic (ICRS deg)."""
    kind = rng.choice(3, size=n, p=[0.20, 0.07, 0.73])
    lon = np.where(rng.random(n) < 0.6, rng.normal(0, 50, n), rng.uniform(-180, 180, n))
    lat = rng.normal(0, 2.5, n)
    bl, bb = rng.normal(0, 7, n), rng.normal(0, 5, n)
    lon = np.where(kind == 1, bl, lon)
    lat = np.where(kind == 1, bb, lat)
    iso_l = rng.uniform(0, 360, n)
    iso_b = np.degrees(np.arcsin(rng.uniform(-1, 1, n)))
    lon = np.where(kind == 2, iso_l, lon) % 360
    lat = np.clip(np.where(kind == 2, iso_b, lat), -89.9, 89.9)
    c = SkyCoord(l=lon * u.deg, b=lat * u.deg, frame="galactic").icrs
    return c.ra.deg, c.dec.deg


def offset_radec(ra, dec, dx_deg, dy_deg):
    """Move (ra, dec) by tangent-plane offsets (deg, east and north); vectorised."""
    ra0, dec0 = np.radians(ra), np.radians(dec)
    x, y = np.radians(dx_deg), np.radians(dy_deg)
    rho = np.hypot(x, y)
    c = np.arctan(rho)
    sinc, cosc = np.sin(c), np.cos(c)
    with np.errstate(invalid="ignore", divide="ignore"):
        dec1 = np.arcsin(cosc * np.sin(dec0) + np.where(rho > 0, y * sinc * np.cos(dec0) / rho, 0))
    ra1 = ra0 + np.arctan2(x * sinc, rho * np.cos(dec0) * cosc - y * np.sin(dec0) * sinc)
    return np.degrees(ra1) % 360.0, np.degrees(dec1)


def tangent_offsets(ra0, dec0, ra, dec):
    """Gnomonic offsets (deg, east and north) of (ra, dec) about (ra0, dec0); vectorised."""
    a0, d0, a, d = map(np.radians, (ra0, dec0, ra, dec))
    cosc = np.sin(d0) * np.sin(d) + np.cos(d0) * np.cos(d) * np.cos(a - a0)
    x = np.cos(d) * np.sin(a - a0) / cosc
    y = (np.cos(d0) * np.sin(d) - np.sin(d0) * np.cos(d) * np.cos(a - a0)) / cosc
    return np.degrees(x), np.degrees(y)


def make_groups(n_obs: int, rng: np.random.Generator) -> pd.DataFrame:
    """Field groups: centre, number of observations, pointing spread and environment."""
    scale = n_obs / N_OBS_DR14
    famous = []
    budget = int(0.30 * n_obs)
    for name, f_ra, f_dec, k, f_spread, f_env in FAMOUS_FIELDS:
        kk = max(2, int(round(k * min(1.0, scale) ** 0.5)))
        if kk > budget:
            continue
        budget -= kk
        famous.append((name, f_ra, f_dec, kk, f_spread, f_env))
    n_famous = sum(f[3] for f in famous)
    sizes = _group_sizes(n_obs - n_famous, rng)
    ra, dec = _random_centres(sizes.size, rng)
    spread = np.where(sizes > 1, rng.uniform(0.0, 0.06, sizes.size), 0.0)
    spread = np.where((sizes > 3) & (rng.random(sizes.size) < 0.3), 0.3, spread)  # small mosaics
    g = pd.DataFrame(
        {
            "NAME": [f[0] for f in famous] + [""] * sizes.size,
            "RA": np.r_[[f[1] for f in famous], ra],
            "DEC": np.r_[[f[2] for f in famous], dec],
            "N_OBS": np.r_[[f[3] for f in famous], sizes].astype(np.int64),
            "SPREAD": np.r_[[f[4] for f in famous], spread],
        }
    )
    gal = SkyCoord(ra=g.RA.to_numpy() * u.deg, dec=g.DEC.to_numpy() * u.deg).galactic
    g["BII"] = gal.b.deg
    env = np.where(np.abs(g.BII) < 10, "plane", "high").astype(object)
    for zra, zdec, zr in GALAXY_ZONES:
        dx, dy = tangent_offsets(zra, zdec, g.RA.to_numpy(), g.DEC.to_numpy())
        env[np.hypot(dx, dy) < zr] = "galaxy"
    g["ENV"] = env
    return g


def make_observations(groups: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """One row per observation: pointing, dates, revolution, exposures, cameras, quality."""
    n_g = len(groups)
    gidx = np.repeat(np.arange(n_g), groups.N_OBS.to_numpy())
    n = gidx.size
    spread = groups.SPREAD.to_numpy()[gidx]
    ang = rng.uniform(0, 2 * np.pi, n)
    r = spread * np.sqrt(rng.random(n))
    ra, dec = offset_radec(groups.RA.to_numpy()[gidx], groups.DEC.to_numpy()[gidx], r * np.cos(ang), r * np.sin(ang))
    deep = groups.N_OBS.to_numpy()[gidx] >= 10
    logt = np.clip(rng.normal(np.where(deep, 4.7, 4.4), 0.3), 3.7, 5.12)
    pn_on = 10**logt
    duration = pn_on * rng.uniform(1.05, 1.3, n) / 86400.0
    span = MJD_LAST_OBS - MJD_FIRST_OBS
    order = rng.permutation(n)
    if duration.sum() < 0.85 * span:
        gaps = rng.exponential(1.0, n)
        gaps *= (span - duration.sum() - 0.5) / gaps.sum()
        start_sorted = MJD_FIRST_OBS + np.cumsum(gaps + duration[order]) - duration[order]
        start = np.empty(n)
        start[order] = start_sorted
    else:
        start = np.sort(rng.uniform(MJD_FIRST_OBS, MJD_LAST_OBS - 2, n))[np.argsort(order)]
    stop = start + duration
    m1_on = pn_on * rng.uniform(1.0, 1.25, n)
    m2_on = m1_on * rng.uniform(0.97, 1.03, n)
    pn_off = rng.random(n) < 0.05
    m1_off = (rng.random(n) < 0.06) & ~pn_off
    pn_on = np.where(pn_off, np.nan, pn_on)
    m1_on = np.where(m1_off, np.nan, m1_on)
    rank = np.argsort(np.argsort(start, kind="stable"), kind="stable")
    obs_id = np.char.add(
        np.char.add("0", np.char.zfill((1000 + rank // 3).astype("U5"), 5)),
        np.char.add(np.char.zfill((rank % 3 + 1).astype("U2"), 2), "01"),
    )
    obs_class = rng.choice(6, size=n, p=[0.42, 0.2, 0.15, 0.1, 0.08, 0.05]).astype(np.int32)
    obs_class[rng.random(n) < 0.004] = -1
    obs_class[rng.integers(n)] = -1  # always at least one TNULL null
    high_bkg = rng.random(n) < 0.1
    bkg = rng.lognormal(0.0, 0.3, n) * np.where(high_bkg, 3.0, 1.0)
    filters = np.array(["Thin1", "Medium", "Thick"])
    pn_modes = np.array(["PrimeFullWindow", "PrimeFullWindowExtended", "PrimeLargeWindow", "PrimeSmallWindow"])
    obs = pd.DataFrame(
        {
            "OBS_ID": obs_id.astype(object),
            "RA_PNT": ra,
            "DEC_PNT": dec,
            "MJD_START": start,
            "MJD_STOP": stop,
            "REVOLUT": ((start - MJD_REV0) / REV_PERIOD_D).astype(np.int32),
            "PN_ONTIME": pn_on,
            "M1_ONTIME": m1_on,
            "M2_ONTIME": m2_on,
            "FIELD_RADIUS": np.full(n, FIELD_RADIUS_DEG),
            "GROUP": gidx.astype(np.int64),
            "OBS_CLASS": obs_class,
            "HIGH_BACKGROUND": high_bkg,
            "BKG_SCALE": bkg,
            "PN_FILTER": filters[rng.choice(3, n, p=[0.4, 0.45, 0.15])].astype(object),
            "MOS_FILTER": filters[rng.choice(3, n, p=[0.35, 0.5, 0.15])].astype(object),
            "PN_SUBMODE": pn_modes[rng.choice(4, n, p=[0.62, 0.2, 0.1, 0.08])].astype(object),
        }
    )
    obs = obs.sort_values("MJD_START", kind="stable").reset_index(drop=True)
    for col in ("OBS_ID", "PN_FILTER", "MOS_FILTER", "PN_SUBMODE"):
        obs[col] = obs[col].astype("str")
    return obs
