"""The Source page: one source's ``SourceView`` with a search box and example sources in the sidebar."""

from __future__ import annotations

import html
import logging
import threading
from functools import partial

import numpy as np
import panel as pn

from app.views.source import SourceState, SourceView, resolve_source
from app.views.source.format import html_pane
from data_loaders.catalogue import Catalogue
from layouts.common import template

log = logging.getLogger(__name__)

#: State parameters mirrored in the URL: the permalink of a source and its selected observation.
URL_PARAMS = {"srcid": "srcid", "obs_id": "obs", "band": "band"}
N_EXAMPLES = 8
_EXAMPLES: dict = {}
_EXAMPLES_LOCK = threading.Lock()


def example_sources(catalogue: Catalogue, n: int = N_EXAMPLES) -> list[tuple[int, str, float, int]]:
    """Bright sources with products and several detections: (SRCID, IAUNAME, flux, N), cached per process."""
    with _EXAMPLES_LOCK:
        if catalogue.path not in _EXAMPLES:
            det = catalogue.detections
            with_products = np.unique(det.loc[det["TSERIES"].to_numpy(bool), "SRCID"].to_numpy())
            src = catalogue.sources
            pick = src[np.isin(src["SRCID"].to_numpy(), with_products) & (src["N_DETECTIONS"].to_numpy() > 1)]
            if len(pick) < n:
                pick = src
            pick = pick.nlargest(n, "SC_EP_8_FLUX")
            _EXAMPLES[catalogue.path] = [
                (int(r.SRCID), str(r.IAUNAME), float(r.SC_EP_8_FLUX), int(r.N_DETECTIONS)) for r in pick.itertuples()
            ]
        return _EXAMPLES[catalogue.path]


def examples_html(catalogue: Catalogue) -> str:
    items = "".join(
        f"<li><a href='source?release={html.escape(catalogue.name)}&amp;srcid={srcid}'>{html.escape(name)}</a>"
        f"<br><small>{flux:.2g} erg/cm²/s · {n} detections</small></li>"
        for srcid, name, flux, n in example_sources(catalogue)
    )
    return f"<b>Bright sources to try</b><ul style='padding-left:18px'>{items}</ul>"


class SourceSearch(pn.viewable.Viewer):
    """A box taking a SRCID, DETID or IAU name and showing that source."""

    def __init__(self, state: SourceState, **params):
        super().__init__(**params)
        self.state = state
        self.box = pn.widgets.TextInput(placeholder="SRCID, DETID or 4XMM J…", label="Find a source", width=190)
        self.button = pn.widgets.Button(label="Show", button_type="primary", width=80, margin=(26, 5, 5, 5))
        self.feedback = html_pane("")
        self.box.param.watch(self._go, "enter_pressed")
        self.button.on_click(self._go)

    def _go(self, *_):
        text = (self.box.value_input or self.box.value or "").strip()
        if not text:
            return
        cat = self.state.catalogue
        if text.isdigit():
            srcid, msg = resolve_source(cat, srcid=text)
            if srcid is None:
                srcid, msg2 = resolve_source(cat, detid=text)
                msg = msg if srcid is None else ""
        else:
            srcid, msg = resolve_source(cat, name=text)
        self.feedback.object = f"<div class='xmm-empty'>{html.escape(msg)}</div>" if msg else ""
        if srcid is not None:
            self.state.srcid = srcid

    def __panel__(self):
        return pn.Column(pn.Row(self.box, self.button), self.feedback)


def create_page(
    catalogue: Catalogue,
    srcid: str = "",
    detid: str = "",
    name: str = "",
    obs: str = "",
    store=None,
) -> tuple[pn.template.FastListTemplate, SourceView]:
    """Build the page for one session from the URL's values; returns the template and the view."""
    resolved, message = resolve_source(catalogue, srcid=srcid or None, detid=detid or None, name=name or None)
    state = SourceState(catalogue, obs_id=obs.strip(), message=message)
    state.srcid = resolved
    if message:
        state.message = message
    view = SourceView(catalogue, state=state, store=store)
    search = SourceSearch(state)
    sidebar = [search, html_pane(examples_html(catalogue))]
    tmpl = template(catalogue, "Source", sidebar=sidebar, main=[view], sidebar_width=300)
    if pn.state.location is not None:
        pn.state.onload(partial(_sync_url, state))
    return tmpl, view


def _sync_url(state: SourceState) -> None:
    """Mirror the state in the URL both ways, and write the values chosen before the page loaded."""
    location = pn.state.location
    location.sync(state, URL_PARAMS, on_error=lambda values: log.info("ignored URL values %s", values))
    now = {URL_PARAMS[p]: getattr(state, p) for p in URL_PARAMS if getattr(state, p) not in (None, "")}
    location.update_query(**now)
