"""Go-to box: coordinates, IAU names, SRCID/DETID/OBS_ID, with an optional cone radius.

Offline: object names resolve only from the search module's small built-in list.
"""

from __future__ import annotations

import numpy as np
import panel as pn

from app.search import DetectionId, NamePattern, ObsId, Position, SearchError, SourceId, parse_target
from app.selection import Ids, In
from app.state import ExploreState
from data_loaders import projection

#: Most sources a name prefix may select.
MAX_NAME_MATCHES = 50_000
HELP = "e.g. `00:42:44 +41:16:09 r=10'`, `l=121.2 b=-21.6`, `M31`, `4XMM J0042`, `srcid 201234`, `0123456789`"


def zoom_window(proj: str, lon: float, lat: float, half_width_deg: float) -> tuple[tuple, tuple]:
    """x/y ranges (deg) of a view centred on (lon, lat) about ``2 * half_width_deg`` wide."""
    x, y = projection.forward(np.array([lon]), np.array([lat]), proj)
    h = max(half_width_deg, 0.05)
    return (float(x[0]) - 2 * h, float(x[0]) + 2 * h), (float(y[0]) - h, float(y[0]) + h)


def go_to(state: ExploreState, text: str) -> str:
    """Apply the go-to text to ``state``; return one sentence saying what happened."""
    target = parse_target(text)
    cat, level = state.catalogue, state.level
    if isinstance(target, Position):
        lon, lat = target.ra, target.dec
        if state.frame == "galactic":
            gal = target.skycoord.galactic
            lon, lat = float(gal.l.deg), float(gal.b.deg)
        radius = target.radius_deg
        xr_, yr_ = zoom_window(state.projection, lon, lat, (radius or 0.25) * 2)
        state.param.update(x_range=xr_, y_range=yr_)
        if radius:
            state.select_cone(target.ra, target.dec, radius)
            n = state.counts()["selected"]
            return f"Cone of {radius * 60:.3g}′ around {target.ra:.4f}°, {target.dec:+.4f}°: {n:,} rows."
        row = cat.select(level).nearest("icrs", target.ra, target.dec, 30 / 3600)
        if row is not None:
            state.srcid = int(row["SRCID"])
            return f"Centred on {target.ra:.4f}°, {target.dec:+.4f}°; nearest source within 30″ selected."
        from app.views.coverage import coverage_report

        return f"No source within 30″. {coverage_report(cat.path, target.ra, target.dec)}"
    if isinstance(target, SourceId | DetectionId):
        col = "SRCID" if isinstance(target, SourceId) else "DETID"
        value = target.srcid if isinstance(target, SourceId) else target.detid
        hit = cat.find("detections" if col == "DETID" else level, col, [value], ["SRCID"])
        if len(hit) == 0:
            raise SearchError(f"No {col} {value} in release {cat.name}.")
        srcid = int(hit["SRCID"].iat[0])
        _centre_on(state, srcid)
        return f"{col} {value}: source {srcid}."
    if isinstance(target, ObsId):
        hit = cat.find("detections", "OBS_ID", [target.obs_id], ["SRCID"])
        if len(hit) == 0:
            raise SearchError(f"No detection from observation {target.obs_id} in release {cat.name}.")
        srcids = np.unique(hit["SRCID"].to_numpy(np.int64))
        state.set_part(
            "ids", Ids("SRCID", tuple(srcids.tolist())) if level == "sources" else In("OBS_ID", (target.obs_id,))
        )
        _centre_on(state, int(srcids[0]), half_width=0.4)
        return f"Observation {target.obs_id}: {len(hit):,} detections of {srcids.size:,} sources selected."
    if isinstance(target, NamePattern):
        hit = cat.name_prefix(target.prefix, MAX_NAME_MATCHES + 1)
        if len(hit) == 0:
            raise SearchError(f"No source name starts with {target.prefix!r} in release {cat.name}.")
        srcids = np.unique(hit["SRCID"].to_numpy(np.int64))
        if srcids.size == 1:
            _centre_on(state, int(srcids[0]))
            return f"{hit['IAUNAME'].iat[0]}: source {int(srcids[0])}."
        if srcids.size > MAX_NAME_MATCHES:
            raise SearchError(
                f"More than {MAX_NAME_MATCHES:,} names start with {target.prefix!r}; type more of the name."
            )
        state.set_part("ids", Ids("SRCID", srcids.tolist()))
        return f"{srcids.size:,} sources whose name starts with {target.prefix!r} selected."
    raise SearchError(f"Cannot go to {text!r}.")  # pragma: no cover


def _centre_on(state: ExploreState, srcid: int, half_width: float = 0.1) -> None:
    row = state.catalogue.source_row(srcid)
    if row is None:
        return
    if state.frame == "galactic":
        lon, lat = float(row["LII"]), float(row["BII"])
    else:
        lon, lat = float(row["SC_RA"]), float(row["SC_DEC"])
    xr_, yr_ = zoom_window(state.projection, lon, lat, half_width)
    state.param.update(x_range=xr_, y_range=yr_, srcid=srcid)


class GoToBox(pn.viewable.Viewer):
    """A search field and its answer."""

    def __init__(self, state: ExploreState, **params):
        super().__init__(**params)
        self.state = state
        self.input = pn.widgets.TextInput(
            placeholder="Go to: coordinates, name, SRCID, OBS_ID…", sizing_mode="stretch_width"
        )
        self.radius_hint = pn.pane.Markdown(HELP, styles={"font-size": "0.8em", "opacity": "0.75"}, margin=(0, 10))
        self.input.param.watch(self._on_enter, "enter_pressed")

    def _on_enter(self, *_):
        text = self.input.value_input or self.input.value or ""
        if not text.strip():
            return
        try:
            self.state.message = go_to(self.state, text)
        except SearchError as exc:
            self.state.message = str(exc)

    def __panel__(self):
        return pn.Column(self.input, self.radius_hint, sizing_mode="stretch_width")
