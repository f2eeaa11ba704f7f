"""The Explore table pages through a column's cached sort order exactly as sorting the visible rows does.

Ties (many in extent, flags, counts, class) go by row on every page, as pandas' stable sort orders them.
"""

import numpy as np
import pandas as pd
import pytest

from app import fields
from app.state import ExploreState
from app.views.table import PAGE_SIZE, TableView
from data_loaders.catalogue import MemorySubset


@pytest.mark.parametrize("ascending", [False, True])
@pytest.mark.parametrize("column", ["SC_EXTENT", "SC_DET_ML", "SC_HR4"])
def test_pages_in_the_cached_order_equal_sorting_the_visible_rows(demo_catalogue, column, ascending):
    """Ties (many in extent) go by row on every page, NaN last, as pandas' stable sort orders them."""
    rng = np.random.default_rng(7)
    src = demo_catalogue.sources
    for visible in (rng.random(len(src)) < 0.5, rng.random(len(src)) < 0.02, np.ones(len(src), bool)):
        sub = MemorySubset(demo_catalogue, "sources", None, visible)
        idx = np.flatnonzero(visible)
        key = pd.Series(src[column].to_numpy(np.float64)[idx], index=idx)
        stable = key.sort_values(ascending=ascending, na_position="last", kind="stable").index.to_numpy()
        for page, size in ((0, 12), (3, 12), (1, 700), (40, 12)):
            got = sub.page(column, ascending, page, size, ["SRCID"])["SRCID"].to_numpy()
            assert np.array_equal(got, src["SRCID"].to_numpy()[stable[page * size : (page + 1) * size]]), (page, size)


def test_the_sort_order_is_computed_once_per_column_and_read_only(demo_catalogue):
    a = demo_catalogue.sort_order("sources", "SC_DET_ML", False)
    assert demo_catalogue.sort_order("sources", "SC_DET_ML", False) is a and not a.flags.writeable
    assert demo_catalogue.sort_order("sources", "SC_DET_ML", True) is not a


def first_rows(catalogue, state, n=PAGE_SIZE):
    """Rows of the first table page by flux, descending: the stable sort of the visible rows."""
    flux = catalogue.sources[fields.column("flux", "sources", state.band)].to_numpy(np.float64)
    idx = np.flatnonzero(state.visible)
    key = pd.Series(flux[idx], index=idx)
    return key.sort_values(ascending=False, na_position="last", kind="stable").index.to_numpy()[:n]


def test_a_filter_change_refreshes_the_table_once_on_the_first_page(demo_catalogue):
    state = ExploreState(demo_catalogue)
    table = TableView(state)
    table.page = 2
    values = []
    table.table.param.watch(lambda e: values.append(e.new), "value")
    state.det_ml_min = 20.0
    assert table.page == 0 and len(values) == 1
    want = demo_catalogue.sources["SRCID"].to_numpy()[first_rows(demo_catalogue, state)]
    assert np.array_equal(table.srcids, want)
    assert values[0]["SRCID"].tolist() == [str(s) for s in want]
    state.level = "detections"  # a new level is a filter change too: one refresh, detection rows
    assert len(values) == 2 and len(table.srcids) == PAGE_SIZE
    assert table.info.object.endswith(f"{state.counts()['selected']:,} rows")


def test_the_table_is_sent_again_only_when_its_page_changes(demo_catalogue):
    state = ExploreState(demo_catalogue)
    table = TableView(state)
    values, first = [], first_rows(demo_catalogue, state)
    table.table.param.watch(lambda e: values.append(e.new), "value")
    info = table.info.object
    flux = demo_catalogue.sources[fields.column("flux", "sources", state.band)].to_numpy(np.float64)
    faintest_shown = round(float(np.log10(flux[first].min())) - 0.05, 2)
    state.log_flux = (faintest_shown, state.log_flux[1])  # the first page passes, fainter rows do not
    assert np.array_equal(first_rows(demo_catalogue, state), first)
    assert state.counts()["filtered"] < state.counts()["total"]
    assert values == [] and table.info.object != info
    state.log_flux = (state.param.log_flux.bounds[0], faintest_shown)  # only fainter rows: a different page
    assert len(values) == 1 and not np.array_equal(first_rows(demo_catalogue, state), first)
    want = demo_catalogue.sources["SRCID"].to_numpy()[first_rows(demo_catalogue, state)]
    assert values[0]["SRCID"].tolist() == [str(s) for s in want] == [str(s) for s in table.srcids]


def test_a_flag_written_elsewhere_shows_on_the_same_page_at_the_next_refresh(reviewer_store):
    store, cat = reviewer_store
    state = ExploreState(cat)
    table = TableView(state)
    srcids = table.srcids.copy()
    assert table.show_flags and set(table.table.value["flags"]) == {""}
    src = cat.sources.set_index("SRCID", drop=False).loc[srcids[3]]
    store.add_flags("rita", "DEMO", [(src["SRCID"], src["SC_RA"], src["SC_DEC"])], "interesting")
    state.det_ml_min = 0.5  # the same first page, refreshed
    assert np.array_equal(table.srcids, srcids)
    assert table.table.value["flags"].tolist() == [""] * 3 + ["interesting"] + [""] * (PAGE_SIZE - 4)
    store.add_flags("rita", "DEMO", [(src["SRCID"], src["SC_RA"], src["SC_DEC"])], "interesting", action="unflag")
    table.page = 0
    table._refresh()
    assert set(table.table.value["flags"]) == {""}
