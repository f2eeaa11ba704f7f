"""Entry script of the Review page for ``panel serve`` (one run per browser session)."""

import panel as pn

from app import params
from layouts.review import create_page

pn.extension(notifications=True)
try:
    page, state = create_page(params.open_catalogue())
except params.ParamError as err:
    page = params.error_page(str(err))
page.servable()
