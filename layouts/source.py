"""The Source page: one source's ``SourceView`` with a search box and example sources in the sidebar."""

from __future__ import annotations

import logging
import math
from functools import partial
from urllib.parse import parse_qsl, urlencode

import numpy as np
import pandas as pd
import panel as pn
import param

from app.text import inert
from app.views.source import SourceState, SourceView, resolve_source
from app.views.source.format import html_pane
from data_loaders.catalogue import Catalogue
from data_loaders.process_cache import ProcessCache
from layouts.common import template

log = logging.getLogger(__name__)

#: State parameters mirrored in the URL: the permalink of a source and its selected observation
#: (values kept as the text they are: an OBS_ID such as 0010000301 is a string, see ``UrlSync``).
URL_PARAMS = {"srcid": "srcid", "obs_id": "obs", "band": "band"}
N_EXAMPLES = 8
_EXAMPLES: ProcessCache[list[tuple[int, str, float, int]]] = ProcessCache("example sources", max_items=8)


def example_sources(catalogue: Catalogue, n: int = N_EXAMPLES) -> list[tuple[int, str, float, int]]:
    """Bright sources worth a look: (SRCID, IAUNAME, flux, N), the brightest first, cached per process.

    Preferably sources with products (TSERIES) and several detections; a release without products
    (a stacked one has no TSERIES column) or with too few of them falls back to sources with several
    detections, then to the brightest sources.
    """
    return _EXAMPLES.get((catalogue.path, n), lambda: _pick_examples(catalogue, n), paths=[catalogue.path])


def _pick_examples(catalogue: Catalogue, n: int) -> list[tuple[int, str, float, int]]:
    src = catalogue.sources
    srcid = src["SRCID"].to_numpy()
    several = src["N_DETECTIONS"].to_numpy() > 1 if "N_DETECTIONS" in src else np.ones(len(src), bool)
    det = catalogue.detections
    if "TSERIES" in det:
        with_products = np.unique(det.loc[det["TSERIES"].to_numpy(bool), "SRCID"].to_numpy())
        wanted = (np.isin(srcid, with_products) & several, several)
    else:
        wanted = (several,)
    pick = src
    for mask in wanted:
        if mask.sum() >= n:
            pick = src[mask]
            break
    flux = pick["SC_EP_8_FLUX"] if "SC_EP_8_FLUX" in pick else pd.Series(np.nan, index=pick.index)
    pick = pick.assign(_flux=flux.astype(float)).nlargest(n, "_flux")
    counts = pick["N_DETECTIONS"] if "N_DETECTIONS" in pick else pd.Series(1, index=pick.index)
    return [
        (int(s), str(name), float(f), int(c))
        for s, name, f, c in zip(pick["SRCID"], pick["IAUNAME"], pick["_flux"], counts, strict=True)
    ]


def examples_html(catalogue: Catalogue) -> str:
    items = "".join(
        f"<li><a href='source?release={inert(catalogue.name)}&amp;srcid={srcid:d}'>{inert(name)}</a>"
        f"<br><small>{flux:.2g} erg/cm²/s · {n:,} detections</small></li>"
        for srcid, name, flux, n in example_sources(catalogue)
    )
    return f"<b>Bright sources to try</b><ul style='padding-left:18px'>{items}</ul>"


class SourceSearch(pn.viewable.Viewer):
    """A box taking a SRCID, DETID or IAU name and showing that source."""

    def __init__(self, state: SourceState, **params):
        super().__init__(**params)
        self.state = state
        self.box = pn.widgets.TextInput(placeholder="SRCID, DETID or 4XMM J…", label="Find a source", width=190)
        self.button = pn.widgets.Button(label="Show", color="primary", width=80, margin=(26, 5, 5, 5))
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
        self.feedback.object = f"<div class='xmm-empty'>{inert(msg)}</div>" if msg else ""
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
    epochs: str = "",
) -> tuple[pn.template.FastListTemplate, SourceView]:
    """Build the page for one session from the URL's values; returns the template and the view.

    ``epochs``: comma-separated MJDs to mark on the long-term lightcurve (alert links compare two
    epochs); values that are not finite numbers are ignored.
    """
    resolved, message = resolve_source(catalogue, srcid=srcid or None, detid=detid or None, name=name or None)
    # The SRCID goes in with the OBS_ID: a state made without a source forgets its observation.
    state = SourceState(catalogue, srcid=resolved, obs_id=obs.strip(), highlight_epochs=parse_epochs(epochs))
    if message:
        state.message = message
    view = SourceView(catalogue, state=state, store=store)
    search = SourceSearch(state)
    sidebar = [search, html_pane(examples_html(catalogue))]
    tmpl = template(catalogue, "Source", sidebar=sidebar, main=[view], sidebar_width=300)
    if pn.state.location is not None:
        pn.state.onload(partial(_sync_url, state))
    return tmpl, view


def parse_epochs(text: str, limit: int = 20) -> list[float]:
    """MJDs from ``epochs=58000.5,58400.25`` (at most ``limit``; anything else is skipped)."""
    out = []
    for part in (text or "").split(",")[:limit]:
        try:
            value = float(part)
        except ValueError:
            continue
        if math.isfinite(value):
            out.append(value)
    return out


def _sync_url(state: SourceState) -> None:
    """Mirror the state in the URL both ways (the state's watchers keep the ``UrlSync`` alive)."""
    UrlSync(state, pn.state.location)


def _text_value(parameter: param.Parameter, text: str):
    """The value of ``parameter`` written as ``text`` in a URL; ValueError if it cannot take it."""
    if isinstance(parameter, param.Selector):
        for option in parameter.objects:
            if str(option) == text:
                return option
        raise ValueError(f"{text!r} is not one of {parameter.objects}")
    if isinstance(parameter, param.Integer):
        if not text.lstrip("-").isdigit() or len(text) > 19 or abs(int(text)) >= 2**63:
            raise ValueError(f"{text[:40]!r} is not a 64-bit whole number")
        return int(text)
    return text


class UrlSync:
    """Mirror parameters of ``state`` and the query of ``location`` (a ``pn.state.location``) both ways.

    Not ``location.sync``: Panel turns every query value that looks like a number into one and
    writes the whole query back on each change, so ``obs=0010000301`` became ``obs=10000301`` when
    another parameter changed, and an OBS_ID coming back from the browser was an int, which the
    String parameter rejects. Here the query is read and written as text, and each value converted by its
    parameter only: ``srcid`` and ``band`` as numbers, ``obs`` as the string it is. Values the state
    cannot take (unknown band, a SRCID that is no number) are ignored; other query keys are kept.
    """

    def __init__(self, state: param.Parameterized, location, params: dict[str, str] = URL_PARAMS):
        self.state, self.location, self.params = state, location, dict(params)
        self._writing = False
        self.from_url()
        self.to_url()
        state.param.watch(self.to_url, list(self.params))
        location.param.watch(self.from_url, "search")

    def query(self) -> dict[str, str]:
        return dict(parse_qsl((self.location.search or "").lstrip("?"), keep_blank_values=True))

    def from_url(self, *_) -> None:
        if self._writing:
            return
        query, values = self.query(), {}
        for name, key in self.params.items():
            if key not in query:
                continue
            try:
                value = _text_value(self.state.param[name], query[key].strip())
            except ValueError:
                log.info("ignored URL value %s=%r", key, query[key])
                continue
            if value != getattr(self.state, name):
                values[name] = value
        if values:
            self.state.param.update(**values)

    def to_url(self, *_) -> None:
        query = self.query()
        for name, key in self.params.items():
            value = getattr(self.state, name)
            if value not in (None, ""):
                query[key] = str(value)
        search = "?" + urlencode(query)
        if search != self.location.search:
            self._writing = True
            try:
                self.location.search = search
            finally:
                self._writing = False
