"""Entry script of the Explore page for ``panel serve`` (one run per browser session).

With ``$XMM_EXPLORER_DASK`` set (``xmm-explorer serve --dask SPEC``) the page's catalogue is the
Dask engine's (the process-wide client and catalogue of :mod:`app.dask_backend`); otherwise
the in-memory one. The page is the same.
"""

import os

import panel as pn

from app import config
from app.dask_backend import ENV as DASK_ENV
from layouts.explore import create_page, error_page

pn.extension("tabulator", notifications=True)
release = pn.state.session_args.get("release", [b""])[0].decode() or config.default_release()
if os.environ.get(DASK_ENV):
    from app.dask_backend import open_catalogue as load_catalogue
else:
    from data_loaders.catalogue import load_catalogue

try:
    catalogue = load_catalogue(config.data_dir(), release)
except Exception as exc:  # noqa: BLE001 - one sentence on the page, the traceback in the log
    page = error_page(exc)
else:
    page, state = create_page(catalogue)
page.servable()
