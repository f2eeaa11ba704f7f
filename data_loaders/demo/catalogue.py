"""Assemble the per-detection 4XMM catalogue table: identity, quality, variability, SC_*."""

from __future__ import annotations

import numpy as np
import pandas as pd
from astropy import units as u
from astropy.coordinates import SkyCoord
from scipy.spatial import cKDTree

from data_loaders.demo.names import flag_strings, sexagesimal_names, to_str
from data_loaders.demo.photometry import photometry
from data_loaders.demo.planting import PLANTED_KINDS
from data_loaders.demo.sky import offset_radec
from data_loaders.schema import CAMERAS, CLASS_NAMES, COLUMNS

_VAR_WEIGHT = np.array([1.0, 4.0, 4.0, 4.0, 2.0, 3.0, 0.0])  # per class, in-obs variability
_FLAG_P = np.array([0.66, 0.21, 0.03, 0.085, 0.015])  # SUM_FLAG 0..4 base rates


def _dist_nn(ra, dec, obs_idx) -> np.ndarray:
    """Distance (arcsec) to the nearest other detection of the same observation."""
    r, d = np.radians(ra), np.radians(dec)
    xyz = np.c_[np.cos(d) * np.cos(r), np.cos(d) * np.sin(r), np.sin(d), obs_idx * 10.0]
    dist, _ = cKDTree(xyz).query(xyz, k=2)
    chord = np.minimum(dist[:, 1], 2.0)
    return np.degrees(2 * np.arcsin(chord / 2)) * 3600.0


def _flags(n, sum_flag, confused, rng) -> np.ndarray:
    """(n, 12) EP flag matrix consistent with SUM_FLAG (4XMM rules: 1,2,3,9 / 7,8 / 11)."""
    f = np.zeros((n, 12), bool)
    rows = np.arange(n)
    warn = np.array([0, 1, 2, 8])
    w = (sum_flag == 1) | ((sum_flag >= 2) & (rng.random(n) < 0.4))
    f[rows[w], warn[rng.integers(0, 4, int(w.sum()))]] = True
    f[confused, 0] = True
    spur = (sum_flag == 2) | (sum_flag == 4)
    f[rows[spur], rng.choice([6, 7], int(spur.sum()))] = True
    f[sum_flag >= 3, 10] = True
    f[rng.random(n) < 0.005, 11] = True  # warm pixel, does not change SUM_FLAG
    return f


def build_catalogue(pairs, src, obs, plant, rng) -> tuple[pd.DataFrame, np.ndarray]:
    """Detected pairs -> the catalogue DataFrame (schema order/dtypes) and kept source index."""
    n = pairs.src.size
    cls = src.CLASS.to_numpy()[pairs.src]
    cols, cts = photometry(pairs, src, rng)
    f32 = np.float32
    o = pairs.obs
    on = pairs.ontime > 0
    # Positions scattered by the position error around the true source position.
    radec_err = np.clip(0.25 + 7.0 / np.sqrt(cts + 1), 0.1, 12) * (1 + src.EXTENT.to_numpy()[pairs.src] / 20)
    syserr = np.full(n, 0.37) + rng.uniform(0, 0.15, n)
    poserr = np.hypot(radec_err, syserr)
    sig = poserr / np.sqrt(2) / 3600.0
    ra, dec = offset_radec(
        src.RA.to_numpy()[pairs.src],
        src.DEC.to_numpy()[pairs.src],
        rng.normal(0, 1, n) * sig,
        rng.normal(0, 1, n) * sig,
    )
    gal = SkyCoord(ra=ra * u.deg, dec=dec * u.deg).galactic
    cols.update(
        RA=ra,
        DEC=dec,
        POSERR=poserr.astype(f32),
        LII=gal.l.deg,
        BII=gal.b.deg,
        RADEC_ERR=radec_err.astype(f32),
        SYSERRCC=syserr.astype(f32),
    )
    for k in ("MJD_START", "MJD_STOP", "REVOLUT", "OBS_CLASS", "HIGH_BACKGROUND"):
        cols[k] = obs[k].to_numpy()[o]
    obs_id = obs.OBS_ID.to_numpy().astype("U10")[o]
    for c, cam in enumerate(CAMERAS):
        cols[f"{cam}_ONTIME"] = np.where(on[:, c], pairs.ontime[:, c], np.nan).astype(f32)
        offax = pairs.offax + rng.normal(0, 0.05, n)
        cols[f"{cam}_OFFAX"] = np.where(on[:, c], np.abs(offax), np.nan).astype(f32)
        filt = obs["PN_FILTER" if cam == "PN" else "MOS_FILTER"].to_numpy().astype("U6")[o]
        cols[f"{cam}_FILTER"] = np.where(on[:, c], filt, "")
        mode = obs.PN_SUBMODE.to_numpy().astype("U16")[o] if cam == "PN" else np.full(n, "PrimeFullWindow")
        cols[f"{cam}_SUBMODE"] = np.where(on[:, c], mode, "")
    # Extent.
    ext_true = src.EXTENT.to_numpy()[pairs.src]
    is_ext = ext_true > 0
    ext = np.where(is_ext, np.clip(ext_true * rng.lognormal(0, 0.1, n), 6.0, 80.0), 0.0)
    cols["EP_EXTENT"] = ext.astype(f32)
    cols["EP_EXTENT_ERR"] = np.where(is_ext, ext * rng.uniform(0.05, 0.3, n), np.nan).astype(f32)
    ext_ml = np.where(is_ext, 4.0 + np.sqrt(cts) * rng.uniform(0.2, 2.0, n), np.minimum(rng.normal(0, 1.5, n), 3.9))
    cols["EP_EXTENT_ML"] = ext_ml.astype(f32)
    # Products for the brighter ~36 %.
    thr = np.quantile(cts, 0.64) if n else 0.0
    tseries = cts > thr
    spectra = tseries | ((cts > 0.97 * thr) & (rng.random(n) < 0.02))
    cols["TSERIES"], cols["SPECTRA"] = tseries, spectra
    # In-observation variability.
    chi2 = np.where(tseries, np.clip(rng.random(n) ** 1.3, 2e-5, 1.0), np.nan)
    # 4XMM-DR13: 8,380 of 1,035,832 detections have a time series constant at probability <= 1e-5.
    n_var = min(int(round(0.0081 * n)), int(tseries.sum()))
    wts = _VAR_WEIGHT[cls] * tseries
    var_idx = rng.choice(n, n_var, replace=False, p=wts / wts.sum()) if n_var > 0 else np.array([], np.int64)
    var = np.zeros(n, bool)
    var[var_idx] = True
    chi2[var] = 10 ** -rng.uniform(5.05, 30, n_var)
    cols["EP_CHI2PROB"] = chi2.astype(f32)
    cols["VAR_FLAG"] = var
    fvar = np.where(
        var, rng.uniform(0.15, 0.9, n), np.where(tseries & (rng.random(n) < 0.3), rng.uniform(0.01, 0.2, n), np.nan)
    )
    fvar_err = fvar * np.where(var, rng.uniform(0.05, 0.3, n), rng.uniform(0.8, 2.0, n))
    cols["EP_FVAR"], cols["EP_FVAR_ERR"] = fvar.astype(f32), fvar_err.astype(f32)
    var_cam = np.where(on[:, 0], 0, np.where(on[:, 1], 1, 2))
    for c, cam in enumerate(CAMERAS):
        jit = 10 ** rng.uniform(-0.3, 0.3, n)
        cc = np.where(var & (var_cam == c), chi2, np.clip(chi2 * jit, 2e-5, 1.0))
        cols[f"{cam}_CHI2PROB"] = np.where(on[:, c], cc, np.nan).astype(f32)
        cols[f"{cam}_FVAR"] = np.where(on[:, c], fvar * jit**0.2, np.nan).astype(f32)
        cols[f"{cam}_FVAR_ERR"] = np.where(on[:, c], fvar_err * 1.3, np.nan).astype(f32)
    cols["VAR_EXP_ID"] = np.where(var, np.array(["S003", "U002", "U002"])[var_cam], "")
    cols["VAR_INST_ID"] = np.where(var, np.array(CAMERAS)[var_cam], "")
    # Nearest neighbour, confusion and flags.
    dist_nn = _dist_nn(ra, dec, o)
    cols["DIST_NN"] = dist_nn.astype(f32)
    confused = (dist_nn < 10.0) & (rng.random(n) < 0.5)
    cols["CONFUSED"] = confused
    p = np.broadcast_to(_FLAG_P, (n, 5)).copy()
    p[is_ext] = [0.2, 0.25, 0.25, 0.2, 0.1]
    p[cols["HIGH_BACKGROUND"]] += [0, 0, 0.05, 0.15, 0.05]
    p /= p.sum(1, keepdims=True)
    sum_flag = (rng.random(n)[:, None] > np.cumsum(p, 1)).sum(1).clip(0, 4)
    sum_flag = np.where(confused & (sum_flag == 0), 1, sum_flag)
    flags = _flags(n, sum_flag, confused, rng)
    ep_flag = flag_strings(flags)
    cols["EP_FLAG"] = ep_flag
    for c, cam in enumerate(CAMERAS):
        cols[f"{cam}_FLAG"] = np.where(on[:, c], ep_flag, b"------------")
    cols["SUM_FLAG"] = sum_flag.astype(np.int16)
    # Identifiers: SRC_NUM by decreasing rate within the observation, DETID, SRCID.
    order = np.lexsort((-cols["EP_8_RATE"], o))
    first = np.r_[True, o[order][1:] != o[order][:-1]]
    grp_start = np.maximum.accumulate(np.where(first, np.arange(n), 0))
    src_num = np.empty(n, np.int64)
    src_num[order] = np.arange(n) - grp_start + 1
    detid = 10**14 + obs_id.astype(np.int64) * 10**4 + src_num
    cols["SRC_NUM"] = src_num.astype(np.int32)
    cols["DETID"] = detid
    cols["OBS_ID"] = obs_id
    keep_src, inv = np.unique(pairs.src, return_inverse=True)
    first_det = np.full(keep_src.size, np.iinfo(np.int64).max)
    np.minimum.at(first_det, inv, np.where(True, (pairs.mjd * 1e5).astype(np.int64), 0))
    is_first = (pairs.mjd * 1e5).astype(np.int64) == first_det[inv]
    srcid_first = np.full(keep_src.size, np.iinfo(np.int64).max)
    np.minimum.at(srcid_first, inv[is_first], detid[is_first] + 10**14)
    cols["SRCID"] = srcid_first[inv]
    # Short-term planted variables: sources with a variable detection, if not planted already.
    kind = plant["KIND"]
    st = np.unique(pairs.src[var])
    st = st[kind[st] == 0]
    kind[st] = PLANTED_KINDS.index("short_term")
    plant["FACTOR"][st] = 10 ** rng.uniform(np.log10(3), np.log10(30), st.size)
    df = pd.DataFrame(cols)
    df["_SRC"] = pairs.src
    df = df.sort_values("DETID", kind="stable").reset_index(drop=True)
    df = add_source_columns(df)
    return finalise(df), keep_src


def add_source_columns(df: pd.DataFrame) -> pd.DataFrame:
    """SC_* per-source aggregates, identical for every detection of one SRCID."""
    g = df.groupby("SRCID", sort=False)
    sc = {}
    w = 1.0 / df.POSERR.astype(np.float64) ** 2
    tmp = pd.DataFrame({"SRCID": df.SRCID, "w": w, "wra": w * df.RA, "wdec": w * df.DEC})
    # weighted position (safe near RA=0 via unwrapping about the first detection)
    ra0 = g.RA.transform("first")
    dra = ((df.RA - ra0 + 180) % 360) - 180
    tmp["wra"] = w * dra
    s = tmp.groupby("SRCID", sort=False).transform("sum")
    sc["SC_RA"] = (ra0 + s.wra / s.w) % 360
    sc["SC_DEC"] = s.wdec / s.w
    sc["SC_POSERR"] = 1 / np.sqrt(s.w)
    sc["SC_DET_ML"] = g.EP_8_DET_ML.transform("sum")
    for b in range(1, 10):
        f, e = df[f"EP_{b}_FLUX"].astype(np.float64), df[f"EP_{b}_FLUX_ERR"].astype(np.float64)
        wb = (1 / e**2).where(np.isfinite(f) & (e > 0), 0.0)
        t = (
            pd.DataFrame({"SRCID": df.SRCID, "w": wb, "wf": wb * f.fillna(0)})
            .groupby("SRCID", sort=False)
            .transform("sum")
        )
        sc[f"SC_EP_{b}_FLUX"] = (t.wf / t.w).where(t.w > 0)
        sc[f"SC_EP_{b}_FLUX_ERR"] = (1 / np.sqrt(t.w)).where(t.w > 0)
    f8 = df.EP_8_FLUX
    imin = f8.groupby(df.SRCID, sort=False).transform("idxmin")
    imax = f8.groupby(df.SRCID, sort=False).transform("idxmax")
    sc["SC_EP_8_FMIN"] = f8.to_numpy()[imin]
    sc["SC_EP_8_FMIN_ERR"] = df.EP_8_FLUX_ERR.to_numpy()[imin]
    sc["SC_EP_8_FMAX"] = f8.to_numpy()[imax]
    sc["SC_EP_8_FMAX_ERR"] = df.EP_8_FLUX_ERR.to_numpy()[imax]
    for i in range(1, 5):
        h, e = df[f"EP_HR{i}"].astype(np.float64), df[f"EP_HR{i}_ERR"].astype(np.float64)
        ok = np.isfinite(h) & (e > 0)
        wb = (1 / e**2).where(ok, 0.0)
        t = (
            pd.DataFrame({"SRCID": df.SRCID, "w": wb, "wh": wb * h.where(ok, 0)})
            .groupby("SRCID", sort=False)
            .transform("sum")
        )
        sc[f"SC_HR{i}"] = (t.wh / t.w).where(t.w > 0).clip(-1, 1)
        sc[f"SC_HR{i}_ERR"] = (1 / np.sqrt(t.w)).where(t.w > 0)
    sc["SC_EXTENT"] = g.EP_EXTENT.transform("mean")
    sc["SC_CHI2PROB"] = g.EP_CHI2PROB.transform("min")
    ichi = df.EP_CHI2PROB.fillna(2.0).groupby(df.SRCID, sort=False).transform("idxmin")
    sc["SC_FVAR"] = df.EP_FVAR.to_numpy()[ichi]
    sc["SC_FVAR_ERR"] = df.EP_FVAR_ERR.to_numpy()[ichi]
    sc["SC_VAR_FLAG"] = g.VAR_FLAG.transform("any")
    sc["SC_SUM_FLAG"] = g.SUM_FLAG.transform("max")
    sc["N_DETECTIONS"] = g.DETID.transform("size")
    sc["MJD_FIRST"] = g.MJD_START.transform("min")
    sc["MJD_LAST"] = g.MJD_START.transform("max")
    out = pd.concat([df, pd.DataFrame(sc, index=df.index)], axis=1)
    src_first = ~out.SRCID.duplicated()
    names = sexagesimal_names("4XMM ", out.SC_RA.to_numpy()[src_first], out.SC_DEC.to_numpy()[src_first])
    code = pd.factorize(out.SRCID)[0]
    out["IAUNAME"] = names[code]
    return out


_NP = {"K": np.int64, "J": np.int32, "I": np.int16, "B": np.uint8, "E": np.float32, "D": np.float64, "L": np.bool_}


def finalise(df: pd.DataFrame) -> pd.DataFrame:
    """Every schema column in schema order with its dtype (strings as pandas 'str')."""
    out = {}
    for col in COLUMNS:
        v = df[col.name].to_numpy()
        if col.is_string:
            out[col.name] = pd.array(to_str(np.asarray(v)).astype(str), dtype="str")
        else:
            out[col.name] = v.astype(_NP[col.fits_format])
    res = pd.DataFrame(out)
    res.attrs = {}
    res["_SRC"] = df["_SRC"].to_numpy()
    return res


__all__ = ["build_catalogue", "CLASS_NAMES"]
