"""Added-value tables: classifications, counterparts, long-term points and upper limits."""

from __future__ import annotations

import numpy as np
import pandas as pd

from data_loaders.demo import planting
from data_loaders.demo.names import sexagesimal_names, to_str
from data_loaders.demo.sky import offset_radec
from data_loaders.schema import (
    CLASS_NAMES,
    CLASSIFICATION_COLUMNS,
    COUNTERPART_COLUMNS,
    LONGTERM_COLUMNS,
    MISSION_FLUX_FACTORS,
)

# log10(Fx/Fopt) (mean, sd) per class: stars optically bright, AGN faint.
_FX_FOPT = np.array([[0.0, 0.5], [-3.0, 0.7], [1.0, 0.8], [0.5, 0.6], [0.3, 0.5], [1.5, 0.5], [-0.5, 0.6]])
_CONFUSE = np.array([4, 3, 3, 2, 0, 0, 0])  # most likely wrong class for each class
_MISSIONS = {  # name: (band, MJD range, fraction of sources, sensitivity in own band)
    "Swift": ("0.3-10.0", (53400, 60300), 0.12, 1.5e-13),
    "Chandra": ("0.5-7.0", (51400, 60300), 0.07, 5e-15),
    "eROSITA": ("0.2-2.3", (58830, 59620), 0.25, 3e-14),
    "ROSAT": ("0.1-2.4", (48100, 48500), 0.30, 1e-13),
}


def _frame(cols: dict, spec) -> pd.DataFrame:
    out = {}
    for name, dtype, _unit, _desc in spec:
        v = np.asarray(cols[name])
        out[name] = pd.array(to_str(v).astype(str), dtype="str") if dtype == "str" else v.astype(dtype)
    return pd.DataFrame(out)


def counterparts(sources: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """0-4 candidates per source; the true one close with a high MATCH_PROB."""
    n = len(sources)
    cls = sources.CLASS.to_numpy()
    logfx = np.log10(sources.FLUX.to_numpy())
    x = rng.normal(_FX_FOPT[cls, 0], _FX_FOPT[cls, 1])
    gmag = np.clip((x - logfx - 5.37) / 0.4, 3.0, 24.5)
    rows = []
    for cat, prefix, depth in (
        ("Gaia DR3", "", 20.7),
        ("2MASS", "2MASS ", 19.0),
        ("AllWISE", "", 22.0),
        ("SDSS DR16", "", 22.5),
    ):
        color = {"2MASS": 1.5, "AllWISE": 2.5}.get(cat, 0.0) * np.where(cls == 1, 0.5, 1.0)
        mag = gmag - color + rng.normal(0, 0.3, n)
        sdss_ok = (cat != "SDSS DR16") | ((np.abs(sources.BII.to_numpy()) > 25) & (sources.DEC.to_numpy() > -10))
        has_true = (mag < depth) & sdss_ok
        n_chance = rng.poisson(np.where(np.abs(sources.BII.to_numpy()) < 10, 0.25, 0.06))
        idx = np.r_[np.flatnonzero(has_true), np.repeat(np.arange(n), n_chance)]
        true = np.r_[np.ones(int(has_true.sum()), bool), np.zeros(int(n_chance.sum()), bool)]
        m = idx.size
        poserr = np.maximum(sources.POSERR.to_numpy()[idx], 0.3)
        sep = np.where(true, poserr * np.sqrt(rng.exponential(1.0, m)), rng.uniform(1, 6, m))
        ang = rng.uniform(0, 2 * np.pi, m)
        cra, cdec = offset_radec(
            sources.RA.to_numpy()[idx], sources.DEC.to_numpy()[idx], sep / 3600 * np.cos(ang), sep / 3600 * np.sin(ang)
        )
        cmag = np.where(true, mag[idx], rng.uniform(depth - 4, depth, m))
        prob = np.where(true, rng.beta(8, 1.5, m), rng.beta(1, 6, m))
        if cat in ("Gaia DR3", "SDSS DR16"):
            cp_id = (rng.integers(10**17, 7 * 10**18, m)).astype("U19")
        else:
            cp_id = to_str(sexagesimal_names(prefix, cra, cdec))
        mags = {"MAG_G": np.nan, "MAG_J": np.nan, "MAG_W1": np.nan}
        mags[{"2MASS": "MAG_J", "AllWISE": "MAG_W1"}.get(cat, "MAG_G")] = cmag
        rows.append(
            pd.DataFrame(
                {
                    "SRCID": sources.SRCID.to_numpy()[idx],
                    "CATALOGUE": cat,
                    "CP_ID": cp_id,
                    "CP_RA": cra,
                    "CP_DEC": cdec,
                    "SEPARATION": sep,
                    "MATCH_PROB": prob,
                    **{k: np.broadcast_to(v, m) for k, v in mags.items()},
                }
            )
        )
    df = pd.concat(rows, ignore_index=True)
    df = df.sort_values(["SRCID", "MATCH_PROB"], ascending=[True, False], kind="stable")
    df = df.groupby("SRCID", sort=False).head(4)
    return _frame({c: df[c].to_numpy() for c in df.columns}, COUNTERPART_COLUMNS)


def classifications(sources: pd.DataFrame, cps: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Posterior class probabilities peaked on the true class for most sources."""
    n = len(sources)
    cls = sources.CLASS.to_numpy().astype(np.int64)
    confused = rng.random(n) < 0.15
    peak = np.where(confused, _CONFUSE[cls], cls)
    alpha = np.full((n, 7), 0.25)
    alpha[np.arange(n), cls] += np.where(confused, 3.0, 0.0)
    alpha[np.arange(n), peak] += rng.uniform(3, 20, n)
    p = rng.gamma(alpha)
    p = (p / p.sum(1, keepdims=True)).astype(np.float32)
    srt = np.sort(p, 1)
    pred = p.argmax(1)

    def best(cat, mag):
        s = cps[cat == cps.CATALOGUE].drop_duplicates("SRCID")
        m = s.set_index("SRCID").reindex(sources.SRCID.to_numpy())
        return m[mag].to_numpy(), m.MATCH_PROB.to_numpy()

    gmag, popt = best("Gaia DR3", "MAG_G")
    w1, _ = best("AllWISE", "MAG_W1")
    cols = {
        "SRCID": sources.SRCID.to_numpy(),
        "prediction": pred,
        "prediction_name": np.array(CLASS_NAMES)[pred],
        "ClMargin": srt[:, -1] - srt[:, -2],
        "outlier": rng.random(n) < np.where(np.isin(cls, (2, 5)), 0.1, 0.03),
        "LII": sources.LII.to_numpy(),
        "BII": sources.BII.to_numpy(),
        "SC_EXTENT": sources.SC_EXTENT.to_numpy(),
        "Gmag": gmag,
        "W1mag": w1,
        "P_opt": popt,
    }
    for i in range(7):
        cols[f"PbaC{i}"] = p[:, i]
    for i in range(1, 5):
        cols[f"SC_HR{i}"] = sources[f"SC_HR{i}"].to_numpy()
    inputs = np.c_[
        [np.asarray(cols[k], float) for k in ("SC_HR1", "SC_HR2", "SC_HR3", "SC_HR4", "Gmag", "W1mag", "P_opt")]
    ]
    cols["N_missing"] = np.isnan(inputs).sum(0)
    return _frame(cols, CLASSIFICATION_COLUMNS)


def longterm(
    pairs,
    kept_src: np.ndarray,
    srcid_of: np.ndarray,
    obs: pd.DataFrame,
    sources: pd.DataFrame,
    plant: dict,
    rng: np.random.Generator,
    src_true: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """XMM 3-sigma upper limits for undetected coverage, plus other missions' points.

    With ``src_true`` (the generator's true sources, indexed like ``pairs.src``) the XMM limits are
    on the catalogue's EP_8 flux scale (forced photometry + 3 sigma); without it, a total-band
    counts limit (kept for callers that have no true sources).
    """
    in_cat = np.zeros(srcid_of.size, bool)
    in_cat[kept_src] = True
    ul = ~pairs.detected & in_cat[pairs.src]
    from data_loaders.demo.spectra import canonical_ecf

    ecf8 = (canonical_ecf() * np.array([0.2, 0.2, 0.2, 0.2, 0.2])).sum(1)  # mean band ECF
    with np.errstate(divide="ignore", invalid="ignore"):
        vign = 1 - 0.45 * (pairs.offax[ul] / 15.0) ** 2
        sens = (pairs.ontime[ul] * ecf8 * vign[:, None]).sum(1)
        lim = 3 * np.sqrt(pairs.background[ul].sum(1) + 9) / sens
    if src_true is not None and ul.any():
        # On the catalogue's own flux scale: the forced EP_8 flux at the position plus 3 times its
        # error, from the same band photometry as the detections. A total-band counts limit is
        # several times deeper than the EP_8 fluxes of faint detections (sum of five band fluxes,
        # the hard band divided by its small ECF), so constant sources looked like transients.
        from data_loaders.demo.photometry import photometry

        phot, _ = photometry(pairs.take(np.flatnonzero(ul)), src_true, rng)
        forced = 3 * phot["EP_8_FLUX_ERR"].astype(np.float64)
        lim = np.where(np.isfinite(forced) & (forced > 0), forced, lim)
    xmm = {
        "SRCID": srcid_of[pairs.src[ul]],
        "MISSION": np.full(int(ul.sum()), "XMM"),
        "OBS_ID": obs.OBS_ID.to_numpy().astype("U10")[pairs.obs[ul]],
        "MJD": pairs.mjd[ul],
        "FLUX": lim,
        "FLUX_ERR": np.full(int(ul.sum()), np.nan),
        "UPPER_LIMIT": np.ones(int(ul.sum()), bool),
        "BAND": np.full(int(ul.sum()), "0.2-12.0"),
    }
    parts = [pd.DataFrame(xmm)]
    kind = plant["KIND"][kept_src]
    # Injected new sources and large-amplitude variables (> 5, STONKS' threshold) are more often
    # covered by other missions, as the serendipitous ones of interest are.
    planted = (kind == planting.PLANTED_KINDS.index("new_source")) | ((kind > 0) & (plant["FACTOR"][kept_src] > 5))
    for mission, (band, (t_lo, t_hi), frac, sens_m) in _MISSIONS.items():
        pick = (rng.random(kept_src.size) < frac) | (planted & (rng.random(kept_src.size) < 0.6))
        if mission == "eROSITA":
            pick &= sources.LII.to_numpy() > 180
        n_ep = np.where(pick, rng.integers(1, {"ROSAT": 2, "eROSITA": 5}.get(mission, 6), kept_src.size), 0)
        si = np.repeat(np.arange(kept_src.size), n_ep)
        mjd = rng.uniform(t_lo, t_hi, si.size)
        k = kept_src[si]
        mult = planting.multiplier(plant["KIND"][k], plant["FACTOR"][k], plant["T0"][k], plant["PERIOD"][k], mjd)
        base = plant["BASE_FLUX"][k]
        f_true = base * mult * MISSION_FLUX_FACTORS[mission]
        err = np.sqrt((0.15 * f_true) ** 2 + (sens_m / 4) ** 2)
        f_obs = f_true + rng.normal(0, 1, si.size) * err
        det = f_obs > sens_m
        parts.append(
            pd.DataFrame(
                {
                    "SRCID": srcid_of[k],
                    "MISSION": mission,
                    "OBS_ID": np.char.add(mission[:2].upper(), rng.integers(10**6, 10**7, si.size).astype("U7")),
                    "MJD": mjd,
                    "FLUX": np.where(det, f_obs, np.maximum(f_obs, 0) + 3 * err),
                    "FLUX_ERR": np.where(det, err, np.nan),
                    "UPPER_LIMIT": ~det,
                    "BAND": band,
                }
            )
        )
    df = pd.concat(parts, ignore_index=True).sort_values(["SRCID", "MJD"], kind="stable")
    return _frame({c: df[c].to_numpy() for c in df.columns}, LONGTERM_COLUMNS)
