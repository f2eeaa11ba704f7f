"""The sky's pure plot functions: aggregation, normalisation, palettes, index images, spreading."""

import holoviews as hv
import numpy as np
import pytest

from app.plots import sky


def test_eq_hist_and_log_are_monotonic_and_leave_empty_pixels_empty():
    counts = np.array([[0, 1, 2], [5, 50, 500]], dtype=np.uint32)
    for how in ("eq_hist", "log", "linear"):
        t = sky.normalise(counts, how)
        assert np.isnan(t[0, 0]) if how != "linear" else True
        flat = t.ravel()[1:]
        assert np.all(np.diff(flat) > 0), how
        assert np.nanmax(t) == pytest.approx(1.0)
    assert np.allclose(sky.normalise(counts, "eq_hist").ravel()[1:], np.linspace(0, 1, 5))


def test_index_image_maps_into_the_requested_levels():
    counts = np.array([[0, 3], [7, 100]], dtype=np.uint32)
    idx = sky.index_array(counts, "eq_hist", lo=128, hi=255)
    assert idx.dtype == np.uint8 and idx[0, 0] == 0
    assert idx[1, 1] == 255 and idx[0, 1] == 128 and 128 < idx[1, 0] < 255


@pytest.mark.parametrize("kind", ["ramp", "highlight", "classes"])
def test_palettes_have_255_colours(kind):
    pal = sky.palette(kind, "fire")
    assert len(pal) == 255 and all(c.startswith("#") and len(c) == 7 for c in pal)


def test_sky_index_counts_points_where_they_are():
    x = np.array([0.0, 0.1, 50.0, 50.0, 50.0], dtype=np.float32)
    y = np.array([0.0, 0.1, 20.0, 20.0, 20.0], dtype=np.float32)
    idx, kind = sky.sky_index(x, y, None, (-100, 100), (-50, 50), 200, 100)
    assert kind == "ramp" and idx.dtype == np.uint8
    assert idx[70, 150] == 255  # the pixel with three points is the brightest
    assert 0 < idx[50, 100] < 255
    mask = np.array([True, True, False, False, False])
    idx2, _ = sky.sky_index(x, y, mask, (-100, 100), (-50, 50), 200, 100)
    assert idx2[70, 150] == 0 and idx2[50, 100] > 0


def test_highlight_puts_the_selection_in_the_upper_half_of_the_palette():
    rng = np.random.default_rng(1)
    x, y = rng.uniform(-90, 90, 5000).astype(np.float32), rng.uniform(-40, 40, 5000).astype(np.float32)
    selected = x > 0
    idx, kind = sky.sky_index(x, y, None, (-100, 100), (-50, 50), 100, 50, highlight=selected)
    assert kind == "highlight"
    left, right = idx[:, :45], idx[:, 55:]
    assert left.max() <= 127 and (left > 0).any()
    assert right[right > 0].min() >= 128


def test_classes_take_the_majority_class_per_pixel():
    x = np.zeros(5, dtype=np.float32)
    y = np.zeros(5, dtype=np.float32)
    codes = np.array([2, 2, 2, 5, 5], dtype=np.int16)
    idx, kind = sky.sky_index(
        x, y, None, (-1, 1), (-1, 1), 4, 4, values=codes, how="by", categories=[str(i) for i in range(8)]
    )
    assert kind == "classes"
    hit = idx[idx > 0]
    assert hit.size >= 1 and np.all((hit - 1) // 31 == 2)


def test_spread_grows_isolated_pixels_only_into_empty_neighbours():
    img = np.zeros((5, 5), dtype=np.uint8)
    img[2, 2], img[2, 3] = 10, 20
    out = sky.spread(img, 1)
    assert out[2, 2] == 10 and out[2, 3] == 20  # existing pixels untouched
    assert out[1, 1] == 10 and (out > 0).sum() == 12


def test_image_element_ships_uint8_with_a_transparent_empty_colour():
    idx = np.zeros((10, 20), dtype=np.uint8)
    idx[3, 4] = 200
    el = sky.to_image_element(idx, "ramp", (-10, 10), (-5, 5), cmap="kbc")
    plot = hv.renderer("bokeh").get_plot(el)
    assert plot.handles["source"].data["image"][0].dtype == np.uint8
    assert plot.handles["color_mapper"].low_color in ("transparent", "rgba(0, 0, 0, 0)")
    assert el.bounds.lbrt() == (-10, -5, 10, 5)


def test_graticule_is_built_once_per_projection_and_frame():
    a = sky.graticule_overlay("hammer", "icrs")
    assert a is sky.graticule_overlay("hammer", "icrs")
    labels = [e for e in a if isinstance(e, hv.Labels)][0]
    assert "0h" in list(labels.dimension_values("text"))
    gal = [e for e in sky.graticule_overlay("hammer", "galactic") if isinstance(e, hv.Labels)][0]
    assert "0°" in list(gal.dimension_values("text"))
