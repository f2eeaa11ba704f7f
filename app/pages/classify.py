"""Entry script of the Classify page for ``panel serve`` (one run per browser session)."""

import panel as pn

from app import config
from app.views.classify.access import current_user, get_store, users_file
from data_loaders.catalogue import load_catalogue
from layouts.classify import create_page

pn.extension("tabulator", notifications=True)
catalogue = load_catalogue(config.data_dir(), config.default_release())
page, state = create_page(catalogue, get_store(), users_file(), current_user())
page.servable()
