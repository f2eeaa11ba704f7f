"""Exports of a session's selection: exactly the selected rows and values, units, provenance, limits, memory."""

from __future__ import annotations

import io
import json
import warnings

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from astropy.io import fits, votable
from astropy.table import Table

from app import export_service as es
from app.selection import Ids
from app.state import ExploreState
from data_loaders.export import ExportLimitError
from tests.shown import shown


@pytest.fixture
def state(demo_catalogue):
    st = ExploreState(demo_catalogue)
    st.param.update(level="detections", det_ml_min=10.0, quality="clean")
    return st


def _expected(cat, columns):
    """The selection computed directly with pandas on the catalogue (in memory + every column from Parquet)."""
    det = cat.detections
    keep = (det["EP_8_DET_ML"].to_numpy() >= 10) & (det["SUM_FLAG"].to_numpy() <= 2)
    full = pd.read_parquet(cat.path / "detections.parquet" / "part-0.parquet")
    return full.loc[keep, columns].reset_index(drop=True)


def test_chunks_equal_a_direct_pandas_selection(state, demo_catalogue):
    cols = ["SRCID", "DETID", "RA", "DEC", "EP_8_FLUX", "PN_8_FLUX", "M1_1_FLUX_ERR", "DIST_NN", "IAUNAME"]
    plan = es.plan_export(state, cols)
    chunks = list(es.iter_chunks(plan, chunk_rows=700))
    assert max(len(c) for c in chunks) <= 700 and len(chunks) > 3
    got = pd.concat(chunks, ignore_index=True)
    want = _expected(demo_catalogue, cols)
    assert len(got) == plan.n_rows == len(want) > 100
    for c in cols:
        if c == "IAUNAME":
            assert got[c].astype(str).tolist() == want[c].astype(str).tolist()
        else:
            np.testing.assert_allclose(got[c].to_numpy(np.float64), want[c].to_numpy(np.float64), rtol=1e-6)


def test_fits_file_has_rows_units_and_provenance(state, demo_catalogue, tmp_path):
    plan = es.plan_export(state, ["SRCID", "RA", "DEC", "EP_8_FLUX", "DIST_NN", "CLASS"])
    path = es.export_to_file(plan, "fits", directory=tmp_path)
    table = Table.read(path, hdu=1)
    want = _expected(demo_catalogue, ["SRCID", "EP_8_FLUX"])
    assert np.array_equal(np.asarray(table["SRCID"]), want["SRCID"].to_numpy())
    assert str(table["EP_8_FLUX"].unit) in ("erg / (s cm2)", "erg / (cm2 s)")
    assert str(table["RA"].unit) == "deg" and str(table["DIST_NN"].unit) == "arcsec"
    header = fits.getheader(path, 1)
    text = repr(header)
    assert "DEMO" in text and "EP_8_DET_ML" in text and "synthetic" in text.lower()
    assert set(np.asarray(table["CLASS"]).astype(str)) <= {"", *__import__("data_loaders").schema.CLASS_NAMES}


def test_votable_and_parquet_carry_units_and_provenance(state, tmp_path):
    plan = es.plan_export(state, ["SRCID", "RA", "DEC", "EP_8_FLUX"])
    vot = es.export_to_file(plan, "votable", directory=tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        doc = votable.parse(str(vot))
    infos = {i.name: i.value for i in doc.resources[0].infos}
    assert infos["rows"] == str(plan.n_rows) and infos["release"] == "DEMO" and infos["synthetic"] == "yes"
    assert "EP_8_DET_ML" in infos["selection"] and infos["date_utc"].startswith("20")
    assert doc.get_first_table().to_table()["RA"].unit == "deg"
    pqt = es.export_to_file(plan, "parquet", directory=tmp_path)
    schema = pq.read_schema(pqt)
    prov = json.loads(schema.metadata[b"xmm_explorer.provenance"])
    assert prov["level"] == "detections" and prov["rows"] == str(plan.n_rows)
    assert schema.field("EP_8_FLUX").metadata[b"unit"] == b"erg/cm**2/s"
    assert pq.read_metadata(pqt).num_rows == plan.n_rows


def test_csv_of_an_ids_selection_is_exactly_those_sources(demo_catalogue):
    st = ExploreState(demo_catalogue)
    ids = demo_catalogue.sources["SRCID"].to_numpy()[[3, 50, 700]]
    st.set_part("ids", Ids("SRCID", ids))
    buf = io.StringIO()
    assert es.write_export(es.plan_export(st), "csv", buf) == 3
    frame = pd.read_csv(io.StringIO(buf.getvalue()))
    assert sorted(frame["SRCID"]) == sorted(ids.tolist())
    ecsv = io.StringIO()
    assert es.write_export(es.plan_export(st), "ecsv", ecsv) == 3
    table = Table.read(ecsv.getvalue(), format="ascii.ecsv")
    assert table.meta["provenance"]["selection"].startswith("SRCID in {")
    assert sorted(table["SRCID"]) == sorted(ids.tolist())


def test_empty_selection_writes_an_empty_table(demo_catalogue, tmp_path):
    st = ExploreState(demo_catalogue)
    st.set_part("ids", Ids("SRCID", [1]))
    path = es.export_to_file(es.plan_export(st), "fits", directory=tmp_path)
    assert len(Table.read(path, hdu=1)) == 0


def test_anonymous_limit_is_one_sentence_and_configurable(state, monkeypatch, tmp_path):
    plan = es.plan_export(state)
    monkeypatch.setenv(es.LIMIT_ENV, "100")
    assert es.row_limit(None) == 100
    with pytest.raises(ExportLimitError) as err:
        es.export_to_file(plan, "csv", max_rows=es.row_limit(None), directory=tmp_path)
    msg = str(err.value)
    assert msg.count(".") == 1 and msg.endswith(".") and f"{plan.n_rows:,}" in msg and "reviewer role" in msg
    assert list(tmp_path.iterdir()) == []  # nothing half-written left behind
    monkeypatch.setenv(es.LIMIT_ENV, "0")
    assert es.row_limit(None) is None
    monkeypatch.delenv(es.LIMIT_ENV)
    assert es.row_limit(None) == 100_000


def test_unknown_column_is_one_sentence(state):
    with pytest.raises(es.ExportError, match="has no column 'NOPE' at the detections level"):
        es.plan_export(state, ["SRCID", "NOPE"])


def test_match_list_of_ids_names_and_positions(demo_catalogue):
    src = demo_catalogue.sources
    ids = src["SRCID"].to_numpy()[:4]
    m = es.match_list(demo_catalogue, "sources", ("SRCID\n" + "\n".join(map(str, ids)) + "\n42\n").encode(), "l.csv")
    assert m.n_matched == 4 and m.n_list == 5 and set(m.selection.values) == set(ids.tolist())
    assert m.summary() == "4 of 5 SRCID values matched; 1 not found (42)."
    names = src["IAUNAME"].astype(str).to_numpy()[:2]
    m = es.match_list(demo_catalogue, "sources", ("IAUNAME\n" + "\n".join(n.lower() for n in names)).encode(), "n.csv")
    assert m.n_matched == 2 and set(m.selection.values) == set(src["SRCID"].to_numpy()[:2].tolist())
    ra, dec = src["SC_RA"].to_numpy()[10], src["SC_DEC"].to_numpy()[10]
    m = es.match_list(demo_catalogue, "sources", f"ra,dec\n{ra + 1e-4},{dec}\n0.5,-89\n".encode(), "p.csv", 5.0)
    assert m.n_matched == 1 and int(src["SRCID"].to_numpy()[10]) in m.selection.values
    det = demo_catalogue.detections
    m = es.match_list(demo_catalogue, "sources", f"DETID\n{det['DETID'].iat[5]}\n".encode(), "d.csv")
    assert m.selection.column == "SRCID" and m.selection.values == (int(det["SRCID"].iat[5]),)
    m = es.match_list(demo_catalogue, "detections", f"DETID\n{det['DETID'].iat[5]}\n".encode(), "d.csv")
    assert m.selection.column == "DETID"


def test_bad_list_is_one_sentence(demo_catalogue):
    with pytest.raises(es.ExportError, match="'x.csv' has no usable column"):
        es.match_list(demo_catalogue, "sources", b"foo,bar\n1,2\n", "x.csv")


def test_export_panel_reports_limit_and_imports_a_list(demo_catalogue, monkeypatch):
    from app.views.export import ExportPanel

    monkeypatch.setenv(es.LIMIT_ENV, "1000")
    st = ExploreState(demo_catalogue)
    panel = ExportPanel(st)
    assert panel.download.disabled and "limited to 1,000 rows" in shown(panel.info.object)
    panel.upload.filename = "list.csv"
    ids = demo_catalogue.sources["SRCID"].to_numpy()[:3]
    panel.upload.value = ("srcid\n" + "\n".join(map(str, ids))).encode()
    assert int(st.visible.sum()) == 3 and "3 of 3" in panel.import_info.object
    assert not panel.download.disabled and panel.download.filename == "DEMO-sources-3.fits"
    data = panel._download_file()
    assert len(Table.read(io.BytesIO(data.getvalue()), format="fits")) == 3


@pytest.mark.slow
def test_memory_stays_bounded_on_a_200k_row_release(tmp_path_factory):
    """Peak RSS growth of 50k- and 200k-row FITS exports (with Parquet-read columns), each in a fresh process."""
    import subprocess
    import sys
    import textwrap

    from tests.conftest import make_demo_data_dir

    root = make_demo_data_dir(tmp_path_factory.mktemp("big"), n=200_000)
    code = textwrap.dedent(f"""
        import resource, sys
        from pathlib import Path
        from app.state import ExploreState
        from app import export_service as es
        from data_loaders.catalogue import load_catalogue
        cat = load_catalogue(Path({str(root)!r}), "DEMO")
        st = ExploreState(cat, level="detections")
        plan = es.plan_export(st, es.default_columns(cat, "detections") + ["DIST_NN", "PN_8_FLUX"])
        from data_loaders.catalogue import MemorySubset
        import numpy as np
        keep = plan.rows.mask & (np.cumsum(plan.rows.mask) <= int(sys.argv[1]))
        plan.rows = MemorySubset(cat, "detections", None, keep)
        import os, threading
        import astropy.io.fits, astropy.io.votable, astropy.table, pyarrow.parquet  # imports are not the export
        def rss_mb():
            with open("/proc/self/statm") as f:
                return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
        peak, done = [0.0], threading.Event()
        def watch():
            while not done.is_set():
                peak[0] = max(peak[0], rss_mb()); done.wait(0.01)
        before = rss_mb()
        thread = threading.Thread(target=watch); thread.start()
        path = Path(sys.argv[3])
        es.write_export(plan, "fits", path, chunk_rows=int(sys.argv[2]))
        done.set(); thread.join()
        after = peak[0]
        print(plan.n_rows, int(after - before), path.stat().st_size // 2**20)
        path.unlink()
    """)
    figures = {}
    for chunk in (10_000, 100_000):
        target = root / f"out-{chunk}.fits"
        out = subprocess.run(
            [sys.executable, "-c", code, "200000", str(chunk), str(target)], capture_output=True, text=True, check=True
        )
        n, grew_mb, file_mb = map(int, out.stdout.split())
        assert n == 200_000
        figures[chunk] = (grew_mb, file_mb)
    print("chunk rows -> (peak RSS growth MB, file MB):", figures)
    # Streaming: memory follows the chunk size, not the 200k rows. (Comparing exports of different
    # row counts flaked both ways on a busy machine: the whole export is only ~25 MB.)
    (grew_small, file_mb), (grew_big, _) = figures[10_000], figures[100_000]
    assert file_mb >= 20, figures
    assert grew_small < grew_big / 2, figures


def test_the_export_limit_is_lifted_by_a_granted_role_not_by_an_account(monkeypatch, tmp_path):
    from app import store_access

    monkeypatch.setenv("XMM_EXPLORER_DATA", str(tmp_path))
    monkeypatch.delenv("XMM_EXPLORER_DB", raising=False)
    monkeypatch.delenv("XMM_EXPLORER_USERS", raising=False)
    monkeypatch.setenv(es.LIMIT_ENV, "100")
    store_access.reset_store()
    try:
        store = store_access.get_store()
        store.grant_role("signed_up", "classifier", granted_by="signup")
        store.grant_role("rita", "reviewer")
        store.grant_role("ada", "admin")
        assert es.row_limit("signed_up") == 100 == es.row_limit(None) == es.row_limit("unknown_oauth_user")
        assert es.row_limit("rita") is None and es.row_limit("ada") is None
    finally:
        store_access.reset_store()
