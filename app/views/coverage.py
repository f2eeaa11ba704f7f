"""Coverage on the Explore sky: the footprint of the release's observations, and "was this observed?".

The footprint outlines come from ``data_loaders.coverage`` (one circle per field) and are
drawn as one Path overlay, built once per process and projection. A tap with no source
under it answers with the observations that covered the position and the flux upper limit.
"""

from __future__ import annotations

import functools

import holoviews as hv
import numpy as np
import panel as pn

from app.state import ExploreState
from app.views.sky import SkyView
from data_loaders import coverage
from data_loaders.errors import CatalogueError


@functools.lru_cache(maxsize=8)
def footprint_path(release_dir: str, proj: str) -> hv.Path | None:
    """The observation footprint as one Path element (None when the release has no observation table)."""
    try:
        polys = coverage.footprint_polygons(coverage.load_observations(release_dir), proj)
    except (CatalogueError, FileNotFoundError):
        return None
    return hv.Path([np.column_stack(p) for p in polys], kdims=["x", "y"]).opts(
        color="#38bdf8", line_width=1, line_alpha=0.8
    )


def coverage_report(release_dir, ra: float, dec: float) -> str:
    """One or two sentences: which observations covered (ra, dec), and the deepest upper limit."""
    try:
        ul = coverage.upper_limit(release_dir, ra, dec)
    except CatalogueError as exc:
        return str(exc)
    if ul.empty:
        return f"Position {ra:.4f}°, {dec:+.4f}° was never in an XMM-Newton field of this release."
    best = ul.loc[ul["FLUX_UL"].idxmin()]
    return (
        f"Position {ra:.4f}°, {dec:+.4f}° was observed {len(ul)} time(s) without a detection here; the deepest, "
        f"{best['OBS_ID']} ({best['PN_ONTIME'] / 1e3:.0f} ks pn), gives a 3σ upper limit of "
        f"{best['FLUX_UL']:.2e} erg/cm²/s (0.2–12 keV, estimated)."
    )


class CoverageControls(pn.viewable.Viewer):
    """A toggle that overlays the footprint on the sky; taps on empty sky report coverage."""

    def __init__(self, state: ExploreState, sky: SkyView, **params):
        super().__init__(**params)
        self.state, self.sky = state, sky
        self.toggle = pn.widgets.Checkbox(label="show observation footprints", value=False)
        self.available = (state.catalogue.path / coverage.OBSERVATIONS_FILE).exists()
        self.toggle.disabled = not self.available
        self.stream = hv.streams.Params(state, ["projection", "frame"])
        self.overlay = hv.DynamicMap(self._footprint, streams=[self.stream, hv.streams.Params(self.toggle, ["value"])])
        sky.add_overlay(self.overlay)
        sky.on_empty_tap = self._on_empty_tap

    def _footprint(self, **_):
        st = self.state
        if not self.toggle.value or st.frame != "icrs":
            return hv.Path([], kdims=["x", "y"])
        path = footprint_path(str(st.catalogue.path), st.projection)
        return path if path is not None else hv.Path([], kdims=["x", "y"])

    def _on_empty_tap(self, lon: float, lat: float) -> None:
        if not self.available:
            return
        ra, dec = lon, lat
        if self.state.frame == "galactic":
            from astropy import units as u
            from astropy.coordinates import SkyCoord

            c = SkyCoord(l=lon * u.deg, b=lat * u.deg, frame="galactic").icrs
            ra, dec = float(c.ra.deg), float(c.dec.deg)
        self.state.message = coverage_report(self.state.catalogue.path, ra, dec)

    def __panel__(self):
        note = "" if self.available else " (no observation table in this release)"
        return pn.Row(
            self.toggle, pn.pane.Markdown(f"Tap empty sky to ask whether it was observed{note}.", margin=(5, 10))
        )
