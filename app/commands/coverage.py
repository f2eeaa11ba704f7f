"""``xmm-explorer coverage``: footprint area and MOC of a release; observations and upper limits at a position."""

from __future__ import annotations

from pathlib import Path


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "coverage",
        help="footprint of a release (area, MOC file) and 'was this position observed?' with upper limits",
    )
    p.add_argument("--release", default=None, help="release name (default: the first one)")
    p.add_argument("--observations", type=Path, default=None, help="attach this observation table (Parquet) first")
    p.add_argument("--moc", type=Path, default=None, help="write the footprint MOC here (.fits, or .json)")
    p.add_argument("--order", type=int, default=None, help="MOC order (default 14: 12.9 arcsec cells)")
    p.add_argument("--at", default=None, metavar='"RA DEC"', help="position in deg (or sexagesimal) to look up")
    p.set_defaults(func=run)


def _position(text: str) -> tuple[float, float]:
    import astropy.units as u
    from astropy.coordinates import SkyCoord

    from data_loaders.errors import XmmExplorerError

    parts = text.replace(",", " ").split()
    try:
        if len(parts) == 2:
            c = SkyCoord(*(float(p) for p in parts), unit="deg")
        else:
            c = SkyCoord(text, unit=(u.hourangle, u.deg))
    except ValueError as exc:
        raise XmmExplorerError(f"--at {text!r} is not a position; give 'RA DEC' in degrees or sexagesimal.") from exc
    return float(c.ra.deg), float(c.dec.deg)


def run(args) -> int:
    from data_loaders import coverage
    from data_loaders.ingest import releases_dir
    from data_loaders.releases import default_release

    name = args.release or default_release(args.data_dir)
    release = releases_dir(args.data_dir) / str(name)
    if name is None or not release.is_dir():
        print(f"error: no release {name!r} in {args.data_dir}.")
        return 2
    if args.observations:
        coverage.attach_observations(release, args.observations)
        print(f"Attached {args.observations} to {name}.")
    obs = coverage.load_observations(release)
    order = args.order or coverage.DEFAULT_ORDER
    moc = coverage.footprint_moc(release if order == coverage.DEFAULT_ORDER else obs, order)
    area = coverage.footprint_area_deg2(moc)
    print(f"{name}: {len(obs):,} observations, footprint {area:,.1f} deg2 (MOC order {order})")
    if args.moc:
        print(f"MOC written to {coverage.write_moc(moc, args.moc)}")
    if args.at:
        ra, dec = _position(args.at)
        ul = coverage.upper_limit(obs, ra, dec)
        if ul.empty:
            print(f"RA {ra:.5f} Dec {dec:.5f}: not observed (outside every field of {name}).")
            return 0
        print(f"RA {ra:.5f} Dec {dec:.5f}: in {len(ul)} observation(s); 3-sigma 0.2-12 keV upper limits:")
        print(
            f"  {'OBS_ID':10s} {'MJD_START':>10s} {'PN_s':>8s} {'M1_s':>8s} {'M2_s':>8s} {'offax_arcmin':>12s} "
            f"{'FLUX_UL_erg/cm2/s':>18s}"
        )
        for r in ul.itertuples(index=False):
            print(
                f"  {r.OBS_ID:10s} {r.MJD_START:10.2f} {r.PN_ONTIME:8.0f} {r.M1_ONTIME:8.0f} {r.M2_ONTIME:8.0f} "
                f"{r.OFFAX:12.2f} {r.FLUX_UL:18.3e}"
            )
    return 0
