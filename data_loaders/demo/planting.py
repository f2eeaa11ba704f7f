"""Planted long-term variables and transients (rising, falling, long_term, new_source)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from data_loaders.schema import CLASS_NAMES

PLANTED_KINDS = ("", "rising", "falling", "long_term", "short_term", "new_source")
#: The variable population, from published figures (not tuned to an alert rate). A variable source
#: switches between two flux states whose ratio (the amplitude A >= 1) follows P(>A) = A**-slope.
#:
#: Fallback, for every class without a per-class figure (stars, CVs, blazars, binaries in the Milky Way)
#: and for the amplitudes of binaries in other galaxies: STONKS' multi-mission
#: archive (Quintin et al. 2024, A&A 687, A250, Fig. 11) has ~135,000 of its ~1M sources consistent
#: with variability (pessimistic amplitude max/min > 1) and ~16,000 above 5: the variable fraction is
#: 135,000 / 1M and slope = ln(135/16) / ln 5 = 1.33, so 1.6 % of the sources vary by more than 5.
VARIABLE_FRACTION = 135_000 / 1_000_000
AMPLITUDE_SLOPE = float(np.log(135 / 16) / np.log(5))
AMPLITUDE_MAX = 1000.0
#: AGN: Mateos et al. 2007 (A&A 473, 105; XMM-Newton Lockman Hole, months to years) detect flux
#: variability at >= 3 sigma in "~50% of the objects" and find "the mean relative intrinsic amplitude
#: of flux variability was found to be ~0.15". A two-state source spending half its time in each state
#: has a relative (rms / mean) amplitude (A - 1) / (A + 1); the slope below makes its mean over the law
#: 0.15 (`mean_relative_amplitude`).
AGN_VARIABLE_FRACTION = 0.5
AGN_MEAN_RELATIVE_AMPLITUDE = 0.15
#: X-ray binaries in other galaxies: Osborne et al. 2001 (A&A 378, 800; XMM-Newton, M31 centre, two
#: observations six months apart): "at least 15% of these sources appear to be variable on a time scale
#: of several months" (the ~60 brightest): fraction 0.15; no amplitude figure, so STONKS' slope. Not used:
#: M82 (Chiang & Kong 2011, MNRAS 414, 1329: 26 of 58 sources variable, 17 by a flux ratio > 3), which
#: the paper itself calls extremely variable beside other galaxies, and WATCHDOG's "47 transient and 10
#: persistently accreting" black-hole binaries (Tetarenko et al. 2016, ApJS 222, 15), a population found
#: through its outbursts. Binaries in the Milky Way take the fallback.
EXT_XRB_VARIABLE_FRACTION = 0.15
_VARIABLE_KINDS = {"rising": 2 / 7, "falling": 2 / 7, "long_term": 3 / 7}
#: Injected transients (appear at 20-100 times the deepest earlier limit; the recall checks'
#: population, not a published rate): 0.3 % of the multi-epoch sources.
NEW_SOURCE_FRACTION = 0.003


def mean_relative_amplitude(slope: float) -> float:
    """Mean of (A - 1) / (A + 1) over P(>A) = A**-slope, A >= 1: 1 - slope * (psi((s+2)/2) - psi((s+1)/2))."""
    from scipy.special import digamma

    return float(1.0 - slope * (digamma((slope + 2) / 2) - digamma((slope + 1) / 2)))


def _slope_for_mean_relative_amplitude(target: float) -> float:
    from scipy.optimize import brentq

    return float(brentq(lambda s: mean_relative_amplitude(s) - target, 0.05, 100.0))


AGN_AMPLITUDE_SLOPE = _slope_for_mean_relative_amplitude(AGN_MEAN_RELATIVE_AMPLITUDE)


@dataclass(frozen=True)
class VariabilityLaw:
    """A class's variable fraction (of its sources covered at >= 2 epochs) and amplitude slope."""

    fraction: float
    slope: float
    source: str


FALLBACK_LAW = VariabilityLaw(VARIABLE_FRACTION, AMPLITUDE_SLOPE, "Quintin et al. 2024, Fig. 11 (all sources)")
#: Per class (CLASS_NAMES); a class not listed takes FALLBACK_LAW. Extended sources (clusters) are constant.
CLASS_LAWS: dict[str, VariabilityLaw] = {
    "AGN": VariabilityLaw(AGN_VARIABLE_FRACTION, AGN_AMPLITUDE_SLOPE, "Mateos et al. 2007"),
    "ext_xrb": VariabilityLaw(EXT_XRB_VARIABLE_FRACTION, AMPLITUDE_SLOPE, "Osborne et al. 2001"),
    "extended": VariabilityLaw(0.0, AMPLITUDE_SLOPE, "constant"),
}


def class_law(cls: int) -> VariabilityLaw:
    """The variability law of a class code (index into CLASS_NAMES; -1, unknown, takes the fallback)."""
    name = CLASS_NAMES[cls] if 0 <= cls < len(CLASS_NAMES) else ""
    return CLASS_LAWS.get(name, FALLBACK_LAW)


def draw_amplitudes(n: int, rng: np.random.Generator, slope: float | np.ndarray = AMPLITUDE_SLOPE) -> np.ndarray:
    """Variability amplitudes (ratio of the two flux states) from P(>A) = A**-slope, A >= 1."""
    return np.minimum((1.0 - rng.random(n)) ** (-1.0 / np.asarray(slope, dtype=float)), AMPLITUDE_MAX)


def choose_planted(
    pair_src: np.ndarray,
    pair_mjd: np.ndarray,
    n_src: int,
    rng: np.random.Generator,
    cls: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Pick variable sources (and injected new sources) among those covered at >= 2 epochs.

    ``cls`` (per source, CLASS_NAMES index; optional, default all fallback) chooses each source's
    variability law (`class_law`): its class's fraction of the multi-epoch sources varies, with
    amplitudes from its class's slope. The variables are split 2:2:3 into rising, falling and
    repeated (long_term) changes.

    ``pair_src``/``pair_mjd`` must be sorted by (source, mjd). Returns per-source arrays
    KIND (index into PLANTED_KINDS), FACTOR, T0 (MJD of the change) and PERIOD (days).
    """
    counts = np.bincount(pair_src, minlength=n_src)
    starts = np.r_[0, np.cumsum(counts)[:-1]]
    multi = np.flatnonzero(counts >= 2)
    kind = np.zeros(n_src, np.int8)
    factor = np.ones(n_src)
    t0 = np.full(n_src, np.nan)
    period = np.full(n_src, np.nan)
    if multi.size == 0:
        return {"KIND": kind, "FACTOR": factor, "T0": t0, "PERIOD": period}
    src_cls = np.full(n_src, -1, np.int64) if cls is None else np.asarray(cls, dtype=np.int64)
    laws = {int(c): class_law(int(c)) for c in np.unique(src_cls[multi])}
    slope = np.full(n_src, AMPLITUDE_SLOPE)
    variable, pool = [], []
    for c, law in laws.items():
        members = multi[src_cls[multi] == c]
        slope[members] = law.slope
        if law.fraction <= 0:
            continue
        members = rng.permutation(members)
        n_var = int(round(law.fraction * members.size))
        variable.append(members[:n_var])
        pool.append(members[n_var:])
    var = rng.permutation(np.concatenate(variable)) if variable else np.zeros(0, np.int64)
    rest = rng.permutation(np.concatenate(pool)) if pool else np.zeros(0, np.int64)
    n_rise = int(round(_VARIABLE_KINDS["rising"] * var.size))
    n_fall = int(round(_VARIABLE_KINDS["falling"] * var.size))
    n_new = min(max(3, int(round(NEW_SOURCE_FRACTION * (var.size + rest.size)))), rest.size)
    groups = {
        "rising": var[:n_rise],
        "falling": var[n_rise : n_rise + n_fall],
        "long_term": var[n_rise + n_fall :],
        "new_source": rest[:n_new],
    }
    for name, chosen in groups.items():
        k = chosen.size
        if k == 0:
            continue
        kind[chosen] = PLANTED_KINDS.index(name)
        if name == "new_source":
            factor[chosen] = 10 ** rng.uniform(np.log10(20.0), 2.0, k)
        else:
            factor[chosen] = draw_amplitudes(k, rng, slope[chosen])
        j = rng.integers(1, counts[chosen])  # change between epoch j-1 and j
        a = pair_mjd[starts[chosen] + j - 1]
        b = pair_mjd[starts[chosen] + j]
        t0[chosen] = a + (b - a) * rng.uniform(0.2, 0.8, k)
        period[chosen] = rng.uniform(800, 3000, k)
    return {"KIND": kind, "FACTOR": factor, "T0": t0, "PERIOD": period}


def multiplier(kind: np.ndarray, factor: np.ndarray, t0: np.ndarray, period: np.ndarray, mjd: np.ndarray) -> np.ndarray:
    """Flux multiplier at each epoch relative to the source's base (low or quiescent) flux."""
    after = mjd >= t0
    m = np.ones(mjd.shape)
    m = np.where((kind == PLANTED_KINDS.index("rising")) & after, factor, m)
    m = np.where((kind == PLANTED_KINDS.index("falling")) & ~after, factor, m)
    phase = np.floor((mjd - t0) / np.where(np.isfinite(period), period, 1.0))
    high = (phase % 2) == 0
    m = np.where((kind == PLANTED_KINDS.index("long_term")) & high, factor, m)
    m = np.where((kind == PLANTED_KINDS.index("new_source")) & ~after, 1.0 / factor, m)
    return m
