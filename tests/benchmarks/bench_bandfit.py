"""Benchmark: the five-band absorbed power-law fit of 1M rows (``PL_*`` columns).

Generates a demo catalogue of 50k detections (realistic fluxes, spectra and errors), tiles its
EP_1..5 band fluxes to N rows, and times :func:`data_loaders.spectral.bandfit.fit_band_fluxes` on
all of them after one small warm-up call (numba's compiled loop is cached on disk, loading it
and tabulating the model are not counted). Prints the figure and the fits per second.
Run: ``.venv/bin/python -m tests.benchmarks.bench_bandfit [N]``.
"""

from __future__ import annotations

import os
import sys
import time

import numpy as np


def main(n_rows: int = 1_000_000) -> None:
    import numba

    from data_loaders.demo import generate_demo
    from data_loaders.spectral import bandfit

    det = generate_demo(50_000, seed=5).detections
    flux = det[[f"EP_{b}_FLUX" for b in range(1, 6)]].to_numpy(np.float64)
    err = det[[f"EP_{b}_FLUX_ERR" for b in range(1, 6)]].to_numpy(np.float64)
    reps = n_rows // len(flux) + 1
    flux, err = np.tile(flux, (reps, 1))[:n_rows], np.tile(err, (reps, 1))[:n_rows]
    t0 = time.perf_counter()
    bandfit.fit_band_fluxes(flux[:100], err[:100])
    warm = time.perf_counter() - t0
    t0 = time.perf_counter()
    fit = bandfit.fit_band_fluxes(flux, err)
    dt = time.perf_counter() - t0
    load = os.getloadavg()[0]
    print(f"warm-up (model table, compiled loop from cache)  {warm:.2f}")
    print(f"five-band fit of {n_rows:,} rows, s  {dt:.1f}")
    print(f"fits per second  {n_rows / dt:,.0f}")
    print(f"constrained fits, %  {100 * (fit.flag == bandfit.GOOD).mean():.1f}")
    print(f"threads {numba.get_num_threads()}, {os.cpu_count()} cores, load average {load:.1f} at the end")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
