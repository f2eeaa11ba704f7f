"""Pure plotting functions: data in, HoloViews objects out (no server, no files)."""

import holoviews as hv
import holoviews.plotting.bokeh  # registers the Bokeh backend so .opts() works outside a notebook

hv.Store.set_current_backend("bokeh")

# HoloViews draws every Bokeh plot with WebGL by default. Our plots hold an image and a few
# lines, which the 2D canvas draws in a millisecond, while each WebGL paint is copied back onto
# the page canvas (``drawImage``): ~150 ms per paint in Chromium without a GPU, three paints
# per wheel zoom. The plain canvas is the fast path here.
hv.renderer("bokeh").webgl = False
