"""A stacked (5XMM-like) release through the Source view and the alert task: upper limits used as such."""

import numpy as np
import panel as pn
import pytest
from bokeh.document import Document

from tests.shown import shown


@pytest.fixture(scope="module")
def stacked_dir(tmp_path_factory):
    from data_loaders.demo.stacked import write_stacked_demo
    from data_loaders.ingest_stacked import ingest_stacked

    root = tmp_path_factory.mktemp("stacked-pages")
    files = write_stacked_demo(root / "demo", 6000, 11)
    ingest_stacked(files.catalogue, root, name="ST", observations=files.observations, synthetic=True)
    return root


def test_alerts_on_a_stacked_release_use_its_upper_limits(stacked_dir):
    from data_loaders.alerts.release import compute_release_alerts

    run = compute_release_alerts(stacked_dir, "ST")
    alerts = run.alerts
    assert len(alerts) > 0
    assert alerts["COMPARED_IS_UPPER_LIMIT"].fillna(False).astype(bool).any()
    assert (alerts["ALERT_TYPE"] == "new_source").any()  # detected above earlier upper limits only


def test_source_view_of_a_source_with_upper_limits(stacked_dir):
    from app.plots.lightcurve import longterm_points
    from app.views.source import SourceView
    from data_loaders.catalogue import Catalogue

    cat = Catalogue(stacked_dir / "releases" / "ST")
    lt = cat.longterm
    srcid = int(lt.loc[lt["UPPER_LIMIT"], "SRCID"].value_counts().index[0])
    n_ul = int(lt.loc[lt["SRCID"] == srcid, "UPPER_LIMIT"].sum())
    dets = cat.detections_of(srcid)
    points = longterm_points(dets, lt[lt["SRCID"] == srcid])
    drawn = points[np.isfinite(points["flux"].to_numpy(float))]
    assert int(drawn["upper_limit"].astype(bool).sum()) == n_ul > 0
    n_detected = int((~dets["UPPER_LIMIT"].astype(bool)).sum())
    measured = drawn[~drawn["upper_limit"].astype(bool)]
    assert len(measured) == n_detected  # each detected observation once, limits never drawn as points
    view = SourceView(cat, srcid=srcid)
    pn.panel(view).get_root(Document())


def test_source_summary_shows_variability_between_observations(stacked_dir):
    from app.views.source.summary import summary_html
    from data_loaders.catalogue import Catalogue

    cat = Catalogue(stacked_dir / "releases" / "ST")
    row = cat.sources.iloc[int(np.argmax(cat.sources["FRATIO"].to_numpy(float)))]
    text = shown(summary_html(row, "ST"))
    assert "Variable between observations" in text and "max/min flux ratio" in text


def test_source_page_of_a_stacked_release_suggests_its_brightest_sources(stacked_dir):
    """A stacked release has no TSERIES column: the examples are its brightest sources seen more than once."""
    from data_loaders.catalogue import Catalogue
    from layouts.source import create_page, example_sources

    cat = Catalogue(stacked_dir / "releases" / "ST")
    assert "TSERIES" not in cat.all_columns
    examples = example_sources(cat)
    assert len(examples) == 8
    fluxes = [flux for _, _, flux, _ in examples]
    assert fluxes == sorted(fluxes, reverse=True)
    src = cat.sources.set_index("SRCID")
    assert all(n > 1 and src.loc[srcid, "N_DETECTIONS"] == n for srcid, _, _, n in examples)
    tmpl, view = create_page(cat, srcid=str(examples[0][0]))
    assert view.state.srcid == examples[0][0] and view.state.detections is not None
    pn.panel(view).get_root(Document())


def test_longterm_band_selector_offers_only_the_bands_of_a_stacked_release(stacked_dir):
    from app.plots.lightcurve import longterm_points
    from app.views.source import SourceState, SourceView
    from data_loaders.catalogue import Catalogue

    cat = Catalogue(stacked_dir / "releases" / "ST")
    srcid = int(cat.sources["SRCID"].iloc[int(np.argmax(cat.sources["N_DETECTIONS"].to_numpy()))])
    view = SourceView(cat, srcid=srcid)
    pn.panel(view).get_root(Document())
    assert list(view.longterm.band.options.values()) == [8, 1, 2, 3, 4, 5]  # no EP_6/EP_7 in this release
    with pytest.raises(ValueError):
        view.state.band = 6
    view.state.band = 3
    assert view.longterm.plot.object.visible and "1–2 keV" in view.longterm.figure.figure.yaxis[0].axis_label  # band 3
    # A state asked for a band the release lacks starts on band 8; the points of such a band are none.
    assert SourceState(cat, srcid=srcid, band=6).band == 8
    assert longterm_points(view.state.detections, None, band=6).empty
