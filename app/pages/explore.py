"""Entry script of the Explore page for ``panel serve`` (one run per browser session).

With ``$XMM_EXPLORER_DASK`` set (``xmm-explorer serve --dask SPEC``) the page's catalogue is the
Dask engine's (the process-wide client and catalogue of :mod:`app.dask_backend`); otherwise
the in-memory one. The page is the same.
"""

import logging
import os

import panel as pn

from app import config, dask_backend, params
from layouts.explore import create_page

pn.extension("tabulator", notifications=True)
try:
    if os.environ.get(dask_backend.ENV):
        try:
            catalogue = dask_backend.open_catalogue(config.data_dir(), params.release_name())
        except params.ParamError:
            raise
        except Exception as exc:  # one sentence on the page, the traceback in the log
            logging.getLogger("xmm_explorer.explore").warning("Dask Explore page failed", exc_info=exc)
            raise params.ParamError(dask_backend.describe_error(exc)) from None
    else:
        catalogue = params.open_catalogue()
    page, state = create_page(catalogue)
except params.ParamError as err:
    page = params.error_page(str(err))
page.servable()
