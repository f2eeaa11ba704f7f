"""Planted long-term variables and transients (rising, falling, long_term, new_source)."""

from __future__ import annotations

import numpy as np

PLANTED_KINDS = ("", "rising", "falling", "long_term", "short_term", "new_source")
#: The variable population, from published figures (not tuned to an alert rate): STONKS'
#: multi-mission archive (Quintin et al. 2024, A&A 687, A250, Fig. 11) has ~135,000 of its ~1M
#: sources consistent with variability (pessimistic amplitude max/min > 1) and ~16,000 above 5.
#: The demo makes that fraction of its multi-epoch sources variable, with the amplitude (ratio of
#: the two states) drawn from the power law those two counts define, P(>A) = A**-slope with
#: slope = ln(135/16) / ln 5 = 1.33, so 1.6 % of the sources vary by more than 5 as in STONKS.
#: No per-class figure was found offline, so every point-like class draws from the same law;
#: extended sources (clusters) are constant. The split between rising, falling and repeated
#: (long-term) changes, 2:2:3, is the demo's assumption.
VARIABLE_FRACTION = 135_000 / 1_000_000
AMPLITUDE_SLOPE = float(np.log(135 / 16) / np.log(5))
AMPLITUDE_MAX = 1000.0
_VARIABLE_KINDS = {"rising": 2 / 7, "falling": 2 / 7, "long_term": 3 / 7}
#: Injected transients (appear at 20-100 times the deepest earlier limit; the recall checks'
#: population, not a published rate): 0.3 % of the multi-epoch sources.
NEW_SOURCE_FRACTION = 0.003


def draw_amplitudes(n: int, rng: np.random.Generator) -> np.ndarray:
    """Variability amplitudes (ratio of the two flux states) from P(>A) = A**-AMPLITUDE_SLOPE, A >= 1."""
    return np.minimum((1.0 - rng.random(n)) ** (-1.0 / AMPLITUDE_SLOPE), AMPLITUDE_MAX)


def choose_planted(
    pair_src: np.ndarray,
    pair_mjd: np.ndarray,
    n_src: int,
    rng: np.random.Generator,
    constant: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Pick variable sources (and injected new sources) among those covered at >= 2 epochs.

    ``constant`` (per source, optional) marks sources that never vary (extended ones).

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
    pool = rng.permutation(multi if constant is None else multi[~constant[multi]])
    pos = 0
    n_var = int(round(VARIABLE_FRACTION * pool.size))
    shares = {**{k: f * n_var / pool.size for k, f in _VARIABLE_KINDS.items()}, "new_source": NEW_SOURCE_FRACTION}
    for name, frac in shares.items():
        k = min(max(3, int(round(frac * pool.size))), pool.size - pos)
        chosen = pool[pos : pos + k]
        pos += k
        kind[chosen] = PLANTED_KINDS.index(name)
        if name == "new_source":
            factor[chosen] = 10 ** rng.uniform(np.log10(20.0), 2.0, k)
        else:
            factor[chosen] = draw_amplitudes(k, rng)
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
