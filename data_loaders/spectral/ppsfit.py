"""Joint fit of a detection's EPIC PPS spectra (pn, MOS1, MOS2) with the W-statistic.

Why our own fit: no maintained X-ray fitting library installs and runs offline here (sherpa is
source-only on PyPI and needs a compiler build; jaxspec downloads its absorption tables at run
time; see docs/SPECTRAL_FITS.md). The fit is compact and uses the same photoabsorption as the
five-band fit (:mod:`.absorption`: xraydb cross-sections, Wilms et al. 2000 abundances).

**Statistic.** Every camera's source spectrum S_i (counts in channel i, exposure t_s) and its
background spectrum B_i (scaled exposure t_b = t_s / background scale, i.e. exposure times
area ratio) are fitted together with the source model m_i (count/s) and one background rate
f_i per channel profiled out analytically: the W-statistic (Wachter, Salpeter & Leahy 1979,
ApJ 230, 274; Cash 1979, ApJ 228, 939 for the Poisson likelihood), exactly as in the XSPEC
manual, Appendix B "Poisson data with Poisson background (cstat)":

    W = 2 sum_i [ t_s m_i + (t_s + t_b) f_i - S_i ln(t_s m_i + t_s f_i) - B_i ln(t_b f_i)
                  - S_i (1 - ln S_i) - B_i (1 - ln B_i) ]
    f_i = [S_i + B_i - (t_s + t_b) m_i + d_i] / [2 (t_s + t_b)],
    d_i = sqrt[((t_s + t_b) m_i - S_i - B_i)^2 + 4 (t_s + t_b) B_i m_i]

with the manual's special cases for S_i = 0 and B_i = 0. Without a background it is Cash's C.
Channels are fitted ungrouped (0.2-12 keV); grouping is for display only.

**Model counts.** m = R^T (A(E) F(E)) per camera: F the model photon flux in each energy bin
of the response (ph cm^-2 s^-1), A the ARF on that grid, R the redistribution matrix.

**Models.** ``powerlaw``: N E^-Gamma exp(-N_H sigma(E)), N in ph cm^-2 s^-1 keV^-1 at 1 keV;
``bbody``: N 8.0525 E^2 / (kT^4 (exp(E/kT) - 1)) exp(-N_H sigma(E)), XSPEC's ``bbody``
(N = L_39 / D_10^2). No optically thin plasma: no library here ships its emissivities offline.

**Errors.** 68% intervals from the curvature: the covariance is 2 H^-1 with H the Hessian of W
at the best fit (Delta W = 1 for one parameter, the quadratic approximation of the profile
likelihood), clipped at the parameter bounds. The absorbed 0.2-12 keV flux interval comes
from 400 draws of that Gaussian.
"""

from __future__ import annotations

import contextlib
import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from scipy import optimize, sparse

from data_loaders.spectral.absorption import cross_section

if TYPE_CHECKING:  # the product readers import this module (the demo draws its spectra through it)
    from data_loaders.products.arf import EffectiveArea
    from data_loaders.products.rmf import Response
    from data_loaders.products.spectrum import Spectrum

KEV_TO_ERG = 1.602176634e-9
FIT_BAND = (0.2, 12.0)
#: Parameters of each model: name, unit, lower and upper bound, start values tried.
MODELS: dict[str, tuple[tuple[str, str, float, float, tuple[float, ...]], ...]] = {
    "powerlaw": (
        ("Gamma", "", -1.0, 5.0, (1.0, 2.0, 3.0)),
        ("N_H", "1e22 cm^-2", 0.0, 100.0, (0.01, 0.3, 3.0)),
    ),
    "bbody": (
        ("kT", "keV", 0.01, 10.0, (0.1, 0.3, 1.0)),
        ("N_H", "1e22 cm^-2", 0.0, 100.0, (0.01, 0.3, 3.0)),
    ),
}
MODEL_TITLES = {"powerlaw": "absorbed power law", "bbody": "absorbed blackbody"}
_LOGN_BOUNDS = (-12.0, 3.0)


@dataclass(frozen=True, eq=False)
class FitData:
    """One camera's spectrum, ready to fit: channels of the fit band only."""

    camera: str
    counts: np.ndarray  # S_i
    background: np.ndarray | None  # B_i
    t_s: float
    t_b: float
    e_lo: np.ndarray  # response energy bins (keV)
    e_hi: np.ndarray
    area: np.ndarray  # ARF on those bins (cm^2)
    matrix: sparse.csr_matrix  # (energy bins, fitted channels)
    chan_lo: np.ndarray  # channel energy bounds (keV)
    chan_hi: np.ndarray
    sigma: np.ndarray  # absorption cross-section per H atom at the energy bin centres (cm^2)

    @property
    def e_mid(self) -> np.ndarray:
        return 0.5 * (self.e_lo + self.e_hi)


def prepare(spectrum: Spectrum, arf: EffectiveArea, response: Response, band=FIT_BAND) -> FitData:
    """Cut ``spectrum`` to the channels of ``band`` and line it up with its ARF and RMF.

    Raises ValueError (one sentence) when the response does not cover the spectrum's channels.
    """
    index = spectrum.channel.astype(int) - response.first_channel
    if index.min() < 0 or index.max() >= response.detchans:
        name = response.path.name if response.path else "the response"
        raise ValueError(
            f"{name} has {response.detchans} channels but the {spectrum.camera} spectrum reaches channel "
            f"{int(spectrum.channel.max())}: they do not go together."
        )
    e_min, e_max = response.e_min[index], response.e_max[index]
    keep = (e_min >= band[0]) & (e_max <= band[1])
    t_s = spectrum.exposure * spectrum.areascal
    scale = spectrum.background_scale
    background = spectrum.background_counts[keep] if spectrum.background_counts is not None and scale > 0 else None
    return FitData(
        camera=spectrum.camera,
        counts=np.asarray(spectrum.counts[keep], dtype=float),
        background=None if background is None else np.asarray(background, dtype=float),
        t_s=float(t_s),
        t_b=float(t_s / scale) if background is not None else np.inf,
        e_lo=response.energy_lo,
        e_hi=response.energy_hi,
        area=arf.at(response.energy),
        matrix=response.matrix[:, index[keep]].tocsr(),
        chan_lo=e_min[keep],
        chan_hi=e_max[keep],
        sigma=cross_section(response.energy),
    )


def photon_flux(model: str, params, e_lo: np.ndarray, e_hi: np.ndarray, sigma: np.ndarray | None = None) -> np.ndarray:
    """Model photons per cm^2 per s in each energy bin (midpoint rule), params = (shape, N_H/1e22, log10 N).

    ``params`` may be (3,) or (n, 3) (n parameter sets at once, result (n, bins)); ``sigma`` the
    cross-sections at the bin centres when the caller has them.
    """
    single = np.ndim(params) == 1
    params = np.atleast_2d(np.asarray(params, dtype=float))
    shape, nh, lognorm = (params[:, k, None] for k in range(3))
    e = 0.5 * (e_lo + e_hi)
    absorbed = np.exp(-nh * 1e22 * (cross_section(e) if sigma is None else sigma))
    if model == "powerlaw":
        per_kev = e**-shape
    elif model == "bbody":
        per_kev = 8.0525 * e**2 / (shape**4 * np.expm1(np.minimum(e / shape, 700.0)))
    else:
        raise ValueError(f"unknown model {model!r}; use one of {', '.join(MODELS)}")
    out = 10.0**lognorm * per_kev * absorbed * (e_hi - e_lo)
    return out[0] if single else out


def model_rate(model: str, params, data: FitData) -> np.ndarray:
    """Predicted source count rate per fitted channel (count/s): R^T (ARF x photon flux)."""
    return data.matrix.T @ (data.area * photon_flux(model, params, data.e_lo, data.e_hi, data.sigma))


def _xlogx(x: np.ndarray) -> np.ndarray:
    return np.where(x > 0, x * np.log(np.where(x > 0, x, 1.0)), 0.0)


def wstat(counts: np.ndarray, background: np.ndarray | None, t_s: float, t_b: float, m: np.ndarray) -> float:
    """The W-statistic (XSPEC manual, Appendix B) of source rate ``m`` (count/s per channel).

    Without a background it is Cash's C."""
    s = np.asarray(counts, dtype=float)
    m = np.maximum(np.asarray(m, dtype=float), 1e-300)
    if background is None:
        return float(2.0 * np.sum(t_s * m - s * np.log(t_s * m) + _xlogx(s) - s))
    b = np.asarray(background, dtype=float)
    t = t_s + t_b
    d = np.sqrt((t * m - s - b) ** 2 + 4.0 * t * b * m)
    f = np.maximum((s + b - t * m + d) / (2.0 * t), 0.0)
    general = (
        t_s * m
        + t * f
        - s * np.log(np.maximum(t_s * m + t_s * f, 1e-300))
        - b * np.log(np.maximum(t_b * f, 1e-300))
        - s
        + _xlogx(s)
        - b
        + _xlogx(b)
    )
    s0 = t_s * m - b * np.log(t_b / t)
    low = m < s / t
    b0 = np.where(
        low,
        -t_b * m - s * np.log(t_s / t),
        t_s * m + _xlogx(s) - s * np.log(t_s * m) - s,
    )
    w = np.where(s == 0, s0, np.where(b == 0, b0, general))
    return float(2.0 * np.sum(w))


@dataclass(frozen=True)
class FitResult:
    """Best fit of one model to a detection's cameras."""

    model: str
    names: tuple[str, ...]
    units: tuple[str, ...]
    values: np.ndarray  # shape parameter, N_H (1e22), log10 N
    lower: np.ndarray  # 68% bounds
    upper: np.ndarray
    stat: float
    dof: int
    flux: float  # absorbed 0.2-12 keV, erg/cm2/s
    flux_lower: float
    flux_upper: float
    cameras: tuple[str, ...]
    counts: int
    converged: bool
    message: str = ""
    rates: dict = field(default_factory=dict)  # camera -> model count/s per fitted channel


def _total(model: str, params, data: list[FitData]) -> float:
    return sum(wstat(d.counts, d.background, d.t_s, d.t_b, model_rate(model, params, d)) for d in data)


def _hessian(fun, x: np.ndarray, steps: np.ndarray) -> np.ndarray:
    n = x.size
    h = np.zeros((n, n))
    f0 = fun(x)
    for i in range(n):
        for j in range(i, n):
            ei, ej = np.eye(n)[i] * steps[i], np.eye(n)[j] * steps[j]
            if i == j:
                h[i, i] = (fun(x + ei) - 2 * f0 + fun(x - ei)) / steps[i] ** 2
            else:
                h[i, j] = h[j, i] = (fun(x + ei + ej) - fun(x + ei - ej) - fun(x - ei + ej) + fun(x - ei - ej)) / (
                    4 * steps[i] * steps[j]
                )
    return h


_FLUX_EDGES = np.geomspace(FIT_BAND[0], FIT_BAND[1], 2001)


def absorbed_flux(model: str, params) -> np.ndarray:
    """Absorbed energy flux (erg cm^-2 s^-1) of the model in 0.2-12 keV on a 2000-bin log grid.

    (n,) values for (n, 3) params."""
    lo, hi = _FLUX_EDGES[:-1], _FLUX_EDGES[1:]
    photons = photon_flux(model, params, lo, hi)
    return np.sum(photons * 0.5 * (lo + hi), axis=-1) * KEV_TO_ERG


def fit(model: str, data: list[FitData], seed: int = 0) -> FitResult:
    """Fit ``model`` jointly to every camera of ``data`` (one normalisation: the same source)."""
    spec = MODELS[model]
    bounds = [(lo, hi) for _, _, lo, hi, _ in spec] + [_LOGN_BOUNDS]
    expected_background = [d.background.sum() * d.t_s / d.t_b if d.background is not None else 0.0 for d in data]
    net = sum(float(d.counts.sum()) for d in data) - float(sum(expected_background))

    def start(shape: float, nh: float) -> np.ndarray:
        unit = sum(float(model_rate(model, (shape, nh, 0.0), d).sum() * d.t_s) for d in data)
        return np.array([shape, nh, np.log10(max(net, 1.0) / max(unit, 1e-300))])

    def objective(p):
        return _total(model, p, data)

    starts = [start(s, n) for s in spec[0][4] for n in spec[1][4]]
    best = min(starts, key=objective)
    res = optimize.minimize(objective, best, method="L-BFGS-B", bounds=bounds, options={"ftol": 1e-12})
    x = np.clip(res.x, [b[0] for b in bounds], [b[1] for b in bounds])
    stat = objective(x)
    steps = np.array([0.01 * max(abs(x[0]), 0.1), max(0.01 * x[1], 1e-4), 0.005])
    # Keep the difference stencil inside the bounds (N_H pegged at 0: shift it up).
    centre = x.copy()
    centre[1] = max(x[1], steps[1])
    cov = np.full((3, 3), np.nan)
    with contextlib.suppress(np.linalg.LinAlgError):
        cov = 2.0 * np.linalg.inv(_hessian(objective, centre, steps))
    sigma = np.sqrt(np.where(np.diag(cov) > 0, np.diag(cov), np.nan))
    low = np.array([b[0] for b in bounds])
    high = np.array([b[1] for b in bounds])
    lower, upper = np.maximum(x - sigma, low), np.minimum(x + sigma, high)
    flux = float(absorbed_flux(model, x))
    flux_lo = flux_hi = np.nan
    if np.all(np.isfinite(cov)):
        rng = np.random.default_rng(seed)
        draws = rng.multivariate_normal(x, cov, size=400, check_valid="ignore")
        draws = np.clip(draws, low, high)
        fluxes = absorbed_flux(model, draws)
        flux_lo, flux_hi = np.percentile(fluxes, [16, 84])
    nchan = sum(d.counts.size for d in data)
    return FitResult(
        model=model,
        names=(spec[0][0], spec[1][0], "log10 norm"),
        units=(spec[0][1], spec[1][1], ""),
        values=x,
        lower=lower,
        upper=upper,
        stat=stat,
        dof=nchan - 3,
        flux=flux,
        flux_lower=float(flux_lo),
        flux_upper=float(flux_hi),
        cameras=tuple(d.camera for d in data),
        counts=int(sum(d.counts.sum() for d in data)),
        converged=bool(res.success) and bool(np.all(np.isfinite(sigma))),
        message="" if res.success else str(res.message),
        rates={d.camera: model_rate(model, x, d) for d in data},
    )


@dataclass(frozen=True)
class DetectionFit:
    """A fit of one detection's spectra, with what the plot needs: each camera's FitData and the response used."""

    result: FitResult
    data: tuple[FitData, ...]
    responses: tuple[str, ...]


def fit_files(model: str, *paths) -> DetectionFit:
    """Fit ``model`` to the cameras given as consecutive (spectrum, background, ARF, RMF) paths.

    Reads through the product readers (ProductError for a broken file); the store caches the
    result on the files' identity (:func:`data_loaders.products.store.read_cached`).
    """
    from data_loaders.products.arf import read_arf
    from data_loaders.products.rmf import read_rmf
    from data_loaders.products.spectrum import read_spectrum

    data, used = [], []
    for k in range(0, len(paths), 4):
        src, bkg, arf, rmf = paths[k : k + 4]
        spectrum = read_spectrum(src, background=bkg)
        data.append(prepare(spectrum, read_arf(arf), read_rmf(rmf)))
        used.append(rmf.name)
    return DetectionFit(fit(model, data), tuple(data), tuple(used))


#: One stable callable per model, so the store's cache recognises a repeated fit.
FIT_READERS = {m: functools.partial(fit_files, m) for m in MODELS}


def fit_detection(store, obs_id: str, src_num: int, folder, model: str):
    """Fit ``model`` to every camera of a detection that has spectrum, background, ARF and a canned response.

    Returns ``(DetectionFit or ProductUnavailable, notes)``: notes name the cameras left out and why.
    Cached on the files' identity through the store's one product cache.
    """
    from data_loaders.products.errors import ProductUnavailable
    from data_loaders.products.rmf import find_response
    from data_loaders.products.store import read_cached, spectral_fit_inputs

    found = store.find(obs_id, src_num)
    paths, notes = spectral_fit_inputs(found, Path(folder), find_response)
    if not paths:
        return ProductUnavailable("; ".join(notes) or "no camera has a spectrum to fit"), notes
    return read_cached(FIT_READERS[model], *paths), notes
