"""Real servers and a real browser for the UI tests and benchmarks.

``serve_app`` starts ``xmm-explorer serve`` (the same command a user runs) on a free loopback
port in a subprocess and waits until it answers; ``browser`` launches Debian's Chromium
through Playwright with the flags this sandbox needs (never a downloaded browser).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


def chromium_path() -> str | None:
    for candidate in (os.environ.get("XMM_CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium")):
        if candidate and Path(candidate).exists():
            return candidate
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout: float = 90.0, proc: subprocess.Popen | None = None) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before answering {url}")
        try:
            # One patient request rather than many short ones: each retry of a page opens a new,
            # expensive session, which on a loaded 2-core machine only makes things slower.
            with urllib.request.urlopen(url, timeout=max(deadline - time.time(), 1)) as r:  # noqa: S310 - loopback
                if r.status < 500:
                    return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(f"{url} did not answer within {timeout:.0f} s")


def stop(proc: subprocess.Popen) -> None:
    """Stop a server started in its own session: SIGTERM to the whole group, SIGKILL if it lingers."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)


@contextlib.contextmanager
def serve_app(data_dir: Path, *extra: str, env: dict | None = None, page: str = "explore", timeout: float = 120.0):
    """Run ``xmm-explorer --data-dir DATA serve --port P`` and yield the base URL."""
    port = free_port()
    cmd = [sys.executable, "-m", "app.cli", "--data-dir", str(data_dir), "serve", "--port", str(port), *extra]
    log = open(Path(data_dir) / f"server-{port}.log", "w")  # noqa: SIM115 - closed below
    # Every test client is 127.0.0.1: lift the per-client page limit unless a test sets it.
    env = {"XMM_EXPLORER_MAX_SESSIONS_PER_CLIENT": "10000", "XMM_EXPLORER_MAX_SESSIONS": "10000", **(env or {})}
    proc = subprocess.Popen(
        cmd, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **env}, start_new_session=True
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{base}/{page}", timeout, proc)
        yield base
    finally:
        stop(proc)
        log.close()


@contextlib.contextmanager
def browser():
    """A Playwright Chromium browser (Debian's binary), closed afterwards."""
    from playwright.sync_api import sync_playwright

    path = chromium_path()
    if path is None:
        raise RuntimeError("Chromium is not installed: `apt-get install -y chromium` (see .ci/run).")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=path, args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


def wait_idle(page, timeout: float = 30_000) -> None:
    """Wait until Bokeh has rendered the document and no Panel busy indicator is spinning."""
    page.wait_for_function("() => window.Bokeh !== undefined && Bokeh.documents.length > 0", timeout=timeout)
    page.wait_for_timeout(300)
    page.wait_for_function(
        "() => !document.querySelector('.pn-busy') && !document.querySelector('.bk-loading')", timeout=timeout
    )


def scroll_through(page, steps: int = 12) -> None:
    """Scroll to the bottom a screen at a time (panels made when first seen are made), then back up."""
    for _ in range(steps):
        at = page.evaluate("() => { window.scrollBy(0, innerHeight * 0.8); return scrollY + innerHeight; }")
        page.wait_for_timeout(500)
        if at >= page.evaluate("() => document.scrollingElement.scrollHeight"):
            break
    wait_idle(page)
    page.wait_for_timeout(500)
    page.evaluate("() => window.scrollTo(0, 0)")
