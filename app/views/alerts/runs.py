"""The observation runs of a release (``alerts --observation``), as links that open each run on the Alerts page."""

from __future__ import annotations

from urllib.parse import urlencode

import panel as pn

from app.text import inert
from app.views.alerts.state import AlertsState
from data_loaders.alerts.observation import list_observation_runs


def runs_html(release: str, runs: list[dict], current: str | None) -> str:
    """Escaped HTML list: the release's own alerts first, then one line per observation run (newest first)."""

    def link(run: str | None, text: str) -> str:
        query = {"release": release, **({"run": run} if run else {})}
        mark = " style='font-weight:bold'" if run == current else ""
        return f"<a href='alerts?{inert(urlencode(query))}'{mark}>{inert(text)}</a>"

    items = [f"<li>{link(None, 'All detections of the release')}</li>"]
    for r in runs:
        c = r.get("counts", {})
        date = str(r.get("date_obs", ""))[:10]
        text = f"{r.get('obs_id', '?')} ({date}): {c.get('alerts', 0)} alerts of {c.get('read', 0)} detections"
        items.append(f"<li>{link(r['run'], text)}</li>")
    if not runs:
        items.append("<li><i>none yet: xmm-explorer alerts --observation FILE</i></li>")
    return f"<ul class='xmm-runs' style='padding-left:18px;margin:2px 0'>{''.join(items)}</ul>"


class RunList(pn.viewable.Viewer):
    """Links to the release run and every observation run; the current run's summary line under them."""

    def __init__(self, state: AlertsState, **params):
        super().__init__(**params)
        self.state = state
        runs = list_observation_runs(state.catalogue.path)
        self.html = pn.pane.HTML(runs_html(state.catalogue.name, runs, state.run), sizing_mode="stretch_width")
        summary = next((r.get("summary", "") for r in runs if r["run"] == state.run), "")
        self.summary = pn.pane.HTML(
            f"<div class='xmm-run-summary' style='font-size:90%'>{inert(summary)}</div>" if summary else "",
            sizing_mode="stretch_width",
        )

    def __panel__(self):
        return pn.Column(
            pn.pane.Markdown("**Observation runs**", margin=(5, 10, 0, 10)),
            self.html,
            self.summary,
            sizing_mode="stretch_width",
        )
