"""``xmm-explorer alerts``: compute and store a release's transient alerts, or replay a time window."""

from __future__ import annotations

import argparse
import sys
import textwrap
from pathlib import Path

from data_loaders.alerts.criteria import ALERT_TYPES, DEFAULT_PRESET, PRESETS, STONKS_TYPES

_DEFAULT = PRESETS[DEFAULT_PRESET]
_PCT = f"{_DEFAULT.confidence:.0%}".replace("%", "%%")  # argparse %-formats help strings

HELP = (
    f"compute transient/variability alerts of a release (default preset '{DEFAULT_PRESET}': "
    f"factor {_DEFAULT.factor:g} with {_PCT} error bars)"
)
DESCRIPTION = f"""\
Compare every detection's 0.2-12 keV flux with all other epochs of its source (XMM detections,
upper limits, other missions) and write the alerts to <release>/alerts/<run>/alerts.parquet and
alerts.jsonl. Types (STONKS names):
{textwrap.fill(", ".join(f"{t} ({STONKS_TYPES[t]})" for t in ALERT_TYPES) + ".", 96)}

Presets: 'seed' (the default: factor {PRESETS["seed"].factor:g}, {PRESETS["seed"].confidence:.0%} two-sided
error bars, the SSC seed's example) and 'stonks' (factor {PRESETS["stonks"].factor:g}, 1-sigma errors,
Quintin et al. 2024). --factor/--confidence override the preset and go to a run directory named
after them. With --replay START END (MJD or ISO dates) nothing is written: the command prints
how many alerts the real-time pipeline would have raised for detections in that window, knowing
only the data before its end, in total and per month.

With --observation FILE (an EPIC pipeline source list, *EP*OBSMLI*), the detections of that one
observation are matched to the release's sources within 3 combined position errors and compared
with their catalogue fluxes, long-term data and, where nothing matches, the upper limits at the
position; the run goes to <release>/alerts/obs<OBS_ID>/ (alerts.json, one PNG per alert) and a
second run of the same list replaces it.
"""


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "alerts", help=HELP, description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--release", default=None, help="release name (default: the first one)")
    p.add_argument("--since", default=None, metavar="MJD|DATE", help="only detections that started after this")
    p.add_argument(
        "--preset",
        choices=sorted(PRESETS),
        default=DEFAULT_PRESET,
        help=f"criterion preset (default {DEFAULT_PRESET}: factor {_DEFAULT.factor:g}, {_PCT})",
    )
    p.add_argument("--factor", type=float, default=None, help="flux-ratio threshold, > 1 (overrides the preset)")
    p.add_argument(
        "--confidence", type=float, default=None, help="two-sided error-bar confidence, e.g. 0.9 (overrides the preset)"
    )
    p.add_argument("--replay", nargs=2, default=None, metavar=("START", "END"), help="replay a window instead")
    p.add_argument(
        "--observation",
        type=Path,
        default=None,
        metavar="FILE",
        help="an EPIC pipeline source list (*EP*OBSMLI*, SRCLIST extension) of a new observation: "
        "compare its detections with the release and write the run beside the release's other alert runs",
    )
    p.add_argument("--no-figures", action="store_true", help="with --observation: no PNG per alert")
    p.set_defaults(func=run)


def run(args) -> int:
    from data_loaders.alerts import release as task

    try:
        if args.observation is not None:
            return _observation(args, task)
        if args.replay:
            return _replay(args, task)
        return _compute(args, task)
    except task.AlertTaskError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _compute(args, task) -> int:
    since = task.parse_epoch(args.since) if args.since is not None else None
    result = task.compute_release_alerts(
        args.data_dir,
        args.release,
        preset=args.preset,
        factor=args.factor,
        confidence=args.confidence,
        since_mjd=since,
    )
    a = result.alerts.attrs
    where = f"detections after MJD {since:g}" if since is not None else "all detections"
    print(
        f"Release {result.release}: {len(result.alerts):,} alerts from {result.n_detections:,} detections ({where}); "
        f"preset {a['preset']}, factor {a['factor']:g}, {a['confidence']:.1%} error bars"
    )
    for atype, n in result.counts().items():
        print(f"  {atype:<20} {n:>9,}  ({STONKS_TYPES[atype]})")
    print(f"Computed and written in {result.seconds:.2f} s:")
    for path in result.paths:
        print(f"  {path}")
    if result.recall is not None:
        print(
            "Recall of the planted changes larger than the factor (synthetic demo truth; an alert of a matching type):"
        )
        for r in result.recall.itertuples():
            print(f"  {r.PLANTED:<12} {r.N_FOUND:>6,} of {r.N_PLANTED:>6,} = {r.RECALL:6.1%}  (any alert: {r.N_ANY:,})")
    for note in result.notes:
        print(note)
    return 0


def _replay(args, task) -> int:
    start, end = (task.parse_epoch(v) for v in args.replay)
    if args.since is not None:
        raise task.AlertTaskError("--since and --replay cannot be combined; the replay window sets the dates.")
    counts, monthly = task.replay_release(
        args.data_dir, args.release, start, end, preset=args.preset, factor=args.factor, confidence=args.confidence
    )
    a = counts.attrs
    n_det = int(counts["N_DETECTIONS"].iat[0])
    print(
        f"Replay MJD {start:g}-{end:g} ({end - start:g} days, {n_det:,} detections), preset {a['preset']}, "
        f"factor {a['factor']:g}, {a['confidence']:.1%} error bars:"
    )
    for r in counts.itertuples():
        print(f"  {r.ALERT_TYPE:<20} {r.N_ALERTS:>7,} alerts  {r.N_SOURCES:>7,} sources  {r.PER_MONTH:9.1f} per month")
    if len(monthly):
        table = monthly.pivot(index="MONTH", columns="ALERT_TYPE", values="N_ALERTS")[list(ALERT_TYPES)]
        print("Per calendar month (alerts by type):")
        print("  month    " + " ".join(f"{t[:12]:>12}" for t in ALERT_TYPES))
        for month, row in table.iterrows():
            print(f"  {month:%Y-%m}  " + " ".join(f"{int(v):>12,}" for v in row.to_numpy()))
    return 0


def _observation(args, task) -> int:
    from data_loaders.alerts.observation import run_observation

    if args.since is not None or args.replay:
        raise task.AlertTaskError("--observation cannot be combined with --since or --replay.")
    run = run_observation(
        args.data_dir,
        args.release,
        args.observation,
        preset=args.preset,
        factor=args.factor,
        confidence=args.confidence,
        figures=not args.no_figures,
    )
    print(run.result.summary())
    pngs = sum(1 for f in run.files if f.suffix == ".png")
    print(f"Compared and written in {run.seconds:.2f} s; {pngs} PNG(s) in {run.png_seconds:.2f} s; run directory:")
    print(f"  {run.directory}")
    return 0
