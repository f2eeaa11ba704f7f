"""The demo release's products: synthesized on demand through the ProductStore, matching the catalogue."""

from __future__ import annotations

import numpy as np
import pytest

from data_loaders.catalogue import Catalogue
from data_loaders.demo_products import photon_index_from_hardness, product_store_for, synthesis_inputs
from data_loaders.products import ProductUnavailable


@pytest.fixture
def catalogue(writable_demo_data_dir):
    # A fresh Catalogue (not the process cache) whose products root is private to this test.
    cat = Catalogue(writable_demo_data_dir / "releases" / "DEMO")
    cat.meta["products"] = str(writable_demo_data_dir / "products")
    return cat


def _bright_detection(cat, variable=False):
    det = cat.detections
    keep = det["TSERIES"].to_numpy(bool) & (det["VAR_FLAG"].to_numpy(bool) == variable)
    row = det[keep].nlargest(1, "EP_8_FLUX").iloc[0]
    full = cat.detections_of(int(row["SRCID"]))
    return full[full["OBS_ID"] == row["OBS_ID"]].iloc[0]


def test_products_are_synthesized_on_demand_and_match_the_catalogue(catalogue):
    row = _bright_detection(catalogue)
    store = product_store_for(catalogue)
    obs, num = str(row["OBS_ID"]), int(row["SRC_NUM"])
    assert not (catalogue.products_root / obs).exists()
    found = store.find(obs, num)
    assert found.origin == "synthesized"
    curves = store.lightcurves(obs, num)
    inputs = synthesis_inputs(row)
    cameras = [c for c, lc in curves.items() if not isinstance(lc, ProductUnavailable)]
    assert set(cameras) == set(inputs.cameras)
    # pn-equivalent rate x camera shares add back up to the catalogue's EPIC rate.
    total = sum(np.nanmean(curves[c].rate) for c in cameras)
    assert total == pytest.approx(float(row["EP_8_RATE"]), rel=0.1)
    lc = curves[cameras[0]]
    assert lc.mjd[0] == pytest.approx(float(row["MJD_START"]), abs=0.1)
    spectra = store.spectra(obs, num)
    spec = spectra[cameras[0]]
    assert spec.background_counts is not None and spec.effective_area is not None
    # Second request reads the files written the first time.
    assert store.find(obs, num).origin == "local"


def test_spectra_are_drawn_from_the_true_spectrum_of_the_source(catalogue):
    """The synthesizer takes Gamma and N_H from the demo's truth table (the band fluxes' spectrum), not from HRs."""
    import pandas as pd

    from data_loaders.citizen.gold import truth_path
    from data_loaders.demo_products import _true_spectrum

    row = _bright_detection(catalogue)
    truth = pd.read_parquet(truth_path(catalogue)).set_index("SRCID").loc[int(row["SRCID"])]
    gamma, nh = _true_spectrum(catalogue, row["SRCID"])
    assert (gamma, nh) == (pytest.approx(float(truth["TRUE_GAMMA"])), pytest.approx(float(truth["TRUE_NH"])))
    assert _true_spectrum(catalogue, -5) is None


def test_variable_detection_gets_a_variable_lightcurve(catalogue):
    row = _bright_detection(catalogue, variable=True)
    inputs = synthesis_inputs(row)
    assert inputs.variable and inputs.fvar > 0
    curves = product_store_for(catalogue).lightcurves(str(row["OBS_ID"]), int(row["SRC_NUM"]))
    lc = next(v for v in curves.values() if not isinstance(v, ProductUnavailable))
    assert lc.statistics and min(s.chi2prob for s in lc.statistics) < 1e-3


def test_detection_without_products_is_not_available(catalogue):
    det = catalogue.detections
    row = det[~det["TSERIES"].to_numpy(bool) & ~det["SPECTRA"].to_numpy(bool)].iloc[0]
    curves = product_store_for(catalogue).lightcurves(str(row["OBS_ID"]), int(row["SRC_NUM"]))
    assert all(isinstance(v, ProductUnavailable) for v in curves.values())
    assert "no products" in next(iter(curves.values())).reason


def test_photon_index_follows_hardness():
    soft = photon_index_from_hardness(-0.6, -0.8)
    hard = photon_index_from_hardness(0.3, 0.0)
    assert soft > hard
    assert photon_index_from_hardness(np.nan, None) == 1.9


def test_real_release_reads_only_its_products_root(catalogue):
    catalogue.synthetic = False
    catalogue.path = catalogue.path.parent / "REAL"  # another key in the per-process store cache
    store = product_store_for(catalogue)
    assert store.synthesize is None and store.remote is None
