"""``xmm-explorer demo-observation``: the demo's pipeline writes a new observation's EPIC source list."""

from __future__ import annotations

import sys
from pathlib import Path


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "demo-observation",
        help="write the EPIC source list (*EPX000OBSMLI*) of a new observation of a demo field, with planted "
        "transients, to try `xmm-explorer alerts --observation`",
    )
    p.add_argument("--release", default="DEMO", help="demo release whose fields are observed again (default DEMO)")
    p.add_argument("--field", default=None, metavar="OBS_ID", help="observe this observation's field again")
    p.add_argument("--mjd", type=float, default=None, help="start (MJD; default 30 days after the release's last)")
    p.add_argument("--planted", type=int, default=5, help="transients of each kind to plant (default 5)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=None, help="directory (default: <data dir>/demo/pipeline)")
    p.set_defaults(func=run)


def run(args) -> int:
    from data_loaders.demo.pipeline import simulate_observation

    release_dir = args.data_dir / "releases" / args.release
    if not (release_dir / "observations.parquet").exists():
        print(
            f"error: release {args.release} in {args.data_dir} has no observation table; "
            "run `xmm-explorer demo` first.",
            file=sys.stderr,
        )
        return 2
    out = args.out or args.data_dir / "demo" / "pipeline"
    sim = simulate_observation(
        args.data_dir, args.release, out, seed=args.seed, field_obs_id=args.field, mjd=args.mjd, n_planted=args.planted
    )
    truth = out / f"{sim.path.name}.truth.parquet"
    sim.truth.to_parquet(truth, index=False)
    kinds = sim.truth["PLANTED"].value_counts()
    planted = ", ".join(f"{k} {int(kinds.get(k, 0))}" for k in ("rising", "falling", "new_source", "short_term"))
    print(f"Observation {sim.obs_id} (MJD {sim.mjd_start:.2f}): {len(sim.truth)} detections, planted {planted}")
    print(f"  {sim.path}\n  {truth} (what was planted; not read by the alert task)")
    print(f"Next: xmm-explorer --data-dir {args.data_dir} alerts --release {args.release} --observation {sim.path}")
    return 0
