"""Benchmark: the on-demand PPS spectral fit of one detection (pn + MOS1 + MOS2, W-statistic).

Writes demo products of a few detections (counts from ~300 to ~30,000) and the demo's canned
responses into a temporary folder, then times :func:`data_loaders.spectral.ppsfit.fit_files`
(read the files, fit, curvature errors, flux interval) per model and detection, without the
cache (a repeated request is a cache hit). Then the coverage check of issue 20 item 5 (also run by
``make test``, as a slow test of tests/data_loaders/test_ppsfit.py: ~10 s): 150 absorbed power
laws drawn through a coarse (40 eV) canned pn response, fitted; the 68% intervals of Gamma and
N_H must cover the truth 60-76% of the time. Run: ``.venv/bin/python -m tests.benchmarks.bench_ppsfit``.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from data_loaders.products.arf import EffectiveArea
from data_loaders.products.rmf import Response, gaussian_matrix
from data_loaders.spectral import ppsfit


def main() -> None:
    from data_loaders.products import ProductStore, write_detection_products
    from data_loaders.products.rmf import find_response, write_canned_responses
    from data_loaders.products.store import spectral_fit_inputs
    from data_loaders.spectral import ppsfit

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        folder = root / "responses"
        write_canned_responses(folder)
        store = ProductStore(root)
        print(f"cores: {os.cpu_count()}, load average {os.getloadavg()[0]:.1f}")
        for k, rate in enumerate((0.01, 0.1, 1.0)):
            write_detection_products(
                root, obs_id="0886010101", src_num=k + 1, ra=1.0, dec=2.0, rate=rate, exposure=30_000,
                mjd_start=58000.0, photon_index=1.8, nh=0.3, seed=k,
            )  # fmt: skip
            paths, _ = spectral_fit_inputs(store.find("0886010101", k + 1), folder, find_response)
            for model in ppsfit.MODELS:
                t0 = time.perf_counter()
                fitted = ppsfit.fit_files(model, *paths)
                dt = time.perf_counter() - t0
                r = fitted.result
                print(
                    f"rate {rate:5.2f} ct/s, {r.counts:6d} counts, {model:8s}: {dt:5.2f} s "
                    f"(shape {r.values[0]:.2f} [{r.lower[0]:.2f}, {r.upper[0]:.2f}], N_H {r.values[1]:.3f}, "
                    f"W/dof {r.stat:.0f}/{r.dof})"
                )


def _spectrum(n: int, specdelt: float, exposure: float, bscale: float):
    from data_loaders.products.spectrum import Spectrum

    ch = np.arange(n)
    return Spectrum(
        channel=ch, counts=np.zeros(n), energy_lo=ch * specdelt, energy_hi=(ch + 1) * specdelt, exposure=exposure,
        backscal=1.0, areascal=1.0, instrument="EPN", obs_id="0000000001", src_num=1,
        background_counts=np.zeros(n), background_exposure=exposure, background_backscal=1.0 / bscale,
    )  # fmt: skip


def _simulated(response, arf, truth, rng, n, exposure=2.0e4, bscale=0.1, bkg_rate=2e-4):
    """n pn-like spectra of ``truth`` (Gamma, N_H, log10 N) with a flat background, drawn through the response."""
    rate = response.matrix.T @ (
        arf.at(response.energy) * ppsfit.photon_flux("powerlaw", truth, response.energy_lo, response.energy_hi)
    )
    chans = response.detchans
    spec = response.e_max[1] - response.e_max[0]
    template = _spectrum(chans, spec, exposure=exposure, bscale=bscale)
    for _ in range(n):
        source = rng.poisson((rate + bkg_rate * bscale) * exposure)
        background = rng.poisson(np.full(chans, bkg_rate * exposure))
        yield dataclasses.replace(template, counts=source.astype(float), background_counts=background.astype(float))


def coverage(n: int = 150) -> np.ndarray:
    """Absorbed power laws through a coarse (40 eV channels) canned pn response: 68% intervals cover ~68%."""
    edges, matrix = gaussian_matrix("EPN", 300, 40.0)
    channel = np.arange(300)
    response = Response(edges[:-1], edges[1:], matrix, channel, channel * 0.04, (channel + 1) * 0.04, 0, "EPN", "Thin1")
    centre = 0.5 * (edges[:-1] + edges[1:])
    from data_loaders.products.synthetic_model import effective_area

    arf = EffectiveArea(edges[:-1], edges[1:], effective_area("PN", centre, 0.85))
    truth = np.array([1.9, 0.5, np.log10(1.5e-4)])
    rng = np.random.default_rng(2026)
    hits, done = np.zeros(3), 0
    for spectrum in _simulated(response, arf, truth, rng, n):
        result = ppsfit.fit("powerlaw", [ppsfit.prepare(spectrum, arf, response)])
        hits += (result.lower <= truth) & (truth <= result.upper)
        done += 1
    coverage = hits / done
    assert np.all((coverage[:2] >= 0.60) & (coverage[:2] <= 0.76)), coverage
    return coverage


if __name__ == "__main__":
    main()
    t0 = time.perf_counter()
    print(f"coverage of the 68% intervals (Gamma, N_H, log N) over 150 spectra: {coverage()} "
          f"in {time.perf_counter() - t0:.0f} s")  # fmt: skip
