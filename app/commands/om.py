"""``xmm-explorer om FILE``: match an XMM-OM (SUSS-layout) source list with an ingested release's sources."""

from __future__ import annotations

from pathlib import Path


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "om",
        help="attach an XMM-OM UV/optical source list (SUSS layout) to a release: nearest OM source within "
        "3x the combined position errors of each X-ray source",
    )
    p.add_argument("file", type=Path)
    p.add_argument("--release", default=None, help="release name (default: the first one)")
    p.set_defaults(func=run)


def run(args) -> int:
    from data_loaders.om import attach_om
    from data_loaders.releases import release_dir

    release = release_dir(args.data_dir, args.release)
    name = release.name
    matched = attach_om(release, args.file)
    print(f"{args.file.name}: {len(matched):,} {name} sources have an XMM-OM counterpart (om.parquet).")
    return 0
