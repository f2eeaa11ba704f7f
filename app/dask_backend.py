"""Where Dask computes for the Explore page when the catalogue does not fit one process.

``xmm-explorer serve --dask SPEC`` (environment ``XMM_EXPLORER_DASK``) picks one of:

- ``local`` — a :class:`distributed.LocalCluster` on this machine: ``n_workers`` worker
  processes (default 2) of one thread each, each limited to ``memory_limit`` (default: 80 %
  of the machine's memory shared among the workers, or ``XMM_EXPLORER_DASK_MEMORY``, e.g.
  ``6GB``). ``local:4`` asks for 4 workers.
- ``tcp://host:port`` (or ``tls://…``) — an existing scheduler (``dask scheduler`` plus
  ``dask worker`` processes that can read the same data directory).

The server process holds one client for its lifetime (:func:`shared_client`); sessions share
the persisted plotting columns through :class:`data_loaders.dask_catalogue.DaskCatalogue`.
"""

from __future__ import annotations

import logging
import os

from data_loaders.errors import XmmExplorerError
from data_loaders.process_cache import ProcessCache

log = logging.getLogger("xmm_explorer.dask")

ENV = "XMM_EXPLORER_DASK"
MEMORY_ENV = "XMM_EXPLORER_DASK_MEMORY"
#: Rows per Dask partition (default ``DaskCatalogue``'s 2,000,000); tests use small partitions.
PARTITION_ROWS_ENV = "XMM_EXPLORER_DASK_PARTITION_ROWS"
DEFAULT_WORKERS = 2


def _default_memory_limit(n_workers: int) -> str | int:
    env = os.environ.get(MEMORY_ENV)
    if env:
        return env
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX
        return "auto"
    return int(0.8 * total / max(n_workers, 1))


class DaskSpecError(XmmExplorerError, ValueError):
    """A ``--dask`` spec that names no cluster we can use; the message is one sentence."""


_SCHEMES = ("tcp://", "tls://", "inproc://", "ucx://")


def parse_spec(spec: str) -> tuple[str, int | str]:
    """('local', number of workers) or ('address', 'tcp://host:port') for a spec; DaskSpecError otherwise."""
    spec = (spec or "").strip()
    if spec == "local" or spec.startswith("local:"):
        if ":" not in spec:
            return "local", DEFAULT_WORKERS
        text = spec.split(":", 1)[1]
        try:
            n = int(text)
        except ValueError:
            raise DaskSpecError(f"Dask spec {spec!r}: expected local:<number of workers>, e.g. local:4.") from None
        if n < 1:
            raise DaskSpecError("A local Dask cluster needs at least one worker.")
        return "local", n
    if spec.startswith(_SCHEMES):
        rest = spec.split("://", 1)[1]
        if spec.startswith(("tcp://", "tls://")):
            host, _, port = rest.rpartition(":")
            if not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise DaskSpecError(
                    f"Dask spec {spec!r}: a scheduler address needs a host and a port, like tcp://host:8786."
                )
        elif not rest:
            raise DaskSpecError(f"Dask spec {spec!r}: the scheduler address is empty.")
        return "address", spec
    raise DaskSpecError(f"Dask spec {spec!r}: expected 'local', 'local:N' or a scheduler address like tcp://host:8786.")


def check_spec(spec: str, timeout: float = 5.0) -> str:
    """The spec, stripped, once it parses and (for tcp://) a scheduler answers on its port.

    Called by ``xmm-explorer serve --dask`` so that a typo fails in one sentence at once, not
    in every browser session later. Only a TCP connection is tried (no Dask handshake).
    """
    kind, value = parse_spec(spec)
    if kind == "address" and str(value).startswith(("tcp://", "tls://")):
        import socket

        host, _, port = str(value).split("://", 1)[1].rpartition(":")
        try:
            with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
                pass
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            raise DaskSpecError(
                f"No Dask scheduler answers at {value} ({reason.lower()}); start one with `dask scheduler` "
                "or use --dask local."
            ) from None
    return spec.strip()


def connect(spec: str | None, *, processes: bool = True, memory_limit: str | int | None = None):
    """A ``distributed.Client`` for ``spec`` ('local', 'local:N', 'tcp://host:port'), or None for None/''.

    ``processes=False`` runs a local cluster's workers as threads of this process (tests).
    Raises :class:`DaskSpecError` (a ValueError) for a spec it does not understand.
    """
    if not spec:
        return None
    from distributed import Client, LocalCluster

    kind, value = parse_spec(spec)
    if kind == "local":
        assert isinstance(value, int)  # parse_spec: the number of workers of a local cluster
        cluster = LocalCluster(
            n_workers=value,
            threads_per_worker=1,
            processes=processes,
            memory_limit=memory_limit if memory_limit is not None else _default_memory_limit(value),
            dashboard_address=":0",  # a free port: never clash with another cluster's 8787
        )
        return Client(cluster)
    return Client(value)


def close(client) -> None:
    """Close a client from :func:`connect` and, for a local cluster, the cluster too."""
    if client is None:
        return
    cluster = getattr(client, "cluster", None)
    client.close()
    if cluster is not None:
        cluster.close()


_CLIENTS: ProcessCache = ProcessCache("dask clients", max_items=4)


def shared_client():
    """The process-wide client for ``$XMM_EXPLORER_DASK`` (made on first use), or None when unset."""
    spec = os.environ.get(ENV, "")
    if not spec:
        return None
    client = _CLIENTS.get(spec, lambda: connect(spec))
    if getattr(client, "status", "") in ("closing", "closed"):
        # The scheduler went away and the client gave up: the next page load connects again.
        log.warning("Dask client for %s is %s; connecting again", spec, client.status)
        _CLIENTS.invalidate(spec)
        client = _CLIENTS.get(spec, lambda: connect(spec))
    return client


def describe_error(exc: BaseException, address: str | None = None) -> str:
    """One sentence for the page about an error from a Dask computation (never a traceback)."""
    import asyncio
    import concurrent.futures

    name = type(exc).__name__
    where = f" at {address}" if address else ""
    if name == "KilledWorker":
        return (
            "A Dask worker died while computing this (it may have run out of memory); "
            "try again, or restart the cluster if it keeps happening."
        )
    if isinstance(exc, concurrent.futures.CancelledError | asyncio.CancelledError) or name == "FutureCancelledError":
        return "The Dask computation was cancelled (a worker was lost or the cluster restarted); try again."
    if isinstance(exc, TimeoutError | asyncio.TimeoutError):
        return f"The Dask cluster{where} did not answer in time; it may be overloaded or unreachable."
    if name in ("CommClosedError", "StreamClosedError") or isinstance(exc, OSError | ConnectionError):
        return f"The Dask scheduler{where} cannot be reached; check that the cluster is running and reload the page."
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if raised_in_dask(exc):
        # distributed raises plain ValueError/RuntimeError once its client has lost the scheduler
        if any(
            w in first.lower()
            for w in ("no clients", "no global client", "client is closed", "not running", "scheduler")
        ):
            return (
                f"The Dask scheduler{where} cannot be reached; check that the cluster is running and reload the page."
            )
        return f"The Dask computation failed ({name}); the server log has the details."
    if isinstance(exc, XmmExplorerError | ValueError):  # our own one-sentence messages
        text = first or name
        return text if text.endswith(".") else text + "."
    return f"The Dask computation failed ({name}); the server log has the details."


def raised_in_dask(exc: BaseException) -> bool:
    """Whether the exception was raised inside dask or distributed (not by our own code)."""
    tb, last = exc.__traceback__, None
    while tb is not None:
        last, tb = tb, tb.tb_next
    if last is None:
        return type(exc).__module__.split(".")[0] in ("dask", "distributed", "tornado")
    path = last.tb_frame.f_code.co_filename.replace("\\", "/")
    return "/distributed/" in path or "/dask/" in path or "/tornado/" in path


_CATALOGUES: ProcessCache = ProcessCache("dask catalogues", max_items=8)


def shared_catalogue(data_dir, release: str | None, client):
    """The process-wide :class:`~data_loaders.dask_catalogue.DaskCatalogue` of a release on ``client``.

    One per release and client, so every session shares the columns persisted on the cluster.
    ``release`` None opens the operator's default (``releases/DEFAULT``) or the first one.
    """
    from pathlib import Path

    from data_loaders.dask_catalogue import DaskCatalogue
    from data_loaders.errors import CatalogueError
    from data_loaders.ingest import releases_dir
    from data_loaders.releases import default_release, list_releases

    data_dir = Path(data_dir)
    names: list[str] = [r["name"] for r in list_releases(data_dir)]
    if not names:
        raise CatalogueError(
            f"No ingested release under {releases_dir(data_dir)}; run `xmm-explorer demo` or `ingest FILE`."
        )
    release = release or default_release(data_dir)
    if release not in names:
        raise CatalogueError(f"No release {release!r} in {data_dir}; available: {', '.join(names)}.")
    path = (releases_dir(data_dir) / release).resolve()

    def open_it():
        rows = os.environ.get(PARTITION_ROWS_ENV, "").replace("_", "")
        if rows.isdigit() and int(rows) > 0:
            return DaskCatalogue(path, client=client, partition_rows=int(rows))
        return DaskCatalogue(path, client=client)

    return _CATALOGUES.get((path, id(client)), open_it, paths=[path])


def open_catalogue(data_dir, release: str | None = None):
    """The Dask catalogue of ``release`` on the process-wide client (what ``serve --dask`` pages show)."""
    return shared_catalogue(data_dir, release, shared_client())
