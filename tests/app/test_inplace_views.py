"""Pan, zoom and filter changes on Explore replace the data of the same Bokeh figures in place."""

import numpy as np
import panel as pn
import pytest
from bokeh.document import Document
from bokeh.events import RangesUpdate

from app.plots import linked as plots
from app.selection import Box
from app.state import ExploreState
from app.views.linked import FluxView, HRView
from app.views.sky import SkyView
from data_loaders.catalogue import MemorySubset


@pytest.fixture
def rendered(demo_catalogue):
    state = ExploreState(demo_catalogue)
    view = SkyView(state)
    doc = Document()
    doc.add_root(view.pane.get_root(doc))
    return state, view, view._image_plot.state, view._image_plot.handles["source"]


def _zoom(fig, x0, x1, y0, y1):
    return RangesUpdate(fig, x0=x0, x1=x1, y0=y0, y1=y1)


def test_zoom_redraws_the_image_in_place_and_updates_the_permalink(rendered):
    state, view, fig, source = rendered
    before = np.array(source.data["image"][0])
    view._on_ranges_update(_zoom(fig, -40.0, 10.0, -15.0, 10.0))
    assert view._image_plot.state is fig and view._image_plot.handles["source"] is source
    assert source.data["x"] == [-40.0] and source.data["y"] == [-15.0]
    assert source.data["dw"] == [50.0] and source.data["dh"] == [25.0]
    after = np.asarray(source.data["image"][0])
    assert after.dtype == np.uint8 and not np.array_equal(after, before)
    expected = view._image((-40.0, 10.0), (-15.0, 10.0), view.size.width, view.size.height)
    assert np.array_equal(after, expected.dimension_values(2, flat=False))
    assert state.x_range == (-40.0, 10.0) and state.y_range == (-15.0, 10.0)


def test_a_fresh_sky_figure_sends_taps_and_selections(rendered):
    """The first figure of a page subscribes to tap and box/lasso events (HoloViews attaches those
    streams only when the sky's DynamicMap has a linked stream; without, a first tap did nothing)."""
    _, view, fig, _ = rendered
    assert {"tap", "selectiongeometry"} <= set(fig.subscribed_events)
    assert view.tap.source is view.dmap and view.box.source is view.dmap


def test_a_filter_change_after_a_zoom_keeps_the_view(rendered):
    state, view, fig, source = rendered
    view._on_ranges_update(_zoom(fig, -40.0, 10.0, -15.0, 10.0))
    state.apply_preset("bright")  # HoloViews re-renders the whole plot for a filter change
    data = view._image_plot.handles["source"].data
    assert data["x"] == [-40.0] and data["dw"] == [50.0] and data["y"] == [-15.0]


def test_a_palette_change_goes_through_holoviews(rendered):
    state, view, fig, source = rendered
    requests = view.view_request
    state.colour_by = "class"  # a new palette: the colour mapper must change too
    view._kind_drawn = ("ramp", "fire")  # as if the class image had not been drawn yet
    view._on_ranges_update(_zoom(fig, -20.0, 20.0, -10.0, 10.0))
    assert view.view_request > requests


def test_nonsense_ranges_are_ignored(rendered):
    state, view, fig, source = rendered
    before = dict(source.data)
    view._on_ranges_update(_zoom(fig, float("nan"), 1.0, 0.0, 1.0))
    view._on_ranges_update(_zoom(fig, None, 1.0, 0.0, 1.0))
    assert source.data["x"] == before["x"] and state.x_range == state.param["x_range"].default


def _render(viewer):
    doc = Document()
    doc.add_root(pn.panel(viewer).get_root(doc))
    return doc


def test_a_filter_redraws_the_sky_in_place(rendered):
    state, view, fig, source = rendered
    requests = view.view_request
    state.det_ml_min = 30.0
    assert view.view_request == requests and view._image_plot.handles["source"] is source
    expected = view._image(None, None, view.size.width, view.size.height)
    assert np.array_equal(source.data["image"][0], expected.dimension_values(2, flat=False))


def test_linked_views_take_a_filter_in_place_and_match_a_fresh_render(demo_catalogue):
    state = ExploreState(demo_catalogue)
    hr, flux = HRView(state), FluxView(state)
    _render(hr), _render(flux)
    hr_source = hr._drawn.handles["source"]
    flux_sources = [p.handles["source"] for p in flux._drawn.subplots.values()]
    redraws = (hr.redraw, flux.redraw)
    state.det_ml_min = 25.0
    assert (hr.redraw, flux.redraw) == redraws  # no HoloViews re-render
    assert hr._drawn.handles["source"] is hr_source
    assert np.array_equal(hr_source.data["image"][0], hr._element(hr._request()[1]()).dimension_values(2, flat=False))
    # the bars are the histogram of the filtered rows, and the y axis is what a fresh render gives
    fresh = FluxView(ExploreState(demo_catalogue))
    fresh.state.det_ml_min = 25.0
    _render(fresh)
    want = [np.asarray(p.handles["source"].data["top"]) for p in fresh._drawn.subplots.values()]
    got = [np.asarray(s.data["top"]) for s in flux_sources]
    assert all(np.array_equal(a, b) for a, b in zip(got, want, strict=True)) and want[0].sum() > 0
    assert flux._drawn.handles["y_range"].end == pytest.approx(fresh._drawn.handles["y_range"].end, rel=1e-6)


def _drawn_data(hr, flux):
    """What the browser holds for the two linked plots: HR image and bounds, flux bars and y range."""
    hr_data = hr._drawn.handles["source"].data
    image = {k: (np.asarray(hr_data[k][0]) if k == "image" else hr_data[k]) for k in ("image", "x", "y", "dw", "dh")}
    bars = [np.asarray(p.handles["source"].data["top"]) for p in flux._drawn.subplots.values()]
    return image, bars, flux._drawn.handles["y_range"].end


def test_a_filter_under_a_selection_redraws_in_place_what_a_fresh_render_draws(demo_catalogue):
    """The in-place arrays (no HoloViews element) equal those of a fresh render, highlight and bars included."""
    box = Box("SC_HR2", "SC_HR3", -0.6, 0.4, -0.7, 0.3)
    state = ExploreState(demo_catalogue)
    state.set_part("hr", box)
    hr, flux = HRView(state), FluxView(state)
    _render(hr), _render(flux)
    redraws = (hr.redraw, flux.redraw)
    state.det_ml_min = 25.0
    assert (hr.redraw, flux.redraw) == redraws  # in place
    fresh_state = ExploreState(demo_catalogue, det_ml_min=25.0)
    fresh_state.set_part("hr", box)
    fresh_hr, fresh_flux = HRView(fresh_state), FluxView(fresh_state)
    _render(fresh_hr), _render(fresh_flux)
    (image, bars, top), (want_image, want_bars, want_top) = _drawn_data(hr, flux), _drawn_data(fresh_hr, fresh_flux)
    assert np.array_equal(image.pop("image"), want_image.pop("image")) and image == want_image
    assert image["x"] == [plots.HR_RANGE[0]] and image["dw"] == [pytest.approx(plots.HR_RANGE[1] - plots.HR_RANGE[0])]
    assert all(np.array_equal(a, b) for a, b in zip(bars, want_bars, strict=True))
    assert bars[1].sum() > 0 and bars[1].sum() < bars[0].sum()  # the selection's bars are drawn, inside the filtered
    assert top == pytest.approx(want_top, rel=1e-6)


def test_flux_counts_from_cached_bins_equal_numpy_histogram(demo_catalogue):
    rng = np.random.default_rng(5)
    edges = plots.flux_edges()
    log_flux = np.asarray(demo_catalogue.view("detections")["LOG10_EP_8_FLUX"])
    mask, selected = rng.random(log_flux.size) < 0.6, rng.random(log_flux.size) < 0.3
    sub = MemorySubset(demo_catalogue, "detections", None, mask)
    finite = np.isfinite(log_flux)
    assert np.array_equal(sub.histogram("LOG10_EP_8_FLUX", edges), np.histogram(log_flux[mask & finite], edges)[0])
    both = MemorySubset(demo_catalogue, "detections", None, mask & selected)
    want = np.histogram(log_flux[mask & selected & finite], edges)[0]
    assert np.array_equal(both.histogram("LOG10_EP_8_FLUX", edges), want)
    uneven = np.r_[edges[:10], edges[12:]]  # not equal-width: numpy's own histogram
    assert np.array_equal(sub.histogram("LOG10_EP_8_FLUX", uneven), np.histogram(log_flux[mask & finite], uneven)[0])


def test_a_new_selection_changes_the_look_and_goes_through_holoviews(demo_catalogue):
    state = ExploreState(demo_catalogue)
    hr, flux = HRView(state), FluxView(state)
    _render(hr), _render(flux)
    redraws = (hr.redraw, flux.redraw)
    state.set_part("hr", Box("SC_HR2", "SC_HR3", -0.5, 0.5, -0.5, 0.5))
    assert hr.redraw == redraws[0] + 1 and flux.redraw == redraws[1] + 1
    assert hr._look_drawn is False and flux._look_drawn is False


def test_uniform_counts_equal_numpy_histogram():
    from data_loaders.grid import uniform_counts

    rng = np.random.default_rng(3)
    edges = np.linspace(-16.5, -9.0, 61)
    v = np.r_[rng.normal(-13, 1.5, 200_000), edges, np.nextafter(edges, -np.inf), [np.nan, -20.0, 0.0]]
    v32 = v.astype(np.float32)
    for values in (v, v32):
        assert np.array_equal(uniform_counts(values, edges), np.histogram(values[np.isfinite(values)], edges)[0])


def test_closed_views_are_not_kept_alive_by_holoviews_options(demo_catalogue):
    """hv.Store keeps every .opts() for the life of the process: hooks must not pin a session."""
    import gc
    import weakref

    state = ExploreState(demo_catalogue)
    views = [SkyView(state), HRView(state), FluxView(state)]
    for view in views:  # render, then clean up as Panel does when a session is destroyed
        doc, panel = Document(), pn.panel(view)
        root = panel.get_root(doc)
        panel._cleanup(root)
        pn.state._views.pop(root.ref["id"], None)  # what Panel drops when the session is destroyed
    refs = [weakref.ref(state), *(weakref.ref(v) for v in views)]
    del state, views, view, doc, panel, root
    gc.collect()
    assert [r() for r in refs] == [None] * len(refs)


def test_the_views_answer_a_filter_change_inside_one_document_hold(demo_catalogue):
    """Held together, the views' model changes reach the browser as one patch message, not one each."""
    from panel.io.state import set_curdoc

    state, doc, holds = ExploreState(demo_catalogue), Document(), []
    state.param.watch(lambda e: holds.append(doc.callbacks.hold_value), ["version"])
    with set_curdoc(doc):
        state.det_ml_min = 25.0
        state.set_part("hr", Box("SC_HR2", "SC_HR3", -0.5, 0.5, -0.5, 0.5))
    assert holds == ["combine", "combine"] and doc.callbacks.hold_value is None
