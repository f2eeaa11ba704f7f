"""Benchmark data: a demo catalogue of a given size, generated once and reused (``bench-data/``)."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(os.environ.get("XMM_BENCH_DATA", Path(__file__).resolve().parents[2] / "bench-data"))


def bench_data_dir(n: int) -> Path:
    """A data directory with an ingested demo release of ``n`` detections (generated if absent)."""
    from tests.conftest import make_demo_data_dir

    target = ROOT / f"demo-{n}"
    if not (target / "releases" / "DEMO" / "release.json").exists():
        target.mkdir(parents=True, exist_ok=True)
        make_demo_data_dir(target, n=n, seed=42)
    return target
