"""``xmm-explorer bandfit``: the five-band absorbed power-law fit of a table file, or added to a release."""

from __future__ import annotations

from pathlib import Path


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "bandfit",
        help="fit an absorbed power law to the five band fluxes: of a table file (IN OUT), or of a release "
        "(--release NAME adds the PL_* columns without ingesting again)",
    )
    p.add_argument("input", nargs="?", type=Path, help="FITS, CSV or Parquet table with EP_1..5_FLUX(_ERR) or SC_EP_")
    p.add_argument("output", nargs="?", type=Path, help="where to write IN's rows plus the PL_* columns")
    p.add_argument("--release", default=None, help="add (or recompute) the PL_* columns of this ingested release")
    p.set_defaults(func=run)


def _flag_summary(flags: dict[int, int]) -> str:
    from data_loaders.spectral.bandfit import FLAG_MEANING

    return "; ".join(f"{n:,} {FLAG_MEANING[f]}" for f, n in flags.items() if n)


def run(args) -> int:
    import time

    from data_loaders.errors import XmmExplorerError

    t0 = time.perf_counter()
    if args.release:
        if args.input or args.output:
            raise XmmExplorerError("Give either IN OUT (a table file) or --release NAME, not both.")
        from data_loaders.ingest import releases_dir
        from data_loaders.spectral.columns import add_to_release

        path = releases_dir(args.data_dir) / args.release
        if not path.is_dir():
            raise XmmExplorerError(f"There is no release {args.release!r} in {args.data_dir}.")
        done = add_to_release(path)
        print(
            f"Release {args.release}: PL_* columns for {done['detections']:,} detections and "
            f"{done['sources']:,} sources ({time.perf_counter() - t0:.1f} s)."
        )
        return 0
    if not (args.input and args.output):
        raise XmmExplorerError("bandfit needs IN and OUT table files, or --release NAME.")
    from data_loaders.spectral.table_file import fit_table_file

    n, naming, flags = fit_table_file(args.input, args.output)
    print(
        f"{args.output}: {n:,} rows fitted from {naming}1..5_FLUX in {time.perf_counter() - t0:.1f} s "
        f"({_flag_summary(flags) or 'no rows'})."
    )
    return 0
