"""Alert presets (seed: factor 3 at 90%; STONKS: factor 5 at 1 sigma) and the significance arithmetic."""

from __future__ import annotations

from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

#: Alert types, in output order, and the names STONKS (Quintin et al. 2024) gives them.
ALERT_TYPES = ("rising", "falling", "long_term_variable", "new_source", "short_term_variable")
STONKS_TYPES = {
    "rising": "High Flux State",
    "falling": "Low Flux State",
    "long_term_variable": "Past Variability",
    "new_source": "First Detection",
    "short_term_variable": "Short-term Variable Detection",
}
#: In-observation variability threshold of the catalogue (VAR_FLAG): chi2 probability <= 1e-5.
SHORT_TERM_CHI2PROB = 1e-5
#: The default preset: the seed's example, a factor 3 with 90% error bars.
DEFAULT_PRESET = "seed"
#: Upper limits in the long-term table are 3-sigma limits; they are used as given by every preset.
UPPER_LIMIT_SIGMA = 3.0

ONE_SIGMA_CONFIDENCE = 0.6826894921370859  # two-sided probability within +-1 sigma


@dataclass(frozen=True)
class Criteria:
    """A resolved alert criterion: threshold factor, two-sided error confidence and its sigma."""

    preset: str
    factor: float
    confidence: float

    @property
    def sigma(self) -> float:
        """Error-bar half width in units of the 1-sigma error (1.645 for 90%, 1 for 68.3%)."""
        return sigma_for_confidence(self.confidence)

    def metadata(self) -> dict[str, object]:
        """JSON-friendly description, stored with the alert table."""
        return {
            "preset": self.preset,
            "factor": self.factor,
            "confidence": self.confidence,
            "error_sigma": round(self.sigma, 6),
            "upper_limit_sigma": UPPER_LIMIT_SIGMA,
            "default_preset": DEFAULT_PRESET,
            "note": (
                f"Default preset is '{DEFAULT_PRESET}' (factor 3, 90% two-sided error bars, as in the "
                "SSC seed); 'stonks' is the published STONKS criterion (factor 5, 1-sigma errors, "
                "3-sigma upper limits)."
            ),
        }


#: Named presets. ``seed`` is the default.
PRESETS: dict[str, Criteria] = {
    "seed": Criteria("seed", 3.0, 0.90),
    "stonks": Criteria("stonks", 5.0, ONE_SIGMA_CONFIDENCE),
}


def sigma_for_confidence(confidence: float) -> float:
    """Half width, in sigma, of a two-sided Gaussian interval holding ``confidence``."""
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    return NormalDist().inv_cdf(0.5 + confidence / 2.0)  # stdlib: scipy costs ~0.3 s to import


def resolve_criteria(
    preset: str = DEFAULT_PRESET, factor: float | None = None, confidence: float | None = None
) -> Criteria:
    """The preset's criterion with ``factor`` / ``confidence`` overrides applied."""
    try:
        base = PRESETS[preset]
    except KeyError:
        raise ValueError(f"unknown alert preset {preset!r}; choose from {sorted(PRESETS)}") from None
    f = base.factor if factor is None else float(factor)
    if not (np.isfinite(f) and f > 1.0):
        raise ValueError(f"factor must be a finite number > 1, got {factor!r}")
    c = base.confidence if confidence is None else float(confidence)
    sigma_for_confidence(c)  # validates
    return Criteria(base.preset, f, c)


def low_high(flux: np.ndarray, err: np.ndarray, upper_limit: np.ndarray, sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """Low and high ends of each point: F -/+ sigma*err; an upper limit has high end = limit, no low end (-inf)."""
    lo = np.where(upper_limit, -np.inf, flux - sigma * err)
    hi = np.where(upper_limit, flux, flux + sigma * err)
    return lo, hi


def significant(brighter_low: np.ndarray, fainter_high: np.ndarray, factor: float) -> np.ndarray:
    """True where the low end of the brighter state exceeds ``factor`` times the high end of the fainter."""
    with np.errstate(invalid="ignore"):
        return (fainter_high > 0) & (brighter_low > factor * fainter_high)
