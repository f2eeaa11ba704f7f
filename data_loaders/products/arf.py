"""Read an effective-area file (``SRCARF``, HDU ``SPECRESP``) into ``EffectiveArea``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from data_loaders.products.fitsfile import read_table

REQUIRED = ("ENERG_LO", "ENERG_HI", "SPECRESP")


@dataclass(frozen=True, eq=False)
class EffectiveArea:
    """Effective area per energy bin: ``energy_lo``/``energy_hi`` (keV), ``area`` (cm²)."""

    energy_lo: np.ndarray
    energy_hi: np.ndarray
    area: np.ndarray
    path: Path | None = None

    @property
    def energy(self) -> np.ndarray:
        """Bin centres, keV."""
        return 0.5 * (self.energy_lo + self.energy_hi)

    def at(self, energy_kev: np.ndarray) -> np.ndarray:
        """Effective area (cm²) interpolated at ``energy_kev``; 0 outside the tabulated range."""
        energy_kev = np.asarray(energy_kev, dtype=float)
        inside = (energy_kev >= self.energy_lo[0]) & (energy_kev <= self.energy_hi[-1])
        return np.where(inside, np.interp(energy_kev, self.energy, self.area), 0.0)


def read_arf(path: str | Path) -> EffectiveArea:
    """Read an ARF; foreign or broken files raise ProductError."""
    path = Path(path)
    table = read_table(path, extname="SPECRESP", want="an effective area (ARF)", required=REQUIRED)
    lo = table.columns["ENERG_LO"].astype(float)
    hi = table.columns["ENERG_HI"].astype(float)
    area = np.nan_to_num(table.columns["SPECRESP"].astype(float))
    order = np.argsort(lo)
    lo, hi, area = lo[order], hi[order], area[order]
    for array in (lo, hi, area):
        array.flags.writeable = False
    return EffectiveArea(lo, hi, area, path=path)
