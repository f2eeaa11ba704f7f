"""Absorbed power-law fit of the five catalogue band fluxes, for many sources at once.

For each source the statistic is chi^2 = sum_b (F_b - N K_b(Gamma, N_H))^2 / sigma_b^2 over its
usable bands (finite flux, finite positive error), with K_b the catalogue-flux model of
:mod:`.model` (which undoes the catalogue's fixed-spectrum ECFs). The normalisation N >= 0 has
a closed form at each (Gamma, N_H), so no minimiser is needed: the model is tabulated once on a
fine grid of Gamma x log N_H (0.05 x 0.05), and for each source a compiled loop (numba, over
all sources in parallel) evaluates chi^2 on the coarse grid (every 8th node), then on a fine
window around the coarse minimum, moved along the valley until the minimum is inside it, and
refines the minimum with a quadratic through its neighbours. The 68% interval of each parameter
is where its profile chi^2 (minimised over the other parameter and N) rises by 1: read on the
fine window where the interval is narrow, on the coarse grid where it is wider.

Flags (``PL_FIT_FLAG``): 0 constrained; 1 fewer than three usable bands (no fit, NaN values);
2 unconstrained: the Gamma-N_H valley is degenerate (the Gamma interval reaches the grid's
edge, or the N_H interval reaches its ceiling), so the values are not meaningful; 3 no
positive signal in any band (best normalisation zero).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numba
import numpy as np

from data_loaders.spectral.model import catalogue_flux

#: Fine grid of the model (0.05 in Gamma and in log10 N_H/cm^-2); the coarse grid is every FINE-th node (0.4).
FINE_GAMMA = np.round(np.arange(-1.0, 5.0 + 1e-9, 0.05), 6)
FINE_LOGNH = np.round(np.arange(19.0, 24.6 + 1e-9, 0.05), 6)
FINE = 8
COARSE_GAMMA = FINE_GAMMA[::FINE]
COARSE_LOGNH = FINE_LOGNH[::FINE]
#: Fine window around the coarse minimum: +-HALF nodes (+-0.4 in Gamma and in log N_H).
HALF = 8
WINDOW = 2 * HALF + 1
#: log10 N_H reported as zero column (the grid's floor: no measurable absorption).
LOGNH_FLOOR = float(FINE_LOGNH[0])
MIN_BANDS = 3
DELTA_CHI2_68 = 1.0  # one parameter of interest

#: A coarse minimum above this chi^2 (5 bands), or neighbours all this much above it, mean the
#: valley may pass between the coarse nodes: the fine search then starts from three coarse minima.
POOR_COARSE_CHI2 = 12.0

GOOD, FEW_BANDS, DEGENERATE, NO_SIGNAL = 0, 1, 2, 3
FLAG_MEANING = {
    GOOD: "constrained",
    FEW_BANDS: "fewer than three usable bands: not fitted",
    DEGENERATE: "unconstrained: degenerate Gamma-N_H valley",
    NO_SIGNAL: "no positive flux in any band",
}
_CHUNK = 65_536


@dataclass
class BandFit:
    """Results per source (arrays of one length). N_H in 1e22 cm^-2; errors are positive distances."""

    gamma: np.ndarray
    gamma_err_lo: np.ndarray
    gamma_err_hi: np.ndarray
    nh: np.ndarray
    nh_err_lo: np.ndarray
    nh_err_hi: np.ndarray
    stat: np.ndarray  # chi^2 at the best fit
    dof: np.ndarray  # usable bands - 3 (negative never: -1 when not fitted)
    flag: np.ndarray
    norm: np.ndarray  # photons cm^-2 s^-1 keV^-1 at 1 keV

    def columns(self, prefix: str = "PL_") -> dict[str, np.ndarray]:
        """The ``PL_*`` columns (float32, DOF int16, flag uint8) as the schema names them."""
        f32 = np.float32
        return {
            f"{prefix}GAMMA": self.gamma.astype(f32),
            f"{prefix}GAMMA_ERR_LO": self.gamma_err_lo.astype(f32),
            f"{prefix}GAMMA_ERR_HI": self.gamma_err_hi.astype(f32),
            f"{prefix}NH": self.nh.astype(f32),
            f"{prefix}NH_ERR_LO": self.nh_err_lo.astype(f32),
            f"{prefix}NH_ERR_HI": self.nh_err_hi.astype(f32),
            f"{prefix}FIT_STAT": self.stat.astype(f32),
            f"{prefix}FIT_DOF": self.dof.astype(np.int16),
            f"{prefix}FIT_FLAG": self.flag.astype(np.uint8),
        }


def _model_table(gamma: np.ndarray, lognh: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Model band fluxes on a Gamma x log N_H grid scaled to unit length (nG, nN, 5), and the scales."""
    g, n = np.meshgrid(gamma, lognh, indexing="ij")
    k = catalogue_flux(g.ravel(), n.ravel())
    scale = np.sqrt((k**2).sum(1))
    k = np.ascontiguousarray((k / scale[:, None]).reshape(gamma.size, lognh.size, 5))
    scale = scale.reshape(gamma.size, lognh.size)
    return k, scale


@lru_cache(maxsize=1)
def _fine() -> tuple[np.ndarray, np.ndarray]:
    return _model_table(FINE_GAMMA, FINE_LOGNH)


@numba.njit(cache=True)
def _chi(k, x, y, exact, wf, w, s0):
    """chi^2 at fine-node position (x, y), minimised over the normalisation N >= 0: s0 - max(a, 0)^2 / b.

    ``exact``: (x, y) are nodes; otherwise the model is interpolated bilinearly between nodes.
    """
    a = 0.0
    b = 0.0
    if exact:
        gi = int(x)
        ni = int(y)
        for q in range(5):
            kq = k[gi, ni, q]
            a += wf[q] * kq
            b += w[q] * kq * kq
    else:
        gi = min(max(int(np.floor(x)), 0), k.shape[0] - 2)
        ni = min(max(int(np.floor(y)), 0), k.shape[1] - 2)
        tx = min(max(x - gi, 0.0), 1.0)
        ty = min(max(y - ni, 0.0), 1.0)
        for q in range(5):
            kq = (1.0 - tx) * ((1.0 - ty) * k[gi, ni, q] + ty * k[gi, ni + 1, q]) + tx * (
                (1.0 - ty) * k[gi + 1, ni, q] + ty * k[gi + 1, ni + 1, q]
            )
            a += wf[q] * kq
            b += w[q] * kq * kq
    if a <= 0.0 or b <= 0.0:
        return s0
    return max(s0 - a * a / b, 0.0)


@numba.njit(cache=True)
def _cube(k, x0, y0, step, cube, exact, wf, w, s0):
    """Fill ``cube`` with chi^2 on the nodes x0 + p*step, y0 + q*step; return the lowest node (p, q)."""
    low = np.inf
    bp = 0
    bq = 0
    for p in range(cube.shape[0]):
        for q in range(cube.shape[1]):
            c = _chi(k, x0 + p * step, y0 + q * step, exact, wf, w, s0)
            cube[p, q] = c
            if c < low:
                low = c
                bp = p
                bq = q
    return bp, bq


@numba.njit(cache=True)
def _profile(cube, axis, out):
    """Profile of ``cube`` along ``axis``: min over the other axis, refined by a parabola through 3 nodes."""
    m0, m1 = cube.shape
    m = m0 if axis == 0 else m1
    other = m1 if axis == 0 else m0
    for j in range(m):
        low = np.inf
        at = 0
        for q in range(other):
            v = cube[j, q] if axis == 0 else cube[q, j]
            if v < low:
                low = v
                at = q
        out[j] = low
        if 0 < at < other - 1:
            lo = cube[j, at - 1] if axis == 0 else cube[at - 1, j]
            hi = cube[j, at + 1] if axis == 0 else cube[at + 1, j]
            curv = lo - 2.0 * low + hi
            if curv > 0.0:
                out[j] = max(min(low - (hi - lo) ** 2 / (8.0 * curv), low), 0.0)


@numba.njit(cache=True)
def _bound(prof, x0, step, chimin, best, side):
    """Where ``prof`` (nodes x0 + j*step) rises by DELTA_CHI2_68 walking from ``best`` to one side.

    Interpolates d = sqrt(prof - chimin) linearly between the last node inside (or the best fit,
    d = 0) and the first node outside: exact for a quadratic profile. Returns (value, ran_out).
    """
    m = prof.size
    prev_x = best
    prev_d = 0.0
    j = int(np.floor((best - x0) / step))
    if side > 0:
        j += 1
    j = min(max(j, -1), m)
    while 0 <= j < m:
        x = x0 + j * step
        if (x - best) * side > 0:
            d = np.sqrt(max(prof[j] - chimin, 0.0) / DELTA_CHI2_68)
            if d > 1.0:
                t = (1.0 - prev_d) / (d - prev_d) if d > prev_d else 1.0
                return prev_x + min(max(t, 0.0), 1.0) * (x - prev_x), False
            prev_x = x
            prev_d = d
        j += side
    return x0 + (0 if side < 0 else m - 1) * step, True


@numba.njit(cache=True)
def _quadratic_min(cube, a, b):
    """Sub-node minimum (da, db, value) of a quadratic through the 3 x 3 nodes around (a, b)."""
    f0 = cube[a, b]
    m0, m1 = cube.shape
    if not (0 < a < m0 - 1 and 0 < b < m1 - 1):
        return 0.0, 0.0, f0
    fx = (cube[a + 1, b] - cube[a - 1, b]) / 2.0
    fy = (cube[a, b + 1] - cube[a, b - 1]) / 2.0
    fxx = cube[a + 1, b] - 2.0 * f0 + cube[a - 1, b]
    fyy = cube[a, b + 1] - 2.0 * f0 + cube[a, b - 1]
    fxy = (cube[a + 1, b + 1] - cube[a + 1, b - 1] - cube[a - 1, b + 1] + cube[a - 1, b - 1]) / 4.0
    det = fxx * fyy - fxy * fxy
    if det <= 0.0 or fxx <= 0.0:
        return 0.0, 0.0, f0
    ux = -(fyy * fx - fxy * fy) / det
    uy = -(fxx * fy - fxy * fx) / det
    if abs(ux) > 1.0 or abs(uy) > 1.0:
        return 0.0, 0.0, f0
    fmin = f0 + fx * ux + fy * uy + 0.5 * (fxx * ux * ux + 2.0 * fxy * ux * uy + fyy * uy * uy)
    return ux, uy, min(max(fmin, 0.0), f0)


@numba.njit(cache=True)
def _starts(coarse, p, q, poor):
    """Coarse nodes to start the fine search from: the lowest, or, where the valley may be narrower than
    the coarse grid (the lowest node fits poorly, or each neighbour is ``poor`` above it), the three
    lowest local minima of the coarse grid."""
    m0, m1 = coarse.shape
    rise = np.inf
    for da in range(-1, 2):
        for db in range(-1, 2):
            if (da or db) and 0 <= p + da < m0 and 0 <= q + db < m1:
                rise = min(rise, coarse[p + da, q + db] - coarse[p, q])
    if coarse[p, q] <= poor and rise <= poor:
        out = np.empty((1, 2), dtype=np.int64)
        out[0, 0] = p
        out[0, 1] = q
        return out
    vals = np.full(3, np.inf)
    out = np.zeros((3, 2), dtype=np.int64)
    for a in range(m0):
        for b in range(m1):
            v = coarse[a, b]
            local = True
            for da in range(-1, 2):
                for db in range(-1, 2):
                    if 0 <= a + da < m0 and 0 <= b + db < m1 and coarse[a + da, b + db] < v:
                        local = False
            if local and v < vals[2]:
                j = 2
                while j > 0 and v < vals[j - 1]:
                    vals[j] = vals[j - 1]
                    out[j] = out[j - 1]
                    j -= 1
                vals[j] = v
                out[j, 0] = a
                out[j, 1] = b
    return out[: max(1, int(np.isfinite(vals).sum()))]


@numba.njit(cache=True, parallel=True)
def _fit_rows(k, wf, w, s0, fine, half, out):
    """Fit every row, in fine-node units; ``out`` (n, 8): x, x_lo, x_hi, y, y_lo, y_hi, chi2, flag bits.

    Levels, coarsest first: the coarse grid (every ``fine``-th node), a window of +-``half``
    nodes moved until its minimum is inside it, and, where the valley is narrower than a node,
    two zooms of 9 x 9 points (a quarter and a sixteenth of a node apart, bilinear model).
    """
    ng, nn = k.shape[0], k.shape[1]
    cg = (ng - 1) // fine + 1
    cn = (nn - 1) // fine + 1
    win = 2 * half + 1
    for i in numba.prange(wf.shape[0]):
        wfi = wf[i]
        wi = w[i]
        si = s0[i]
        cubes = [np.empty((cg, cn)), np.empty((win, win)), np.empty((9, 9)), np.empty((9, 9))]
        x0 = np.zeros(4)
        y0 = np.zeros(4)
        steps = np.array([float(fine), 1.0, 0.25, 0.0625])
        p, q = _cube(k, 0.0, 0.0, steps[0], cubes[0], True, wfi, wi, si)
        starts = _starts(cubes[0], p, q, POOR_COARSE_CHI2)
        cw = cubes[1]
        trial = np.empty((win, win))
        best_low = np.inf
        bx = 0
        by = 0
        for st in range(starts.shape[0]):
            sx = starts[st, 0] * fine
            sy = starts[st, 1] * fine
            tx0 = 0
            ty0 = 0
            for _ in range(16):  # move the window along the valley until its minimum is inside
                tx0 = min(max(sx - half, 0), ng - win)
                ty0 = min(max(sy - half, 0), nn - win)
                tp, tq = _cube(k, float(tx0), float(ty0), 1.0, trial, True, wfi, wi, si)
                moved = (tp == 0 and tx0 > 0) or (tp == win - 1 and tx0 < ng - win)
                moved = moved or (tq == 0 and ty0 > 0) or (tq == win - 1 and ty0 < nn - win)
                sx = tx0 + tp
                sy = ty0 + tq
                if not moved:
                    break
            if trial[tp, tq] < best_low:
                best_low = trial[tp, tq]
                cw[:, :] = trial
                x0[1] = tx0
                y0[1] = ty0
                p = tp
                q = tq
                bx = sx
                by = sy
        levels = 2
        f0 = cw[p, q]
        narrow = False
        if 0 < p < win - 1:
            narrow = narrow or min(cw[p - 1, q], cw[p + 1, q]) > f0 + DELTA_CHI2_68
        if 0 < q < win - 1:
            narrow = narrow or min(cw[p, q - 1], cw[p, q + 1]) > f0 + DELTA_CHI2_68
        cx = float(bx)
        cy = float(by)
        if narrow:
            for lev in (2, 3):
                for _ in range(24):  # a narrow valley: walk along it until the minimum is inside
                    x0[lev] = min(max(cx - 4 * steps[lev], 0.0), ng - 1.0 - 8 * steps[lev])
                    y0[lev] = min(max(cy - 4 * steps[lev], 0.0), nn - 1.0 - 8 * steps[lev])
                    p, q = _cube(k, x0[lev], y0[lev], steps[lev], cubes[lev], False, wfi, wi, si)
                    cx = x0[lev] + p * steps[lev]
                    cy = y0[lev] + q * steps[lev]
                    if 0 < p < 8 and 0 < q < 8:
                        break
            levels = 4
        last = levels - 1
        ux, uy, fmin = _quadratic_min(cubes[last], p, q)
        bestx = cx + ux * steps[last]
        besty = cy + uy * steps[last]
        profiles_x = []
        profiles_y = []
        for lev in range(levels):
            px = np.empty(cubes[lev].shape[0])
            py = np.empty(cubes[lev].shape[1])
            _profile(cubes[lev], 0, px)
            _profile(cubes[lev], 1, py)
            if lev == last:  # coarser levels' parabolas may undershoot across a narrow valley
                fmin = min(fmin, px.min(), py.min())
            profiles_x.append(px)
            profiles_y.append(py)
        flags = 0
        for slot in range(4):
            side = -1 if slot % 2 == 0 else 1
            best = bestx if slot < 2 else besty
            v = best
            for lev in range(last, -1, -1):  # the finest level whose profile crosses inside it
                prof = profiles_x[lev] if slot < 2 else profiles_y[lev]
                origin = x0[lev] if slot < 2 else y0[lev]
                v, ran_out = _bound(prof, origin, steps[lev], fmin, best, side)
                if not ran_out:
                    break
                if lev == 0:
                    flags |= 1 << slot
            out[i, 1 + slot if slot < 2 else 2 + slot] = min(v, best) if side < 0 else max(v, best)
        out[i, 0] = bestx
        out[i, 3] = besty
        out[i, 6] = fmin
        out[i, 7] = flags


def _fit_chunk(flux: np.ndarray, err: np.ndarray) -> dict[str, np.ndarray]:
    k, kscale = _fine()
    usable = np.isfinite(flux) & np.isfinite(err) & (err > 0)
    # Scale each source to its smallest error so the sums stay near unity (chi^2 is unchanged).
    scale = np.where(usable, err, np.inf).min(1)
    scale = np.where(np.isfinite(scale), scale, 1.0)
    f = np.where(usable, flux, 0.0) / scale[:, None]
    w = np.where(usable, (scale[:, None] / np.where(usable, err, 1.0)) ** 2, 0.0)
    wf = np.ascontiguousarray(w * f)
    s0 = (wf * f).sum(1)
    out = np.empty((len(f), 8))
    _fit_rows(k, wf, np.ascontiguousarray(w), s0, FINE, HALF, out)
    g_step = float(FINE_GAMMA[1] - FINE_GAMMA[0])
    n_step = float(FINE_LOGNH[1] - FINE_LOGNH[0])
    for col in (0, 1, 2):
        out[:, col] = FINE_GAMMA[0] + out[:, col] * g_step
    for col in (3, 4, 5):
        out[:, col] = FINE_LOGNH[0] + out[:, col] * n_step
    node = np.rint((out[:, 0] - FINE_GAMMA[0]) / g_step).astype(np.int64) * FINE_LOGNH.size + np.rint(
        (out[:, 3] - FINE_LOGNH[0]) / n_step
    ).astype(np.int64)
    kb = k.reshape(-1, 5)[node]
    with np.errstate(invalid="ignore", divide="ignore"):
        a_best = np.maximum((kb * wf).sum(1), 0.0)
        norm = a_best / (kb * kb * w).sum(1) * scale / kscale.ravel()[node]
    flags = out[:, 7].astype(np.int64)
    n_used = usable.sum(1)
    # Degenerate: the Gamma interval runs off either end of the grid, or N_H's off its ceiling.
    flag = np.where((flags & 0b1011) != 0, DEGENERATE, GOOD)
    flag = np.where(a_best <= 0, NO_SIGNAL, flag)
    flag = np.where(n_used < MIN_BANDS, FEW_BANDS, flag)
    return {
        "gamma": out[:, 0],
        "g_lo": out[:, 1],
        "g_hi": out[:, 2],
        "lognh": out[:, 3],
        "n_lo": out[:, 4],
        "n_hi": out[:, 5],
        "stat": out[:, 6],
        "dof": n_used - 3,
        "flag": flag,
        "norm": norm,
    }


def _nh22(lognh: np.ndarray) -> np.ndarray:
    """log10 N_H (cm^-2) -> N_H in 1e22 cm^-2, the grid's floor counting as zero."""
    return np.where(lognh <= LOGNH_FLOOR + 1e-6, 0.0, 10.0 ** (lognh - 22.0))


def fit_band_fluxes(flux: np.ndarray, err: np.ndarray) -> BandFit:
    """Fit an absorbed power law to each row of ``flux`` (n, 5) with 1-sigma ``err`` (n, 5), erg cm^-2 s^-1.

    Bands are the catalogue's 1..5 (0.2-0.5, 0.5-1, 1-2, 2-4.5, 4.5-12 keV), as EPIC band
    fluxes (``EP_b_FLUX`` or ``SC_EP_b_FLUX``) made with the catalogue ECFs.
    """
    flux = np.asarray(flux, dtype=np.float64)
    err = np.asarray(err, dtype=np.float64)
    if flux.ndim != 2 or flux.shape[1] != 5 or err.shape != flux.shape:
        raise ValueError(f"band fluxes and errors must both be (n, 5) arrays, got {flux.shape} and {err.shape}")
    parts = [_fit_chunk(flux[s : s + _CHUNK], err[s : s + _CHUNK]) for s in range(0, len(flux), _CHUNK)]
    if not parts:
        parts = [_fit_chunk(np.zeros((0, 5)), np.zeros((0, 5)))]
    r = {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}
    fitted = r["flag"] != FEW_BANDS
    nan = np.where(fitted, 1.0, np.nan)
    nh, nh_lo, nh_hi = _nh22(r["lognh"]), _nh22(r["n_lo"]), _nh22(r["n_hi"])
    return BandFit(
        gamma=r["gamma"] * nan,
        gamma_err_lo=(r["gamma"] - r["g_lo"]) * nan,
        gamma_err_hi=(r["g_hi"] - r["gamma"]) * nan,
        nh=nh * nan,
        nh_err_lo=(nh - nh_lo) * nan,
        nh_err_hi=(nh_hi - nh) * nan,
        stat=r["stat"] * nan,
        dof=np.where(fitted, r["dof"], -1),
        flag=r["flag"],
        norm=r["norm"] * nan,
    )
