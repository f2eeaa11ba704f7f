"""A campaign's team progress (per-reviewer bars), agreement (Fleiss' kappa) and verdict export."""

from __future__ import annotations

import io
import math

import holoviews as hv
import pandas as pd
import panel as pn

from app.text import inert
from app.views.review.session import ReviewState
from data_loaders.export import export_filename, export_table
from data_loaders.store import Agreement

EXPORT_FORMATS = ("csv", "fits", "votable")


def progress_bars(progress: pd.DataFrame) -> hv.Bars:
    """Bars of the share of items each reviewer has a verdict on (0-100 %)."""
    data = pd.DataFrame({"reviewer": progress["user"].astype(str), "reviewed": 100.0 * progress["fraction"]})
    return hv.Bars(data, kdims=["reviewer"], vdims=["reviewed"]).opts(
        ylim=(0, 100),
        ylabel="reviewed (%)",
        xlabel="",
        color="#f59e0b",
        responsive=True,
        height=220,
        tools=["hover"],
        toolbar=None,
        invert_axes=True,
    )


def agreement_html(agreement: Agreement) -> str:
    """Fleiss' kappa and % agreement as a small table (— when undefined)."""

    def fmt(value: float, spec: str) -> str:
        return "—" if value is None or math.isnan(value) else spec.format(value)

    rows = [
        ("Items", f"{agreement.n_items:,}"),
        ("Reviewers", f"{agreement.n_reviewers:,}"),
        ("Items with ≥ 2 verdicts", f"{agreement.n_items_multi:,}"),
        ("All verdicts agree", fmt(agreement.fraction_agree, "{:.0%}")),
        ("Fleiss' κ", fmt(agreement.fleiss_kappa, "{:.2f}")),
    ]
    body = "".join(f"<tr><th>{inert(k)}</th><td>{inert(v)}</td></tr>" for k, v in rows)
    return f"<table class='xmm-kv xmm-agreement'>{body}</table>"


def verdicts_for_export(frame: pd.DataFrame) -> pd.DataFrame:
    """The export frame with times as ISO text (every format can store it)."""
    out = frame.copy()
    out["time"] = out["time"].map(lambda t: "" if pd.isna(t) else t.isoformat())
    for col in ("campaign", "release", "user", "label", "comment"):
        out[col] = out[col].fillna("").astype(str)
    out["detid"] = out["detid"].fillna(-1).astype("int64")
    return out


def export_verdicts_bytes(state: ReviewState, fmt: str) -> io.BytesIO:
    """The campaign's verdicts written as ``fmt`` (csv, fits or votable)."""
    if state.campaign_id is None:
        raise LookupError("No review campaign is open.")
    frame = verdicts_for_export(state.store.export_verdicts(state.campaign_id))
    buf = io.BytesIO()
    export_table(
        frame,
        buf,
        fmt,
        columns=None,
        provenance={"catalogue": state.catalogue.name, "selection": f"review campaign {state.campaign_name()}"},
    )
    buf.seek(0)
    return buf


class CampaignProgress(pn.viewable.Viewer):
    """Progress per reviewer, agreement and the export buttons of the current campaign."""

    def __init__(self, state: ReviewState, **params):
        super().__init__(**params)
        self.state = state
        self.plot = pn.pane.HoloViews(sizing_mode="stretch_width", height=230)
        self.agreement = pn.pane.HTML(sizing_mode="stretch_width")
        self.format = pn.widgets.Select(label="Export format", options=list(EXPORT_FORMATS), value="csv", width=120)
        self.download = pn.widgets.FileDownload(
            callback=self._export,
            filename="verdicts.csv",
            label="Download verdicts",
            color="primary",
            css_classes=["xmm-export"],
            align="end",
        )
        self.format.param.watch(self._rename, "value")
        state.param.watch(self._update, ["version", "campaign_id"])
        self._update()

    def _export(self):
        return export_verdicts_bytes(self.state, self.format.value)

    def _rename(self, *_):
        self.download.filename = export_filename(f"verdicts_{self.state.campaign_name()}", self.format.value)

    def _update(self, *_):
        st = self.state
        if st.campaign_id is None:
            self.plot.object = None
            self.agreement.object = "<div class='xmm-empty'>No campaign.</div>"
            return
        progress = st.store.campaign_progress(st.campaign_id)
        # (toggling a HoloViews pane's visible trips a Panel 1.9 stylesheet bug; an empty pane is enough)
        self.plot.object = progress_bars(progress) if len(progress) else None
        self.agreement.object = agreement_html(st.store.campaign_agreement(st.campaign_id))
        self._rename()

    def __panel__(self):
        return pn.Column(self.plot, self.agreement, pn.Row(self.format, self.download), sizing_mode="stretch_width")
