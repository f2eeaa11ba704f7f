"""Entry script of the Explore page for ``panel serve`` (one run per browser session).

With ``$XMM_EXPLORER_DASK`` set (``xmm-explorer serve --dask SPEC``) the page runs on a
Dask-backed catalogue (:mod:`layouts.explore_dask`); otherwise on the in-memory pandas one.
"""

import os

import panel as pn

from app import config
from app.dask_backend import ENV as DASK_ENV

pn.extension("tabulator", notifications=True)
release = pn.state.session_args.get("release", [b""])[0].decode() or config.default_release()
if os.environ.get(DASK_ENV):
    from layouts.explore_dask import create_page as create_dask_page

    page, state = create_dask_page(config.data_dir(), release)
else:
    from data_loaders.catalogue import load_catalogue
    from layouts.explore import create_page

    catalogue = load_catalogue(config.data_dir(), release)
    page, state = create_page(catalogue)
page.servable()
