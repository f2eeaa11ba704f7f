"""A synthetic stacked catalogue (4XMM-DRns / 5XMM layout) from the same sky as the 4XMM demo.

Same ``(n_detections, seed)`` as :func:`data_loaders.demo.generate_demo` gives the same
fields, sources and per-observation counts; here every (source, observation) pair with the
source in the field of view becomes an observation row: a flux measurement where it was
detected (ML >= 6), otherwise a 3-sigma upper limit (5XMM-like, ``upper_limits=True``) or a
forced PSF-photometry flux (4XMM-DRns-like). Each source also gets its summary row (the
combined fit). Stacks are the generator's field groups (overlapping pointings).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.io import fits
from scipy import stats

from data_loaders.demo.detections import ML_MIN, expected_detections, observe, trim_to
from data_loaders.demo.names import sexagesimal_names, to_str
from data_loaders.demo.population import make_sources
from data_loaders.demo.sky import make_groups, make_observations, offset_radec
from data_loaders.demo.spectra import spectral_lookup
from data_loaders.stacked_schema import INT_NULL, STACKED_COLUMNS, UL_SIGMA

_FLAG_P = np.array([0.70, 0.19, 0.03, 0.07, 0.01])
_NP = {"K": np.int64, "J": np.int32, "I": np.int16, "E": np.float32, "D": np.float64, "L": np.bool_}


@dataclass
class StackedDemoFiles:
    """Paths written by :func:`write_stacked_demo`."""

    catalogue: Path
    observations: Path


def _same_sky(n_detections: int, seed: int):
    """The per-detection demo's sky, drawn with the same random sequence as ``generate_demo``."""
    rng = np.random.default_rng([seed, n_detections])
    n_obs = max(4, round(n_detections / 75))
    groups = make_groups(n_obs, rng)
    obs = make_observations(groups, rng)
    density = 1.15 * n_detections / max(expected_detections(groups, obs), 1e-9)
    for _attempt in range(8):
        src = make_sources(groups, obs, density, rng)
        pairs, _plant = observe(src, obs, rng)
        n_det = int(pairs.detected.sum())
        if n_det >= n_detections:
            break
        density *= 1.3 * n_detections / max(n_det, 1)
    pairs = trim_to(pairs, len(src), n_detections, rng)
    return obs, src, pairs


def _group_sum(values: np.ndarray, inv: np.ndarray, n: int) -> np.ndarray:
    return np.bincount(inv, weights=values, minlength=n)


def generate_stacked(
    n_detections: int = 100_000, seed: int = 42, upper_limits: bool = True
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(stacked catalogue rows in file order with ``STACKED_COLUMNS``, observations table)."""
    from data_loaders.demo import OBSERVATION_COLUMNS

    obs, src, pairs = _same_sky(n_detections, seed)
    rng = np.random.default_rng([seed, n_detections, 5])
    on = pairs.ontime.sum(1) > 0
    pairs = pairs.take(np.flatnonzero(on))
    m_cts = pairs.measured.sum(1)
    e_cts = pairs.expected.sum(1)
    var = (pairs.expected + pairs.background).sum(1)
    keep_src, inv = np.unique(pairs.src, return_inverse=True)
    n_s = keep_src.size
    stack_ml = 0.5 * np.clip(_group_sum(m_cts, inv, n_s), 0, None) ** 2 / _group_sum(var, inv, n_s)
    any_det = _group_sum(pairs.detected.astype(float), inv, n_s) > 0
    good = (stack_ml >= ML_MIN) | any_det
    rows = good[inv]
    pairs = pairs.take(np.flatnonzero(rows))
    m_cts, e_cts, var = m_cts[rows], e_cts[rows], var[rows]
    keep_src, inv = np.unique(pairs.src, return_inverse=True)
    stack_ml = stack_ml[good]
    n_s = keep_src.size

    # Observation rows: fluxes from counts through each pair's own counts-per-flux factor.
    conv = pairs.flux / np.where(e_cts > 0, e_cts, np.nan)  # erg/cm2/s per count
    flux = m_cts * conv
    err = np.sqrt(var) * conv
    det = pairs.detected
    ul = ~det if upper_limits else np.zeros(det.size, bool)
    w = 1.0 / err**2
    f_comb = _group_sum(w * flux, inv, n_s) / _group_sum(w, inv, n_s)
    e_comb = 1.0 / np.sqrt(_group_sum(w, inv, n_s))
    # Between-observation variability from the detected rows.
    wd = np.where(det, w, 0.0)
    n_det = _group_sum(det.astype(float), inv, n_s)
    mean_d = _group_sum(wd * flux, inv, n_s) / np.where(n_det > 0, _group_sum(wd, inv, n_s), np.nan)
    chi2 = _group_sum(np.where(det, (flux - mean_d[inv]) ** 2 * w, 0.0), inv, n_s)
    var_prob = np.where(n_det >= 2, stats.chi2.sf(chi2, np.maximum(n_det - 1, 1)), np.nan)
    fmax = np.full(n_s, -np.inf)
    fmin = np.full(n_s, np.inf)
    np.maximum.at(fmax, inv[det], flux[det])
    np.minimum.at(fmin, inv[det], flux[det])
    with np.errstate(divide="ignore", invalid="ignore"):
        fratio = np.where((n_det >= 2) & (fmin > 0), fmax / fmin, np.nan)

    # Stack-level quantities of each kept source.
    s_ra, s_dec = src.RA.to_numpy()[keep_src], src.DEC.to_numpy()[keep_src]
    tot = np.clip(_group_sum(m_cts, inv, n_s), 0, None)
    radec_err = np.clip(0.25 + 7.0 / np.sqrt(tot + 1), 0.1, 12.0)
    poserr = np.hypot(radec_err, 0.4)
    sig = poserr / np.sqrt(2) / 3600.0
    ra, dec = offset_radec(s_ra, s_dec, rng.normal(0, 1, n_s) * sig, rng.normal(0, 1, n_s) * sig)
    gal = SkyCoord(ra=ra * u.deg, dec=dec * u.deg).galactic
    frac, ecf = spectral_lookup(src.GAMMA.to_numpy()[keep_src], src.LOGNH.to_numpy()[keep_src])
    band_rate = frac * ecf[:, 0, :]
    hr_err = np.clip(3.0 / np.sqrt(tot + 4), 0.01, 0.9)
    hrs = {}
    for i in range(1, 5):
        a, b = band_rate[:, i - 1], band_rate[:, i]
        hr = (b - a) / np.where(a + b > 0, a + b, np.nan) + rng.normal(0, 1, n_s) * hr_err
        hrs[f"EP_HR{i}"], hrs[f"EP_HR{i}_ERR"] = np.clip(hr, -1, 1), hr_err
    sum_flag = (rng.random(n_s)[:, None] > np.cumsum(_FLAG_P)).sum(1).clip(0, 4)
    # SRCID: 3, the lowest OBS_ID of the stack (the field group), then the number in the stack.
    o_ids = obs.OBS_ID.to_numpy().astype("U10").astype(np.int64)
    group = src.GROUP.to_numpy()[keep_src]
    lowest = pd.Series(o_ids).groupby(obs.GROUP.to_numpy()).min()
    n_in_group = obs.GROUP.value_counts()
    order = np.lexsort((ra, group))
    rank = np.empty(n_s, np.int64)
    first = np.r_[True, group[order][1:] != group[order][:-1]]
    start = np.maximum.accumulate(np.where(first, np.arange(n_s), 0))
    rank[order] = np.arange(n_s) - start + 1
    srcid = 3 * 10**15 + lowest.reindex(group).to_numpy() * 10**5 + rank
    names = to_str(sexagesimal_names("4XMMs ", ra, dec))

    stack = {
        "SRCID": srcid,
        "IAUNAME": names,
        "RA": ra,
        "DEC": dec,
        "RADEC_ERR": radec_err,
        "POSERR": poserr,
        "LII": gal.l.deg,
        "BII": gal.b.deg,
        "STACK_DET_ML": stack_ml,
        "EXTENT": src.EXTENT.to_numpy()[keep_src],
        "VAR_PROB": var_prob,
        "FRATIO": fratio,
        **hrs,
    }
    o = pairs.obs
    ontime = np.where(pairs.ontime > 0, pairs.ontime, np.nan)
    obs_rows = {k: np.asarray(v)[inv] for k, v in stack.items()}
    meas = ~ul
    obs_rows.update(
        {
            "OBS_ID": obs.OBS_ID.to_numpy().astype("U10")[o],
            "N_OBS": np.full(inv.size, INT_NULL),
            "N_CONTRIB": np.full(inv.size, INT_NULL),
            "EP_DET_ML": pairs.det_ml,
            "EP_FLUX": np.where(meas, flux, np.nan),
            "EP_FLUX_ERR": np.where(meas, err, np.nan),
            "EP_RATE": np.where(meas, m_cts / np.nanmax(ontime, 1), np.nan),
            "EP_RATE_ERR": np.where(meas, np.sqrt(var) / np.nanmax(ontime, 1), np.nan),
            "MJD_START": obs.MJD_START.to_numpy()[o],
            "MJD_STOP": obs.MJD_STOP.to_numpy()[o],
            "PN_ONTIME": ontime[:, 0],
            "M1_ONTIME": ontime[:, 1],
            "M2_ONTIME": ontime[:, 2],
            "PN_OFFAX": pairs.offax,
            "SUM_FLAG": sum_flag[inv],
            "UPPER_LIMIT": ul,
            "EP_FLUX_UL": np.where(ul, (np.clip(m_cts, 0, None) + UL_SIGMA * np.sqrt(var)) * conv, np.nan),
        }
    )
    for b in range(1, 6):
        obs_rows[f"EP_{b}_FLUX"] = obs_rows["EP_FLUX"] * frac[inv, b - 1]
        obs_rows[f"EP_{b}_FLUX_ERR"] = obs_rows["EP_FLUX_ERR"] * np.sqrt(frac[inv, b - 1])
    summary = dict(stack)
    n_contrib = np.bincount(inv, minlength=n_s)
    summary.update(
        {
            "OBS_ID": np.full(n_s, ""),
            "N_OBS": n_in_group.reindex(group).to_numpy(),
            "N_CONTRIB": n_contrib,
            "EP_DET_ML": stack_ml,
            "EP_FLUX": f_comb,
            "EP_FLUX_ERR": e_comb,
            "EP_RATE": np.nan,
            "EP_RATE_ERR": np.nan,
            "MJD_START": np.nan,
            "MJD_STOP": np.nan,
            "PN_ONTIME": _group_sum(np.nan_to_num(ontime[:, 0]), inv, n_s),
            "M1_ONTIME": _group_sum(np.nan_to_num(ontime[:, 1]), inv, n_s),
            "M2_ONTIME": _group_sum(np.nan_to_num(ontime[:, 2]), inv, n_s),
            "PN_OFFAX": np.nan,
            "SUM_FLAG": sum_flag,
            "UPPER_LIMIT": np.zeros(n_s, bool),
            "EP_FLUX_UL": np.nan,
        }
    )
    for b in range(1, 6):
        summary[f"EP_{b}_FLUX"] = f_comb * frac[:, b - 1]
        summary[f"EP_{b}_FLUX_ERR"] = e_comb * np.sqrt(frac[:, b - 1])
    table = pd.concat(
        [
            _typed(summary, n_s).assign(_KIND=0, _MJD=-1.0),
            _typed(obs_rows, inv.size).assign(_KIND=1, _MJD=obs_rows["MJD_START"]),
        ],
        ignore_index=True,
    )
    table = table.sort_values(["SRCID", "_KIND", "_MJD"], kind="stable").drop(columns=["_KIND", "_MJD"])
    observations = obs[list(OBSERVATION_COLUMNS)].copy()
    return table.reset_index(drop=True), observations


def _typed(cols: dict, n: int) -> pd.DataFrame:
    out = {}
    for col in STACKED_COLUMNS:
        v = np.broadcast_to(np.asarray(cols[col.name]), (n,))
        out[col.name] = pd.array(v.astype(str), dtype="str") if col.is_string else v.astype(_NP[col.fits_format])
    return pd.DataFrame(out)


def write_stacked_fits(table: pd.DataFrame, path: Path, catalog: str = "4XMM-DEMO-STACKED") -> None:
    """Write the rows as a FITS binary table with the stacked schema's TFORM/TUNIT/TNULL."""
    cols = []
    for c in STACKED_COLUMNS:
        v = table[c.name].to_numpy()
        if c.is_string:
            v = np.asarray(v, dtype=f"U{int(c.fits_format[:-1])}")
        cols.append(fits.Column(name=c.name, format=c.fits_format, unit=c.unit, null=c.null, array=v))
    hdu = fits.BinTableHDU.from_columns(cols)
    hdu.header["EXTNAME"] = ("STACKCAT", "Stacked source list")
    hdu.header["CATALOG"] = (catalog, "Synthetic demo catalogue, not real data")
    hdu.header["SYNTHETC"] = (True, "Synthetic data generated by data_loaders.demo")
    hdu.header["TELESCOP"] = "XMM"
    primary = fits.PrimaryHDU()
    primary.header["CATALOG"] = catalog
    primary.header["SYNTHETC"] = True
    fits.HDUList([primary, hdu]).writeto(path, overwrite=True)


def write_stacked_demo(
    out_dir, n_detections: int = 100_000, seed: int = 42, upper_limits: bool = True
) -> StackedDemoFiles:
    """Write ``4XMM_DEMO_STACKED_cat.fits`` and ``4XMM_DEMO_STACKED_observations.parquet``.

    ``n_detections`` sizes the sky as for the per-detection demo (its number of detections).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    table, observations = generate_stacked(n_detections, seed, upper_limits)
    files = StackedDemoFiles(out / "4XMM_DEMO_STACKED_cat.fits", out / "4XMM_DEMO_STACKED_observations.parquet")
    write_stacked_fits(table, files.catalogue)
    observations.to_parquet(files.observations, index=False)
    return files
