"""Export the current selection, send it to desktop tools over SAMP, and import a list as a selection."""

from __future__ import annotations

import io
import logging
from pathlib import Path

import panel as pn
import param
from panel.custom import JSComponent

from app import export_service as es
from app import samp_tokens
from app.selection import SelectionError
from app.state import ExploreState
from app.text import inert
from app.upload import SizedFileInput
from data_loaders.errors import XmmExplorerError
from data_loaders.export import FORMATS

log = logging.getLogger("xmm_explorer.export")

#: CSV is a plain table; ECSV is the same text with units, descriptions and provenance.
FORMAT_LABELS = {
    "CSV (plain)": "csv",
    "FITS": "fits",
    "VOTable": "votable",
    "ECSV (units, provenance)": "ecsv",
    "Parquet": "parquet",
    "DS9 regions": "ds9",
}
HUB_URL = "http://localhost:21012/"
#: Above this many rows SAMP gets FITS (TOPCAT maps a FITS file instead of parsing it).
SAMP_VOTABLE_MAX_ROWS = 200_000
#: Above this many rows the download goes through a streamed link instead of the websocket.
DOWNLOAD_WIDGET_MAX_ROWS = 250_000


class SampBridge(JSComponent):
    """The browser side of SAMP: sends ``request`` to the user's local hub (see ``app/static/samp.js``)."""

    request = param.Dict(default={}, doc="{id, mtype, params, label}; each new value is sent once")
    status = param.String(default="", doc="One sentence from the browser about the last send")
    hub_url = param.String(default=HUB_URL)
    sent = param.Integer(default=0, doc="Sends finished (successfully or not) in the browser")

    _esm = Path(__file__).resolve().parent.parent / "static" / "samp.js"


def _current_user() -> str | None:
    return es.current_user()


class ExportPanel(pn.viewable.Viewer):
    """Format, columns and download of the selection; SAMP send and point-at; import of a list."""

    message = param.String(default="", doc="One sentence about the last export or import")

    def __init__(self, state: ExploreState, table_view=None, hub_url: str = HUB_URL, **params):
        super().__init__(**params)
        self.state, self.table_view = state, table_view
        self._samp_id = 0
        self.fmt = pn.widgets.Select(label="format", options=FORMAT_LABELS, value="fits", width=200)
        self.columns = pn.widgets.MultiChoice(label="columns", options=[], value=[], sizing_mode="stretch_width")
        self.download = pn.widgets.FileDownload(
            callback=self._download_file, filename="selection.fits", label="Download", color="primary", width=250
        )
        self.link_button = pn.widgets.Button(label="Make a download link", width=180, visible=False)
        self.samp_button = pn.widgets.Button(label="Send to TOPCAT/Aladin/DS9 (SAMP)", color="success", width=260)
        self.point_button = pn.widgets.Button(label="Point at source", width=140)
        self.samp = SampBridge(hub_url=hub_url, sizing_mode="stretch_width", min_height=20)
        self.info = pn.pane.HTML("", sizing_mode="stretch_width")
        self.note = pn.pane.HTML("", sizing_mode="stretch_width")
        self.upload = SizedFileInput(accept=".csv,.txt,.vot,.xml,.votable", width=250)
        self.radius = pn.widgets.FloatInput(
            label="match radius (arcsec)", value=5.0, start=0.1, end=600, step=0.5, width=150
        )
        self.import_info = pn.pane.HTML("", sizing_mode="stretch_width")

        self.fmt.param.watch(self._refresh, "value")
        self.columns.param.watch(self._refresh, "value")
        self.link_button.on_click(self._make_link)
        self.samp_button.on_click(self._send_table)
        self.point_button.on_click(self._point_at)
        self.upload.param.watch(self._import, "value")
        self.upload.param.watch(self._upload_refused, "error")
        self.radius.param.watch(self._import, "value")
        state.param.watch(self._on_level, ["level", "band"])
        state.param.watch(self._refresh, ["version", "srcid"])
        if table_view is not None:
            table_view.param.watch(self._on_table_extra, "extra")
        self._on_level()

    # --- what would be exported ----------------------------------------------------------------
    def _on_level(self, *_):
        cat, level = self.state.catalogue, self.state.level
        extra = list(getattr(self.table_view, "extra", []) or [])
        have = es.available_columns(cat, level)
        self.columns.options = have
        self.columns.value = [
            c for c in dict.fromkeys(es.default_columns(cat, level, self.state.band) + extra) if c in have
        ]
        self._refresh()

    def _on_table_extra(self, event):
        added = [c for c in event.new if c not in self.columns.value and c in self.columns.options]
        if added:
            self.columns.value = [*self.columns.value, *added]

    def limit(self) -> int | None:
        return es.row_limit(_current_user())

    def plan(self) -> es.ExportPlan:
        return es.plan_export(self.state, self.columns.value)

    def problem(self, n_rows: int, fmt: str) -> str:
        """Why this export cannot run now (one sentence), or ''."""
        limit = self.limit()
        if not self.columns.value:
            return "Choose at least one column to export."
        if limit is not None and n_rows > limit:
            return es.limit_sentence(limit, n_rows)
        if fmt == "ds9" and not ({"RA", "SC_RA"} & set(self.columns.value)):
            return "A DS9 region file needs the RA and DEC columns; add them to the columns."
        return ""

    def _refresh(self, *_):
        self.state.answer("export", self.state.shown.count, self._show_plan)

    def _show_plan(self, n: int) -> None:
        fmt = self.fmt.value
        limit = self.limit()
        plan_name = es.export_filename(f"{self.state.catalogue.name}-{self.state.level}-{n}", fmt)
        self.download.filename = plan_name
        self.download.label = f"Download {plan_name}"
        problem = self.problem(n, fmt)
        big = n > DOWNLOAD_WIDGET_MAX_ROWS
        self.download.disabled = bool(problem) or big
        self.link_button.visible = big
        self.link_button.disabled = bool(problem)
        self.samp_button.disabled = bool(self.problem(n, "fits"))
        self.point_button.disabled = self.state.srcid is None
        lim = "no row limit" if limit is None else f"limit {limit:,} rows"
        text = (
            f"<span class='xmm-count'><b>{n:,}</b> {inert(self.state.level)} in the selection</span>"
            f" · {len(self.columns.value)} columns · {lim}"
        )
        if problem:
            text += f"<div class='xmm-export-problem xmm-problem'>{inert(problem)}</div>"
        self.info.object = text

    def _say(self, sentence: str) -> None:
        self.message = sentence
        self.note.object = f"<div class='xmm-export-note'>{inert(sentence)}</div>" if sentence else ""

    # --- actions -----------------------------------------------------------------------------------
    def _export(self, fmt: str) -> tuple[Path, es.ExportPlan]:
        plan = self.plan()
        problem = self.problem(plan.n_rows, fmt)
        if problem:
            raise es.ExportError(problem)
        return es.export_to_file(plan, fmt, max_rows=self.limit()), plan

    def _download_file(self):
        """FileDownload callback: the export written to a temporary file, handed over as its path."""
        try:
            path, plan = self._export(self.fmt.value)
        except XmmExplorerError as exc:
            self._say(str(exc))
            raise
        self.download.filename = es.filename_for(plan, self.fmt.value)
        self._say(f"Exported {plan.n_rows:,} rows as {self.fmt.value.upper()}.")
        # FileDownload sends the bytes over the websocket in one message (hence DOWNLOAD_WIDGET_MAX_ROWS).
        return io.BytesIO(es.take_file(path))

    def _make_link(self, *_):
        fmt = self.fmt.value
        try:
            path, plan = self._export(fmt)
        except XmmExplorerError as exc:
            self._say(str(exc))
            return
        name = es.filename_for(plan, fmt)
        token = samp_tokens.registry().issue(path, name, FORMATS[fmt][1])
        minutes = samp_tokens.TOKEN_TTL_S // 60
        self.note.object = (
            f"<a class='xmm-open' href='{inert(samp_tokens.token_url(token))}' download='{inert(name)}'>"
            f"Download {inert(name)}</a> (link valid for {minutes:d} minutes)"
        )

    def _send_table(self, *_):
        n = self.state.shown.count()
        fmt = "votable" if n <= SAMP_VOTABLE_MAX_ROWS else "fits"
        try:
            path, plan = self._export(fmt)
        except XmmExplorerError as exc:
            self._say(str(exc))
            return
        name = es.filename_for(plan, fmt)
        token = samp_tokens.registry().issue(path, name, FORMATS[fmt][1])
        title = f"{plan.catalogue.name} {plan.level} ({plan.n_rows:,} rows)"
        self._samp_id += 1
        self.samp.request = {
            "id": self._samp_id,
            "mtype": f"table.load.{fmt}",
            "params": {"url": samp_tokens.token_url(token), "table-id": f"xmm-explorer-{token[:12]}", "name": title},
            "label": f"Sent {plan.n_rows:,} rows",
        }
        self._say("")

    def _point_at(self, *_):
        row = self.state.catalogue.source_row(self.state.srcid) if self.state.srcid is not None else None
        if row is None:
            self._say("Pick a source first (click it on the sky or in the table).")
            return
        self._samp_id += 1
        self.samp.request = {
            "id": self._samp_id,
            "mtype": "coord.pointAt.sky",
            "params": {"ra": f"{float(row['SC_RA']):.7f}", "dec": f"{float(row['SC_DEC']):.7f}"},
            "label": f"Pointed at {row['IAUNAME']}",
        }

    def _upload_refused(self, event):
        if event.new:
            self.import_info.object = f"<div class='xmm-problem'>{inert(event.new)}</div>"

    def _import(self, *_):
        if not self.upload.value:
            return
        try:
            match = es.match_list(
                self.state.catalogue,
                self.state.level,
                self.upload.value,
                self.upload.filename or "list.csv",
                float(self.radius.value or 5.0),
            )
        except (XmmExplorerError, SelectionError) as exc:
            self.import_info.object = f"<div class='xmm-problem'>{inert(str(exc))}</div>"
            return
        self.state.set_part("ids", match.selection)
        self.import_info.object = f"<div class='xmm-import-summary'>{inert(match.summary())}</div>"

    def __panel__(self):
        return pn.Column(
            pn.pane.Markdown("**Export the selection**", margin=(5, 5, 0, 5)),
            self.info,
            pn.Row(self.fmt, self.download, self.link_button, sizing_mode="stretch_width"),
            self.columns,
            pn.Row(self.samp_button, self.point_button),
            self.samp,
            self.note,
            pn.pane.Markdown(
                "**Import a list** (SRCID, DETID, IAUNAME or RA/DEC columns; CSV or VOTable)", margin=(10, 5, 0, 5)
            ),
            pn.Row(self.upload, self.radius),
            self.import_info,
            sizing_mode="stretch_width",
        )
