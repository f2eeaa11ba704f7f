"""Pure plotting functions: data in, HoloViews objects out (no server, no files)."""

import holoviews as hv
import holoviews.plotting.bokeh  # noqa: F401 - registers the Bokeh backend so .opts() works outside a notebook

hv.Store.set_current_backend("bokeh")
