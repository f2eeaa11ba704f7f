"""DaskCatalogue on a LocalCluster equals the pandas Catalogue + Selection path; the partitioned writer.

The release is a partitioned demo of 120k detections (20x the default fixture) in row groups
of 5k rows, so cone pruning has something to prune.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from app import selection as sel
from app.plots import sky as skyplot
from data_loaders import schema
from data_loaders.catalogue import Catalogue
from data_loaders.dask_catalogue import DaskCatalogue, sky_column
from data_loaders.demo.partitioned import generate_partition, partition_sizes, write_partitioned_demo

N = 120_000
SEED = 5
GROUP = 5_000


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    root = tmp_path_factory.mktemp("bigdemo")
    report = write_partitioned_demo(root, "BIG", N, SEED, workers=0, rows_per_partition=40_000, row_group_size=GROUP)
    return report.path


@pytest.fixture(scope="module")
def client():
    from app.dask_backend import close, connect

    c = connect("local", processes=False, memory_limit=0)  # in-process: the limit would measure pytest itself
    yield c
    close(c)


@pytest.fixture(scope="module")
def pandas_cat(release):
    return Catalogue(release)


@pytest.fixture(scope="module")
def dask_cat(release, client):
    # The row path (pruned to the view's partitions): it must equal pandas exactly.
    return DaskCatalogue(release, client=client, partition_rows=4 * GROUP, pyramid=False)


@pytest.fixture(scope="module")
def pyramid_cat(release, client):
    return DaskCatalogue(release, client=client, partition_rows=4 * GROUP)


# --- the writer ---------------------------------------------------------------------------------


def test_release_layout(release, pandas_cat):
    meta = json.loads((release / schema.RELEASE_META_FILE).read_text())
    assert meta["n_detections"] == N and meta["synthetic"] and meta["healpix_nside"] == 64
    pf = pq.ParquetFile(release / schema.DETECTIONS_DIR / "part-0.parquet")
    sizes = [pf.metadata.row_group(i).num_rows for i in range(pf.metadata.num_row_groups)]
    assert sizes[:-1] == [GROUP] * (len(sizes) - 1) and sum(sizes) == N
    det = pandas_cat.detections
    assert (np.diff(det["HPX"].to_numpy()) >= 0).all()  # HEALPix ordered
    # The writer writes the catalogue's own columns; the derived PL_* come from `bandfit --release`.
    catalogue_columns = set(schema.EXPLORE_COLUMNS) - set(schema.BANDFIT_NAMES)
    assert det["DETID"].is_unique and catalogue_columns <= set(det.columns)
    assert not set(schema.BANDFIT_NAMES) & set(det.columns)
    src = pandas_cat.sources
    assert src["SRCID"].is_unique and len(src) == meta["n_sources"]
    # Sources never straddle partitions: SC_ values and N_DETECTIONS are exact.
    counts = det["SRCID"].value_counts()
    assert (counts.reindex(src["SRCID"]).to_numpy() == src["N_DETECTIONS"].to_numpy()).all()
    assert set(det["SRCID"]) == set(src["SRCID"])


def test_partitions_are_deterministic():
    assert partition_sizes(10, 4) == [4, 3, 3]
    a_det, a_src = generate_partition(3, 1, 4_000)
    b_det, b_src = generate_partition(3, 1, 4_000)
    pd.testing.assert_frame_equal(a_det.to_pandas(), b_det.to_pandas())  # NaN == NaN here
    pd.testing.assert_frame_equal(a_src.to_pandas(), b_src.to_pandas())
    c_det, _ = generate_partition(3, 2, 4_000)
    assert a_det.num_rows == c_det.num_rows == 4_000
    assert not set(a_det.column("DETID").to_pylist()) & set(c_det.column("DETID").to_pylist())


def test_writer_is_deterministic(tmp_path):
    tables = []
    for k in range(2):
        r = write_partitioned_demo(tmp_path / str(k), "D", 9_000, 11, workers=0, rows_per_partition=4_000)
        tables.append(pq.read_table(r.path / schema.DETECTIONS_DIR))
        tables.append(pq.read_table(r.path / schema.SOURCES_FILE))
    pd.testing.assert_frame_equal(tables[0].to_pandas(), tables[2].to_pandas())
    pd.testing.assert_frame_equal(tables[1].to_pandas(), tables[3].to_pandas())


def _peak_rss_kb(data_dir, n_detections: int) -> tuple[int, int]:
    """(main, largest generating child) peak RSS in kB of a fresh process writing a release."""
    script = textwrap.dedent(
        f"""
        import json, resource
        from data_loaders.demo.partitioned import write_partitioned_demo
        if __name__ == "__main__":
            write_partitioned_demo(
                {str(data_dir)!r}, "M", {n_detections}, 1, workers=2, rows_per_partition=100_000, sky_pyramid=False
            )
            # VmHWM, not ru_maxrss: Linux carries the forking process's peak (here pytest's, 2 GB
            # late in a full run) into the child's ru_maxrss across exec; VmHWM is this image's own.
            with open("/proc/self/status") as f:
                hwm = next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
            print(json.dumps([hwm, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss]))
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=600)
    main_kb, worker_kb = json.loads(out.stdout.strip().splitlines()[-1])
    return main_kb, worker_kb


@pytest.mark.slow
def test_writer_memory_is_bounded(tmp_path):
    """The main process's peak RSS stays small while 1.2M rows (12 partitions) are written.

    The merge holds one spill batch per partition (MERGE_BUFFER_ROWS rows in all) and about two
    row groups: 400k to 1.8M rows peaked at 0.32-0.39 GB here, 4M rows 0.39 GB, 10M 0.41 GB.
    Memory-mapped spill files used to add their whole size to the resident set (~115 bytes per
    detection: +125 MB from 600k to 1.8M rows, 1.3 GB at 10M), about 0.5 GB at this size. One
    run of 1.2M rows rather than two sizes compared keeps the suite's time (2.4M rows took
    100-190 s on two busy cores).
    """
    main_kb, worker_kb = _peak_rss_kb(tmp_path / "large", 1_200_000)
    assert main_kb < 470_000, f"main process peaked at {main_kb / 1e3:.0f} MB (the spill files are resident again?)"
    assert worker_kb < 2.0e6, f"generating process peaked at {worker_kb / 1e6:.2f} GB"


# --- DaskCatalogue == Catalogue -------------------------------------------------------------


def test_interface(dask_cat, pandas_cat):
    assert (dask_cat.name, dask_cat.title, dask_cat.synthetic) == (pandas_cat.name, pandas_cat.title, True)
    assert dask_cat.meta == pandas_cat.meta
    assert dask_cat.n_rows("detections") == N and dask_cat.npartitions == N // (4 * GROUP)
    frame = dask_cat.frame("detections")
    dtypes = frame.dtypes
    for col in ("EP_8_FLUX", "EP_HR2", "RA", "DEC", "SC_EP_8_FLUX"):
        assert dtypes[col] == pandas_cat.detections[col].dtype  # numpy, never Arrow-backed
    got = frame.compute().sort_values("DETID").reset_index(drop=True)
    want = pandas_cat.detections.sort_values("DETID").reset_index(drop=True)
    pd.testing.assert_frame_equal(got[want.columns], want, check_dtype=False)


SELECTIONS = [
    sel.All(),
    sel.Range("EP_8_FLUX", 1e-14, None),
    sel.Range("EP_HR2", -0.2, 0.5) & sel.In("SUM_FLAG", (0, 1)),
    sel.IsTrue("VAR_FLAG") | sel.Range("EP_EXTENT", 6, None),
    ~sel.Range("EP_8_DET_ML", None, 20),
    sel.Cone(266.4, -29.0, 3.0),
    sel.Box(sky_column("x", "hammer", "icrs"), sky_column("y", "hammer", "icrs"), -60, 20, -30, 40),
]


# --- the catalogue interface: both engines give the same answers ---------------------------------


@pytest.fixture(scope="module", params=["memory", "dask"])
def engine(request, pandas_cat, dask_cat):
    return pandas_cat if request.param == "memory" else dask_cat


def truth(pandas_cat, selection, level="detections"):
    """The mask of ``selection`` computed with plain numpy on the in-memory frame (plus its sky columns)."""
    frame = pandas_cat.frame(level)
    if any(c.startswith("SKY_") for c in selection.columns()):
        x, y = pandas_cat.xy(level, "icrs", "hammer")
        frame = frame.assign(**{sky_column("x", "hammer", "icrs"): x, sky_column("y", "hammer", "icrs"): y})
    return np.asarray(selection.evaluate(frame), dtype=bool)


@pytest.mark.parametrize("selection", SELECTIONS, ids=lambda s: s.kind)
def test_count(selection, engine, pandas_cat):
    want = int(truth(pandas_cat, selection).sum())
    assert engine.select("detections", selection).count() == want
    assert want > 0


@pytest.mark.parametrize("selection", SELECTIONS[:4], ids=lambda s: s.kind)
@pytest.mark.parametrize(("how", "column"), [("count", None), ("mean", "EP_HR2"), ("max", "LOG10_EP_8_FLUX")])
def test_grid(selection, how, column, engine, pandas_cat):
    x, y = pandas_cat.xy("detections", "icrs", "hammer")
    mask = truth(pandas_cat, selection)
    x_range, y_range = skyplot.full_extent("hammer")
    values = None
    if column is not None:
        values = pandas_cat.view("detections")[column]
        values = np.asarray(values)[mask]
    want = skyplot.aggregate(x[mask], y[mask], x_range, y_range, 400, 200, values=values, how="mean" if column else how)
    xcol, ycol = sky_column("x", "hammer", "icrs"), sky_column("y", "hammer", "icrs")
    got = engine.select("detections", selection).grid(xcol, ycol, x_range, y_range, 400, 200, how=how, column=column)
    assert got.shape == (200, 400)
    if how != "max":
        np.testing.assert_allclose(got, want.values, rtol=1e-5, equal_nan=True)
    else:
        assert np.array_equal(np.isfinite(got), np.isfinite(want.values))
    if how == "count":
        assert int(got.sum()) == int(mask.sum())


def test_grid_by_class_and_galactic_zoom(engine, pandas_cat):
    x, y = pandas_cat.xy("sources", "galactic", "mollweide")
    xcol, ycol = sky_column("x", "mollweide", "galactic"), sky_column("y", "mollweide", "galactic")
    sub = engine.select("sources")
    got = sub.grid(xcol, ycol, (-40, 40), (-20, 20), 300, 150)
    want = skyplot.aggregate(x, y, (-40, 40), (-20, 20), 300, 150)
    np.testing.assert_array_equal(got, want.values)
    by = sub.grid(xcol, ycol, (-40, 40), (-20, 20), 300, 150, how="by", column="CLASS", n_categories=8)
    assert by.shape == (150, 300, 8)
    np.testing.assert_array_equal(by.sum(axis=2), want.values)


def test_histogram_chunks_page_and_srcids(engine, pandas_cat):
    selection = sel.Range("EP_8_FLUX", 1e-14, None)
    det = pandas_cat.detections
    mask = truth(pandas_cat, selection)
    sub = engine.select("detections", selection)
    edges = np.linspace(-1, 1, 21)
    hr = det["EP_HR2"].to_numpy(np.float64)[mask]
    np.testing.assert_array_equal(sub.histogram("EP_HR2", edges), np.histogram(hr[np.isfinite(hr)], bins=edges)[0])
    chunks = list(sub.chunks(["DETID", "EP_8_FLUX"], chunk_rows=10_000))
    assert all(list(c.columns) == ["DETID", "EP_8_FLUX"] for c in chunks)
    assert sorted(pd.concat(chunks)["DETID"]) == sorted(det["DETID"][mask])
    np.testing.assert_array_equal(sub.srcids(), np.unique(det["SRCID"][mask]))
    # pages: by flux descending (NaN last, ties by row), then catalogue order
    v = det["EP_HR3"].to_numpy(np.float64)
    key = np.where(np.isnan(v), np.inf, -v)
    rows = np.flatnonzero(mask)
    order = rows[np.lexsort((rows, key[rows]))]
    for page in (0, 3):
        got = sub.page("EP_HR3", False, page, 12, ["DETID", "EP_HR3"])
        assert list(got["DETID"]) == list(det["DETID"].to_numpy()[order[page * 12 : (page + 1) * 12]])
    got = sub.page(None, True, 1, 12, ["DETID"])
    assert list(got["DETID"]) == list(det["DETID"].to_numpy()[rows[12:24]])
    refined = sub.refine(sel.Range("EP_HR2", 0.0, None))
    assert refined.count() == int((mask & (det["EP_HR2"].to_numpy() >= 0)).sum())


def test_nearest_source_row_and_find(engine, pandas_cat):
    src = pandas_cat.sources
    row = src.iloc[len(src) // 2]
    sub = engine.select("sources")
    hit = sub.nearest("icrs", float(row["SC_RA"]), float(row["SC_DEC"]), 1 / 3600)
    assert hit is not None and hit["SRCID"] == row["SRCID"]
    assert engine.select("detections").nearest("galactic", 0.0, -89.0, 1e-4) is None
    assert engine.source_row(int(row["SRCID"]))["IAUNAME"] == row["IAUNAME"]
    assert engine.source_row(-5) is None
    found = engine.find("detections", "SRCID", [int(row["SRCID"])], ["DETID", "SRCID"])
    det = pandas_cat.detections
    assert sorted(found["DETID"]) == sorted(det["DETID"][det["SRCID"] == row["SRCID"]])
    names = engine.name_prefix(str(row["IAUNAME"])[:-3].lower(), 50)
    assert int(row["SRCID"]) in set(names["SRCID"])


def test_deep_pages_are_a_declared_capability(dask_cat, pandas_cat):
    from data_loaders.capabilities import DEEP_PAGES
    from data_loaders.dask_catalogue import MAX_PAGES
    from data_loaders.errors import CatalogueError

    assert pandas_cat.capabilities.has(DEEP_PAGES)
    assert not dask_cat.capabilities.has(DEEP_PAGES) and "export" in dask_cat.capabilities.reason(DEEP_PAGES)
    with pytest.raises(CatalogueError, match="first 100 pages"):
        dask_cat.select("detections").page("EP_HR2", True, MAX_PAGES, 12, ["DETID"])


@pytest.mark.parametrize(("ra", "dec", "radius"), [(266.4, -29.0, 2.0), (10.68, 41.27, 1.0), (0.2, 1.0, 5.0)])
def test_cone_equals_pandas_and_prunes(ra, dec, radius, dask_cat, pandas_cat):
    want = pandas_cat.detections[sel.Cone(ra, dec, radius).evaluate(pandas_cat.detections)]
    before = dask_cat.row_groups_read
    got = dask_cat.cone(ra, dec, radius, ["DETID", "RA", "DEC", "EP_8_FLUX"])
    read = dask_cat.row_groups_read - before
    assert sorted(got["DETID"]) == sorted(want["DETID"])
    assert len(want) > 0 or ra != 266.4  # the Galactic centre is a famous field of every partition
    n_groups = N // GROUP
    assert read <= max(3, n_groups // 4), f"{read} of {n_groups} row groups read"


def test_cone_on_sources_and_nearest(dask_cat, pandas_cat):
    src = pandas_cat.sources
    row = src.iloc[len(src) // 2]
    got = dask_cat.cone(float(row["SC_RA"]), float(row["SC_DEC"]), 0.5, level="sources")
    want = src[sel.Cone(row["SC_RA"], row["SC_DEC"], 0.5, "SC_RA", "SC_DEC").evaluate(src)]
    assert sorted(got["SRCID"]) == sorted(want["SRCID"])
    hit = dask_cat.nearest("sources", "icrs", float(row["SC_RA"]), float(row["SC_DEC"]), 1 / 3600)
    assert hit is not None and hit["SRCID"] == row["SRCID"]
    assert dask_cat.nearest("detections", "galactic", 0.0, -89.0, 1e-4) is None


def test_persisted_plot_frame_grows_with_columns(dask_cat):
    a = dask_cat.plot_frame("detections", [sky_column("x", "aitoff", "icrs"), sky_column("y", "aitoff", "icrs")])
    b = dask_cat.plot_frame("detections", [sky_column("x", "aitoff", "icrs")])
    assert a is b
    c = dask_cat.plot_frame("detections", ["EP_HR3"])
    assert {"EP_HR3", sky_column("x", "aitoff", "icrs")} <= set(c.columns)


def test_connect_rejects_bad_specs():
    from app.dask_backend import connect

    assert connect("") is None
    for bad in ("remote", "local:zero", "local:0"):
        with pytest.raises(ValueError):
            connect(bad)


def test_band_fit_added_to_a_partitioned_release_works_on_dask_like_any_column(release, client, tmp_path):
    import shutil

    from data_loaders.spectral.columns import add_to_release

    copy = tmp_path / "BIG"
    shutil.copytree(release, copy)
    done = add_to_release(copy)
    # The partitioned demo keeps no per-detection band errors: only its sources can be fitted.
    assert done["detections"] == 0 and done["sources"] == len(Catalogue(release).sources)
    pandas_copy, dask_copy = Catalogue(copy), DaskCatalogue(copy, client=client, partition_rows=4 * GROUP)
    assert set(schema.BANDFIT_NAMES) <= set(dask_copy.columns("sources"))
    assert not set(schema.BANDFIT_NAMES) & set(dask_copy.columns("detections"))
    cols = ["SRCID", "PL_GAMMA", "PL_NH", "PL_FIT_FLAG"]
    got = dask_copy.frame("sources", cols).compute().sort_values("SRCID").reset_index(drop=True)
    want = pandas_copy.sources[cols].sort_values("SRCID").reset_index(drop=True)
    pd.testing.assert_frame_equal(got, want, check_dtype=False)
    agn_like = sel.Range("PL_GAMMA", 1.5, 2.3) & sel.In("PL_FIT_FLAG", (0,))
    n = int(np.asarray(agn_like.evaluate(pandas_copy.sources)).sum())
    assert dask_copy.select("sources", agn_like).count() == n > 0
    counts = dask_copy.select("sources").histogram("PL_GAMMA", np.linspace(-1, 5, 13))
    assert counts.sum() == int(np.isfinite(pandas_copy.sources["PL_GAMMA"]).sum())


# --- the HEALPix pyramid and partition pruning ---------------------------------------------------


def _snapped_grid(pandas_cat, level, order, proj, frame, view, how="count", column=None):
    """The rows' grid with every row moved to the centre of its HEALPix cell of ``order``."""
    import astropy.units as u
    from astropy_healpix import HEALPix

    from data_loaders import grid as grids
    from data_loaders import projection, pyramid
    from data_loaders.catalogue import lonlat_columns

    df = pandas_cat.view(level)
    lon_c, lat_c = lonlat_columns(level, "icrs")
    hp = HEALPix(nside=2**order, order="nested")
    pix = hp.lonlat_to_healpix(np.asarray(df[lon_c]) * u.deg, np.asarray(df[lat_c]) * u.deg)
    lon, lat = (a.to_value(u.deg) for a in hp.healpix_to_lonlat(pix))
    if frame == "galactic":
        lon, lat = pyramid.icrs_to_galactic(lon, lat)
    x, y = projection.forward(lon, lat, proj)
    frame_ = pd.DataFrame({"x": x.astype(np.float32), "y": y.astype(np.float32)})
    if column is not None:
        frame_["v"] = np.asarray(df[column], dtype=np.float32)
    return grids.points(frame_, "x", "y", (*view, how, "v" if column else None, 0))


@pytest.mark.parametrize(
    ("level", "proj", "frame", "view"),
    [
        ("detections", "hammer", "icrs", (*skyplot.full_extent("hammer"), 400, 200)),
        ("sources", "mollweide", "galactic", ((-120.0, 120.0), (-60.0, 60.0), 300, 150)),
    ],
)
def test_pyramid_equals_the_rows_at_its_resolution(level, proj, frame, view, pyramid_cat, dask_cat, pandas_cat):
    """Zoomed out, the sky is drawn from the pyramid: the rows' image with each row at its cell's centre."""
    from data_loaders import pyramid

    pyr = pyramid_cat.pyramid(level)
    assert pyr is not None
    order = pyr.order_for(view[0], view[2])
    assert order is not None and order <= pyr.sum_order
    # The switch: one zoom step finer than the finest order, the rows are drawn.
    assert pyr.order_for((0.0, pyramid.cell_size_deg(pyr.max_order)), 1) is None
    xcol, ycol = sky_column("x", proj, frame), sky_column("y", proj, frame)
    sub = pyramid_cat.select(level)
    got = sub.grid(xcol, ycol, *view)
    np.testing.assert_array_equal(got, _snapped_grid(pandas_cat, level, order, proj, frame, view))
    rows = dask_cat.select(level).grid(xcol, ycol, *view)
    # Every row is drawn once (on a partial view a few rows cross its edge with their cell).
    assert abs(int(got.sum()) - int(rows.sum())) <= 0.01 * rows.sum()
    if view[0] == skyplot.full_extent(proj)[0]:
        assert int(got.sum()) == int(rows.sum()) == pandas_cat.n_rows(level)

    # A row moves by less than half a pixel: over blocks of 4x4 pixels the images nearly agree.
    def blocks(g):
        h, w = (g.shape[0] // 4) * 4, (g.shape[1] // 4) * 4
        return g[:h, :w].astype(np.int64).reshape(h // 4, 4, w // 4, 4).sum(axis=(1, 3))

    moved = np.abs(blocks(got) - blocks(rows)).sum() / rows.sum()
    print(f"pyramid vs rows: {moved:.3f} of the rows in other 4x4 blocks")
    assert moved < 0.1
    column = "EP_HR2" if level == "detections" else "SC_HR2"
    mean = sub.grid(xcol, ycol, *view, how="mean", column=column)
    want = _snapped_grid(pandas_cat, level, order, proj, frame, view, "mean", column)
    np.testing.assert_allclose(mean, want, rtol=1e-5, equal_nan=True)


def test_pyramid_is_written_by_the_writer_and_rebuilt_when_the_catalogue_changes(release, client, tmp_path):
    import shutil

    import pyarrow.parquet as pq_

    from data_loaders import pyramid

    files = pyramid.level_files(release)
    assert pyramid.load(release, "detections", files["detections"]) is not None
    assert pyramid.load(release, "sources", files["sources"]) is not None
    copy = tmp_path / "BIG"
    shutil.copytree(release, copy)
    det = pyramid.level_files(copy)["detections"][0]
    pq_.write_table(pq_.read_table(det).slice(0, 50_000), det, row_group_size=GROUP)  # a rewrite
    assert pyramid.load(copy, "detections", [det]) is None  # stale
    cat = DaskCatalogue(copy, client=client, partition_rows=4 * GROUP)
    xcol, ycol = sky_column("x", "hammer", "icrs"), sky_column("y", "hammer", "icrs")
    got = cat.select("detections").grid(xcol, ycol, *skyplot.full_extent("hammer"), 400, 200)
    assert int(got.sum()) == 50_000
    assert pyramid.load(copy, "detections", [det]) is not None  # written again


def test_zoomed_views_read_only_their_partitions(dask_cat):
    xcol = sky_column("x", "hammer", "icrs")
    assert dask_cat.view_partitions("detections", xcol, *skyplot.full_extent("hammer")) is None
    parts = dask_cat.view_partitions("detections", xcol, (-20.0, 0.0), (-10.0, 0.0))
    assert parts is not None and 0 < len(parts) < dask_cat.npartitions
