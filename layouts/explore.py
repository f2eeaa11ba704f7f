"""The Explore page: sky, linked HR diagram and flux distribution, table, source card.

One page for both catalogue engines (in memory, or Dask with ``serve --dask``): the views only
talk to :class:`app.state.ExploreState` and the catalogue interface; a catalogue that describes
its engine (a Dask cluster) gets that line above the sky.
"""

from __future__ import annotations

import panel as pn

from app import config
from app.state import ExploreState
from app.text import inert
from app.views.coverage import CoverageControls
from app.views.explore_flags import ExploreFlags
from app.views.export import ExportPanel
from app.views.filters import FilterPanel
from app.views.goto import GoToBox
from app.views.hips import hips_layer
from app.views.linked import FluxView, HRView
from app.views.sky import SkyView
from app.views.skymap_overlay import SkyMapControls
from app.views.source_card import SourceCard
from app.views.table import TableView
from data_loaders.catalogue import CatalogueEngine
from data_loaders.releases import list_releases
from layouts.common import after_load, lazy_card, template

#: State parameters mirrored in the URL (short names keep permalinks readable).
URL_PARAMS = {
    "level": "level",
    "frame": "frame",
    "projection": "proj",
    "colour_by": "colour",
    "norm": "norm",
    "cmap": "cmap",
    "band": "band",
    "log_flux": "flux",
    "hr1": "hr1",
    "hr2": "hr2",
    "hr3": "hr3",
    "hr4": "hr4",
    "det_ml_min": "detml",
    "extent": "extent",
    "quality": "quality",
    "variability": "var",
    "n_det": "ndet",
    "mjd": "mjd",
    "classes": "classes",
    "class_prob_min": "pclass",
    "selection_code": "sel",
    "query": "q",
    "query_mode": "qmode",
    "x_range": "x",
    "y_range": "y",
    "srcid": "src",
    "hr_x": "hrx",
    "hr_y": "hry",
    "flags": "flags",
    "flag_labels": "labels",
    "citizen_classes": "citizen",
}


def release_switcher(catalogue: CatalogueEngine) -> pn.viewable.Viewable:
    """A release picker; choosing one reloads the page on that release (permalinks carry ``release=``)."""
    names = [r["name"] for r in list_releases(catalogue.path.parent.parent)]
    select = pn.widgets.Select(
        label="Catalogue release", options=names, value=catalogue.name, sizing_mode="stretch_width"
    )
    select.jscallback(value="window.location.search = '?release=' + encodeURIComponent(cb_obj.value);")
    return select


def create_page(catalogue: CatalogueEngine) -> tuple[pn.template.FastListTemplate, ExploreState]:
    """Build the page for one session; returns the template and the session's state."""
    state = ExploreState(catalogue)
    sky = SkyView(state)
    filters = FilterPanel(state, sky)
    goto = GoToBox(state)
    card = SourceCard(state)
    coverage = CoverageControls(state, sky)
    hips = hips_layer(state, sky, config.hips_source())
    skymaps = SkyMapControls(state, sky)
    table = TableView(state)
    engine = catalogue.engine_note()
    linked = pn.Row(
        pn.Column(HRView(state), sizing_mode="stretch_width"),
        pn.Column(FluxView(state), sizing_mode="stretch_width"),
        pn.Column(pn.pane.Markdown("**Source**", margin=(8, 5)), card, sizing_mode="stretch_width"),
        sizing_mode="stretch_width",
    )
    below = pn.Column(sizing_mode="stretch_width", min_height=400)  # the views under the sky
    main = [
        *([pn.pane.Alert(inert(engine), alert_type="info", sizing_mode="stretch_width")] if engine else []),
        pn.Column(sky, coverage, *([hips] if hips is not None else []), skymaps, sizing_mode="stretch_width"),
        below,
        lazy_card("Export · SAMP · import a list", lambda: ExportPanel(state, table)),
        lazy_card("Flag this source or the selection (reviewers)", lambda: ExploreFlags(state)),
    ]
    tmpl = template(catalogue, "Explore", sidebar=[release_switcher(catalogue), goto, filters], main=main)
    if pn.state.location is not None:
        pn.state.location.sync(state, URL_PARAMS)
        if state.x_range is None:  # a permalink's query, as when typed, zooms to its rows
            filters.zoom_to_query()

    def show_rest():
        # Built once the page has loaded, not in the request that creates the session: the sky
        # comes first (issue 19). The views exist already; only their Bokeh models wait. (The
        # sidebar and the sky's layer controls stay in the request: the load test's websocket client,
        # tests/load/client.py, looks for the filter slider in the first document.)
        below.objects = [linked, table]

    after_load(show_rest)
    return tmpl, state
