"""Oriented on the sky (issue 18): taps at two zooms, query modes, scale bars, colour bars, the selection colour."""

from __future__ import annotations

import html

import holoviews as hv
import numpy as np
import pytest

from app.plots import sky as skyplot
from app.plots import sky_marks
from app.state import COLOUR_OPTIONS, ExploreState
from app.views.goto import zoom_window
from app.views.sky import SkyView
from data_loaders import projection


@pytest.fixture
def state(demo_catalogue):
    return ExploreState(demo_catalogue)


def _view_at(view: SkyView, lon: float, lat: float, half_width: float) -> None:
    """Show a view centred on (lon, lat) as a go-to does (drawn at 900 x 450 px)."""
    xr_, yr_ = zoom_window(view.state.projection, lon, lat, half_width)
    view.state.param.update(x_range=xr_, y_range=yr_)
    view._image(None, None, 900, 450)


def _tap(view: SkyView, lon: float, lat: float) -> None:
    x, y = projection.forward(np.array([lon]), np.array([lat]), view.state.projection)
    view._on_tap(x=float(x[0]), y=float(y[0]))


def test_a_tap_picks_the_source_a_few_pixels_away_and_never_closer_than_its_error(state, demo_catalogue):
    src = demo_catalogue.sources
    row = src.loc[src["SC_EP_8_FLUX"].idxmax()]  # the brightest source
    ra, dec, err = float(row["SC_RA"]), float(row["SC_DEC"]), float(row["SC_POSERR"])
    view = SkyView(state)
    # The go-to view (0.4 deg on 900 px, 1.6″ a pixel): 12″ away is a few pixels, the source answers.
    _view_at(view, ra, dec, 0.1)
    assert 1.0 / 3600 < view.pixel_scale_deg() < 2.0 / 3600
    _tap(view, ra, dec + 12 / 3600)
    assert state.srcid == int(row["SRCID"]) and state.message == ""
    # Zoomed in 50 times: 12″ is 300 px, an empty neighbourhood (an upper limit would answer)...
    state.srcid = None
    _view_at(view, ra, dec, 0.002)
    _tap(view, ra, dec + 12 / 3600)
    assert state.srcid is None and "No source" in state.message
    # ...but a tap within the source's 3σ position error still picks it, however few pixels that is.
    _tap(view, ra, dec + 2.5 * err / 3600)
    assert state.srcid == int(row["SRCID"]) and state.message == ""


def test_the_query_filters_or_selects_and_zooms_to_its_rows(state, demo_catalogue):
    view = SkyView(state)
    total = len(demo_catalogue.sources)
    state.query = "sc_det_ml > 30 and cone('M31', 3deg)"
    c = state.counts()
    assert state.query_mode == "filter" and not state.has_selection and 0 < c["filtered"] < total
    state.query_mode = "select"
    c2 = state.counts()
    assert state.has_selection and c2["filtered"] == total and c2["selected"] == c["filtered"]
    view.zoom_to_shown()  # the sky goes to M31 (10.68, +41.27): a view a few degrees across
    (x0, x1), (y0, y1) = state.x_range, state.y_range
    lon, lat = projection.inverse(np.array([(x0 + x1) / 2]), np.array([(y0 + y1) / 2]), "hammer")
    assert projection.separation_deg(lon, lat, 10.68, 41.27)[0] < 3 and y1 - y0 < 10
    # A bad query says why; the next action clears the sentence.
    state.query = "sc_det_mll > 3"
    assert "sc_det_mll" in state.message.lower()
    state.det_ml_min = 5.0
    assert state.message == ""


@pytest.mark.parametrize(("width_deg", "label"), [(240.0, "30°"), (20.0, "2°"), (0.4, "2′"), (0.01, "2″")])
def test_scale_bar_is_a_round_angle_measured_at_the_view_centre(width_deg, label):
    # At RA 150°, Dec +60° a plane degree along x is 0.82° of sky: the bar is longer than x alone says.
    x, y = projection.forward(np.array([150.0]), np.array([60.0]), "hammer")
    view = ((x[0] - width_deg / 2, x[0] + width_deg / 2), (y[0] - width_deg / 4, y[0] + width_deg / 4))
    angle, px, text = sky_marks.scale_bar("hammer", view, 900)
    assert text == label and 40 < px <= 140
    # Its pixels match the sky: the angle between the inverse-projected ends of the bar.
    (x0, x1), (y0, y1) = view
    cx, cy, per_px = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 900
    lon, lat = projection.inverse(np.array([cx, cx + px * per_px]), np.array([cy, cy]), "hammer")
    # (on the whole sky the scale changes along the bar itself: a 30° bar is right within 10%)
    rel = 0.1 if width_deg > 100 else 0.01
    assert projection.separation_deg(lon[1:], lat[1:], lon[0], lat[0])[0] == pytest.approx(angle, rel=rel)


def test_zoomed_graticule_labels_its_lines_on_the_view_edges():
    view = zoom_window("hammer", 10.68, 41.27, 0.5)
    lines, labels = sky_marks.grid("hammer", "icrs", view)
    kinds = {k for *_, k in labels}
    assert len(lines) >= 4 and kinds == {"lon", "lat"}
    assert all("h" in t and "m" in t for *_, t, k in labels if k == "lon")
    assert all(t[0] in "+−" and "°" in t for *_, t, k in labels if k == "lat")
    assert sky_marks.grid("hammer", "icrs", skyplot.full_extent("hammer")) == ([], [])


def test_each_numeric_colouring_has_a_colour_bar_with_values_and_unit(state):
    view = SkyView(state)
    units = {"count": "sources per pixel", "flux": "erg/cm²/s", "hr2": "keV", "hr3": "keV", "variable": "fraction"}
    for colour_by, unit in units.items():
        state.colour_by = colour_by
        view._image(None, None, 300, 150)
        legend = html.unescape(view.legend.object)
        assert "xmm-colourbar" in legend and "linear-gradient" in legend and unit in legend, colour_by
        assert legend.count("position:absolute") == 5, colour_by
    state.colour_by = "class"
    assert "xmm-colourbar" not in view.legend.object and "Active galactic nucleus" in html.unescape(view.legend.object)


def test_colour_by_offers_only_what_changes_the_sky_with_peoples_names(state):
    offered = state.colourings()
    assert "Number of sources" in offered and offered["Number of sources"] == "count"
    # The demo has no reviewer flags, citizen votes or luminosities: those would draw the counts again.
    assert not {"flagged", "citizen", "lx"} & set(offered.values())
    view = SkyView(state)
    images = {}
    for name, value in offered.items():
        assert name == COLOUR_OPTIONS[value] and "_" not in name
        state.colour_by = value
        images[value] = view._index(None, None, 300, 150)[0].tobytes() + str(view._kind).encode()
    assert len(set(images.values())) == len(images)  # every choice draws something else


def test_selections_are_one_colour_and_never_a_single_pixel(state, demo_catalogue):
    row = demo_catalogue.sources.iloc[7]
    state.select_cone(float(row["SC_RA"]), float(row["SC_DEC"]), 1 / 3600)
    assert state.counts()["selected"] == 1
    view = SkyView(state)
    index, kind, *_ = view.colour_grids(*skyplot.full_extent("hammer"), 900, 450)
    pal = skyplot.palette(kind)
    chosen = index[index >= 128]
    assert chosen.size >= 9  # at least a 3 x 3 dot
    assert {pal[i - 1] for i in np.unique(chosen)} == {skyplot.SELECTION_COLOUR}


def test_cone_outline_is_the_cone_on_the_sky():
    x, y = sky_marks.cone_outline(10.68, 41.27, 1 / 3, "hammer", "icrs")
    lon, lat = projection.inverse(x, y, "hammer")
    assert projection.separation_deg(lon, lat, 10.68, 41.27) == pytest.approx(np.full(x.size, 1 / 3), rel=1e-6)
    gx, gy = sky_marks.cone_outline(10.68, 41.27, 1 / 3, "hammer", "galactic")
    gl, gb = projection.inverse(gx, gy, "hammer")
    assert projection.separation_deg(gl, gb, 121.17, -21.57).max() < 0.34  # M31 in galactic coordinates


def test_the_sky_marks_the_chosen_source_the_cone_and_the_scale(state, demo_catalogue):
    from app.views.goto import go_to

    view = SkyView(state)
    row = demo_catalogue.sources.iloc[3]
    go_to(state, f"srcid {int(row['SRCID'])}")
    view._image(None, None, 900, 450)
    view.marks.update(view._shown, 900)
    x, y = projection.forward(np.array([row["SC_RA"]]), np.array([row["SC_DEC"]]), "hammer")
    assert view.marks.reticle.data["x"] == pytest.approx([x[0]]) and view.marks.reticle.data["y"] == pytest.approx(
        [y[0]]
    )
    assert view.marks.bar_label.text.endswith("′") and len(view.marks.labels.data["text"]) >= 4
    assert view.marks.cone.data["xs"] == []
    go_to(state, f"{row['SC_RA']} {row['SC_DEC']} r=2'")
    assert len(view.marks.cone.data["xs"]) == 1  # the selection's cone, outlined
    state.clear_selection()
    assert view.marks.cone.data["xs"] == []


def test_the_sidebar_query_box_applies_zooms_and_scales_follow_the_colouring(state):
    from app.views.filters import FilterPanel

    sky = SkyView(state)
    panel = FilterPanel(state, sky)
    panel.query.value = "sc_det_ml > 30 and cone('M31', 3deg)"
    panel._on_query()
    assert state.query_filter is not None and state.x_range is not None and state.y_range[1] - state.y_range[0] < 10
    panel.query_mode.value = "select"
    assert state.has_selection and "selects" in panel.query_help.object
    assert not panel.cmap.disabled and not panel.norm.disabled
    state.colour_by = "hr2"  # a mean over a fixed span in its own colour map
    assert panel.cmap.disabled and panel.norm.disabled


def test_a_filtering_query_comes_back_from_the_permalink(demo_catalogue):
    from layouts.explore import URL_PARAMS

    assert {"query", "query_mode"} <= set(URL_PARAMS)
    first = ExploreState(demo_catalogue, query="sc_det_ml > 30")
    again = ExploreState(demo_catalogue, query=first.query, query_mode=first.query_mode)
    assert again.counts() == first.counts() and again.counts()["filtered"] < len(demo_catalogue.sources)


def _contrast_on_white(colour: str) -> float:
    return 1.05 / (skyplot._luminance(skyplot._palette_lut([colour]))[0] + 0.05)


def test_on_the_light_theme_every_sky_colour_and_its_colour_bar_contrast_with_white(state, demo_catalogue):
    # The fire map's strong end is white: a single source at a deep zoom vanished on the light page.
    assert _contrast_on_white(skyplot.palette("ramp", "fire", dark=True)[-1]) < 1.1
    for cmap in skyplot.COLORMAPS:
        light = skyplot.palette("ramp", cmap, dark=False)
        assert len(light) == skyplot.N_LEVELS and min(map(_contrast_on_white, light)) >= 3.0, cmap
    # coolwarm keeps its direction (soft blue, hard red); fire runs from orange to near black.
    cool = skyplot.palette("ramp", "coolwarm", dark=False)
    assert cool[0][5:] > cool[0][1:3] and cool[-1][1:3] > cool[-1][5:]
    # A lone source at a deep zoom: eq_hist draws it at the strong end, dark on the light page, and
    # the colour bar (drawn from the same palette) puts its one tick there.
    row = demo_catalogue.sources.iloc[5]
    _view_at(view := SkyView(state), float(row["SC_RA"]), float(row["SC_DEC"]), 0.01)
    view.dark = False
    image = view._image(None, None, 900, 450)
    pal, levels = image.opts.get().kwargs["cmap"], np.unique(image.dimension_values("level"))
    colours = {pal[int(i) - 1] for i in levels[levels > 0]}
    assert colours and all(_contrast_on_white(c) >= 3.0 for c in colours)
    legend = html.unescape(view.legend_html())
    assert skyplot.palette("ramp", state.cmap, dark=False)[-1] in legend and "left:100.0%" in legend


def test_the_all_sky_latitude_labels_lie_inside_the_view():
    (x0, _), _ = skyplot.full_extent("hammer")
    labels = next(el for el in skyplot.graticule_overlay("hammer", "icrs") if isinstance(el, hv.Labels)).dframe()
    lat = labels[labels["align"] == "left"]  # drawn rightwards from x
    assert {"+0°", "+30°", "-30°"} <= set(lat["text"]) and lat["x"].min() > x0


def test_the_explore_sky_draws_the_all_sky_graticule_as_glyphs_of_its_figure(state):
    """The graticule is drawn with the marks (Bokeh glyphs), not as HoloViews elements (issue 19),
    and follows the projection and frame."""
    import panel as pn
    from bokeh.document import Document
    from bokeh.models import GlyphRenderer

    view = SkyView(state)
    pn.panel(view).get_root(Document())
    fig = view._image_plot.state
    sources = {r.data_source for r in fig.renderers if isinstance(r, GlyphRenderer)}
    assert {view.marks.sky_lines, view.marks.sky_outline, view.marks.sky_labels} <= sources
    g = skyplot.graticule("hammer", "icrs")
    assert view.marks.sky_labels.data["text"] == [t for *_, t, _ in g.labels]
    assert np.array_equal(view.marks.sky_outline.data["xs"][0], g.outline[:, 0])
    state.frame = "galactic"
    view.marks.update(view._shown or skyplot.full_extent("hammer"), 900)
    assert "0°" in view.marks.sky_labels.data["text"] and "0h" not in view.marks.sky_labels.data["text"]


def test_a_permalink_query_without_a_view_zooms_to_its_rows(demo_catalogue):
    from app.views.filters import FilterPanel

    state = ExploreState(demo_catalogue, query="cone('M31', 3deg)")  # as the URL sync leaves it
    panel = FilterPanel(state, SkyView(state))
    assert state.x_range is None
    panel.zoom_to_query()  # what layouts.explore does for a permalink that names no view
    (x0, x1), (y0, y1) = state.x_range, state.y_range
    lon, lat = projection.inverse(np.array([(x0 + x1) / 2]), np.array([(y0 + y1) / 2]), "hammer")
    assert projection.separation_deg(lon, lat, 10.68, 41.27)[0] < 3 and y1 - y0 < 10
