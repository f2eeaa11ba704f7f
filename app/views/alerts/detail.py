"""The selected alert: what fired, its flux history with the compared epochs marked, links and the review box."""

from __future__ import annotations

import logging
from urllib.parse import urlencode

import numpy as np
import pandas as pd
import panel as pn

from app.plots import alerts as plots
from app.text import inert
from app.views.alerts.state import AlertsState

log = logging.getLogger(__name__)


def _source_view_class():
    """``app.views.source.SourceView`` when that view is installed, else None (the page links instead)."""
    try:
        from app.views.source import SourceView
    except Exception:  # an unfinished or broken Source view must not break this page
        log.info("Source view not available; the Alerts page links to /source instead", exc_info=True)
        return None
    return SourceView


def _num(value, fmt: str) -> str:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return "—"
    return fmt.format(v) if np.isfinite(v) else "—"


def source_link(release: str, alert: pd.Series) -> str:
    """Relative URL of the Source view of the alert's source with both compared epochs highlighted."""
    epochs = [f"{float(m):.5f}" for m in (alert["MJD"], alert["MJD_COMPARED"]) if pd.notna(m) and np.isfinite(m)]
    query = {"release": release, "srcid": int(alert["SRCID"])}
    if epochs:
        query["epochs"] = ",".join(epochs)
    return "source?" + urlencode(query)


def alert_html(alert: pd.Series | None, release: str, status: str = "") -> str:
    """Escaped HTML summary of one alert (or a hint when none is selected)."""
    if alert is None:
        return "<div class='xmm-empty'>Click an alert in the table or on the sky to see its flux history.</div>"
    compared = "—"
    if pd.notna(alert["MJD_COMPARED"]):
        kind = "upper limit" if bool(alert["COMPARED_IS_UPPER_LIMIT"]) else "flux"
        compared = (
            f"MJD {_num(alert['MJD_COMPARED'], '{:.2f}')}, {alert['COMPARED_MISSION']} {kind} "
            f"{_num(alert['COMPARED_FLUX'], '{:.3g}')} erg/cm²/s"
        )
    items = [
        ("Alert", f"{alert['ALERT_TYPE']} ({alert['STONKS_TYPE']}) · {alert['ALERT_ID']}"),
        ("Detection", f"DETID {int(alert['DETID'])}, OBS_ID {alert['OBS_ID']}, MJD {_num(alert['MJD'], '{:.2f}')}"),
        ("Flux 0.2–12 keV", f"{_num(alert['FLUX'], '{:.3g}')} ± {_num(alert['FLUX_ERR'], '{:.2g}')} erg/cm²/s"),
        ("Ratio", f"{_num(alert['RATIO'], '{:.2f}')} (error-bar ends: {_num(alert['RATIO_LOW'], '{:.2f}')})"),
        ("Compared with", compared),
        ("Criterion", f"factor {_num(alert['FACTOR'], '{:g}')}, {_num(alert['CONFIDENCE'], '{:.0%}')} error bars"),
        (
            "Position",
            f"RA {_num(alert['RA'], '{:.5f}')}°, Dec {_num(alert['DEC'], '{:+.5f}')}°, "
            f"b {_num(alert['BII'], '{:+.2f}')}°",
        ),
        ("Review", status or "not reviewed"),
    ]
    rows = "".join(f"<tr><th>{inert(k)}</th><td>{inert(str(v))}</td></tr>" for k, v in items)
    link = inert(source_link(release, alert))
    return (
        f"<div class='xmm-card'><h3 style='margin:2px 0 6px 0'>{inert(str(alert['IAUNAME']))}</h3>"
        f"<table class='xmm-kv'>{rows}</table>"
        f"<a class='xmm-open' href='{link}' target='_blank'>Open in the Source view →</a></div>"
    )


class AlertDetail(pn.viewable.Viewer):
    """Summary, flux history and reviewer buttons for ``state.selected``."""

    def __init__(self, state: AlertsState, **params):
        super().__init__(**params)
        self.state = state
        self.summary = pn.pane.HTML(sizing_mode="stretch_width")
        self.curve = pn.pane.HoloViews(None, sizing_mode="stretch_width", height=320)
        # Toggling ``visible`` on a HoloViews pane trips a Panel bug (stylesheets); swap a container's objects.
        self.curve_box = pn.Column(sizing_mode="stretch_width")
        self.comment = pn.widgets.TextAreaInput(
            label="Comment", placeholder="why (optional)", max_length=2000, height=70, sizing_mode="stretch_width"
        )
        self.confirm = pn.widgets.Button(label="confirmed", color="success", width=120)
        self.artefact = pn.widgets.Button(label="artefact", color="danger", width=120)
        self.confirm.on_click(lambda e: self.review("confirmed"))
        self.artefact.on_click(lambda e: self.review("artefact"))
        self.login_hint = pn.pane.Markdown("", margin=(5, 10))
        self.message = pn.pane.Alert("", alert_type="info", visible=False, sizing_mode="stretch_width")
        self._source_cls = _source_view_class()
        self.source_card = pn.Card(title="Full Source view", collapsed=True, sizing_mode="stretch_width", visible=False)
        self.source_card.param.watch(self._build_source_view, ["collapsed"])
        state.param.watch(self.update, ["selected", "user"])
        state.param.watch(self._show_message, ["message"])
        self.update()

    def update(self, *_) -> None:
        st = self.state
        alert = st.selected_alert()
        row = (
            None
            if alert is None or st.alerts is None
            else int(np.flatnonzero(st.alerts["ALERT_ID"].to_numpy() == st.selected)[0])
        )
        self.summary.object = alert_html(alert, st.catalogue.name, "" if row is None else st.status[row])
        if alert is not None:
            points = st.history(int(alert["SRCID"]))
            self.curve.object = plots.alert_lightcurve(
                points, (float(alert["MJD"]), float(alert["MJD_COMPARED"])), title=f"SRCID {int(alert['SRCID'])}"
            )
        self.curve_box.objects = [self.curve] if alert is not None else []
        can = st.can_review and alert is not None
        for b in (self.confirm, self.artefact):
            b.disabled = not can
        self.comment.disabled = not st.can_review
        self.login_hint.object = "" if st.can_review else "[Log in to review](login?next=/alerts)."
        self.source_card.visible = self._source_cls is not None and alert is not None
        self.source_card.objects = []
        self.source_card.collapsed = True

    def _build_source_view(self, *_) -> None:
        alert = self.state.selected_alert()
        if self.source_card.collapsed or alert is None or self._source_cls is None or self.source_card.objects:
            return
        epochs = [float(m) for m in (alert["MJD"], alert["MJD_COMPARED"]) if pd.notna(m)]
        try:
            self.source_card.objects = [
                self._source_cls(self.state.catalogue, srcid=int(alert["SRCID"]), highlight_epochs=epochs)
            ]
        except Exception as exc:  # show one sentence, keep the page alive
            log.exception("Source view failed for SRCID %s", alert["SRCID"])
            self.source_card.objects = [
                pn.pane.Alert(inert(f"The Source view could not be shown: {exc}"), alert_type="warning")
            ]

    def review(self, verdict: str) -> None:
        if self.state.review_selected(verdict, self.comment.value_input or self.comment.value or ""):
            self.comment.value = ""
            self.update()

    def _show_message(self, *_) -> None:
        msg = self.state.message
        self.message.object = inert(msg)
        self.message.alert_type = "success" if msg.startswith("Recorded") else "warning"
        self.message.visible = bool(msg)

    def __panel__(self):
        return pn.Column(
            self.summary,
            self.curve_box,
            pn.pane.Markdown("**Review this alert**", margin=(10, 10, 0, 10)),
            self.comment,
            pn.Row(self.confirm, self.artefact, self.login_hint),
            self.message,
            self.source_card,
            sizing_mode="stretch_width",
        )
