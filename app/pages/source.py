"""Entry script of the Source page for ``panel serve``: ``/source?release=R&srcid=N`` (or ``detid=``/``name=``)."""

import logging

import panel as pn

from app import config, params
from layouts.source import create_page

log = logging.getLogger("xmm_explorer.source")
pn.extension(notifications=True)


def _arg(name: str) -> str:
    return params.arg(name)


def _flag_store():
    """The review database, opened once per process; None (and a log line) when it cannot be opened."""

    def open_it():
        from data_loaders.store import open_store

        try:
            return open_store(config.db_url(), config.data_dir())
        except Exception:
            log.exception("the flag store could not be opened; the Source page shows no flags")
            return None

    return pn.state.as_cached("xmm-flag-store", open_it)


try:
    catalogue = params.open_catalogue(_arg("release"))
except params.ParamError as err:
    params.error_page(str(err)).servable()
else:
    page, view = create_page(
        catalogue,
        srcid=_arg("srcid"),
        detid=_arg("detid"),
        name=_arg("name"),
        obs=_arg("obs"),
        store=_flag_store(),
        epochs=_arg("epochs"),
    )
    page.servable()
