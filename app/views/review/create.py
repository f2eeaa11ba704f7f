"""The admin's form for a new campaign: from a typed query or an uploaded list of IDs/positions."""

from __future__ import annotations

import panel as pn
import param

from app.query import QueryError
from app.upload import SizedFileInput
from app.views.review.items import DEFAULT_MATCH_RADIUS, ItemsError, items_from_query, items_from_upload
from app.views.review.session import ReviewState
from data_loaders.export import ExportError


class CampaignCreator(pn.viewable.Viewer):
    """Name + description + items (query or file); the Store refuses anyone but an admin."""

    def __init__(self, state: ReviewState, **params):
        super().__init__(**params)
        self.state = state
        self.name_input = pn.widgets.TextInput(
            label="Campaign name",
            placeholder="e.g. DR14 extended-source check",
            max_length=200,
            sizing_mode="stretch_width",
        )
        self.description = pn.widgets.TextAreaInput(
            label="Description", height=60, max_length=10_000, sizing_mode="stretch_width"
        )
        self.origin = pn.widgets.RadioButtonGroup(options=["query", "file"], value="query", color="default")
        self.level = pn.widgets.RadioButtonGroup(options=["sources", "detections"], value="sources")
        self.query = pn.widgets.TextInput(
            label="Query", placeholder="sc_det_ml > 1000 and sc_extent > 0", sizing_mode="stretch_width"
        )
        self.file = SizedFileInput(accept=".csv,.txt,.xml,.vot,.votable", sizing_mode="stretch_width")
        self.file.param.watch(self._on_file_error, "error")
        self.radius = pn.widgets.FloatInput(
            label="Match radius for positions (arcsec)", value=DEFAULT_MATCH_RADIUS, start=0.1, end=600.0, step=0.5
        )
        self.button = pn.widgets.Button(label="Create campaign", color="primary", css_classes=["xmm-create"])
        self.button.on_click(lambda e: self._on_create())
        self.note = pn.pane.Markdown(
            "Items come from a typed query, an uploaded CSV/VOTable of `SRCID`, `DETID`, `IAUNAME` or `RA`/`DEC` "
            "(matched to the nearest source), or from the Explore page's current selection.",
            styles={"opacity": "0.75", "font-size": "0.9em"},
        )
        self._query_box = pn.Column(self.level, self.query, sizing_mode="stretch_width")
        self._file_box = pn.Column(self.file, self.radius, visible=False, sizing_mode="stretch_width")
        self.origin.param.watch(self._toggle, "value")

    def _on_file_error(self, event: param.parameterized.Event) -> None:
        if event.new:
            self.state.say(event.new, "warning")

    def _on_create(self) -> None:
        """``create`` for the button, whose callback returns nothing."""
        self.create()

    def _toggle(self, event):
        self._query_box.visible = event.new == "query"
        self._file_box.visible = event.new == "file"

    def items(self) -> tuple[list, str]:
        """The items the form describes and a sentence about them; ItemsError etc. otherwise."""
        cat = self.state.catalogue
        if self.origin.value == "query":
            items = items_from_query(cat, self.query.value or "", self.level.value)
            return items, f"{len(items):,} {self.level.value} match the query."
        return items_from_upload(
            cat,
            self.file.value or b"",
            self.file.filename or "upload.csv",
            float(self.radius.value or DEFAULT_MATCH_RADIUS),
        )

    def create(self) -> int | None:
        """Build the items and create the campaign (the Store checks the role)."""
        try:
            self.state.store.require_role(self.state.user, "admin")
            items, note = self.items()
        except PermissionError as exc:
            self.state.say(str(exc), "danger")
            return None
        except (ItemsError, QueryError, ExportError) as exc:
            self.state.say(str(exc), "warning")
            return None
        campaign_id = self.state.create_campaign(self.name_input.value or "", items, self.description.value or "")
        if campaign_id is not None:
            self.state.say(f"Created campaign '{self.name_input.value}': {note}", "success")
        return campaign_id

    def __panel__(self):
        return pn.Column(
            self.name_input,
            self.description,
            self.origin,
            self._query_box,
            self._file_box,
            self.button,
            self.note,
            sizing_mode="stretch_width",
        )
