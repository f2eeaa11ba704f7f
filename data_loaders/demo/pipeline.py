"""The demo's pipeline: EPIC source lists (``*EPX000OBSMLI*``) of observations over the demo fields.

Two writers, both through :func:`data_loaders.alerts.source_list.write_source_list`:

- :func:`release_source_list`: an observation already in a release, written back as the pipeline
  would have written it (its detections' positions, fluxes, likelihoods and dates).
- :func:`simulate_observation`: a *new* observation of an existing field, after the release's
  last one: every release source in the field at a new epoch (its catalogue flux times the demo
  population's long-term variability), measured with the counts model of the upper limits
  (:mod:`data_loaders.coverage`), kept if its detection likelihood is >= 6, plus planted
  transients (rising, falling, new sources above the earlier limits, short-term variables)
  whose truth is returned beside the list.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from astropy.time import Time

from data_loaders import coverage, projection, schema
from data_loaders.alerts.source_list import BANDS, write_source_list
from data_loaders.demo.population import long_term_sigma_dex
from data_loaders.demo.sky import offset_radec

ML_MIN = 6.0
PLANTED_KINDS = ("rising", "falling", "new_source", "short_term")


def _isot6(mjd: float) -> str:
    t = Time(float(mjd), format="mjd", scale="utc")
    t.precision = 6
    return t.isot


def product_name(obs_id: str) -> str:
    """The pipeline's file name of an observation's EPIC summary source list."""
    return f"P{obs_id}EPX000OBSMLI0000.FTZ"


def release_source_list(release_dir: Path, obs_id: str, out_dir: Path) -> Path:
    """Write observation ``obs_id`` of an ingested release as its pipeline source list; returns the path."""
    release_dir = Path(release_dir)
    obs = pd.read_parquet(release_dir / coverage.OBSERVATIONS_FILE)
    o = obs.loc[obs["OBS_ID"].astype(str).str.strip() == str(obs_id)]
    if o.empty:
        raise ValueError(f"observation {obs_id} is not in release {release_dir.name}")
    o = o.iloc[0]
    import pyarrow.dataset as ds

    cols = [
        "SRC_NUM",
        "RA",
        "DEC",
        "RADEC_ERR",
        "EP_8_FLUX",
        "EP_8_FLUX_ERR",
        "EP_8_DET_ML",
        "PN_8_DET_ML",
        "M1_8_DET_ML",
        "M2_8_DET_ML",
        "EP_EXTENT_ML",
        "EP_CHI2PROB",
    ]
    cols += [c for b in BANDS for c in (f"EP_{b}_FLUX", f"EP_{b}_FLUX_ERR")]
    dset = ds.dataset(release_dir / schema.DETECTIONS_DIR, format="parquet")
    det = dset.to_table(columns=cols, filter=ds.field("OBS_ID") == str(obs_id)).to_pandas()
    det = det.sort_values("SRC_NUM", kind="stable").reset_index(drop=True)
    rename = {
        "EP_8_FLUX": "EP_TOT_FLUX",
        "EP_8_FLUX_ERR": "ERR_EP_TOT_FLUX",
        "EP_8_DET_ML": "EP_DET_ML",
        "PN_8_DET_ML": "PN_DET_ML",
        "M1_8_DET_ML": "M1_DET_ML",
        "M2_8_DET_ML": "M2_DET_ML",
        "EP_EXTENT_ML": "EP_EXT_ML",
    }
    rename.update({f"EP_{b}_FLUX_ERR": f"ERR_EP_{b}_FLUX" for b in BANDS})
    frame = det.rename(columns=rename)
    return write_source_list(
        frame,
        Path(out_dir) / product_name(str(obs_id)),
        obs_id=str(obs_id),
        date_obs=_isot6(o["MJD_START"]),
        date_end=_isot6(o["MJD_STOP"]),
        ra_pnt=float(o["RA_PNT"]),
        dec_pnt=float(o["DEC_PNT"]),
    )


@dataclass
class SimulatedObservation:
    """A written source list and the truth of what was planted in it (for tests and the demo)."""

    path: Path
    obs_id: str
    mjd_start: float
    truth: pd.DataFrame  # SRC_NUM, SRCID (-1: new position), PLANTED ('' or a kind), FACTOR, TRUE_FLUX, REF_FLUX


def _field_sources(release_dir: Path, ra0: float, dec0: float, radius: float) -> pd.DataFrame:
    cols = ["SRCID", "SC_RA", "SC_DEC", "SC_POSERR", "SC_EP_8_FLUX"]
    table = pq.read_table(Path(release_dir) / schema.SOURCES_FILE, columns=cols)
    frame = table.to_pandas()
    sep = projection.separation_deg(ra0, dec0, frame["SC_RA"].to_numpy(), frame["SC_DEC"].to_numpy())
    frame = frame.loc[sep < radius].reset_index(drop=True)
    frame["OFFAX"] = sep[sep < radius] * 60.0
    return frame


def _classes(data_dir: Path, srcid: np.ndarray) -> np.ndarray:
    """True class index of each source from the demo truth table (-1 when unknown)."""
    truth = Path(data_dir) / "demo" / "4XMM_DEMO_truth.parquet"
    out = np.full(srcid.size, -1, np.int64)
    if truth.exists():
        t = pd.read_parquet(truth, columns=["SRCID", "TRUE_CLASS"])
        cls = pd.Series(pd.Categorical(t["TRUE_CLASS"], categories=schema.CLASS_NAMES).codes, index=t["SRCID"])
        out = cls.reindex(srcid).fillna(-1).to_numpy(np.int64)
    return out


def simulate_observation(
    data_dir: Path,
    release: str,
    out_dir: Path,
    *,
    seed: int = 0,
    field_obs_id: str | None = None,
    mjd: float | None = None,
    n_planted: int = 5,
    factor_range: tuple[float, float] = (2.0, 100.0),
) -> SimulatedObservation:
    """A new observation of an existing demo field, with ``n_planted`` transients of each kind.

    The pointing and exposures are those of ``field_obs_id`` (default: a random observation with
    at least 20 sources in its field); the epoch ``mjd`` defaults to 30 days after the release's
    last observation. The new OBS_ID is ``09`` + 8 digits not used by the release.
    """
    rng = np.random.default_rng(seed)
    rdir = Path(data_dir) / "releases" / release
    obs = pd.read_parquet(rdir / coverage.OBSERVATIONS_FILE)
    if field_obs_id is None:
        field = obs.iloc[int(rng.integers(len(obs)))]
        for _ in range(50):
            src = _field_sources(rdir, field["RA_PNT"], field["DEC_PNT"], coverage.FIELD_RADIUS_DEG)
            if len(src) >= 20:
                break
            field = obs.iloc[int(rng.integers(len(obs)))]
    else:
        field = obs.loc[obs["OBS_ID"].astype(str).str.strip() == str(field_obs_id)].iloc[0]
    ra0, dec0 = float(field["RA_PNT"]), float(field["DEC_PNT"])
    src = _field_sources(rdir, ra0, dec0, coverage.FIELD_RADIUS_DEG)
    used = set(obs["OBS_ID"].astype(str).str.strip())
    obs_id = next(i for i in (f"09{int(rng.integers(10**7, 10**8)):08d}" for _ in range(100)) if i not in used)
    t_start = float(obs["MJD_STOP"].max() + 30.0) if mjd is None else float(mjd)
    ontime = np.nan_to_num(field[["PN_ONTIME", "M1_ONTIME", "M2_ONTIME"]].to_numpy(np.float64))
    t_stop = t_start + float(ontime.max()) / 86400.0

    # Every catalogue source of the field at the new epoch: its long-term variability (by class).
    base = np.nan_to_num(src["SC_EP_8_FLUX"].to_numpy(np.float64), nan=1e-15)
    sigma = long_term_sigma_dex(_classes(data_dir, src["SRCID"].to_numpy()))
    flux = base * 10 ** (rng.normal(0, 1, len(src)) * sigma)
    ra, dec, offax = src["SC_RA"].to_numpy(), src["SC_DEC"].to_numpy(), src["OFFAX"].to_numpy()
    srcid = src["SRCID"].to_numpy(np.int64)
    planted = np.full(len(src), "", dtype=object)
    fac = np.ones(len(src))
    ref = np.full(len(src), np.nan)

    # Planted: rising and falling on catalogue sources bright enough to stay detected.
    pn_time, m1_time, m2_time = ontime
    lim = coverage.flux_upper_limit(pn_time, m1_time, m2_time, offax, 3.0)[0] if len(src) else np.zeros(0)
    order = rng.permutation(len(src))
    k = min(n_planted, len(src) // 4)
    log_lo, log_hi = np.log10(factor_range[0]), np.log10(factor_range[1])
    factors = 10 ** rng.uniform(log_lo, log_hi, 2 * k)
    rise = order[:k]
    # Falling: the factor is capped so that the source stays detectable (3x its limit) afterwards.
    room = base / (3 * lim) if len(src) else np.zeros(0)
    pool = order[k:][room[order[k:]] >= factor_range[0]]
    fall = pool[:k]
    f_fall = np.minimum(factors[k : k + fall.size], room[fall])
    planted[rise], fac[rise], ref[rise] = "rising", factors[:k], base[rise]
    flux[rise] = base[rise] * factors[:k]
    planted[fall], fac[fall], ref[fall] = "falling", f_fall, base[fall]
    flux[fall] = base[fall] / f_fall

    # New sources at empty positions, above the deepest earlier limit there.
    n_new = n_planted
    ang = rng.uniform(0, 2 * np.pi, 4 * n_new)
    r = coverage.FIELD_RADIUS_DEG * 0.8 * np.sqrt(rng.random(4 * n_new))
    n_ra, n_dec = offset_radec(np.full(ang.size, ra0), np.full(ang.size, dec0), r * np.cos(ang), r * np.sin(ang))
    if len(src):
        d = projection.separation_deg(ra[None, :], dec[None, :], n_ra[:, None], n_dec[:, None]).min(1)
        free = np.flatnonzero(d > 1 / 60)[:n_new]
    else:
        free = np.arange(n_new)
    n_ra, n_dec = n_ra[free], n_dec[free]
    from data_loaders.alerts.observation import position_upper_limits

    uls = position_upper_limits(obs, n_ra, n_dec, obs_id)
    deepest = (
        pd.Series(uls["FLUX"].to_numpy()).groupby(uls["ROW"].to_numpy()).min().reindex(range(free.size)).to_numpy()
    )
    f_new = 10 ** rng.uniform(log_lo, log_hi, free.size)
    n_flux = np.where(np.isfinite(deepest), deepest * f_new, 1e-13 * f_new / 10)
    ra = np.r_[ra, n_ra]
    dec = np.r_[dec, n_dec]
    offax = np.r_[offax, r[free] * 60.0]
    flux = np.r_[flux, n_flux]
    srcid = np.r_[srcid, np.full(free.size, -1)]
    planted = np.r_[planted, np.full(free.size, "new_source", dtype=object)]
    fac = np.r_[fac, f_new]
    ref = np.r_[ref, deepest]

    # Measure: counts with the upper limits' camera model, background in the same aperture.
    vign = np.clip(1.0 - 0.45 * (offax / 15.0) ** 2, 0.05, 1.0)
    r_arcmin = coverage.APERTURE_ARCSEC * (1.0 + 0.5 * (offax / 15.0) ** 2) / 60.0
    sens = (ontime * coverage.ECF_TOTAL).sum() * vign  # counts per unit flux
    expected = flux * sens * coverage.EEF
    bkg = (ontime * coverage.BACKGROUND).sum() * np.pi * r_arcmin**2
    measured = rng.poisson(expected + bkg) - bkg
    var = expected + bkg
    det_ml = 0.5 * np.clip(measured, 0, None) ** 2 / np.maximum(var, 1e-9)
    f_meas = measured / (sens * coverage.EEF)
    f_err = np.sqrt(var) / (sens * coverage.EEF)
    keep = (det_ml >= ML_MIN) & (f_meas > 0)
    keep |= planted != ""  # planted transients are bright by construction; keep them even when unlucky

    # Short-term variables: a few detected catalogue sources flagged within the observation.
    chi2 = np.where(rng.random(flux.size) < 0.36, np.clip(rng.random(flux.size) ** 1.3, 2e-5, 1.0), np.nan)
    cand = np.flatnonzero(keep & (planted == "") & (srcid >= 0))
    st = rng.permutation(cand)[:n_planted]
    chi2[st] = 10 ** -rng.uniform(6, 20, st.size)
    planted[st] = "short_term"

    idx = np.flatnonzero(keep)
    idx = idx[np.argsort(-f_meas[idx], kind="stable")]  # SRC_NUM by decreasing flux, as the pipeline
    n = idx.size
    cts = np.clip(measured[idx], 1, None)
    radec_err = np.clip(0.25 + 7.0 / np.sqrt(cts + 1), 0.1, 12)
    sig = np.hypot(radec_err, 0.37) / np.sqrt(2) / 3600.0
    p_ra, p_dec = offset_radec(ra[idx], dec[idx], rng.normal(0, 1, n) * sig, rng.normal(0, 1, n) * sig)
    frac = np.array([0.08, 0.17, 0.30, 0.30, 0.15])  # Gamma ~1.7 energy-flux split, 0.2-12 keV
    frame = pd.DataFrame(
        {
            "SRC_NUM": np.arange(1, n + 1),
            "RA": p_ra,
            "DEC": p_dec,
            "RADEC_ERR": radec_err,
            "EP_TOT_FLUX": f_meas[idx],
            "ERR_EP_TOT_FLUX": f_err[idx],
            "EP_DET_ML": det_ml[idx],
            "EP_EXT_ML": np.zeros(n),
            "EP_CHI2PROB": chi2[idx],
        }
    )
    for b, fr in zip(BANDS, frac, strict=True):
        frame[f"EP_{b}_FLUX"] = f_meas[idx] * fr * 10 ** rng.normal(0, 0.05, n)
        frame[f"ERR_EP_{b}_FLUX"] = f_err[idx] * np.sqrt(fr)
    path = write_source_list(
        frame,
        Path(out_dir) / product_name(obs_id),
        obs_id=obs_id,
        date_obs=_isot6(t_start),
        date_end=_isot6(t_stop),
        ra_pnt=ra0,
        dec_pnt=dec0,
        extra_header={"OBJECT": f"demo field {field['OBS_ID']}", "EXPOS_PN": float(ontime[0])},
    )
    truth = pd.DataFrame(
        {
            "SRC_NUM": frame["SRC_NUM"].to_numpy(),
            "SRCID": srcid[idx],
            "PLANTED": pd.array(planted[idx].astype(str), dtype="str"),
            "FACTOR": fac[idx],
            "TRUE_FLUX": flux[idx],
            "REF_FLUX": ref[idx],
        }
    )
    return SimulatedObservation(path, obs_id, t_start, truth)
