"""The Alerts page: filters and replay in the sidebar; rate chart, sky, table and the selected alert."""

from __future__ import annotations

import logging

import panel as pn

from app.off_loop import off_loop
from app.text import inert
from app.views.alerts import (
    AlertDetail,
    AlertFilters,
    AlertSky,
    AlertsState,
    AlertTable,
    RateChart,
    ReplayBox,
    RunList,
)
from app.views.when_seen import in_session
from data_loaders import capabilities
from data_loaders.alerts import observation
from data_loaders.alerts import release as task
from data_loaders.alerts.criteria import DEFAULT_PRESET
from data_loaders.catalogue import Catalogue
from layouts.common import template, unavailable_page

log = logging.getLogger(__name__)


def default_store():
    """The process's flag store (``app.store_access``); None if it cannot be opened (reviews disabled)."""
    from app.store_access import get_store

    try:
        return get_store()
    except Exception:  # the page still shows alerts without reviews
        log.exception("could not open the flag store; reviews are disabled")
        return None


def build_views(state: AlertsState) -> tuple[list, list]:
    """Sidebar and main contents for one session's state."""
    rule = dict(object="<hr>", sizing_mode="stretch_width")  # not pn.layout.Divider: it fetched its CSS from a CDN
    sidebar = [RunList(state), pn.pane.HTML(**rule), AlertFilters(state), pn.pane.HTML(**rule), ReplayBox(state)]
    main = [
        pn.Row(
            pn.Column(RateChart(state), sizing_mode="stretch_width"),
            pn.Column(AlertSky(state), sizing_mode="stretch_width"),
            sizing_mode="stretch_width",
        ),
        pn.Row(
            pn.Column(AlertTable(state), sizing_mode="stretch_width"),
            # Beside the table on a desktop, below it on a phone (the row wraps).
            pn.Column(AlertDetail(state), min_width=300, styles={"flex": "1 1 420px"}),
            sizing_mode="stretch_width",
        ),
    ]
    return sidebar, main


def create_page(
    catalogue: Catalogue, store=None, user: str | None = None, preset: str = DEFAULT_PRESET, run: str | None = None
) -> tuple[pn.template.FastListTemplate, dict]:
    """Build the page for one session; returns the template and a dict that receives ``state`` once ready.

    When the release's alerts were never computed, the page first shows a progress indicator and
    computes them (once per process; later visitors get the cached table). ``run`` names an
    observation run (``obs<OBS_ID>...``, from ``xmm-explorer alerts --observation``) to show instead;
    an unknown one shows a sentence and the list of runs.
    """
    holder: dict = {}
    if not catalogue.capabilities.has(capabilities.EPOCHS):
        return unavailable_page(catalogue, "Alerts", "dated detections", capabilities.EPOCHS), holder
    sidebar = pn.Column(sizing_mode="stretch_width")
    main = pn.Column(sizing_mode="stretch_width")

    def fill() -> None:
        state = AlertsState(catalogue, store=store, user=user or None, preset=preset, run=run)
        side, body = build_views(state)
        sidebar.objects, main.objects = side, body
        holder["state"] = state

    tmpl = template(catalogue, "Alerts", sidebar=[sidebar], main=[main], sidebar_width=360)
    if run:
        if run.startswith(observation.RUN_PREFIX) and task.is_computed(catalogue.path, run):
            fill()
        else:
            from app.views.alerts.runs import runs_html

            listing = runs_html(catalogue.name, observation.list_observation_runs(catalogue.path), None)
            main.objects = [
                pn.pane.Alert(
                    f"Release {inert(catalogue.name)} has no observation run {inert(run)}.",
                    alert_type="warning",
                ),
                pn.pane.HTML(listing),
            ]
        return tmpl, holder
    if task.is_computed(catalogue.path, preset):
        fill()
        return tmpl, holder
    main.objects = [
        pn.Row(
            pn.indicators.LoadingSpinner(value=True, size=40),
            pn.pane.Markdown(
                f"Computing the **{inert(preset)}** alerts of release {inert(catalogue.name)} for the first time "
                "(every detection against its history); this happens once per release.",
                margin=(10, 15),
            ),
        )
    ]

    async def compute_then_fill() -> None:
        try:
            await off_loop(task.shared_alerts, catalogue, preset)
            fill()
        except Exception as exc:  # one sentence in the page, traceback in the log
            log.exception("alert computation failed for %s", catalogue.name)
            main.objects = [pn.pane.Alert(inert(f"The alerts could not be computed: {exc}"), alert_type="danger")]

    if in_session():
        pn.state.onload(compute_then_fill)
    else:
        task.shared_alerts(catalogue, preset)
        fill()
    return tmpl, holder
