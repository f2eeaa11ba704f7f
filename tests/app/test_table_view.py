"""The Explore table pages through a column's cached sort order exactly as sorting the visible rows does.

Ties (many in extent, flags, counts, class) go by row on every page, as pandas' stable sort orders them.
"""

import numpy as np
import pandas as pd
import pytest

from app import fields
from app.state import ExploreState
from app.views.table import PAGE_SIZE, TableView, cached_sort_order, page_in_order, page_rows, sort_order


@pytest.mark.parametrize("ascending", [False, True])
def test_pages_in_a_precomputed_order_equal_sorting_the_visible_rows(ascending):
    rng = np.random.default_rng(7)
    v = rng.integers(0, 40, 5000).astype(np.float32)  # many ties: broken by row
    v[::13] = np.nan
    v[5::97], v[7::101] = np.inf, -np.inf
    order = sort_order(v, ascending)
    for visible in (rng.random(v.size) < 0.5, rng.random(v.size) < 0.02, np.ones(v.size, bool), np.zeros(v.size, bool)):
        for page, size in ((0, 12), (3, 12), (1, 700), (40, 12)):
            want = page_rows(v, visible, page, size, ascending)
            got = page_in_order(order, visible, page, size)
            assert np.array_equal(got, want), (page, size)
            idx = np.flatnonzero(visible)
            key = pd.Series(v[idx], index=idx)
            stable = key.sort_values(ascending=ascending, na_position="last", kind="stable").index.to_numpy()
            assert np.array_equal(got, stable[page * size : (page + 1) * size]), (page, size)


def test_the_sort_order_is_computed_once_per_column_and_read_only(demo_catalogue):
    a = cached_sort_order(demo_catalogue, "sources", "SC_DET_ML", False)
    assert cached_sort_order(demo_catalogue, "sources", "SC_DET_ML", False) is a and not a.flags.writeable
    assert cached_sort_order(demo_catalogue, "sources", "SC_DET_ML", True) is not a


def test_a_filter_change_refreshes_the_table_once_on_the_first_page(demo_catalogue):
    state = ExploreState(demo_catalogue)
    table = TableView(state)
    table.page = 2
    values = []
    table.table.param.watch(lambda e: values.append(e.new), "value")
    state.det_ml_min = 20.0
    assert table.page == 0 and len(values) == 1
    flux = demo_catalogue.sources[fields.column("flux", "sources", state.band)].to_numpy(np.float64)
    want = page_rows(flux, state.visible, 0, PAGE_SIZE, ascending=False)
    assert np.array_equal(table._rows, want)
    assert values[0]["SRCID"].tolist() == [str(s) for s in demo_catalogue.sources["SRCID"].to_numpy()[want]]
    state.level = "detections"  # a new level is a filter change too: one refresh, detection rows
    assert len(values) == 2 and len(table._rows) == PAGE_SIZE and table._rows.max() >= 0


def test_the_table_is_sent_again_only_when_its_page_changes(demo_catalogue):
    state = ExploreState(demo_catalogue)
    table = TableView(state)
    values, first = [], table._rows.copy()
    table.table.param.watch(lambda e: values.append(e.new), "value")
    info = table.info.object
    flux = demo_catalogue.sources[fields.column("flux", "sources", state.band)].to_numpy(np.float64)
    faintest_shown = round(float(np.log10(flux[first].min())) - 0.05, 2)
    state.log_flux = (faintest_shown, state.log_flux[1])  # the first page passes, fainter rows do not
    assert np.array_equal(table._rows, first) and state.counts()["filtered"] < state.counts()["total"]
    assert values == [] and table.info.object != info
    state.log_flux = (state.param.log_flux.bounds[0], faintest_shown)  # only fainter rows: a different page
    assert len(values) == 1 and not np.array_equal(table._rows, first)
    assert values[0]["SRCID"].tolist() == [str(s) for s in demo_catalogue.sources["SRCID"].to_numpy()[table._rows]]


def test_a_flag_written_elsewhere_shows_on_the_same_page_at_the_next_refresh(reviewer_store):
    store, cat = reviewer_store
    state = ExploreState(cat)
    table = TableView(state)
    rows = table._rows.copy()
    assert table.show_flags and set(table.table.value["flags"]) == {""}
    src = cat.sources.iloc[rows[3]]
    store.add_flags("rita", "DEMO", [(src["SRCID"], src["SC_RA"], src["SC_DEC"])], "interesting")
    state.det_ml_min = 0.5  # the same first page, refreshed
    assert np.array_equal(table._rows, rows)
    assert table.table.value["flags"].tolist() == [""] * 3 + ["interesting"] + [""] * (PAGE_SIZE - 4)
    store.add_flags("rita", "DEMO", [(src["SRCID"], src["SC_RA"], src["SC_DEC"])], "interesting", action="unflag")
    table.page = 0
    table._refresh()
    assert set(table.table.value["flags"]) == {""}
