"""Entry script of the Alerts page for ``panel serve`` (one run per browser session)."""

import panel as pn

from app import auth, params
from layouts.alerts import create_page, default_store

pn.extension("tabulator", notifications=True)
try:
    run = params.name_arg("run", "an observation run")
    page, _holder = create_page(params.open_catalogue(), store=default_store(), user=auth.current_user(), run=run)
except params.ParamError as err:
    page = params.error_page(str(err))
page.servable()
