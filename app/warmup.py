"""Per-process set-up for ``panel serve --setup``: load the catalogue and JIT-compile datashader once.

With ``--dask`` (``$XMM_EXPLORER_DASK``), start the cluster and persist the sky columns on it instead.

Without this, the first visitor of each process pays ~0.5 s of numba compilation per
reduction and the catalogue load; with it, they are paid before the port opens.
"""

import gc
import logging
import os
import time

import numpy as np

from app import config, lifecycle, router, server_logging
from app.dask_backend import ENV as DASK_ENV
from app.plots import sky
from data_loaders.catalogue import load_catalogue
from data_loaders.ingest import list_releases

log = logging.getLogger("xmm_explorer.warmup")
t0 = time.perf_counter()


def _warm_up_dask() -> None:
    """``serve --dask``: start the cluster, persist the Explore page's default columns on it and
    JIT-compile datashader on its workers; the catalogue is never loaded into this process."""
    from app.dask_backend import describe_error, shared_catalogue, shared_client
    from app.state import ExploreState
    from app.views.sky import SkyView
    from data_loaders.catalogue import sky_column

    try:
        import importlib

        client = shared_client()
        client.run(importlib.import_module, "app.selection")  # unpickling a filter imports it on the workers
        cat = shared_catalogue(config.data_dir(), config.default_release(), client)
        state = ExploreState(cat)
        for level in ("detections", "sources"):
            state.level = level
            SkyView(state)._index(None, None, 64, 32)  # reads (or builds) the sky pyramid
            # Zoomed-in views draw the rows: persist their sky columns now, JIT-compile the workers.
            xcol, ycol = (sky_column(axis, state.projection, state.frame) for axis in ("x", "y"))
            state.filtered.grid(xcol, ycol, (-1.0, 1.0), (-1.0, 1.0), 64, 32)
    except Exception as exc:  # the page will say what is wrong, in one sentence
        log.warning("Dask warm-up failed: %s", describe_error(exc))


server_logging.install()  # a closed tab is not a traceback in the log
router.install_hooks()  # a `serve --num-procs N` worker: tell the router which sessions live here
if os.environ.get(DASK_ENV):
    _warm_up_dask()
else:
    for release in list_releases(config.data_dir()):
        cat = load_catalogue(config.data_dir(), release["name"])
        for level in ("sources", "detections"):
            x, y = cat.xy(level, "icrs", "hammer")
            xr_, yr_ = sky.full_extent("hammer")
            sky.sky_rgba(x, y, None, xr_, yr_, 64, 32)
            sky.sky_rgba(x, y, None, xr_, yr_, 64, 32, values=np.zeros(x.size, np.float32), how="mean", cmap="bgy")
            codes = np.zeros(x.size, np.int16)
            sky.sky_rgba(x, y, None, xr_, yr_, 64, 32, values=codes, how="by", categories=[str(i) for i in range(8)])
            cat.nearest(level, "icrs", 0.0, 0.0, 1.0)
gc.collect()
lifecycle.freeze_heap()  # the catalogue, its caches and the modules stay for the process's life
log.warning("warm-up done in %.1f s", time.perf_counter() - t0)
