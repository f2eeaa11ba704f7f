"""The marks that orient a reader on the Explore sky: all-sky and zoomed graticules, scale bar,
reticle, cone outline.

Bokeh glyphs added once to each figure the sky view draws; at each pan, zoom, go-to or new
selection their data are replaced in place (:func:`app.plots.sky_marks` computes them), like the
image's. Labels and the scale bar carry their own dark box so they read on both themes. The
all-sky graticule (:func:`app.plots.sky.graticule`) is drawn here too, not as HoloViews elements:
their three element plots were half the CPU of drawing a page's sky (issue 19).
"""

from __future__ import annotations

import numpy as np
from bokeh.models import ColumnDataSource
from bokeh.models.annotations import BoxAnnotation, Label, LabelSet
from panel.io import hold

from app.plots import sky as skyplot
from app.plots import sky_marks
from app.selection import Cone
from app.state import ExploreState
from data_loaders import projection

#: Text and box of labels and of the scale bar (13.6:1), whatever the page's theme.
INK, BOX = "#f9fafb", "#111827"
#: The reticle on the chosen source: cyan over a dark halo (no colour map or class uses it).
RETICLE = "#22d3ee"
#: The scale bar's left end (screen px): clear of the latitude labels on the left edge, above the
#: longitude labels on the bottom edge.
BAR_LEFT = 80


def _nan_joined(lines) -> tuple[list, list]:
    return [np.asarray(x, dtype=float) for x, _ in lines], [np.asarray(y, dtype=float) for _, y in lines]


class SkyMarks:
    """The orientation marks of one session's sky figure."""

    def __init__(self, state: ExploreState):
        self.state = state
        # The all-sky graticule: meridians and parallels, the sky's outline, their labels.
        self.sky_lines = ColumnDataSource({"xs": [], "ys": []})
        self.sky_outline = ColumnDataSource({"xs": [], "ys": []})
        self.sky_labels = ColumnDataSource({"x": [], "y": [], "text": [], "align": []})
        self._graticule: tuple | None = None  # (projection, frame) of the all-sky graticule's data
        self.grid = ColumnDataSource({"xs": [], "ys": []})
        self.labels = ColumnDataSource({"x": [], "y": [], "text": [], "dx": [], "dy": [], "align": []})
        self.cone = ColumnDataSource({"xs": [], "ys": []})
        self.reticle = ColumnDataSource({"x": [], "y": []})
        self.bar = BoxAnnotation(
            left=BAR_LEFT, right=BAR_LEFT + 100, bottom=26, top=31, left_units="screen", right_units="screen",
            bottom_units="screen", top_units="screen", fill_color=INK, fill_alpha=1.0, line_color=BOX, line_width=2,
        )  # fmt: skip
        self.bar_label = Label(
            x=BAR_LEFT, y=34, x_units="screen", y_units="screen", text="", text_color=INK, text_font_size="11px",
            background_fill_color=BOX, background_fill_alpha=0.85,
        )  # fmt: skip
        self._figures: set[str] = set()
        self.view = None

    def attach(self, fig) -> None:
        """Add the marks to a figure (once per figure)."""
        if fig.id in self._figures:
            return
        self._figures.add(fig.id)
        colour = skyplot.graticule(self.state.projection, self.state.frame).colour
        fig.multi_line("xs", "ys", source=self.sky_lines, line_color=colour, **skyplot.GRATICULE_LINES)
        fig.multi_line("xs", "ys", source=self.sky_outline, line_color=colour, **skyplot.GRATICULE_OUTLINE)
        fig.text(
            "x", "y", text="text", text_align="align", text_baseline="middle", source=self.sky_labels,
            text_color=colour, **skyplot.GRATICULE_TEXT,
        )  # fmt: skip
        fig.multi_line("xs", "ys", source=self.grid, line_color="#9ca3af", line_alpha=0.6, line_dash="dotted")
        fig.multi_line(
            "xs", "ys", source=self.cone, line_color=skyplot.SELECTION_COLOUR, line_width=2, line_dash="dashed"
        )
        fig.scatter(
            "x", "y", source=self.reticle, marker="circle_cross", size=26, fill_alpha=0, line_color=BOX, line_width=4
        )
        fig.scatter(
            "x",
            "y",
            source=self.reticle,
            marker="circle_cross",
            size=26,
            fill_alpha=0,
            line_color=RETICLE,
            line_width=2,
        )
        fig.add_layout(
            LabelSet(
                x="x", y="y", text="text", x_offset="dx", y_offset="dy", text_align="align", source=self.labels,
                text_color=INK, text_font_size="10px", background_fill_color=BOX, background_fill_alpha=0.7,
            )
        )  # fmt: skip
        fig.add_layout(self.bar)
        fig.add_layout(self.bar_label)

    def update(self, view=None, width_px: float | None = None) -> None:
        """Recompute every mark for ``view`` ((x0, x1), (y0, y1); None: the last one) at ``width_px``."""
        st = self.state
        self.view = view if view is not None else self.view
        if self.view is None:
            return
        lines, labels = sky_marks.grid(st.projection, st.frame, self.view)
        xs, ys = _nan_joined(lines)
        _, px, text = sky_marks.scale_bar(st.projection, self.view, width_px or 900)
        with hold():
            self._update_graticule()
            self.grid.data = {"xs": xs, "ys": ys}
            self.labels.data = {
                "x": [x for x, *_ in labels],
                "y": [y for _, y, *_ in labels],
                "text": [t for *_, t, _ in labels],
                "dx": [0 if k == "lon" else 4 for *_, k in labels],
                "dy": [4 if k == "lon" else 0 for *_, k in labels],
                "align": ["center" if k == "lon" else "left" for *_, k in labels],
            }
            self.bar.right = BAR_LEFT + px
            self.bar_label.text = text
            self._update_reticle()
            self._update_cone()

    def _update_graticule(self) -> None:
        st = self.state
        if self._graticule == (st.projection, st.frame):
            return
        self._graticule = (st.projection, st.frame)
        g = skyplot.graticule(st.projection, st.frame)
        self.sky_lines.data = {"xs": [g.lines[:, 0]], "ys": [g.lines[:, 1]]}
        self.sky_outline.data = {"xs": [g.outline[:, 0]], "ys": [g.outline[:, 1]]}
        x, y, text, align = (list(c) for c in zip(*g.labels, strict=True)) if g.labels else ([], [], [], [])
        self.sky_labels.data = {"x": x, "y": y, "text": text, "align": align}

    def _update_reticle(self) -> None:
        st, x, y = self.state, [], []
        row = st.catalogue.source_row(st.srcid) if st.srcid is not None else None
        if row is not None:
            lon, lat = (row["LII"], row["BII"]) if st.frame == "galactic" else (row["SC_RA"], row["SC_DEC"])
            px, py = projection.forward(np.array([float(lon)]), np.array([float(lat)]), st.projection)
            x, y = [float(px[0])], [float(py[0])]
        self.reticle.data = {"x": x, "y": y}

    def _update_cone(self) -> None:
        st, xs, ys = self.state, [], []
        cone = st.parts.get("cone")
        if isinstance(cone, Cone):
            x, y = sky_marks.cone_outline(cone.ra, cone.dec, cone.radius_deg, st.projection, st.frame)
            xs, ys = [x], [y]
        self.cone.data = {"xs": xs, "ys": ys}

    def refresh(self, *_) -> None:
        """The source or the selection changed: the reticle and the cone follow."""
        if self.view is not None:
            with hold():
                self._update_reticle()
                self._update_cone()
