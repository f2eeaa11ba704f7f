"""``xmm-explorer skymap``: a gravitational-wave sky map's credible region, the sources inside, XMM coverage."""

from __future__ import annotations

from pathlib import Path


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "skymap",
        help="credible region of a HEALPix probability map (flat NESTED/RING or multi-order UNIQ FITS): "
        "area, catalogue sources inside, fraction XMM-Newton observed",
    )
    p.add_argument("file", help="sky-map FITS file, or the name of a map in the sky-map folder")
    p.add_argument("--credible", type=float, default=0.9, help="credible level (default 0.9)")
    p.add_argument("--release", default=None, help="release name (default: the first one)")
    p.add_argument("--out", type=Path, default=None, help="write the sources inside (with the density there) as CSV")
    p.set_defaults(func=run)


def run(args) -> int:
    from app import config
    from data_loaders import skymap
    from data_loaders.releases import release_dir

    path = Path(args.file)
    if not path.exists():
        folder = config.skymap_dir(args.data_dir)
        if skymap.NAME_RE.match(args.file) and args.file in skymap.list_maps(folder):
            path = skymap.find_map(folder, args.file)
        else:
            raise skymap.SkyMapError(f"No sky-map file {args.file} (nor a map of that name in {folder}).")
    smap = skymap.read_skymap(path)
    release = release_dir(args.data_dir, args.release)
    name = release.name
    report = skymap.region_report(smap, args.credible, release)
    print(report.summary(str(name)))
    if args.out:
        out = report.sources.rename(
            columns={"PROBDENSITY": "PROBDENSITY_sr-1", "PROBDENSITY_DEG2": "PROBDENSITY_deg-2"}
        )
        out.to_csv(args.out, index=False, float_format="%.9g")
        print(f"{len(out):,} sources written to {args.out}")
    return 0
