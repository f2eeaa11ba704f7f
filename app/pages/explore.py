"""Entry script of the Explore page for ``panel serve`` (one run per browser session).

With ``$XMM_EXPLORER_DASK`` set (``xmm-explorer serve --dask SPEC``) the page runs on a
Dask-backed catalogue (:mod:`layouts.explore_dask`); otherwise on the in-memory pandas one.
"""

import os

import panel as pn

from app import config, params
from app.dask_backend import ENV as DASK_ENV

pn.extension("tabulator", notifications=True)
try:
    if os.environ.get(DASK_ENV):
        from layouts.explore_dask import create_page as create_dask_page

        page, state = create_dask_page(config.data_dir(), params.release_name())
    else:
        from layouts.explore import create_page

        page, state = create_page(params.open_catalogue())
except params.ParamError as err:
    page = params.error_page(str(err))
page.servable()
