"""The Source view driven through its state, without a browser: selection, broken products, unknown ids."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import panel as pn
import pytest

from app.views.source import SourceView, resolve_source
from app.views.source.links import esasky, simbad, xsa_observation
from data_loaders.catalogue import Catalogue
from data_loaders.demo_products import product_store_for
from tests.data_loaders import pps_files as pps
from tests.shown import shown


@pytest.fixture
def catalogue(writable_demo_data_dir):
    cat = Catalogue(writable_demo_data_dir / "releases" / "DEMO")
    cat.meta["products"] = str(writable_demo_data_dir / "products")
    return cat


def _multi_source(cat):
    """A source with at least two detections that have products."""
    det = cat.detections[cat.detections["TSERIES"].to_numpy(bool)]
    counts = det.groupby("SRCID").size()
    return int(counts[counts >= 2].index[0])


def _text(pane) -> str:
    return shown(str(pane.object or ""))


def test_selecting_a_detection_updates_the_product_panels(catalogue):
    srcid = _multi_source(catalogue)
    view = SourceView(catalogue, srcid=srcid)
    st = view.state
    assert st.obs_id and view.lightcurve.plot.object.visible and view.spectrum.plot.object.visible
    first = st.obs_id
    other = next(o for o in st.detections.loc[st.detections["TSERIES"], "OBS_ID"] if o != first)
    st.obs_id = other
    assert other in _text(view.lightcurve.status)
    rates = {c: np.asarray(src.data["rate"], float) for c, src in view.lightcurve.figure.sources.items()}
    assert any(np.isfinite(r).any() for r in rates.values())
    n_bins = max(len(r) for r in rates.values())
    st.rebin = 4
    assert max(len(src.data["rate"]) for src in view.lightcurve.figure.sources.values()) < n_bins
    st.min_counts, st.effective_area = 50, True
    assert "photon/cm²/s/keV" in view.spectrum.plot.object.yaxis[0].axis_label
    # Tapping the long-term lightcurve selects an observation by its index among XMM detections.
    view.longterm._on_select(index=[0])
    assert st.obs_id == view.longterm._xmm_obs[0]
    assert st.obs_id in _text(view.detections.pane)
    pn.panel(view).get_root()  # every panel renders to Bokeh models


def test_broken_product_shows_not_available_and_the_rest_still_works(catalogue):
    srcid = _multi_source(catalogue)
    store = product_store_for(catalogue)
    rows = catalogue.detections_of(srcid)
    row = rows[rows["TSERIES"]].iloc[0]
    found = store.find(str(row["OBS_ID"]), int(row["SRC_NUM"]))
    for camera in found.cameras.values():
        for path in (camera.lightcurve, camera.spectrum):
            if hasattr(path, "write_bytes"):
                path.write_bytes(gzip.compress(b"SIMPLE  =                    T" + b" " * 50)[:40])
    view = SourceView(catalogue, srcid=srcid)
    view.state.obs_id = str(row["OBS_ID"])
    assert "not available" in _text(view.lightcurve.status)
    assert "not available" in _text(view.spectrum.status)
    assert not view.lightcurve.plot.object.visible and not view.spectrum.plot.object.visible
    assert "Traceback" not in _text(view.lightcurve.status)
    assert view.longterm.plot.object is not None and view.shape.sed.object is not None
    assert str(row["OBS_ID"]) in _text(view.detections.pane)
    pn.panel(view).get_root()


def test_pipeline_files_show_not_computed_utc_start_and_refusals(catalogue):
    """Files in the pipeline's formats (tests/data_loaders/pps_files.py) in place of the demo's."""
    srcid = _multi_source(catalogue)
    rows = catalogue.detections_of(srcid)
    row = rows[rows["TSERIES"]].iloc[0]
    obs, num = str(row["OBS_ID"]), int(row["SRC_NUM"])
    directory = Path(catalogue.meta["products"]) / obs / "pps"
    for old in directory.glob(f"P{obs}*{num:03X}.FTZ"):
        old.unlink()
    pps.pn_merged_lightcurve(directory, pps.pps_name("PN", "X000", "SRCTSR", "8", num, obs))
    pps.exposure_lightcurve(
        directory, "PN", "S003", fvar=-1.0, fvarerr=-1.0, name=pps.pps_name("PN", "S003", "SRCTSR", "8", num, obs)
    )
    pps.rgs_spectrum(directory, pps.pps_name("PN", "S003", "SRSPEC", "0", num, obs))
    view = SourceView(catalogue, srcid=srcid)
    view.state.obs_id = obs
    stats = _text(view.lightcurve.stats)
    assert "pn S003" in stats and "not computed" in stats and "X000" not in stats
    assert "0.42" in stats  # the exposure's CHI2PROB, not the merged file's (it has none)
    assert "-1" not in shown(view.lightcurve.stats.object.split("</table>")[0])
    status = _text(view.lightcurve.status)
    assert "start 2019-05-03 10:00:00 UTC (10:01:09 TT in the file)" in status
    spectrum = _text(view.spectrum.status)
    assert "is an RGS spectrum (INSTRUME = 'RGS1'); the Source view draws EPIC spectra only" in spectrum
    assert not view.spectrum.plot.object.visible
    pn.panel(view).get_root()


def test_another_source_opens_on_its_default_observation(catalogue):
    """The observation chooser's new options are no choice of the visitor's: the new source shows its
    brightest detection with products, as when opened by a link, not the first one in its list."""
    from app.views.source.state import default_observation, source_detections

    det = catalogue.detections
    counts = det[det["TSERIES"].to_numpy(bool)].groupby("SRCID").size()
    target = next(
        int(s)
        for s in counts[counts >= 2].index
        if default_observation(frame := source_detections(catalogue, int(s))) != str(frame["OBS_ID"].iloc[0])
    )
    seen = set(source_detections(catalogue, target)["OBS_ID"].astype(str))
    # A source in none of the target's observations (a shared one would stay selected, on purpose).
    start = int(next(s for s in counts.index if not seen & set(det.loc[det["SRCID"] == s, "OBS_ID"].astype(str))))
    view = SourceView(catalogue, srcid=start)
    pn.panel(view).get_root()
    view.state.srcid = target
    expected = default_observation(source_detections(catalogue, target))
    assert view.state.obs_id == expected == view.detections.chooser.value
    view.detections.chooser.value = view.detections.chooser.values[0]  # a visitor's choice still counts
    assert view.state.obs_id == view.detections.chooser.values[0] != expected


def test_detection_without_products_says_so(catalogue):
    det = catalogue.detections
    srcid = int(det.loc[~det["TSERIES"].to_numpy(bool) & ~det["SPECTRA"].to_numpy(bool), "SRCID"].iloc[0])
    view = SourceView(catalogue, srcid=srcid)
    assert "not available" in _text(view.lightcurve.status) and "TSERIES = F" in _text(view.lightcurve.status)
    assert view.shape.sed.object is not None  # band fluxes still show the spectral shape


def test_unknown_source_and_resolution(catalogue):
    view = SourceView(catalogue, srcid=123)
    assert "No source with SRCID 123" in _text(view.message) and not view._layout.visible
    src = catalogue.sources.iloc[5]
    assert resolve_source(catalogue, name=str(src["IAUNAME"]))[0] == int(src["SRCID"])
    assert resolve_source(catalogue, detid=int(catalogue.detections["DETID"].iloc[0]))[0] is not None
    assert resolve_source(catalogue, srcid="<script>")[0] is None
    view.state.srcid = int(src["SRCID"])
    assert view._layout.visible and str(src["IAUNAME"]) in _text(view.summary.pane)


def test_highlight_epochs_and_links(catalogue):
    view = SourceView(catalogue, srcid=_multi_source(catalogue), highlight_epochs=[55000.0, 56000.0])
    assert len(view.longterm.figure.epochs.data["date"]) == 2
    assert xsa_observation("0123456789") == "https://nxsa.esac.esa.int/nxsa-web/#obsid=0123456789"
    assert "target=10.000000+%2B20.000000" in esasky(10.0, 20.0)
    assert "Coord=10.000000+-5.000000" in simbad(10.0, -5.0)


def test_citizen_consensus_beside_the_machine_probabilities(writable_demo_data_dir):
    from app.views.source.classification import SourceClassification
    from app.views.source.state import SourceState
    from data_loaders.catalogue import Catalogue
    from data_loaders.store import open_store

    store = open_store(None, writable_demo_data_dir)
    store.grant_role("ada", "classifier")
    cat = Catalogue(writable_demo_data_dir / "releases" / "DEMO")
    ids = cat.sources["SRCID"].to_numpy()
    for srcid in ids[:10]:
        store.record_vote("ada", "DEMO", int(srcid), "star", 1.0, True, True)
    target = int(ids[30])
    store.record_vote("ada", "DEMO", target, "CV", 1.0, False)
    state = SourceState(cat, srcid=target)
    panel = SourceClassification(state, store=store)
    assert "Citizen scientists" in panel.citizens.object and "1 counted vote" in panel.citizens.object
    origins = set(panel.consensus_figure.source.data["origin"])
    assert "citizens" in origins and panel.consensus_plot.object.visible and not panel.plot.object.visible


def _changes(events) -> set[tuple[str, str]]:
    """(model id, property) of each Bokeh document event that changes a model."""
    return {(e.model.id, e.attr) for e in events if hasattr(e, "model") and hasattr(e, "attr")}


def test_another_source_updates_the_rendered_figures_in_place(catalogue):
    """A new source on a rendered view keeps every Bokeh figure and only replaces data and ranges."""
    from bokeh.document import Document
    from bokeh.plotting import figure

    first = _multi_source(catalogue)
    second = int(next(s for s in catalogue.detections["SRCID"] if s != first))
    view = SourceView(catalogue, srcid=first)
    doc = Document()
    root = pn.panel(view).get_root(doc)
    doc.add_root(root)
    figures = {f.id: f for f in root.select({"type": figure})}
    lt = view.longterm.figure
    renderers = list(lt.figure.renderers)
    assert len(figures) >= 6 and lt.figure.id in figures
    events = []
    doc.on_change(events.append)

    view.state.srcid = second
    assert {f.id: f for f in root.select({"type": figure})} == figures  # the same figure models
    # The figure's renderers stay; a mission first seen (its limits or detections) adds its layers.
    assert view.longterm.plot.object is lt.figure and list(lt.figure.renderers)[: len(renderers)] == renderers
    rows = catalogue.detections_of(second).sort_values("MJD_START", kind="stable")
    drawn = rows[rows["EP_8_FLUX"].to_numpy(float) > 0]
    assert list(lt.xmm.data["obs_id"]) == drawn["OBS_ID"].astype(str).tolist()
    assert np.allclose(np.asarray(lt.xmm.data["flux"], float), drawn["EP_8_FLUX"].to_numpy(float))
    changed = _changes(events)
    assert (lt.xmm.id, "data") in changed
    assert not any(attr in ("x_range", "y_range") for _, attr in changed)  # ranges change start/end
    grown = {lt.figure.id, *(h.id for h in lt.hovers.values())}  # the figure and hovers of a new mission
    assert all(m in grown for m, attr in changed if attr == "renderers")
    assert lt.figure.x_range.start < lt.figure.x_range.end and lt.figure.y_range.start < lt.figure.y_range.end
    selected = view.state.obs_id
    assert list(lt.selected.data["flux"]) == list(drawn.loc[drawn["OBS_ID"].astype(str) == selected, "EP_8_FLUX"])

    # Another observation of the same source only moves the ring; a tap (a Bokeh selection) picks one.
    view.state.srcid = first
    other = next(o for o in lt.obs_ids if o != view.state.obs_id)
    events.clear()
    view.state.obs_id = other
    changed = _changes(events)
    assert (lt.selected.id, "data") in changed and (lt.xmm.id, "data") not in changed
    tapped = next(i for i, o in enumerate(lt.obs_ids) if o != other)
    lt.xmm.selected.indices = [tapped]
    assert view.state.obs_id == lt.obs_ids[tapped] and list(lt.xmm.selected.indices) == []


def test_flags_table_names_who_flagged_as_text():
    from app.views.source.classification import flags_html

    history = pd.DataFrame(
        {
            "time": [pd.Timestamp("2025-01-02 03:04", tz="UTC")],
            "user": ["<b>eve</b>"],
            "action": ["flag"],
            "label": ["interesting"],
            "comment": ["see <i>this</i>"],
        }
    )
    out = flags_html(history)
    assert "<b>eve</b>" not in out and "<i>" not in out
    assert "<b>eve</b>" in shown(out) and "see <i>this</i>" in shown(out)


def test_spectral_fit_on_demand_with_and_without_canned_responses(catalogue, monkeypatch, tmp_path):
    """No responses: one line and the five-band fit offered; with the demo's canned RMFs: plot, parameters, flux."""
    from app import config
    from data_loaders.products.rmf import write_canned_responses

    monkeypatch.setenv(config.RESPONSES_ENV, str(tmp_path / "responses"))
    det = catalogue.detections
    row = det[det["SPECTRA"].to_numpy(bool)].nlargest(1, "EP_8_FLUX").iloc[0]
    view = SourceView(catalogue, srcid=int(row["SRCID"]))
    view.state.obs_id = str(row["OBS_ID"])
    view.spectrum._fit()
    text = shown(str(view.spectrum.fit_view[0].object))
    assert "No canned response (RMF) for these spectra" in text and "no folder of canned responses" in text
    assert "five-band fit" in text.lower()
    write_canned_responses(tmp_path / "responses")
    view.spectrum.model.value = "powerlaw"
    view.spectrum._fit()
    table = shown(str(view.spectrum.fit_view[1].object))
    for part in ("Gamma", "N_H (10²² cm⁻²)", "W-stat / dof", "flux 0.2–12 keV", "68%", "curvature"):
        assert part in table
    figure = view.spectrum.fit_figure
    drawn = [c for c, src in figure.sources.items() if len(src.data["energy"])]
    assert drawn and all(np.isfinite(figure.sources[c].data["model"]).all() for c in drawn)
    residuals = np.concatenate([np.asarray(figure.sources[c].data["residual"], float) for c in drawn])
    assert abs(np.median(residuals)) < 1.0  # the model goes through the data
    pn.panel(view).get_root()
