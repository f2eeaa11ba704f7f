"""The Explore sidebar: level/frame/projection/colour, presets, filters, typed query, counts."""

from __future__ import annotations

from functools import partial

import panel as pn

from app import fields
from app.state import PRESETS, ExploreState
from app.text import inert
from app.views.sky import SkyView


def query_help(mode: str) -> str:
    """What the query box does in ``mode`` ("filter" or "select"), in one line."""
    if mode == "select":
        return "The query **selects** among the rows that pass the filters (drawn highlighted)."
    return "The query **filters**: only matching rows pass, as with the filters below."


def _apply_preset(state: ExploreState, name: str, _event=None) -> None:
    state.apply_preset(name)


class FilterPanel(pn.viewable.Viewer):
    """Every filter widget, generated from the state's parameters."""

    def __init__(self, state: ExploreState, sky: SkyView, **params):
        super().__init__(**params)
        self.state = state
        sp = state.param
        self.count = pn.pane.HTML(css_classes=["xmm-count"], sizing_mode="stretch_width")
        self.message = pn.pane.Alert("", alert_type="warning", visible=False, sizing_mode="stretch_width")
        preset_buttons = []
        for name in PRESETS:
            b = pn.widgets.Button(label=name, color="light", margin=(2, 3))
            b.on_click(partial(_apply_preset, state, name))
            preset_buttons.append(b)
        reset = pn.widgets.Button(label="reset filters", color="default", margin=(2, 3))
        reset.on_click(lambda e: state.reset_filters())
        clear = pn.widgets.Button(label="clear selection", color="warning", margin=(2, 3))
        clear.on_click(lambda e: state.clear_selection())
        self.sky = sky
        self.colour_by = pn.widgets.Select.from_param(sp.colour_by, label="Colour by", width=130)
        self._offer_colourings()
        self.norm = pn.widgets.Select.from_param(sp.norm, label="Scale", width=85)
        self.cmap = pn.widgets.Select.from_param(sp.cmap, label="Colours", width=80)
        sp.watch(self._enable_scales, ["colour_by"])
        self._enable_scales()
        self.query = pn.widgets.TextInput(
            label="Query", placeholder="sc_det_ml > 100 and cone('M31', 1deg)", sizing_mode="stretch_width"
        )
        self.query.param.watch(self._on_query, "enter_pressed")
        sp.watch(lambda e: setattr(self.query, "value", e.new), "query")  # a permalink's, or '' at a new level
        self.query_mode = pn.widgets.RadioButtonGroup.from_param(
            sp.query_mode, color="primary", variant="outline", margin=(0, 10), name="query mode"
        )
        self.query_help = pn.pane.Markdown(query_help(state.query_mode), styles={"font-size": "0.85em"}, margin=(0, 10))
        sp.watch(lambda e: setattr(self.query_help, "object", query_help(e.new)), "query_mode")
        self.flux = pn.widgets.RangeSlider.from_param(sp.log_flux, label=fields.label("flux", 8), step=0.1)
        sp.watch(lambda e: setattr(self.flux, "label", fields.label("flux", e.new)), "band")
        classes = pn.widgets.MultiChoice.from_param(sp.classes, label="Class (machine classifier)")
        self.widgets = pn.Column(
            pn.widgets.RadioButtonGroup.from_param(sp.level, color="primary", variant="outline"),
            pn.Row(
                pn.widgets.Select.from_param(sp.frame, label="Frame", width=95),
                pn.widgets.Select.from_param(sp.projection, label="Projection", width=110),
            ),
            pn.Row(
                self.colour_by,
                self.norm,
                self.cmap,
            ),
            pn.widgets.RadioButtonGroup.from_param(sky.param.mode, color="default", label="new selections"),
            pn.pane.Markdown("**Presets**", margin=(10, 5, 0, 5)),
            pn.FlexBox(*preset_buttons, reset, clear),
            self.query,
            self.query_mode,
            self.query_help,
            pn.pane.Markdown("**Filters**", margin=(10, 5, 0, 5)),
            pn.widgets.Select.from_param(sp.band, label="Flux band (1-5, 8 = 0.2-12 keV)"),
            self.flux,
            *(
                pn.widgets.RangeSlider.from_param(sp[f"hr{i}"], label=fields.label(f"hr{i}"), step=0.05)
                for i in range(1, 5)
            ),
            pn.widgets.FloatSlider.from_param(sp.det_ml_min, label="Detection likelihood ≥", step=1),
            pn.widgets.RadioButtonGroup.from_param(sp.extent),
            pn.widgets.Select.from_param(sp.quality, label="Quality (clean: SUM_FLAG < 3, good: = 0)"),
            pn.widgets.RadioButtonGroup.from_param(sp.variability),
            pn.widgets.IntRangeSlider.from_param(sp.n_det, label="Number of detections"),
            pn.widgets.RangeSlider.from_param(sp.mjd, label="Observation date (MJD)", step=30),
            classes,
            pn.widgets.FloatSlider.from_param(sp.class_prob_min, label="Class probability ≥", step=0.05),
            pn.widgets.MultiChoice.from_param(sp.citizen_classes, label="Class (citizen-science consensus)"),
            pn.widgets.RadioButtonGroup.from_param(sp.flags),
            pn.widgets.MultiChoice.from_param(sp.flag_labels, label="Reviewer labels (empty: any)"),
            sizing_mode="stretch_width",
        )
        state.param.watch(self._update_count, ["version"])
        state.param.watch(self._offer_colourings, ["version"])
        state.param.watch(self._update_message, ["message"])
        self._update_count()

    def _on_query(self, *_):
        """Enter in the query box: apply it (filter or select), then show where its rows are."""
        st = self.state
        text = (self.query.value_input or self.query.value or "").strip()
        if text == st.query:
            st.apply_query()  # the same text again (after 'clear selection', say): apply it anew
        else:
            st.query = text
        if text:
            self.zoom_to_query()

    def zoom_to_query(self) -> None:
        """Show where the query's rows are: after Enter in the box, or for a permalink that names a
        query but no view (one with ``x=``/``y=`` keeps the view it names)."""
        st = self.state
        if st.query and not st.message:
            with st.answering():
                self.sky.zoom_to_shown()

    def _offer_colourings(self, *_):
        """Only colourings that change the sky (a first reviewer flag adds 'Fraction flagged')."""
        options = self.state.colourings()
        if options != self.colour_by.options:
            self.colour_by.options = options

    def _enable_scales(self, *_):
        """Scale and Colours act on counts (Scale on classes too); a mean has its own fixed span and map."""
        by = self.state.colour_by
        self.norm.disabled = by not in ("count", "class", "citizen")
        self.cmap.disabled = by != "count"

    def _update_count(self, *_):
        st = self.state
        unit = "sources" if st.level == "sources" else "detections"
        st.answer("count", st.counting(), partial(self._show_count, unit, st.has_selection))

    def _show_count(self, unit: str, selecting: bool, c: dict[str, int]) -> None:
        sel = f" · <b>{c['selected']:,}</b> selected" if selecting else ""
        self.count.object = f"<b>{c['filtered']:,}</b> of {c['total']:,} {unit} pass the filters{sel}"

    def _update_message(self, *_):
        self.message.object = inert(self.state.message)
        self.message.visible = bool(self.state.message)

    def __panel__(self):
        return pn.Column(self.count, self.message, self.widgets, sizing_mode="stretch_width")
