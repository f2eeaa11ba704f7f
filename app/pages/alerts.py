"""Entry script of the Alerts page for ``panel serve`` (one run per browser session)."""

import panel as pn

from app import auth, config
from data_loaders.catalogue import load_catalogue
from layouts.alerts import create_page, default_store

pn.extension("tabulator", notifications=True)
catalogue = load_catalogue(
    config.data_dir(), pn.state.session_args.get("release", [b""])[0].decode() or config.default_release()
)
run = pn.state.session_args.get("run", [b""])[0].decode() or None
page, _holder = create_page(catalogue, store=default_store(), user=auth.current_user(), run=run)
page.servable()
