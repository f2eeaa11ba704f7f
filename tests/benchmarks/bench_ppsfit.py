"""Benchmark: the on-demand PPS spectral fit of one detection (pn + MOS1 + MOS2, W-statistic).

Writes demo products of a few detections (counts from ~300 to ~30,000) and the demo's canned
responses into a temporary folder, then times :func:`data_loaders.spectral.ppsfit.fit_files`
(read the files, fit, curvature errors, flux interval) per model and detection, without the
cache (a repeated request is a cache hit). Run: ``.venv/bin/python -m tests.benchmarks.bench_ppsfit``.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path


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


if __name__ == "__main__":
    main()
