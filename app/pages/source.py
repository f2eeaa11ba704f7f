"""Entry script of the Source page for ``panel serve``: ``/source?release=R&srcid=N`` (or ``detid=``/``name=``)."""

import logging

import panel as pn

from app import config
from app.text import inert
from data_loaders.catalogue import load_catalogue
from data_loaders.errors import XmmExplorerError
from layouts.source import create_page

log = logging.getLogger("xmm_explorer.source")
pn.extension(notifications=True)


def _arg(name: str) -> str:
    return pn.state.session_args.get(name, [b""])[0].decode("utf-8", errors="replace")


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
    catalogue = load_catalogue(config.data_dir(), _arg("release") or config.default_release())
except XmmExplorerError as err:
    pn.pane.HTML(f"<h2>XMM Explorer</h2><p>{inert(str(err))}</p>").servable()
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
