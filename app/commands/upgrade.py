"""``xmm-explorer upgrade-flags OLD NEW``: carry reviewers' flags over to the sources of a new release."""

from __future__ import annotations

from app import config


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "upgrade-flags",
        help="carry the current flags of release OLD over to the matching sources of release NEW",
        description=(
            "Match every flagged source of OLD to NEW (by SRCID where IDs are carried across, else by position "
            "within 3 sigma of the combined position errors + 1 arcsec), append the flags to NEW (nothing is "
            "deleted; re-running writes nothing twice) and print carried / ambiguous / lost counts."
        ),
    )
    p.add_argument("old", help="release the flags were made on, e.g. DR13")
    p.add_argument("new", help="release to carry them to, e.g. DR14")
    p.add_argument(
        "--by",
        choices=("auto", "id", "position"),
        default="auto",
        help="auto (default): same SRCID if it is still at the same place, else position; id: SRCID only; "
        "position: position only (use between 4XMM and 5XMM, whose IDs are unrelated)",
    )
    p.add_argument("--db", default=None, help="database URL (default: SQLite file in the data directory)")
    p.add_argument("--dry-run", action="store_true", help="match and count, write nothing")
    p.add_argument("--list", action="store_true", help="also list the ambiguous and lost sources")
    p.set_defaults(func=run)


def run(args) -> int:
    from data_loaders.catalogue import load_catalogue
    from data_loaders.releases import carry_over_flags
    from data_loaders.store import open_store

    old = load_catalogue(args.data_dir, args.old)
    new = load_catalogue(args.data_dir, args.new)
    with open_store(args.db or config.db_url(), args.data_dir) as store:
        report = carry_over_flags(store, old, new, by=args.by, dry_run=args.dry_run)
    print(report.summary() + (" (dry run: nothing written)" if args.dry_run else ""))
    if args.list:
        for row in report.matches[report.matches.status != "carried"].itertuples(index=False):
            print(f"  {row.status:9s} {args.old}:{row.old_srcid}  candidates: {row.candidates or '-'}")
    return 0
