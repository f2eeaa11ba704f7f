"""The baseline a user would write: a plain hvPlot ``rasterize=True`` sky of the same catalogue.

Served by the benchmarks next to XMM Explorer so both are measured in the same run.
"""

import hvplot.pandas  # noqa: F401 - registers .hvplot
import pandas as pd
import panel as pn

from app import config
from data_loaders.catalogue import load_catalogue

cat = load_catalogue(config.data_dir(), config.default_release())
x, y = cat.xy("detections", "icrs", "hammer")
frame = pd.DataFrame({"x": x, "y": y})
plot = frame.hvplot.points("x", "y", rasterize=True, cmap="fire", cnorm="eq_hist", responsive=True, height=500)
pn.Column(plot, sizing_mode="stretch_width").servable()
