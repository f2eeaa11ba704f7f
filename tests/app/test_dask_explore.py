"""The Explore page on Dask (``serve --dask``): its state and views on a LocalCluster equal the pandas page.

The release is a partitioned demo of 60k detections in row groups of 5k rows, cut into Dask
partitions of 10k rows, so cone pruning and streamed exports have several pieces to work on.
The views run without a server here, so the page's Dask work runs synchronously.
"""

from __future__ import annotations

import asyncio
import io
import math

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from astropy.io import fits
from bokeh.events import RangesUpdate

from app import dask_backend
from app.plots import sky as skyplot
from app.state import ExploreState
from app.views.dask_explore import _fit
from data_loaders import projection
from data_loaders.catalogue import Catalogue
from data_loaders.dask_catalogue import DaskCatalogue, sky_column
from data_loaders.demo.partitioned import write_partitioned_demo
from layouts.explore_dask import DaskExplorePage
from tests.shown import shown

N = 60_000
GROUP = 5_000
PARTITION = 10_000

FILTERS = [
    {},
    {"det_ml_min": 10.0},
    {"log_flux": (-14.0, -9.0), "extent": "point-like"},
    {"hr2": (-0.5, 0.4), "hr3": (-1.0, 0.2), "quality": "clean"},
    {"extent": "extended", "quality": "good", "det_ml_min": 6.0},
]


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    root = tmp_path_factory.mktemp("dask-explore")
    report = write_partitioned_demo(root, "BIG", N, 3, workers=0, rows_per_partition=20_000, row_group_size=GROUP)
    return report.path


@pytest.fixture(scope="module")
def client():
    c = dask_backend.connect("local", processes=False, memory_limit=0)  # in-process: no pause
    yield c
    dask_backend.close(c)


@pytest.fixture(scope="module")
def pandas_cat(release):
    return Catalogue(release)


@pytest.fixture(scope="module")
def dask_cat(release, client):
    cat = DaskCatalogue(release, client=client, partition_rows=PARTITION)
    assert cat.npartitions == N // PARTITION
    return cat


@pytest.fixture(scope="module", autouse=True)
def _no_export_files_left():
    from app.views.dask_explore import remove_export_dir

    yield
    remove_export_dir()


@pytest.fixture
def page(dask_cat, client):
    p = DaskExplorePage(dask_cat, client)
    p.start()
    yield p
    if p.export.path is not None:
        p.export.path.unlink(missing_ok=True)


def pandas_state(pandas_cat, **params) -> ExploreState:
    """The pandas page's state with the same filters (same parameter names)."""
    return ExploreState(pandas_cat, **params)


def haversine_deg(ra, dec, ra0, dec0):
    ra, dec, ra0, dec0 = map(np.radians, (ra, dec, ra0, dec0))
    h = np.sin((dec - dec0) / 2) ** 2 + np.cos(dec) * np.cos(dec0) * np.sin((ra - ra0) / 2) ** 2
    return np.degrees(2 * np.arcsin(np.sqrt(h)))


# --- counts ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("level", ["sources", "detections"])
@pytest.mark.parametrize("filters", FILTERS, ids=lambda f: ",".join(f) or "none")
def test_count_after_filters_equals_pandas(page, pandas_cat, level, filters):
    page.state.param.update(level=level, **filters)
    counts = page.count.counts
    want = pandas_state(pandas_cat, level=level, **filters).counts()
    assert (counts.total, counts.filtered) == (want["total"], want["filtered"])
    assert counts.in_cone is None
    assert f"{want['filtered']:,}</b> of {want['total']:,} {level} pass the filters" in page.count.count.object
    assert page.runner.errors == []


def test_filter_selection_is_the_pandas_pages(page, pandas_cat):
    page.state.param.update(level="detections", log_flux=(-13.5, -10.0), det_ml_min=8.0, quality="good")
    ps = pandas_state(pandas_cat, level="detections", log_flux=(-13.5, -10.0), det_ml_min=8.0, quality="good")
    assert page.state.filter_selection() == ps.filter_selection()


def test_presets_and_reset(page, pandas_cat):
    page.state.apply_preset("clean point sources")
    want = pandas_state(pandas_cat, quality="clean", extent="point-like", det_ml_min=8.0).counts()["filtered"]
    assert page.count.counts.filtered == want < page.count.counts.total
    assert page.filters.sliders["det_ml_min"].value == 8.0  # the slider follows the state
    page.state.reset_filters()
    assert page.count.counts.filtered == page.count.counts.total


# --- the sky --------------------------------------------------------------------------------------
def pandas_index(pandas_cat, state: ExploreState, view, width, height, norm="eq_hist"):
    x, y = pandas_cat.xy(state.level, state.frame, state.projection)
    index, kind = skyplot.sky_index(x, y, state.mask, view[0], view[1], width, height, norm=norm)
    return index, kind


def test_sky_after_zoom_equals_pandas(page, pandas_cat):
    page.state.param.update(det_ml_min=10.0, extent="point-like")
    sky = page.sky
    assert sky.last_image is not None and sky.last_image.kind == "ramp"
    view = ((-80.0, 0.0), (-30.0, 10.0))  # 2:1, the frame's aspect before the browser reports it
    event = RangesUpdate(sky.fig, x0=view[0][0], x1=view[0][1], y0=view[1][0], y1=view[1][1])
    sky._on_ranges_update(event)  # what Bokeh sends after a wheel zoom
    img = sky.last_image
    assert (img.x_range, img.y_range) == view
    assert page.state.x_range == view[0] and page.state.y_range == view[1]  # in the permalink
    ps = pandas_state(pandas_cat, det_ml_min=10.0, extent="point-like")
    want, kind = pandas_index(pandas_cat, ps, view, 900, 450)
    assert kind == img.kind and img.index.shape == (450, 900)
    np.testing.assert_array_equal(img.index, want)
    # the image went into the figure's data source in place, bottom row first
    data = sky.source.data
    assert data["image"][0] is img.index and (data["x"][0], data["y"][0], data["dw"][0]) == (-80.0, -30.0, 80.0)
    # counts in the view equal the pandas rows in the view
    x, y = pandas_cat.xy("sources", "icrs", "hammer")
    inside = ps.mask & (x >= -80) & (x <= 0) & (y >= -30) & (y <= 10)
    sub = page.state.catalogue.select("sources", page.state.filter_selection())
    agg = sub.grid(sky_column("x", "hammer", "icrs"), sky_column("y", "hammer", "icrs"), *view, 900, 450)
    assert int(agg.sum()) == int(inside.sum()) > 0


def test_sky_galactic_mollweide_log(page, pandas_cat):
    page.state.param.update(level="detections", frame="galactic", projection="mollweide", norm="log")
    img = page.sky.last_image
    want_view = _fit(skyplot.full_extent("mollweide"), 900, 450)
    np.testing.assert_allclose([img.x_range, img.y_range], want_view)
    ps = pandas_state(pandas_cat, level="detections", frame="galactic", projection="mollweide")
    want, _ = pandas_index(pandas_cat, ps, (img.x_range, img.y_range), 900, 450, norm="log")
    np.testing.assert_array_equal(img.index, want)
    assert page.sky.label_source.data["text"][0].endswith("°")  # galactic longitudes in degrees


# --- cone search ----------------------------------------------------------------------------------
def test_cone_search_reads_few_row_groups_and_matches_haversine(page, pandas_cat, dask_cat):
    page.state.param.update(det_ml_min=8.0)
    before = dask_cat.row_groups_read
    page.cone.search("266.4 -29.0 r=2deg")
    res = page.cone.result
    assert page.state.message == "" and res is not None
    read = dask_cat.row_groups_read - before
    assert 0 < read < res.row_groups_total == pq.ParquetFile(dask_cat.path / "sources.parquet").num_row_groups > 2
    assert res.row_groups_read < res.row_groups_total
    src = pandas_cat.sources
    keep = (haversine_deg(src["SC_RA"].to_numpy(), src["SC_DEC"].to_numpy(), 266.4, -29.0) <= 2.0) & (
        src["SC_DET_ML"].to_numpy() >= 8.0
    )
    want = set(src["SRCID"][keep])
    assert set(res.rows["SRCID"]) == want and len(want) > 0
    assert (np.diff(res.rows["SEPARATION"].to_numpy()) >= 0).all()  # nearest first
    assert page.count.counts.in_cone == len(want)
    assert "in the cone" in page.count.count.object
    shown = page.cone.table.value
    assert len(shown) == min(20, len(want)) and shown["IAUNAME"].iloc[0] == res.rows["IAUNAME"].iloc[0]
    assert list(shown.columns) == ["IAUNAME", "SC_RA", "SC_DEC", "SC_EP_8_FLUX", "SC_DET_ML", "SEPARATION"]
    assert page.sky.last_image.kind == "highlight"  # cone rows in colour over the grey sky
    assert len(page.sky.cone_source.data["x"]) > 100  # the cone's edge is drawn
    assert page.state.x_range is not None  # the view moved to the cone
    # a filter change re-filters the cone's rows without reading Parquet again
    before = dask_cat.row_groups_read
    page.state.det_ml_min = 20.0
    assert dask_cat.row_groups_read == before
    assert set(page.cone.result.rows["SRCID"]) == set(src["SRCID"][keep & (src["SC_DET_ML"].to_numpy() >= 20.0)])
    page.cone.clear()
    assert page.count.counts.in_cone is None and page.sky.last_image.kind == "ramp"


def test_cone_search_by_field_name_and_bad_text(page):
    page.cone.search("M31 r=30'")
    assert page.state.cone == pytest.approx((10.6847, 41.2690, 0.5))
    page.cone.search("srcid 201234")
    assert page.state.message.startswith("The cone search takes a position")
    page.cone.search("no such place")
    assert page.state.message and "\n" not in page.state.message
    assert page.state.cone == pytest.approx((10.6847, 41.2690, 0.5))  # unchanged


# --- tap ------------------------------------------------------------------------------------------
def test_tap_shows_the_nearest_source(page, pandas_cat):
    src = pandas_cat.sources
    row = src.iloc[len(src) // 3]
    x, y = projection.forward(np.array([row["SC_RA"]]), np.array([row["SC_DEC"]]), "hammer")
    page.sky.show_view(((x[0] - 0.2, x[0] + 0.2), (y[0] - 0.1, y[0] + 0.1)))
    page.sky.tap(float(x[0]) + 0.0002, float(y[0]))
    picked = page.sky.picked
    assert picked is not None and picked["SRCID"] == row["SRCID"]
    assert str(row["IAUNAME"]) in shown(page.card.pane.object) and f"srcid={row['SRCID']}" in page.card.pane.object
    page.sky.tap(179.0, 89.0)  # outside the sky: nothing happens
    assert page.sky.picked["SRCID"] == row["SRCID"]
    ra, dec = src["SC_RA"].to_numpy(), src["SC_DEC"].to_numpy()
    for dx in np.linspace(-0.19, 0.19, 9):  # somewhere in the view with no source near
        lon, lat = projection.inverse(np.array([x[0] + dx]), np.array([y[0] + 0.09]), "hammer")
        if haversine_deg(ra, dec, lon[0], lat[0]).min() > 0.02:
            page.sky.tap(float(x[0] + dx), float(y[0]) + 0.09)
            break
    assert page.state.message.startswith("No source under the cursor")


def test_tap_on_a_detection(page, pandas_cat):
    page.state.level = "detections"
    det = pandas_cat.detections
    row = det.iloc[len(det) // 2]
    x, y = projection.forward(np.array([row["RA"]]), np.array([row["DEC"]]), "hammer")
    page.sky.show_view(((x[0] - 0.1, x[0] + 0.1), (y[0] - 0.05, y[0] + 0.05)))
    page.sky.tap(float(x[0]), float(y[0]))
    assert page.sky.picked["DETID"] == row["DETID"]
    assert str(row["DETID"]) in page.card.pane.object


# --- export ---------------------------------------------------------------------------------------
def test_export_filtered_selection_to_fits(page, pandas_cat):
    page.state.param.update(level="detections", log_flux=(-14.0, -9.0), quality="clean")
    want = pandas_state(pandas_cat, level="detections", log_flux=(-14.0, -9.0), quality="clean").counts()
    page.export.format.value = "fits"
    path = page.export.prepare()
    assert page.runner.errors == [] and path is not None and path == page.export.path
    with fits.open(path) as hdul:
        table = hdul[1]
        assert table.header["NAXIS2"] == want["filtered"] > 0
        assert "EP_8_FLUX" in table.columns.names and "DETID" in table.columns.names
        assert (table.data["EP_8_FLUX"] >= 1e-14).all()
        assert "EP_8_FLUX" in table.header["SELECTN"]
    assert page.export.download.visible and page.export.download.filename == f"BIG-detections-{want['filtered']}.fits"
    first = path
    page.export.format.value = "csv"
    second = page.export.prepare()
    assert not first.exists() and second.exists()  # one prepared file per session
    frame = pd.read_csv(second, comment="#")
    assert len(frame) == want["filtered"]


def test_export_streams_one_partition_at_a_time(page, dask_cat):
    calls = []
    buf = io.BytesIO()
    rows = page.state.export_to(buf, "parquet", progress=lambda done, total: calls.append((done, total)))
    assert rows == page.count.counts.filtered
    assert len(calls) > 1 and calls[-1][0] == calls[-1][1]


def test_export_of_a_cone_and_the_row_limit(page, monkeypatch):
    page.cone.search("266.4 -29.0 r=2deg")
    path = page.export.prepare()
    with fits.open(path) as hdul:
        assert hdul[1].header["NAXIS2"] == page.count.counts.in_cone > 0
    monkeypatch.setenv("XMM_EXPLORER_EXPORT_LIMIT", "10")
    assert page.export.prepare() is None
    assert page.state.message.startswith("Exports are limited to 10 rows unless an admin gives you the reviewer role")


# --- errors ----------------------------------------------------------------------------------------
def test_dask_errors_become_one_sentence(page):
    from distributed.comm.core import CommClosedError
    from distributed.scheduler import KilledWorker

    cases = {
        KilledWorker("task", "tcp://w:1", "died"): "A Dask worker died",
        CommClosedError("in <TCP>: Stream is closed"): "The Dask scheduler at tcp://s:8786 cannot be reached",
        TimeoutError(): "The Dask cluster at tcp://s:8786 did not answer in time",
        RuntimeError("deep inside numba"): "The Dask computation failed (RuntimeError)",
    }
    for exc, start in cases.items():
        text = dask_backend.describe_error(exc, "tcp://s:8786")
        assert text.startswith(start) and text.endswith(".") and text.count(". ") == 0, text

    def boom():
        raise KilledWorker("aggregate", "tcp://w:1", "died")

    failed = []
    page.runner.submit("sky", boom, lambda r: None, "drawing the sky", failed=lambda: failed.append(1))
    assert page.state.message.startswith("A Dask worker died") and failed == [1]
    assert "Traceback" not in page.count.message.object and page.count.message.visible


def test_bad_spec_gives_one_sentence(tmp_path, capsys, monkeypatch):
    from app import config
    from app.cli import main

    for name in (config.DATA_ENV, config.RELEASE_ENV, config.DB_ENV, dask_backend.ENV):
        monkeypatch.delenv(name, raising=False)  # the command sets them; restore them afterwards

    for spec in ("bogus", "local:0", "local:two", "tcp://127.0.0.1:1", "tcp://nohostport"):
        assert main(["--data-dir", str(tmp_path), "serve", "--dask", spec]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: ") and len(err.splitlines()) == 1 and err.endswith("."), err
    monkeypatch.setenv(dask_backend.ENV, "local:-3")
    assert main(["--data-dir", str(tmp_path), "serve"]) == 2
    assert "at least one worker" in capsys.readouterr().err
    with pytest.raises(ValueError, match="expected 'local'"):
        dask_backend.parse_spec("udp://x:1")
    assert dask_backend.parse_spec(" local:3 ") == ("local", 3)
    assert dask_backend.parse_spec("tcp://scheduler:8786") == ("address", "tcp://scheduler:8786")


def test_serve_help_documents_dask(capsys):
    from app.cli import build_parser

    with pytest.raises(SystemExit):
        build_parser().parse_args(["serve", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "--dask SPEC" in out and "local:N" in out and "tcp://scheduler:8786" in out


def test_banner_names_the_cluster(page):
    text = shown(page.banner.object)
    assert "Dask backend" in text and "inproc://" in text and "2 workers" in text
    assert f"{N:,} detections in {N // PARTITION} partitions" in text


# --- the runner on a server: newest request wins ----------------------------------------------------
class _FakeDoc:
    """Just enough of a Bokeh document for the Runner: next-tick callbacks on the running loop."""

    session_context = object()

    def __init__(self):
        self.tasks = []

    def add_next_tick_callback(self, callback):
        loop = asyncio.get_running_loop()

        def run():
            result = callback()
            if asyncio.iscoroutine(result):
                self.tasks.append(loop.create_task(result))

        loop.call_soon(run)


def test_runner_keeps_only_the_newest_request():
    from app.views.dask_explore import Runner

    async def scenario():
        import threading

        doc = _FakeDoc()
        runner = Runner(doc)
        started, applied, status = [], [], []
        gate = threading.Event()
        runner.on_status = lambda labels: status.append(tuple(labels))

        def work(i):
            started.append(i)
            if i == 0:
                gate.wait(5)
            return i

        for i in range(4):
            runner.submit("sky", lambda i=i: work(i), applied.append, "drawing the sky")
            await asyncio.sleep(0.01)
        gate.set()
        for _ in range(200):
            await asyncio.sleep(0.01)
            if not runner.run_status() and status and status[-1] == ():
                break
        return started, applied, status

    started, applied, status = asyncio.run(scenario())
    assert started == [0, 3]  # 1 and 2 were replaced while 0 ran
    assert applied == [3]  # 0's result was superseded before it could be applied
    assert ("drawing the sky",) in status and status[-1] == ()


def test_cone_outline_is_a_circle():
    from app.views.dask_explore import cone_outline

    x, y = cone_outline(10.0, 20.0, 1.0, "icrs", "hammer")
    lon, lat = projection.inverse(np.array(x), np.array(y), "hammer")
    sep = haversine_deg(lon, lat, 10.0, 20.0)
    np.testing.assert_allclose(sep[np.isfinite(sep)], 1.0, atol=1e-6)
    assert math.isfinite(x[0])


def test_a_lost_cluster_gives_one_sentence_on_the_page(release):
    from distributed import Client, LocalCluster

    # memory_limit=0: an in-process worker measures the whole test process, which a full test
    # run grows past any small limit; the worker then pauses and the test hangs.
    cluster = LocalCluster(n_workers=1, processes=False, memory_limit=0, dashboard_address=":0")
    lost = Client(cluster, set_as_default=False)
    with lost.as_current():
        page = DaskExplorePage(DaskCatalogue(release, client=lost, partition_rows=PARTITION), lost)
        page.start()
        assert page.count.counts.total > 0 and page.runner.errors == []
        dask_backend.close(lost)
        page.state.det_ml_min = 5.0  # the count and the sky now fail
    assert page.runner.errors, "the failure was not reported"
    for text in page.runner.errors:
        assert text.startswith("The Dask scheduler at inproc://") and "cannot be reached" in text, text
        assert "\n" not in text and "Traceback" not in text
    assert page.state.message == page.runner.errors[-1] and page.count.message.visible
