"""``xmm-explorer bigdemo``: write a very large synthetic release directly as HEALPix-ordered Parquet.

For scale tests (10^7-10^8 detections) with bounded memory; see
:mod:`data_loaders.demo.partitioned`. The release opens with the pandas catalogue up to a few
10^7 rows and with ``serve --dask`` beyond.
"""

from __future__ import annotations

DEFAULT_DETECTIONS = 10_000_000
DEFAULT_SEED = 42


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "bigdemo",
        help="write a very large synthetic release (e.g. 10^8 detections) as HEALPix-ordered Parquet",
    )
    p.add_argument(
        "--detections", type=int, default=DEFAULT_DETECTIONS, help=f"detections (default {DEFAULT_DETECTIONS:,})"
    )
    p.add_argument("--seed", type=int, default=DEFAULT_SEED, help="random seed; same size and seed = same release")
    p.add_argument("--name", default="BIG", help="release name (default BIG)")
    p.add_argument(
        "--workers",
        type=int,
        default=None,
        help="generating processes (default: CPU count, at most 2; 0 = in this process, least memory)",
    )
    p.set_defaults(func=run)


def run(args) -> int:
    from data_loaders.demo.partitioned import write_partitioned_demo

    print(
        f"Writing {args.detections:,} synthetic detections (seed {args.seed}) as release {args.name} in {args.data_dir}"
    )
    report = write_partitioned_demo(
        args.data_dir, args.name, args.detections, args.seed, progress=True, workers=args.workers
    )
    print(report.summary())
    return 0
