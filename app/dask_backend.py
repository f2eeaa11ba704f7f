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

import os
import threading

ENV = "XMM_EXPLORER_DASK"
MEMORY_ENV = "XMM_EXPLORER_DASK_MEMORY"
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


def connect(spec: str | None, *, processes: bool = True, memory_limit: str | int | None = None):
    """A ``distributed.Client`` for ``spec`` ('local', 'local:N', 'tcp://host:port'), or None for None/''.

    ``processes=False`` runs a local cluster's workers as threads of this process (tests).
    Raises ValueError for a spec it does not understand.
    """
    if not spec:
        return None
    from distributed import Client, LocalCluster

    spec = spec.strip()
    if spec == "local" or spec.startswith("local:"):
        n = DEFAULT_WORKERS
        if ":" in spec:
            try:
                n = int(spec.split(":", 1)[1])
            except ValueError:
                raise ValueError(f"Dask spec {spec!r}: expected local:<number of workers>.") from None
            if n < 1:
                raise ValueError("A local Dask cluster needs at least one worker.")
        cluster = LocalCluster(
            n_workers=n,
            threads_per_worker=1,
            processes=processes,
            memory_limit=memory_limit if memory_limit is not None else _default_memory_limit(n),
            dashboard_address=":0",  # a free port: never clash with another cluster's 8787
        )
        return Client(cluster)
    if spec.startswith(("tcp://", "tls://", "inproc://", "ucx://")):
        return Client(spec)
    raise ValueError(f"Dask spec {spec!r}: expected 'local', 'local:N' or a scheduler address like tcp://host:8786.")


def close(client) -> None:
    """Close a client from :func:`connect` and, for a local cluster, the cluster too."""
    if client is None:
        return
    cluster = getattr(client, "cluster", None)
    client.close()
    if cluster is not None:
        cluster.close()


_SHARED: dict[str, object] = {}
_LOCK = threading.Lock()


def shared_client():
    """The process-wide client for ``$XMM_EXPLORER_DASK`` (made on first use), or None when unset."""
    spec = os.environ.get(ENV, "")
    if not spec:
        return None
    with _LOCK:
        if spec not in _SHARED:
            _SHARED[spec] = connect(spec)
        return _SHARED[spec]
