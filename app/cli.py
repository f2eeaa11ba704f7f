"""The ``xmm-explorer`` command: demo, ingest, serve, info (and the pipeline tasks)."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from app import config
from data_loaders.errors import XmmExplorerError

PAGES_DIR = Path(__file__).parent / "pages"
PAGES = ("explore", "source", "review", "alerts", "classify", "outreach")
DEMO_SEED = 42


def _cmd_demo(args) -> int:
    from data_loaders.coverage import attach_observations
    from data_loaders.demo import write_demo
    from data_loaders.ingest import ingest

    data_dir = args.data_dir
    out = data_dir / "demo"
    print(f"Generating the synthetic demo catalogue ({args.detections:,} detections, seed {args.seed}) in {out}")
    files = write_demo(out, n_detections=args.detections, seed=args.seed, progress=not args.quiet)
    report = ingest(
        files.catalogue,
        data_dir,
        name=args.name,
        title="4XMM demo (synthetic)",
        products=data_dir / "products",
        synthetic=True,
        progress=not args.quiet,
    )
    attach_observations(report.path, files.observations)  # coverage and upper limits on the Explore page
    from data_loaders.products.rmf import write_canned_responses
    from data_loaders.skymap import write_demo_maps

    rmfs = write_canned_responses(config.responses_dir(data_dir))  # the PPS spectral fit's canned RMFs
    print(f"Canned responses of the demo spectra (pn, MOS1, MOS2) in {rmfs[0].parent}")
    maps = write_demo_maps(data_dir / "skymaps")  # a synthetic gravitational-wave map, in the 3 layouts
    import pandas as pd

    from data_loaders import om, schema

    sources = pd.read_parquet(report.path / schema.SOURCES_FILE)
    om_file = om.write_om_fits(om.demo_om(sources, seed=args.seed), out / "4XMM_DEMO_om.fits")
    matched = om.attach_om(report.path, om_file)  # a SUSS-layout OM list with counterparts of demo sources
    print(f"Synthetic XMM-OM list {om_file.name}: {len(matched):,} sources matched")
    from data_loaders import photoz

    z_file = out / "4XMM_DEMO_photoz.parquet"
    photoz.demo_photoz(sources, seed=args.seed).to_parquet(z_file, index=False)
    print(f"Synthetic photometric redshifts {z_file.name}: {len(photoz.attach_photoz(report.path, z_file)):,} sources")
    from data_loaders.spectral import published

    fit_file = published.write_fits_table(
        published.demo_fits(pd.read_parquet(report.path / schema.SOURCES_FILE), seed=args.seed),
        out / "4XMM_DEMO_spectral_fits.fits",
    )
    print(f"Synthetic published fits {fit_file.name}: {len(published.attach_spectral_fits(report.path, fit_file)):,}")
    print(report.summary())
    print(f"Synthetic sky maps (flat NESTED, flat RING, multi-order) in {maps['NESTED'].parent}")
    from data_loaders.alerts.release import compute_release_alerts

    compute_release_alerts(data_dir, args.name)  # so the Alerts page has data on the first visit
    from data_loaders.coverage import load_observations
    from data_loaders.hips import write_exposure_hips

    hips = write_exposure_hips(load_observations(report.path), data_dir / "hips" / "exposure")
    print(f"Demo HiPS of the pn exposure in {hips} (drawn under the zoomed-in sky with serve --hips {hips})")
    from data_loaders.alerts.observation import run_observation
    from data_loaders.demo.pipeline import simulate_observation

    # The demo's pipeline: one new observation's source list, with planted transients, and its alert run
    # (the Alerts page lists it beside the release's alerts; `demo-observation` writes more lists).
    sim = simulate_observation(data_dir, args.name, out / "pipeline", seed=0)
    sim.truth.to_parquet(out / "pipeline" / f"{sim.path.name}.truth.parquet", index=False)
    obs_run = run_observation(data_dir, args.name, sim.path, figures=False)  # PNGs: ~1 s each, not on the page
    print(f"Pipeline source list {sim.path.name}: {obs_run.result.summary()}")
    print(f"  its PNGs: xmm-explorer --data-dir {data_dir} alerts --release {args.name} --observation {sim.path}")
    return 0


def _cmd_ingest(args) -> int:
    from data_loaders.ingest import ingest

    added = {k: getattr(args, k) for k in ("classifications", "counterparts", "longterm") if getattr(args, k)}
    report = ingest(
        args.file,
        args.data_dir,
        name=args.name,
        added=added,
        products=args.products,
        observations=args.observations,
        drop_duplicates=args.drop_duplicates,
        progress=not args.quiet,
    )
    print(report.summary())
    if args.om:
        from data_loaders.om import attach_om

        matched = attach_om(report.path, args.om)
        print(f"XMM-OM list {args.om.name}: {len(matched):,} X-ray sources have an OM counterpart")
    if args.photoz:
        from data_loaders.photoz import attach_photoz

        joined = attach_photoz(report.path, args.photoz)
        print(f"Redshift table {args.photoz.name}: {len(joined):,} sources have a photometric redshift")
    if args.spectral_fits:
        from data_loaders.spectral.published import attach_spectral_fits

        fits = attach_spectral_fits(report.path, args.spectral_fits)
        print(
            f"Spectral-fit table {args.spectral_fits.name}: {len(fits):,} fits of {fits['SRCID'].nunique():,} sources"
        )
    return 0


def _cmd_info(args) -> int:
    from data_loaders.ingest import list_releases, source_frame_columns

    releases = list_releases(args.data_dir)
    if not releases:
        print(f"No release in {args.data_dir}. Run `xmm-explorer demo` or `xmm-explorer ingest FILE`.")
        return 1
    for r in releases:
        tag = " (synthetic demo data)" if r.get("synthetic") else ""
        print(f"{r['name']}: {r.get('title', '')}{tag}")
        print(f"  {r['n_detections']:,} detections, {r['n_sources']:,} sources, {r['n_columns']} columns")
        if r.get("n_bad_coordinates"):
            print(f"  {r['n_bad_coordinates']:,} rows without a valid position")
        print(f"  added tables: {', '.join(r.get('added_tables') or []) or 'none'}")
        print(f"  products: {r.get('products') or 'none'}; ingested {r.get('ingested')}; path {r['path']}")
        if args.columns:
            print("  columns: " + ", ".join(source_frame_columns(Path(r["path"]))))
    return 0


def serve_command(args, extra: list[str], unix_socket: Path | None = None) -> list[str]:
    """The ``panel serve`` command line that ``xmm-explorer serve`` runs (extra Panel options passed through).

    With ``unix_socket`` it is the command of one ``--num-procs`` worker behind :mod:`app.router`:
    the worker listens on that socket and the router owns the public address and port.
    """
    pages = [str(PAGES_DIR / f"{p}.py") for p in PAGES if (PAGES_DIR / f"{p}.py").exists()]
    cmd = [sys.executable, "-m", "panel", "serve", *pages, "--index", "explore"]
    cmd += ["--unix-socket", str(unix_socket)] if unix_socket else ["--port", str(args.port)]
    cmd += ["--setup", str(PAGES_DIR.parent / "warmup.py")]
    cmd += ["--plugins", "app.samp_tokens"]  # /samp-table/<token>: exports a SAMP hub fetches
    static = [f"xmm-static={Path(__file__).resolve().parent / 'static'}"]  # theme.css
    cmd += ["--static-dirs", *static]  # one option: a second --static-dirs would replace the first
    if config.hips_source() is not None:  # /hips/: the HiPS's properties and tiles, folder or service alike
        cmd += ["--plugins", "app.hips_route"]
    cmd += ["--plugins", "app.health"]  # /health: JSON status of the process for probes (deploy/)
    from app.auth import serve_args  # optional sign-in (/login, /logout); cookie secret via the environment

    cmd += serve_args(args.data_dir, extra)
    if args.address and not unix_socket:
        cmd += ["--address", args.address]
    if not any(o.startswith("--allow-websocket-origin") for o in extra):
        cmd += [
            "--allow-websocket-origin",
            f"localhost:{args.port}",
            "--allow-websocket-origin",
            f"127.0.0.1:{args.port}",
        ]
    # A closed tab's session (and its memory) is freed 30-35 s later; 30 s also covers a slow first load.
    for option, ms in (("--unused-session-lifetime", "30000"), ("--check-unused-sessions", "5000")):
        if not any(o.startswith(option) for o in extra):
            cmd += [option, ms]
    return cmd + extra


def _check_release_in_child(data_dir: Path, release: str | None) -> None:
    """Load the release in a forked child, as the workers will, and raise its error here in one sentence.

    The router process only relays bytes; loading the catalogue in it would keep a third copy
    (~1 GB for a 1M-detection release) in memory for nothing.
    """
    import multiprocessing as mp

    from data_loaders.catalogue import load_catalogue
    from data_loaders.errors import CatalogueError

    ctx = mp.get_context("fork")
    receive, send = ctx.Pipe(duplex=False)

    def check() -> None:
        try:
            load_catalogue(data_dir, release)
            send.send(None)
        except XmmExplorerError as exc:
            send.send(str(exc))

    child = ctx.Process(target=check, name="check-release")
    child.start()
    child.join()
    message = receive.recv() if receive.poll() else f"loading the release failed (exit code {child.exitcode})"
    if message is not None:
        raise CatalogueError(message)


def _cmd_serve(args, extra: list[str]) -> int:
    from app import clients, dask_backend
    from data_loaders.catalogue import load_catalogue
    from data_loaders.ingest import releases_dir
    from data_loaders.release_swap import clean_stale

    for line in clean_stale(releases_dir(args.data_dir)):  # what a killed ingest left behind
        print(line, flush=True)

    if "--use-xheaders" in extra:
        raise XmmExplorerError(
            "--use-xheaders would take the client address from any visitor's headers; "
            "name the proxy with --trusted-proxy ADDRESS instead (see deploy/OPERATIONS.md)."
        )
    if any(o.startswith("--session-ids") for o in extra):
        raise XmmExplorerError("Session ids are always signed by xmm-explorer serve; leave out --session-ids.")
    for value, env in (
        (args.trusted_proxy, clients.TRUSTED_ENV),
        (args.max_sessions, clients.MAX_SESSIONS_ENV),
        (args.max_sessions_per_client, clients.MAX_PER_CLIENT_ENV),
    ):
        if value is not None:
            os.environ[env] = ",".join(value) if isinstance(value, list) else str(value)
    os.environ[config.DATA_ENV] = str(args.data_dir)
    if args.release:
        os.environ[config.RELEASE_ENV] = args.release
    if args.db:
        os.environ[config.DB_ENV] = args.db
    if args.hips_cache_mb is not None:
        os.environ[config.HIPS_CACHE_MB_ENV] = str(args.hips_cache_mb)
    if args.hips is not None:
        from data_loaders.hips import Hips

        # Not a HiPS, or a service that does not answer: one sentence here, not a blank layer in the browser.
        # A service's properties are fetched afresh and cached for the server processes.
        hips = Hips(args.hips, config.hips_cache_dir(args.data_dir), config.hips_cache_bytes(), fresh=True)
        os.environ[config.HIPS_ENV] = hips.source  # the URL checked, or the folder resolved
        print(f"HiPS under the zoomed-in sky: {hips.title} ({hips.source})", flush=True)
    if args.responses:
        os.environ[config.RESPONSES_ENV] = str(Path(args.responses).resolve())
    spec = (args.dask if args.dask is not None else os.environ.get(dask_backend.ENV, "")).strip()
    if spec:
        # Fail here, in one sentence, not in the browser: the spec, then the release (metadata only;
        # a catalogue that needs Dask is not loaded into this process).
        os.environ[dask_backend.ENV] = dask_backend.check_spec(spec)
        dask_backend.shared_catalogue(args.data_dir, args.release, None)
    else:
        os.environ.pop(dask_backend.ENV, None)
        if (args.num_procs or 1) > 1:
            _check_release_in_child(args.data_dir, args.release)  # the router must not hold a catalogue
        else:
            load_catalogue(args.data_dir, args.release)  # fail here, in one sentence, not in the browser
    backend = f" (Explore on Dask: {spec})" if spec else ""
    n = args.num_procs or 1
    procs = f", {n} server processes" if n > 1 else ""
    print(f"Serving {args.data_dir} on http://localhost:{args.port}/{backend}{procs}", flush=True)
    if n > 1:
        # Not Panel's own --num-procs: its forked processes share the port and a page's websocket
        # often reaches a process that does not hold its session, which then builds the page again.
        from app import router

        return router.run(n, lambda sock: serve_command(args, extra, unix_socket=sock), args.address, args.port)
    cmd = serve_command(args, extra)
    os.execv(cmd[0], cmd)  # noqa: S606 - our own command line; replacing the process lets signals reach Panel
    return 0  # pragma: no cover


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="xmm-explorer", description=__doc__)
    p.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help=f"data directory (default: ${config.DATA_ENV} or ./data)",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    sub = p.add_subparsers(dest="command", required=True)

    d = sub.add_parser("demo", help="generate the synthetic demo catalogue and ingest it")
    d.add_argument("--detections", type=int, default=1_000_000)
    d.add_argument("--seed", type=int, default=DEMO_SEED)
    d.add_argument("--name", default="DEMO", help="release name (default DEMO)")

    i = sub.add_parser(
        "ingest",
        help="ingest an XMM catalogue FITS file: per-detection 4XMM-DRn, stacked 4XMM-DRns or 5XMM-like (upper limits)",
    )
    i.add_argument("file", type=Path)
    i.add_argument("--name", help="release name, e.g. DR14 (default: from the file's CATALOG keyword)")
    i.add_argument("--classifications", type=Path)
    i.add_argument("--counterparts", type=Path)
    i.add_argument("--longterm", type=Path)
    i.add_argument(
        "--products", type=Path, help="folder of PPS source products (<OBSID>/pps, <OBSID>/PPS, <OBSID> or flat)"
    )
    i.add_argument("--observations", type=Path, help="observation table (Parquet: OBS_ID, RA_PNT, DEC_PNT, ...)")
    i.add_argument(
        "--om",
        type=Path,
        help="XMM-OM source list in the SUSS layout (FITS/Parquet: RA, DEC, POSERR, <filter>_AB_MAG[_ERR], "
        "<filter>_QUALITY_FLAG), matched with the X-ray sources within their position errors",
    )
    i.add_argument(
        "--photoz",
        type=Path,
        help="photometric redshifts (FITS/Parquet/CSV: PHOTO_Z, PHOTO_Z_LO, PHOTO_Z_HI and SRCID or RA, DEC); "
        "adds the rest-frame 0.2-12 keV luminosity LOG_LX",
    )
    i.add_argument(
        "--spectral-fits",
        type=Path,
        help="published spectral fits (FITS/CSV, XMM2ATHENA layout: SRCID or DETID, MODEL, NH/GAMMA/KT with _LO/_HI, "
        "STAT, DOF), shown on the Source page beside the five-band fit",
    )
    i.add_argument(
        "--drop-duplicates",
        action="store_true",
        help="keep the first row of each repeated DETID (stacked: SRCID+OBS_ID) instead of refusing the file",
    )

    s = sub.add_parser("serve", help="serve the dashboard (extra options go to `panel serve`)")
    s.add_argument("--port", type=int, default=5006)
    s.add_argument("--address", default=None)
    s.add_argument("--release", default=None, help="release to open first")
    s.add_argument("--db", default=None, help="database URL (default: SQLite file in the data directory)")
    s.add_argument(
        "--hips",
        default=None,
        metavar="DIR|URL",
        help="a HiPS (IVOA HiPS 1.0) drawn under the sky when zoomed in: a folder, or the base URL of a HiPS "
        "service, whose tiles this server fetches and caches (the browser talks to nobody else); served at /hips/ "
        "(default: none; the demo writes one in DATA/hips/exposure)",
    )
    s.add_argument(
        "--hips-cache-mb",
        type=float,
        default=None,
        metavar="MB",
        help="bound of the disk cache (DATA/hips-cache) of tiles from a HiPS service "
        "(default: $XMM_EXPLORER_HIPS_CACHE_MB, else 512)",
    )
    s.add_argument(
        "--responses",
        type=Path,
        default=None,
        metavar="DIR",
        help="folder of EPIC canned responses (RMFs) for fitting PPS spectra in the Source view, found by the "
        "spectra's RESPFILE name, else by instrument and filter "
        "(default: $XMM_EXPLORER_RESPONSES, else DATA/responses)",
    )
    s.add_argument(
        "--num-procs",
        type=int,
        default=None,
        help="N server processes behind the one port (one per core is a good start); each browser "
        "session stays in the process that created it",
    )
    s.add_argument(
        "--trusted-proxy",
        action="append",
        metavar="ADDRESS",
        default=None,
        help="address or network of a reverse proxy whose X-Forwarded-For/-Proto headers are believed "
        "(repeatable; default: $XMM_EXPLORER_TRUSTED_PROXIES, else none: the TCP peer is the client)",
    )
    s.add_argument(
        "--max-sessions",
        type=int,
        default=None,
        metavar="N",
        help="open pages the server holds at most, all clients together "
        "(default: $XMM_EXPLORER_MAX_SESSIONS, else 150); past it visitors get a 'busy' page",
    )
    s.add_argument(
        "--max-sessions-per-client",
        type=int,
        default=None,
        metavar="N",
        help="open pages one client address may hold (default: $XMM_EXPLORER_MAX_SESSIONS_PER_CLIENT, else 12)",
    )
    s.add_argument(
        "--dask",
        metavar="SPEC",
        default=None,
        help="run the Explore page on Dask instead of pandas, for catalogues too big for one process: "
        "'local' (a local cluster of 2 worker processes), 'local:N' (N workers) or the address of a "
        "running scheduler, e.g. tcp://scheduler:8786 (workers must see the same data directory; with "
        "--num-procs, each server process starts its own local cluster). "
        "Default: $XMM_EXPLORER_DASK; unset, the page uses pandas",
    )

    n = sub.add_parser("info", help="list the ingested releases")
    n.add_argument("--columns", action="store_true", help="also list every column")

    from app.commands import register_all

    register_all(sub, argv)  # with argv, only the command it names (when it names one)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(argv)
    args, extra = parser.parse_known_args(argv)
    if extra and args.command != "serve":
        parser.error(f"unrecognised arguments: {' '.join(extra)}")
    args.data_dir = (args.data_dir or config.data_dir()).resolve()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        if args.command == "serve":
            return _cmd_serve(args, extra)
        builtin = {"demo": _cmd_demo, "ingest": _cmd_ingest, "info": _cmd_info}
        return builtin[args.command](args) if args.command in builtin else args.func(args)
    except XmmExplorerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
