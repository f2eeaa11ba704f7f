"""Per-process set-up for ``panel serve --setup``: load the catalogue and JIT-compile datashader once.

Without this, the first visitor of each process pays ~0.5 s of numba compilation per
reduction and the catalogue load; with it, they are paid before the port opens.
"""

import logging
import time

import numpy as np

from app import config
from app.plots import sky
from data_loaders.catalogue import load_catalogue
from data_loaders.ingest import list_releases

log = logging.getLogger("xmm_explorer.warmup")
t0 = time.perf_counter()
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
log.warning("warm-up done in %.1f s", time.perf_counter() - t0)
