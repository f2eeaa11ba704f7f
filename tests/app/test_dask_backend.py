"""``serve --dask``: the spec, the cluster's line on the page, and Dask failures as one sentence on the page.

The Explore page itself is the same on both engines (``test_explore_engines``); this is what only
the Dask engine has: a cluster that may be mistyped, described, or lost.
"""

import pytest

from app import dask_backend
from app.state import ExploreState
from app.views.filters import FilterPanel
from app.views.sky import SkyView
from data_loaders.dask_catalogue import DaskCatalogue
from data_loaders.demo.partitioned import write_partitioned_demo

N, GROUP, PARTITION = 20_000, 5_000, 10_000


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    root = tmp_path_factory.mktemp("dask-backend")
    return write_partitioned_demo(root, "BIG", N, 3, workers=0, rows_per_partition=10_000, row_group_size=GROUP).path


def test_dask_errors_become_one_sentence():
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


def test_the_page_names_the_cluster_and_a_lost_cluster_is_one_sentence(release):
    from distributed import Client, LocalCluster

    # memory_limit=0: an in-process worker measures the whole test process, which a full test
    # run grows past any small limit; the worker then pauses and the test hangs.
    cluster = LocalCluster(n_workers=1, processes=False, memory_limit=0, dashboard_address=":0")
    lost = Client(cluster, set_as_default=False)
    with lost.as_current():
        cat = DaskCatalogue(release, client=lost, partition_rows=PARTITION)
        note = cat.engine_note()
        assert note.startswith("Dask backend") and "inproc://" in note and "1 worker " in note
        assert f"{N:,} detections in {N // PARTITION} partitions" in note
        state = ExploreState(cat)
        panel, sky = FilterPanel(state, SkyView(state)), SkyView(state)
        assert "pass the filters" in panel.count.object and state.message == ""
        sky._on_version()
        dask_backend.close(lost)
        state.det_ml_min = 5.0  # the count and the sky now fail
    text = state.message
    assert text.startswith("The Dask scheduler at inproc://") and "cannot be reached" in text, text
    assert "\n" not in text and "Traceback" not in text and panel.message.visible
