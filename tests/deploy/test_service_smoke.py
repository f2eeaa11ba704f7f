"""Start the server exactly as the systemd unit's ExecStart does, with --num-procs 2, and stop it as systemd would."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.deploy.units import DEPLOY, exec_start_argv, read_env_file, read_unit
from tests.load.runner import group_pids
from tests.ui.serving import free_port, wait_http

pytestmark = pytest.mark.slow

WRITER = """
import sys
from pathlib import Path
from data_loaders.store import open_store
data_dir, user, first = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
with open_store(None, data_dir) as store:
    for i in range(first, first + 20):  # one transaction per flag, interleaved with the other writer
        store.add_flags(user, "DEMO", [(i, 10.0, 20.0)], "spurious", comment=f"by {user}")
"""


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=30) as r:  # noqa: S310 - loopback URL we built
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def test_exec_start_serves_and_stops_as_a_group(writable_demo_data_dir, tmp_path):
    port = free_port()
    env = read_env_file(DEPLOY / "xmm-explorer.env.example")
    env |= {
        "XMM_EXPLORER_DATA": str(writable_demo_data_dir),
        "XMM_EXPLORER_PORT": str(port),
        "XMM_EXPLORER_NUM_PROCS": "2",
        "XMM_EXPLORER_PUBLIC_HOST": f"127.0.0.1:{port}",
    }
    argv = exec_start_argv(read_unit(DEPLOY / "xmm-explorer.service"), env)
    argv[0] = str(Path(sys.executable).with_name("xmm-explorer"))  # the venv's script instead of /opt/...
    log = open(tmp_path / "server.log", "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        argv, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{base}/health", 180, proc)
        # Both workers answer /health once warmed up; collect their pids (the kernel picks one per connection).
        seen: dict[int, dict] = {}
        deadline = time.time() + 120
        while time.time() < deadline and len(seen) < 2:
            status, body = _get(f"{base}/health")
            report = json.loads(body)
            assert status == 200, report
            seen[report["pid"]] = report
            time.sleep(0.2)
        report = next(iter(seen.values()))
        assert report["status"] == "ok" and report["db"] == "ok" and report["releases"] == ["DEMO"]
        assert report["rss_mb"] > 50 and report["uptime_s"] > 0 and report["n_sessions"] >= 0
        workers = set(group_pids(proc.pid)) - {proc.pid}
        assert len(workers) == 2 and set(seen) <= workers

        status, page = _get(f"{base}/explore")
        assert status == 200 and b"bokeh" in page.lower()

        # Two processes write flags into the SQLite database at the same time, as two workers do.
        from data_loaders.store import open_store

        with open_store(None, writable_demo_data_dir) as store:
            for user in ("ann", "bob"):
                store.grant_role(user, "reviewer")
        writers = [
            subprocess.Popen([sys.executable, "-c", WRITER, str(writable_demo_data_dir), user, str(first)])
            for user, first in (("ann", 1000), ("bob", 2000))
        ]
        assert [w.wait(60) for w in writers] == [0, 0]
        with open_store(None, writable_demo_data_dir) as store:
            events = store.flag_events("DEMO")
        assert sorted(events.groupby("user").size().to_dict().items()) == [("ann", 20), ("bob", 20)]
        assert _get(f"{base}/health")[0] == 200  # the server still sees its database

        # systemd KillMode=control-group: SIGTERM to every process of the unit.
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)  # TimeoutStopSec
        deadline = time.time() + 30
        while time.time() < deadline and (group_pids(proc.pid) or _listening(port)):
            time.sleep(0.5)
        assert not group_pids(proc.pid), "a worker survived the stop"
        assert not _listening(port), "something still listens on the port after the stop"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()
