"""``xmm-explorer photoz FILE``: join photometric redshifts to a release; adds the rest-frame 0.2-12 keV luminosity."""

from __future__ import annotations

from pathlib import Path


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "photoz",
        help="attach photometric redshifts (PHOTO_Z with PHOTO_Z_LO/HI, by SRCID or RA/DEC) to a release; "
        "computes the rest-frame 0.2-12 keV luminosity (Planck18)",
    )
    p.add_argument("file", type=Path)
    p.add_argument("--release", default=None, help="release name (default: the first one)")
    p.set_defaults(func=run)


def run(args) -> int:
    from data_loaders.photoz import attach_photoz
    from data_loaders.releases import release_dir

    release = release_dir(args.data_dir, args.release)
    name = release.name
    joined = attach_photoz(release, args.file)
    fitted = int(joined["LX_GAMMA_FITTED"].sum())
    print(
        f"{args.file.name}: {len(joined):,} {name} sources have a photometric redshift; luminosities k-corrected "
        f"with the fitted photon index for {fitted:,}, with Γ = 1.9 for the others."
    )
    return 0
