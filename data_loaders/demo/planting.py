"""Planted long-term variables and transients (rising, falling, long_term, new_source)."""

from __future__ import annotations

import numpy as np

PLANTED_KINDS = ("", "rising", "falling", "long_term", "short_term", "new_source")
#: Fractions of the multi-epoch sources given a large-amplitude change (factor log-uniform in 3-100,
#: 20-100 for new sources): 1.7 %, of which 1.5 % change by more than 5. Published check, not a fit:
#: STONKS' multi-mission archive (Quintin et al. 2024, A&A 687, A250, Fig. 11) has ~16,000 sources
#: with a pessimistic variability amplitude above 5 among ~1M (1.6 %; ~135,000 are consistent with
#: any variability). The per-class epoch-to-epoch scatter of the other sources is population._VAR_DEX.
_FRACTIONS = {"rising": 0.004, "falling": 0.004, "long_term": 0.006, "new_source": 0.003}


def choose_planted(
    pair_src: np.ndarray, pair_mjd: np.ndarray, n_src: int, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Pick planted sources among those covered at >= 2 epochs; factors and change epochs.

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
    pool = rng.permutation(multi)
    pos = 0
    for name, frac in _FRACTIONS.items():
        k = min(max(3, int(round(frac * multi.size))), pool.size - pos)
        chosen = pool[pos : pos + k]
        pos += k
        kind[chosen] = PLANTED_KINDS.index(name)
        lo = 20.0 if name == "new_source" else 3.0
        factor[chosen] = 10 ** rng.uniform(np.log10(lo), 2.0, k)
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
