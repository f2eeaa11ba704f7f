"""``SourceView``: everything about one source, for the Source page and for pages that embed it."""

from __future__ import annotations

from functools import cached_property

import panel as pn

from app.views.source.classification import SourceClassification
from app.views.source.format import empty, html_pane
from app.views.source.longterm import LongtermLightcurve
from app.views.source.products import ObservationLightcurve, ObservationSpectrum
from app.views.source.shape import BandShape
from app.views.source.state import SourceState
from app.views.source.summary import SourceSummary
from app.views.source.tables import CounterpartsTable, DetectionsTable
from app.views.when_seen import when_seen
from data_loaders.catalogue import Catalogue
from data_loaders.demo_products import product_store_for


def _card(*objects, **params) -> pn.Column:
    params.setdefault("sizing_mode", "stretch_width")
    return pn.Column(
        *objects, styles={"border": "1px solid rgba(128,128,128,0.3)", "border-radius": "6px"}, margin=(6, 6), **params
    )


def _pair(left, right) -> pn.Row:
    """Two cards side by side (wrapping on a narrow screen)."""
    return pn.Row(_card(left, min_width=480), _card(right, min_width=420), sizing_mode="stretch_width")


class SourceView(pn.viewable.Viewer):
    """All panels of one source, driven by one ``SourceState``.

    Other pages embed it: ``SourceView(catalogue, srcid=..., highlight_epochs=[mjd, ...])``;
    set ``view.state.srcid`` to show another source. ``products`` is a ProductStore (default:
    the release's, see ``product_store_for``), ``store`` the flag store (optional).

    In a browser session the panels below the long-term lightcurve (the observation's products,
    band fluxes, counterparts, the detections table) are made the first time they scroll into view
    (``when_seen``); the attributes make them on first use.
    """

    def __init__(
        self,
        catalogue: Catalogue,
        srcid: int | None = None,
        highlight_epochs=None,
        *,
        store=None,
        products="default",
        state: SourceState | None = None,
        **params,
    ):
        super().__init__(**params)
        self.catalogue = catalogue
        self.products = product_store_for(catalogue) if products == "default" else products
        self.state = state or SourceState(
            catalogue, srcid=srcid, highlight_epochs=[float(m) for m in highlight_epochs or []]
        )
        st = self.state
        self.summary = SourceSummary(st, store)
        self.classification = SourceClassification(st, store)
        self.longterm = LongtermLightcurve(st)
        self.detections = DetectionsTable(st)
        self.message = html_pane("")
        self._layout = pn.Column(
            pn.Row(
                _card(self.summary, min_width=420),
                _card(self.classification, min_width=380),
                sizing_mode="stretch_width",
            ),
            _card(self.longterm),
            _card(pn.Row(pn.pane.Markdown("**Selected observation**", margin=(18, 10)), self.detections.chooser)),
            when_seen(lambda: _pair(self.lightcurve, self.spectrum), height=640),
            when_seen(lambda: _pair(self.shape, self.counterparts), height=360),
            when_seen(lambda: _card(self.detections), height=400),
            sizing_mode="stretch_width",
        )
        st.param.watch(self._show, ["srcid", "message"])
        self._show()

    @cached_property
    def lightcurve(self) -> ObservationLightcurve:
        return ObservationLightcurve(self.state, self.products)

    @cached_property
    def spectrum(self) -> ObservationSpectrum:
        return ObservationSpectrum(self.state, self.products)

    @cached_property
    def shape(self) -> BandShape:
        return BandShape(self.state)

    @cached_property
    def counterparts(self) -> CounterpartsTable:
        return CounterpartsTable(self.state)

    def _show(self, *_):
        st = self.state
        known = st.srcid is not None and st.detections is not None
        self._layout.visible = known
        self.message.object = "" if known else empty(st.message or "No source selected.")
        self.message.visible = not known

    def __panel__(self):
        return pn.Column(self.message, self._layout, sizing_mode="stretch_width")
