"""The clue board: the pictures of the source on screen (sky place, X-ray colours, lightcurve, shape, counterpart)."""

from __future__ import annotations

import panel as pn
import param

from app.plots import classify as plots
from app.text import inert
from app.views.classify.game_data import Clues, clues
from app.views.classify.state import ClassifyState

PLOT_HEIGHT = 230
PLOT_WIDTH = 300


def counterpart_html(c: Clues) -> str:
    """Magnitudes of the best counterpart in words (smaller magnitude = brighter)."""
    if not c.magnitudes:
        return (
            "<div class='xmm-clue'><h4>Seen by other telescopes?</h4>"
            "<p>No counterpart found in visible or infrared light: it is faint there, or far away.</p></div>"
        )
    rows = "".join(f"<tr><th>{inert(band)}</th><td>magnitude {mag:.1f}</td></tr>" for band, mag in c.magnitudes.items())
    bright = min(c.magnitudes.values())
    words = "bright" if bright < 13 else "fairly bright" if bright < 17 else "faint"
    return (
        "<div class='xmm-clue'><h4>Seen by other telescopes?</h4>"
        f"<p>Yes: it is <b>{words}</b> in ordinary light (smaller magnitude = brighter; the faintest stars "
        f"you can see by eye are magnitude 6).</p><table class='xmm-kv'>{rows}</table></div>"
    )


def facts_html(c: Clues) -> str:
    lat = abs(c.lat)
    where = (
        "right in the band of the Milky Way"
        if lat < 10
        else "near the Milky Way"
        if lat < 25
        else "far from the Milky Way"
    )
    shape = "a sharp point" if c.extent < 6 else f"fuzzy, about {c.extent:.0f} arcsec across"
    return (
        f"<div class='xmm-facts'><span>Place: <b>{where}</b> (latitude {c.lat:+.0f}°)</span>"
        f"<span>Shape: <b>{shape}</b></span>"
        f"<span>Flicker: <b>{'changes within an observation' if c.variable else 'steady within each observation'}</b>"
        "</span></div>"
    )


class ClueBoard(pn.viewable.Viewer):
    """Pictures of the current source's clues; the panes are updated in place when the source changes."""

    state = param.ClassSelector(class_=ClassifyState)

    def __init__(self, state: ClassifyState, **params):
        super().__init__(state=state, **params)
        opts = {"linked_axes": False, "margin": (4, 8)}
        self._sky = pn.pane.HoloViews(**opts)
        self._spectrum = pn.pane.HoloViews(**opts)
        self._lightcurve = pn.pane.HoloViews(**opts)
        self._shape = pn.pane.HoloViews(**opts)
        self._facts = pn.pane.HTML(sizing_mode="stretch_width")
        self._counterpart = pn.pane.HTML(sizing_mode="stretch_width")
        self._title = pn.pane.HTML(sizing_mode="stretch_width")
        self._layout = pn.Column(
            self._title,
            self._facts,
            pn.FlexBox(self._sky, self._spectrum, self._lightcurve, self._shape, sizing_mode="stretch_width"),
            self._counterpart,
            sizing_mode="stretch_width",
        )
        self._update()
        state.param.watch(self._update, ["srcid"])

    def _update(self, *_):
        assert self.state is not None  # set in __init__
        srcid = self.state.srcid
        if srcid is None:
            self._title.object = "<h3>You have seen every source we have. Thank you!</h3>"
            for pane in (self._sky, self._spectrum, self._lightcurve, self._shape):
                pane.visible = False
            self._facts.object = self._counterpart.object = ""
            return
        c = clues(self.state.catalogue, srcid)
        self._title.object = f"<div class='xmm-source-name'>Source {inert(c.name)}</div>"
        self._facts.object = facts_html(c)
        self._sky.object = plots.sky_position(
            self.state.data.backdrop, c.lon, c.lat, height=PLOT_HEIGHT - 30, width=PLOT_WIDTH
        )
        self._spectrum.object = plots.spectrum_shape(list(c.fluxes), height=PLOT_HEIGHT, width=PLOT_WIDTH)
        self._lightcurve.object = plots.lightcurve(
            c.lc_mjd, c.lc_flux, c.lc_upper, c.lc_mission, height=PLOT_HEIGHT, width=PLOT_WIDTH
        )
        self._shape.object = plots.apparent_shape(c.extent, height=PLOT_HEIGHT, width=PLOT_HEIGHT)
        self._counterpart.object = counterpart_html(c)

    def __panel__(self):
        return self._layout
