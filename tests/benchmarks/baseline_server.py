"""The hvPlot baseline server of the benchmarks: ``panel serve tests/benchmarks/baseline_app.py``.

One launch for every benchmark that puts a figure beside the plain hvPlot ``rasterize=True`` page
(bench_first_page, bench_explore), so both measure the same baseline the same way.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

APP = Path(__file__).with_name("baseline_app.py")


@contextlib.contextmanager
def serve_baseline(data_dir: Path, log: Path | None = None, timeout: float = 300.0) -> Iterator[tuple[str, int]]:
    """Serve the baseline page on ``data_dir``'s default release; yields (page URL, server's process group id).

    The server has answered one page (its warm-up) before this yields; it is stopped on exit.
    """
    from tests.ui.serving import free_port, stop, wait_http

    port = free_port()
    cmd = [sys.executable, "-m", "panel", "serve", str(APP), "--port", str(port)]
    cmd += ["--allow-websocket-origin", f"127.0.0.1:{port}"]
    out = log.open("w") if log is not None else subprocess.DEVNULL
    proc = subprocess.Popen(
        cmd,
        env={**os.environ, "XMM_EXPLORER_DATA": str(data_dir)},
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}/{APP.stem}"
    try:
        wait_http(url, timeout, proc)
        yield url, proc.pid
    finally:
        stop(proc)
        if log is not None:
            out.close()
