"""The tutorial: short illustrated steps, each a picture made from a real example of the catalogue."""

from __future__ import annotations

from collections.abc import Callable

import panel as pn
import param

from app.plots import classify as plots
from app.text import inert
from app.views.classify.game_data import GameData, clues
from data_loaders.catalogue import Catalogue
from data_loaders.citizen import CATEGORIES

PLOT_HEIGHT = 270

#: The soft and hard band colours of the plots, as text readable in either theme (WCAG AA).
SOFT_TEXT = "light-dark(#b91c1c, #f87171)"
HARD_TEXT = "light-dark(#6d28d9, #a78bfa)"


def _text(title: str, body: str) -> pn.pane.HTML:
    return pn.pane.HTML(f"<div class='xmm-step'><h2>{title}</h2>{body}</div>", sizing_mode="stretch_width")


def _pair(*plots_) -> pn.Row:
    panes = [
        pn.pane.HoloViews(p, sizing_mode="stretch_width", min_height=PLOT_HEIGHT, linked_axes=False) for p in plots_
    ]
    return pn.Row(*panes, sizing_mode="stretch_width")


def steps(catalogue: Catalogue, data: GameData) -> list[tuple[str, Callable[[], list]]]:
    """(title, builder) per step; a builder returns the step's panes (built when first shown)."""
    ex = {key: clues(catalogue, srcid) for key, srcid in data.examples.items()}
    h = PLOT_HEIGHT

    def example(key):
        return ex.get(key) or next(iter(ex.values()))

    def sky():
        star, agn = example("star"), example("agn")
        return [
            _text(
                "What XMM-Newton sees",
                "<p>XMM-Newton is a space telescope that sees <b>X-rays</b>, light far too energetic for our eyes. "
                "Every dot on its map is an X-ray source. Astronomers need your help to sort them into families.</p>"
                "<p><b>Clue 1: where is it?</b> The blue band across the middle is our Milky Way. Sources in the "
                "band are often in our own Galaxy (stars, X-ray binaries); sources far from it are often other "
                "galaxies, far away.</p>",
            ),
            _pair(
                plots.sky_position(data.backdrop, star.lon, star.lat, "A star, in the Milky Way", h, 440),
                plots.sky_position(data.backdrop, agn.lon, agn.lat, "An active galaxy, far from it", h, 440),
            ),
        ]

    def colours():
        star, agn = example("star"), example("agn")
        return [
            _text(
                "Clue 2: its X-ray colours",
                f"<p>X-rays come in 'colours' too: <span style='color:{SOFT_TEXT}'>soft</span> (low energy) to "
                f"<span style='color:{HARD_TEXT}'>hard</span> (high energy). Stars and clusters of galaxies give "
                "mostly soft X-rays; active galaxies and X-ray binaries give harder ones.</p>",
            ),
            _pair(
                plots.spectrum_shape(list(star.fluxes), "A star: mostly soft", h),
                plots.spectrum_shape(list(agn.fluxes), "An active galaxy: harder", h),
            ),
        ]

    def changes():
        xrb, agn = example("xrb"), example("agn")
        return [
            _text(
                "Clue 3: does it change?",
                "<p>XMM-Newton and other telescopes have looked at the same places for over 20 years. X-ray "
                "binaries and cataclysmic variables can flare up a hundredfold; triangles mean 'too faint to "
                "see, below this level'.</p>",
            ),
            _pair(
                plots.lightcurve(xrb.lc_mjd, xrb.lc_flux, xrb.lc_upper, xrb.lc_mission, "An X-ray binary", h),
                plots.lightcurve(agn.lc_mjd, agn.lc_flux, agn.lc_upper, agn.lc_mission, "An active galaxy", h),
            ),
        ]

    def shape():
        cluster = example("cluster")
        return [
            _text(
                "Clue 4: sharp or fuzzy?",
                "<p>Almost every X-ray source looks like a small sharp point. A <b>cluster of galaxies</b> looks "
                "like a big fuzzy cloud: its X-rays come from hot gas spread between hundreds of galaxies.</p>",
            ),
            _pair(
                plots.apparent_shape(0.0, "A point", h, h),
                plots.apparent_shape(cluster.extent, "A fuzzy cluster", h, h),
            ),
        ]

    def counterpart():
        return [
            _text(
                "Clue 5: seen in ordinary light?",
                "<p>Other telescopes photograph the same spot in visible and infrared light. A <b>bright</b> "
                "counterpart (small magnitude) usually means a nearby star; a faint one, or none, a far-away "
                "galaxy.</p>",
            )
        ]

    def families():
        cards = []
        for cat in CATEGORIES:
            c = ex.get(cat.key)
            body = f"<h3>{inert(cat.label)}</h3><p>{inert(cat.blurb)}</p>"
            if cat.clue:
                body += f"<p class='xmm-small'>Clue: {inert(cat.clue)}</p>"
            card: list[pn.viewable.Viewable] = [pn.pane.HTML(body, sizing_mode="stretch_width")]
            if c is not None:
                card.append(
                    pn.pane.HoloViews(
                        plots.spectrum_shape(list(c.fluxes), "Its X-ray colours", 220, 340),
                        linked_axes=False,
                    )
                )
            cards.append(pn.Column(*card, css_classes=["xmm-family"], width=380))
        return [
            _text("The families", "<p>These are the answers you can choose. Not sure? Say so: that helps too.</p>"),
            pn.FlexBox(*cards, sizing_mode="stretch_width"),
        ]

    def ready():
        return [
            _text(
                "Ready?",
                "<p>Go to <b>Play</b>. You will see one source at a time with its clues. Pick the family you think "
                "it belongs to and how sure you are. Some sources are already known to astronomers: for those we "
                "tell you what they think. Have fun!</p>",
            )
        ]

    return [
        ("Sky", sky),
        ("Colours", colours),
        ("Changes", changes),
        ("Shape", shape),
        ("Light", counterpart),
        ("Families", families),
        ("Ready", ready),
    ]


class Tutorial(pn.viewable.Viewer):
    """Step-by-step tutorial with Back / Next and a step counter."""

    step = param.Integer(default=0, bounds=(0, None))

    def __init__(self, catalogue: Catalogue, data: GameData, on_done: Callable[[], None] | None = None, **params):
        super().__init__(**params)
        self._steps = steps(catalogue, data)
        self._built: dict[int, list] = {}
        self._on_done = on_done
        self._body = pn.Column(sizing_mode="stretch_width")
        self._counter = pn.pane.HTML(sizing_mode="stretch_width")
        big = [":host .bk-btn { font-size: 1.2em; }"]
        self._back = pn.widgets.Button(label="◀ Back", height=56, width=160, stylesheets=big)
        self._next = pn.widgets.Button(label="Next ▶", color="primary", height=56, width=200, stylesheets=big)
        self._back.on_click(lambda _e: self._go(-1))
        self._next.on_click(lambda _e: self._go(+1))
        self._layout = pn.Column(
            self._body,
            pn.Row(self._back, self._counter, self._next, sizing_mode="stretch_width"),
            sizing_mode="stretch_width",
        )
        self._show()
        self.param.watch(self._show, "step")

    def _go(self, delta: int) -> None:
        if self.step + delta >= len(self._steps):
            if self._on_done is not None:
                self._on_done()
            return
        self.step = max(self.step + delta, 0)

    def _show(self, *_):
        if self.step not in self._built:
            self._built[self.step] = self._steps[self.step][1]()
        self._body.objects = self._built[self.step]
        self._counter.object = f"<div class='xmm-step-count'>Step {self.step + 1:d} of {len(self._steps):d}</div>"
        self._back.disabled = self.step == 0
        self._next.label = "Let's play! ▶" if self.step == len(self._steps) - 1 else "Next ▶"

    def __panel__(self):
        return self._layout
