"""Benchmark: full-catalogue alert computation on a synthetic 1M-detection, ~700k-source frame."""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np
import pandas as pd

from data_loaders.alerts import compute_alerts, replay_rate, write_alerts


def synthetic(n_det: int = 1_000_000, n_src: int = 700_000, n_lt: int = 300_000, seed: int = 1):
    """Detections (every source once, the rest on a skewed subset) and a long-term table."""
    rng = np.random.default_rng(seed)
    extra = n_det - n_src
    # ~20% of the sources are seen again, a few of them many times (DR14: up to 90 detections).
    multi = rng.choice(n_src, max(n_src // 5, 1), replace=False)
    weight = 1.0 / np.arange(1, multi.size + 1) ** 0.6
    repeat_src = rng.choice(multi, extra, p=weight / weight.sum())
    srcid = np.concatenate([np.arange(n_src), repeat_src]).astype(np.int64) + 200_000_000
    rng.shuffle(srcid)
    base = 10 ** rng.normal(-13.5, 0.6, n_src)
    var = 10 ** rng.normal(0.0, 0.25, n_det)
    flux = base[srcid - 200_000_000] * var
    err = flux * rng.uniform(0.05, 0.4, n_det)
    flux[rng.random(n_det) < 0.002] = np.nan
    det = pd.DataFrame(
        {
            "SRCID": srcid,
            "DETID": np.arange(n_det, dtype=np.int64) + 100_000_000,
            "OBS_ID": pd.array((rng.integers(100_000_000, 999_999_999, n_det)).astype(str), dtype="str"),
            "MJD_START": rng.uniform(51_600, 60_300, n_det),
            "EP_8_FLUX": flux.astype(np.float32),
            "EP_8_FLUX_ERR": err.astype(np.float32),
            "EP_CHI2PROB": rng.uniform(0, 1, n_det).astype(np.float32) ** 3,
            "VAR_FLAG": rng.random(n_det) < 0.008,
        }
    )
    lt_src = rng.choice(srcid, n_lt)
    missions = np.array(["XMM", "Swift", "Chandra", "eROSITA", "ROSAT"])
    mission = missions[rng.integers(0, missions.size, n_lt)]
    ul = rng.random(n_lt) < 0.4
    lt_flux = base[lt_src - 200_000_000] * 10 ** rng.normal(0, 0.3, n_lt)
    lt = pd.DataFrame(
        {
            "SRCID": lt_src,
            "MISSION": pd.array(mission, dtype="str"),
            "OBS_ID": pd.array(rng.integers(0, 10**9, n_lt).astype(str), dtype="str"),
            "MJD": rng.uniform(48_000, 60_300, n_lt),
            "FLUX": lt_flux.astype(np.float32),
            "FLUX_ERR": np.where(ul, np.nan, lt_flux * 0.2).astype(np.float32),
            "UPPER_LIMIT": ul,
            "BAND": pd.array(np.full(n_lt, "native"), dtype="str"),
        }
    )
    return det, lt


def main(argv: list[str] | None = None) -> None:
    """Print the timing of compute_alerts (both presets), a two-month replay and the writer."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--detections", type=int, default=1_000_000)
    ap.add_argument("--sources", type=int, default=700_000)
    ap.add_argument("--longterm", type=int, default=300_000)
    args = ap.parse_args(argv)
    t = time.perf_counter()
    det, lt = synthetic(args.detections, args.sources, args.longterm)
    print(
        f"synthetic frame: {len(det):,} detections, {det['SRCID'].nunique():,} sources, "
        f"{len(lt):,} long-term rows ({time.perf_counter() - t:.1f} s to build)"
    )
    for preset in ("seed", "stonks"):
        t = time.perf_counter()
        alerts = compute_alerts(det, lt, preset=preset)
        dt = time.perf_counter() - t
        counts = alerts["ALERT_TYPE"].value_counts().to_dict()
        print(f"compute_alerts preset={preset}: {dt:.2f} s, {len(alerts):,} alerts {counts}")
    t = time.perf_counter()
    rate = replay_rate(det, lt, 60_000.0, 60_061.0)
    any_row = rate.loc[rate["ALERT_TYPE"] == "any"].iloc[0]
    print(
        f"replay_rate two months: {time.perf_counter() - t:.2f} s, "
        f"{any_row['N_ALERTS']} alerted detections of {any_row['N_DETECTIONS']}, "
        f"{any_row['PER_DAY']:.1f}/day"
    )
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        write_alerts(alerts, tmp)
        print(f"write_alerts ({len(alerts):,} rows): {time.perf_counter() - t:.2f} s")


if __name__ == "__main__":
    main()
