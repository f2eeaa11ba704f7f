"""Entry script of the Review page for ``panel serve`` (one run per browser session)."""

import panel as pn

from app import config
from data_loaders.catalogue import load_catalogue
from layouts.review import create_page

pn.extension(notifications=True)
catalogue = load_catalogue(
    config.data_dir(), pn.state.session_args.get("release", [b""])[0].decode() or config.default_release()
)
page, state = create_page(catalogue)
page.servable()
