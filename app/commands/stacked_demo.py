"""``xmm-explorer stacked-demo``: generate a synthetic stacked catalogue (with upper limits) and ingest it."""

from __future__ import annotations

DEFAULT_DETECTIONS = 100_000
DEFAULT_SEED = 42


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "stacked-demo",
        help="generate the synthetic stacked (5XMM-like, with upper limits) demo catalogue and ingest it",
    )
    p.add_argument(
        "--detections",
        type=int,
        default=DEFAULT_DETECTIONS,
        help=f"size of the sky, as detections of the per-detection demo (default {DEFAULT_DETECTIONS:,})",
    )
    p.add_argument("--seed", type=int, default=DEFAULT_SEED, help="same seed and size as `demo` = same sky")
    p.add_argument("--name", default="DEMO-STACKED", help="release name (default DEMO-STACKED)")
    p.add_argument(
        "--no-upper-limits", action="store_true", help="4XMM-DRns-like: forced photometry instead of upper-limit rows"
    )
    p.set_defaults(func=run)


def run(args) -> int:
    from data_loaders.demo.stacked import write_stacked_demo
    from data_loaders.ingest_stacked import ingest_stacked

    out = args.data_dir / "demo"
    print(
        f"Generating the synthetic stacked catalogue ({args.detections:,} detections' sky, seed {args.seed}) in {out}"
    )
    files = write_stacked_demo(out, args.detections, args.seed, upper_limits=not args.no_upper_limits)
    report = ingest_stacked(
        files.catalogue,
        args.data_dir,
        name=args.name,
        title="4XMM stacked demo (synthetic)",
        observations=files.observations,
        synthetic=True,
    )
    print(report.summary())
    return 0
