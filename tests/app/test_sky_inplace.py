"""A pan or zoom on the Explore sky replaces the image data of the same Bokeh figure in place."""

import numpy as np
import pytest
from bokeh.document import Document
from bokeh.events import RangesUpdate

from app.state import ExploreState
from app.views.sky import SkyView


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
