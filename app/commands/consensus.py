"""``xmm-explorer consensus [--release R] [--db URL]``: write the citizen consensus classification table.

The table (``citizen_classifications.parquet`` in the release directory) has the shape of the
machine classifications (SRCID, PbaC0..6, prediction, prediction_name, ClMargin) plus
N_VOTES and AGREEMENT; see ``data_loaders.citizen.consensus``.
"""

from __future__ import annotations

import sys

from app import config


def register(subparsers) -> None:
    p = subparsers.add_parser("consensus", help="write the citizen-science consensus classifications of a release")
    p.add_argument("--release", default=None, help="release name (default: the first one)")
    p.add_argument("--db", default=None, help="database URL (default: SQLite file in the data directory)")
    p.set_defaults(func=run)


def run(args) -> int:
    from data_loaders.catalogue import load_catalogue
    from data_loaders.citizen import CONSENSUS_FILE, consensus
    from data_loaders.store import open_store

    catalogue = load_catalogue(args.data_dir, args.release or config.default_release())
    with open_store(args.db or config.db_url(), args.data_dir) as store:
        table = consensus(store.votes_frame(catalogue.name))
    out = catalogue.path / CONSENSUS_FILE
    tmp = out.with_name(f".{out.name}.tmp")
    table.to_parquet(tmp, index=False)
    tmp.replace(out)
    print(f"{len(table):,} sources with a citizen consensus in release {catalogue.name} -> {out}", file=sys.stdout)
    return 0
