"""Test-only page: an ExploreState with the ExportPanel, for ``panel serve`` in tests/ui/test_export_samp_ui.py.

``?detml=N`` sets the minimum detection likelihood and ``?src=SRCID`` the current source, so a
test knows exactly which rows the selection holds.
"""

import os

import panel as pn

from app import config
from app.state import ExploreState
from app.views.export import ExportPanel
from data_loaders.catalogue import load_catalogue

pn.extension(notifications=True)
args = pn.state.session_args
catalogue = load_catalogue(config.data_dir(), config.default_release())
state = ExploreState(catalogue)
if args.get("detml"):
    state.det_ml_min = float(args["detml"][0].decode())
if args.get("src"):
    state.srcid = int(args["src"][0].decode())
panel = ExportPanel(state, hub_url=os.environ.get("XMM_TEST_SAMP_HUB", "http://localhost:21012/"))
pn.Column(panel, width=900).servable()
