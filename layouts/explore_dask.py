"""The Explore page on a Dask-backed catalogue (``xmm-explorer serve --dask SPEC``).

The same template, sidebar order and look as the pandas page (:mod:`layouts.explore`), with a
banner naming the cluster. The sky, counts, cone searches and exports are computed by Dask; see
:mod:`app.views.dask_explore` for how the page stays responsive while the cluster works.
"""

from __future__ import annotations

import types

import panel as pn

from app.dask_backend import cluster_summary, describe_error, shared_catalogue, shared_client
from app.dask_state import DaskExploreState
from app.text import inert
from app.views.dask_explore import (
    ConeSearchView,
    DaskCountView,
    DaskExportPanel,
    DaskFilterPanel,
    DaskSkyView,
    DaskSourceCard,
    Runner,
    cluster_banner,
)
from data_loaders.dask_catalogue import DaskCatalogue
from layouts.common import lazy_card, template
from layouts.explore import release_switcher

#: State parameters mirrored in the URL (the pandas page's names where they mean the same).
URL_PARAMS = {
    "level": "level",
    "frame": "frame",
    "projection": "proj",
    "norm": "norm",
    "cmap": "cmap",
    "log_flux": "flux",
    "hr2": "hr2",
    "hr3": "hr3",
    "det_ml_min": "detml",
    "extent": "extent",
    "quality": "quality",
    "cone": "cone",
    "x_range": "x",
    "y_range": "y",
}


class DaskExplorePage:
    """Every view of one session, kept together so tests and scripts can drive them."""

    def __init__(self, catalogue: DaskCatalogue, client=None, doc=None):
        self.catalogue = catalogue
        self.state = state = DaskExploreState(catalogue)
        address = None
        if client is not None:
            try:
                address = cluster_summary(client)["address"]
            except Exception:  # noqa: BLE001 - the banner says what is wrong
                address = None
        self.runner = runner = Runner(doc, address=address)
        runner.on_error = lambda text: setattr(state, "message", text)
        self.sky = DaskSkyView(state, runner)
        self.count = DaskCountView(state, runner)
        self.filters = DaskFilterPanel(state)
        self.cone = ConeSearchView(state, runner, self.sky)
        self.card = DaskSourceCard(state, self.sky)
        self.export = DaskExportPanel(state, runner, self.count)
        self.banner = cluster_banner(client, catalogue) if client is not None else None

    def start(self) -> None:
        """The first sky and count (after the page has loaded, on a server)."""
        self.sky.render()
        self.count.refresh()

    def template(self) -> pn.template.FastListTemplate:
        main = [
            *([self.banner] if self.banner is not None else []),
            self.sky,
            pn.Row(
                pn.Column(self.cone.results(), sizing_mode="stretch_width"),
                pn.Column(self.card, sizing_mode="stretch_width"),
                sizing_mode="stretch_width",
            ),
            lazy_card("Export the selection (CSV · FITS · Parquet)", lambda: self.export),
        ]
        sidebar = [release_switcher(self.catalogue), self.count, self.cone.controls(), self.filters]
        return template(self.catalogue, "Explore", sidebar=sidebar, main=main)


def error_page(text: str) -> pn.template.FastListTemplate:
    """A page that says, in one sentence, why the Dask Explore page cannot be shown."""
    stub = types.SimpleNamespace(title="XMM Explorer", synthetic=False, name="")
    alert = pn.pane.Alert(text, alert_type="danger", sizing_mode="stretch_width")
    return template(stub, "Explore", sidebar=[], main=[alert])


def create_page(data_dir, release: str | None = None):
    """Build the Dask Explore page for one session; returns (template, page or None on error)."""
    try:
        client = shared_client()
        catalogue = shared_catalogue(data_dir, release, client)
    except Exception as exc:  # noqa: BLE001 - one sentence on the page, the traceback in the log
        import logging

        logging.getLogger("xmm_explorer.dask_explore").warning("Dask Explore page failed", exc_info=exc)
        return error_page(inert(describe_error(exc))), None
    doc = pn.state.curdoc
    page = DaskExplorePage(catalogue, client, doc)
    tmpl = page.template()
    if pn.state.location is not None:
        pn.state.location.sync(page.state, URL_PARAMS)
    if page.runner.synchronous:
        page.start()
    else:
        pn.state.onload(page.start)
    return tmpl, page
