"""Per-detection band counts, rates, fluxes, hardness ratios and likelihoods."""

from __future__ import annotations

import numpy as np

from data_loaders.demo.spectra import BKG_BAND_FRAC, canonical_ecf, spectral_lookup
from data_loaders.schema import CAMERAS

DERIVED = {6: (1, 2, 3), 7: (4, 5), 8: (1, 2, 3, 4, 5), 9: (2, 3, 4)}


def _hr(a, b, ea, eb):
    with np.errstate(invalid="ignore", divide="ignore"):
        s = a + b
        hr = np.where(s > 0, (b - a) / s, np.nan)
        err = np.where(s > 0, 2 * np.sqrt(b**2 * ea**2 + a**2 * eb**2) / s**2, np.nan)
    return hr, np.minimum(err, 2.0)


def photometry(pairs, src, rng: np.random.Generator) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Catalogue photometry columns for detected pairs; also returns total EPIC counts."""
    frac, ecf = spectral_lookup(src.GAMMA.to_numpy()[pairs.src], src.LOGNH.to_numpy()[pairs.src])
    ecf = ecf[:, [0, 1, 1], :]  # (n, 3 cams, 5 bands)
    share = frac[:, None, :] * ecf
    share /= share.sum(-1, keepdims=True)
    exp_cb = pairs.expected[:, :, None] * share
    bkg_cb = pairs.background[:, :, None] * BKG_BAND_FRAC[None, None, :]
    var_cb = exp_cb + bkg_cb
    w = var_cb / np.maximum(var_cb.sum(-1, keepdims=True), 1e-30)
    noise = rng.normal(0, 1, var_cb.shape) * np.sqrt(var_cb)
    noise -= w * noise.sum(-1, keepdims=True)
    total_noise = (pairs.measured - pairs.expected)[:, :, None]
    meas_cb = np.clip(exp_cb + w * total_noise + noise, 0, None)
    on = pairs.ontime > 0
    vign = (1 - 0.45 * (pairs.offax / 15.0) ** 2)[:, None, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        t = np.where(on, pairs.ontime, np.nan)[:, :, None] * vign
        rate = meas_cb / t
        rate_err = np.sqrt(np.maximum(var_cb, 1.0)) / t
    canon = canonical_ecf()[None]
    flux = rate / canon
    flux_err = rate_err / canon
    out: dict[str, np.ndarray] = {}
    f32 = np.float32
    # EPIC band fluxes: weighted means of the cameras; then derived bands as sums.
    wgt = np.where(np.isfinite(flux_err), 1.0 / np.where(flux_err > 0, flux_err, 1) ** 2, 0.0)
    wsum = wgt.sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        ep = np.where(wsum > 0, (np.nan_to_num(flux) * wgt).sum(1) / wsum, np.nan)
        ep_err = np.where(wsum > 0, 1 / np.sqrt(wsum), np.nan)
    bands: dict[int, tuple[np.ndarray, np.ndarray]] = {b: (ep[:, b - 1], ep_err[:, b - 1]) for b in range(1, 6)}
    for b, parts in DERIVED.items():
        bands[b] = (np.asarray(sum(bands[p][0] for p in parts)), np.sqrt(sum(bands[p][1] ** 2 for p in parts)))
    for b in range(1, 10):
        out[f"EP_{b}_FLUX"] = bands[b][0].astype(f32)
        out[f"EP_{b}_FLUX_ERR"] = bands[b][1].astype(f32)
    for c, cam in enumerate(CAMERAS):
        cb = {b: (flux[:, c, b - 1], flux_err[:, c, b - 1]) for b in range(1, 6)}
        for b, parts in DERIVED.items():
            cb[b] = (sum(cb[p][0] for p in parts), np.sqrt(sum(cb[p][1] ** 2 for p in parts)))
        for b in range(1, 10):
            out[f"{cam}_{b}_FLUX"] = cb[b][0].astype(f32)
            out[f"{cam}_{b}_FLUX_ERR"] = cb[b][1].astype(f32)
        for i in range(1, 5):
            hr, err = _hr(rate[:, c, i - 1], rate[:, c, i], rate_err[:, c, i - 1], rate_err[:, c, i])
            out[f"{cam}_HR{i}"] = hr.astype(f32)
            out[f"{cam}_HR{i}_ERR"] = err.astype(f32)
    ep_rate = np.where(on[:, :, None], np.nan_to_num(rate), 0).sum(1)
    ep_rate_err = np.sqrt((np.where(on[:, :, None], np.nan_to_num(rate_err), 0) ** 2).sum(1))
    for b in range(1, 6):
        out[f"EP_{b}_RATE"] = ep_rate[:, b - 1].astype(f32)
        out[f"EP_{b}_RATE_ERR"] = ep_rate_err[:, b - 1].astype(f32)
    out["EP_8_RATE"] = ep_rate.sum(1).astype(f32)
    out["EP_8_RATE_ERR"] = np.sqrt((ep_rate_err**2).sum(1)).astype(f32)
    for i in range(1, 5):
        hr, err = _hr(ep_rate[:, i - 1], ep_rate[:, i], ep_rate_err[:, i - 1], ep_rate_err[:, i])
        out[f"EP_HR{i}"] = hr.astype(f32)
        out[f"EP_HR{i}_ERR"] = err.astype(f32)
    cts = meas_cb.sum((1, 2))
    out["EP_8_CTS"] = cts.astype(f32)
    out["EP_8_DET_ML"] = pairs.det_ml.astype(f32)
    var_c = pairs.expected + pairs.background
    with np.errstate(invalid="ignore", divide="ignore"):
        ml_c = 0.5 * np.clip(pairs.measured, 0, None) ** 2 / var_c
    for c, cam in enumerate(CAMERAS):
        out[f"{cam}_8_DET_ML"] = np.where(on[:, c], ml_c[:, c], np.nan).astype(f32)
    return out, cts
