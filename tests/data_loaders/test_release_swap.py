"""An ingest killed with SIGKILL at any point leaves the old or the new release complete; the next start cleans up."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from data_loaders import schema
from data_loaders.catalogue import Catalogue
from data_loaders.ingest import ingest, list_releases
from data_loaders.release_swap import clean_stale
from tests.data_loaders import real_format

ROOT = Path(__file__).resolve().parents[2]

#: Run an ingest in a child that SIGKILLs itself at the named point (a real kill -9, at a known place).
CHILD = """
import os, signal, sys
import pyarrow.parquet as pq
from data_loaders import release_swap
from data_loaders.ingest import ingest

def die(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)

point = sys.argv[3]
if point == "writing":
    pq.ParquetWriter.write_table = die
elif point == "before-link":
    release_swap.os.symlink = die
elif point == "before-swap":
    # only the swap itself: ingest also replaces files atomically while it writes (the band fit)
    real_replace = os.replace
    def swap_or_die(src, dst, *args, **kwargs):
        if os.path.basename(str(src)).startswith(".R.link-"):
            die()
        return real_replace(src, dst, *args, **kwargs)
    release_swap.os.replace = swap_or_die
elif point == "before-removing-old":
    release_swap.shutil.rmtree = die
ingest(sys.argv[1], sys.argv[2], name="R")
"""
POINTS = ("writing", "before-link", "before-swap", "before-removing-old")


def _child(src: Path, data: Path, point: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-c", CHILD, str(src), str(data), point], cwd=ROOT, env=env)


def _release_rows(data: Path) -> int:
    """Rows of release R as a server would load it (asserting the release is complete)."""
    path = data / "releases" / "R"
    meta = json.loads((path / schema.RELEASE_META_FILE).read_text())
    cat = Catalogue(path)
    assert len(cat.detections) == meta["n_detections"]
    return meta["n_detections"]


def _leftovers(data: Path) -> list[str]:
    return sorted(p.name for p in (data / "releases").iterdir() if p.name.startswith(".") and ".v" not in p.name)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("swap")
    return real_format.per_detection(d / "old.fits", n=300), real_format.per_detection(d / "new.fits", n=400, seed=5)


@pytest.mark.slow
@pytest.mark.parametrize("legacy", [False, True], ids=["versioned", "legacy-directory"])
@pytest.mark.parametrize("point", POINTS)
def test_kill_at_each_point_leaves_a_complete_release(files, tmp_path, point, legacy):
    old, new = files
    data = tmp_path / "data"
    ingest(old, data, name="R")
    if legacy:  # a release written by an earlier version: a plain directory, no symlink
        release = data / "releases" / "R"
        target = release.resolve()
        release.unlink()
        target.rename(release)
    child = _child(new, data, point)
    assert child.wait(timeout=120) == -signal.SIGKILL
    # The next start (ingest or serve) repairs and cleans; then R is the old or the new release, whole.
    clean_stale(data / "releases")
    rows = _release_rows(data)
    # Killed before the swap, a versioned release keeps the old one; a legacy directory was already
    # moved aside, so the next start points R at the newest complete version: the new one.
    expected = {"writing": 300, "before-link": 300, "before-swap": 400 if legacy else 300}.get(point, 400)
    assert rows == expected
    assert _leftovers(data) == []
    versions = [p for p in (data / "releases").iterdir() if p.name.startswith(".R.v")]
    release = data / "releases" / "R"
    assert versions == ([release.resolve()] if release.is_symlink() else [])  # no orphan version kept
    assert [r["name"] for r in list_releases(data)] == ["R"]


@pytest.mark.slow
def test_the_old_release_stays_readable_until_the_swap(files, tmp_path):
    """Between the kill and the next start, a server still finds a complete release (nothing cleaned yet)."""
    old, new = files
    data = tmp_path / "data"
    ingest(old, data, name="R")
    for point in ("writing", "before-link", "before-swap"):
        assert _child(new, data, point).wait(timeout=120) == -signal.SIGKILL
        assert _release_rows(data) == 300


@pytest.mark.slow
def test_kill_9_from_outside_at_random_moments(tmp_path):
    """A real `kill -9` from another process while a larger ingest runs, at several moments."""
    data = tmp_path / "data"
    small = real_format.per_detection(tmp_path / "small.fits", n=200)
    big = real_format.per_detection(tmp_path / "big.fits", n=60_000, seed=9)
    ingest(small, data, name="R")
    for delay in (0.5, 2.0, 3.5, 6.0):
        child = _child(big, data, "none")
        time.sleep(delay)
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=120)
        rows = _release_rows(data)  # before any clean-up: complete, old or new
        assert rows in (200, 60_000)
        clean_stale(data / "releases")
        assert _leftovers(data) == []
    assert _release_rows(data) in (200, 60_000)


def test_stale_temporary_directories_are_removed_at_the_next_ingest(files, tmp_path, capsys):
    old, _ = files
    data = tmp_path / "data"
    stale = data / "releases" / ".R.ingest-999999999-abc"  # a pid that cannot be running
    (stale / schema.DETECTIONS_DIR).mkdir(parents=True)
    (stale / schema.DETECTIONS_DIR / "part-0.parquet").write_bytes(b"\0" * 4096)
    live = data / "releases" / f".R.ingest-{os.getppid()}-xyz"  # a running process's: kept
    live.mkdir()
    ingest(old, data, name="R")
    assert not stale.exists() and live.exists()
