"""Entry script of the outreach sky page for ``panel serve`` (one run per browser session)."""

import panel as pn

from app import config
from data_loaders.catalogue import load_catalogue
from layouts.outreach import create_page

pn.extension()
catalogue = load_catalogue(config.data_dir(), config.default_release())
page, sky = create_page(catalogue)
page.servable(title="The X-ray sky · XMM Explorer")
