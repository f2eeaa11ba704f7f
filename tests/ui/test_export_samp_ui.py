"""SAMP end to end: the ExportPanel in headless Chromium talks to a real astropy hub (Web Profile) and a listener.

The hub runs on loopback with an auto-accepting registration dialog; the listener (a standard
profile client) records ``table.load.votable`` and ``coord.pointAt.sky``; the table it gets is
fetched from the token URL without any cookie and must be exactly the selection.
"""

from __future__ import annotations

import contextlib
import io
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import warnings
from pathlib import Path

import numpy as np
import pytest

from tests.ui.serving import browser, free_port, stop, wait_http, wait_idle

pytestmark = pytest.mark.ui
PAGE = Path(__file__).with_name("export_page.py")
WEB_PORT = 21012


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the hub does: TIME_WAIT is no conflict
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@contextlib.contextmanager
def samp_hub(tmp_path: Path):
    """A real astropy hub with the Web Profile on 21012 that accepts every registration, plus a listener."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # astropy.samp is deprecated in astropy 8 (pyvo.samp is not installed)
        from astropy.samp import SAMPHubServer, SAMPIntegratedClient
        from astropy.samp.hub import WebProfileDialog

    class AcceptAll(WebProfileDialog):
        def __init__(self):
            super().__init__()
            self.running, self.asked = True, []

        def show_dialog(self, samp_name, details, client, origin):
            self.asked.append((samp_name, origin))
            self.consent()

        def poll(self):
            while self.running:
                self.handle_queue()
                time.sleep(0.05)

    dialog = AcceptAll()
    hub = SAMPHubServer(
        addr="127.0.0.1",
        lockfile=str(tmp_path / "samp-lock"),
        web_profile=True,
        web_profile_dialog=dialog,
        web_port=WEB_PORT,
    )
    hub.start(wait=False)
    poller = threading.Thread(target=dialog.poll, daemon=True)
    poller.start()
    client = SAMPIntegratedClient(name="test listener", addr="127.0.0.1")
    client.connect(hub=hub)
    received: list[tuple[str, dict]] = []
    for mtype in ("table.load.votable", "table.load.fits", "coord.pointAt.sky"):
        client.bind_receive_notification(mtype, lambda pk, sender, mt, params, extra: received.append((mt, params)))
    try:
        yield hub, dialog, received
    finally:
        dialog.running = False
        with contextlib.suppress(Exception):
            client.disconnect()
        hub.stop()


@contextlib.contextmanager
def serve_page(data_dir: Path, samp_dir: Path):
    port = free_port()
    cmd = [
        sys.executable,
        "-m",
        "panel",
        "serve",
        str(PAGE),
        "--port",
        str(port),
        "--plugins",
        "app.samp_tokens",
        "--allow-websocket-origin",
        f"127.0.0.1:{port}",
    ]
    env = {**os.environ, "XMM_EXPLORER_DATA": str(data_dir), "XMM_EXPLORER_SAMP_DIR": str(samp_dir)}
    log = open(samp_dir.parent / f"export-page-{port}.log", "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{base}/export_page", 90, proc)
        yield base
    finally:
        stop(proc)
        log.close()


def _wait_for(predicate, timeout: float = 30.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def test_send_selection_and_point_at_source_through_a_real_hub(demo_data_dir, demo_catalogue, tmp_path):
    if not _port_free(WEB_PORT):
        pytest.skip(f"port {WEB_PORT} is taken (a real SAMP hub is running here)")
    sources = demo_catalogue.sources
    expected = sources.loc[sources["SC_DET_ML"].to_numpy() >= 10, "SRCID"].to_numpy(np.int64)
    bright = sources.iloc[int(np.argmax(sources["SC_EP_8_FLUX"].to_numpy()))]
    samp_dir = tmp_path / "samp"
    with serve_page(demo_data_dir, samp_dir) as base, samp_hub(tmp_path) as (hub, dialog, received):
        with browser() as b:
            page = b.new_page()
            console: list[str] = []
            page.on("console", lambda m: console.append(m.text))
            page.goto(f"{base}/export_page?detml=10&src={int(bright['SRCID'])}")
            wait_idle(page)
            page.get_by_role("button", name="Send to TOPCAT/Aladin/DS9 (SAMP)").click()
            assert _wait_for(lambda: any(m == "table.load.votable" for m, _ in received)), page.content()[-2000:]
            status = page.locator(".xmm-samp-status")  # Panel renders in shadow roots; locators pierce them
            status.get_by_text("over SAMP").wait_for(timeout=15_000)
            assert status.inner_text() == f"Sent {expected.size:,} rows to 1 application over SAMP.", console
            assert dialog.asked and dialog.asked[0][0] == "XMM Explorer"
            params = next(p for m, p in received if m == "table.load.votable")
            assert params["url"].startswith(f"{base}/samp-table/")
            assert f"{expected.size:,} rows" in params["name"]

            # The hub fetches without the user's cookie: a plain HTTP client must get exactly the selection.
            with urllib.request.urlopen(params["url"], timeout=10) as r:  # noqa: S310 - loopback test server
                body = r.read()
            from astropy.io.votable import parse_single_table

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                table = parse_single_table(io.BytesIO(body)).to_table()
            assert len(table) == expected.size
            assert np.array_equal(np.sort(np.asarray(table["SRCID"], dtype=np.int64)), np.sort(expected))
            assert str(table["SC_EP_8_FLUX"].unit) in ("erg / (s cm2)", "erg / (cm2 s)")

            page.get_by_role("button", name="Point at source").click()
            assert _wait_for(lambda: any(m == "coord.pointAt.sky" for m, _ in received))
            point = next(p for m, p in received if m == "coord.pointAt.sky")
            status.get_by_text("Pointed at").wait_for(timeout=15_000)
            assert status.inner_text() == f"Pointed at {bright['IAUNAME']} to 1 application over SAMP."
            assert float(point["ra"]) == pytest.approx(float(bright["SC_RA"]), abs=1e-6)
            assert float(point["dec"]) == pytest.approx(float(bright["SC_DEC"]), abs=1e-6)
            if os.environ.get("XMM_SCREENSHOTS"):
                page.screenshot(path=os.path.join(os.environ["XMM_SCREENSHOTS"], "export-samp.png"), full_page=True)

            hub.stop()
            page.get_by_role("button", name="Send to TOPCAT/Aladin/DS9 (SAMP)").click()
            status.get_by_text("No SAMP hub found").wait_for(timeout=20_000)
            assert status.inner_text() == "No SAMP hub found on this computer: start TOPCAT or Aladin first."
            if os.environ.get("XMM_SCREENSHOTS"):
                page.screenshot(
                    path=os.path.join(os.environ["XMM_SCREENSHOTS"], "export-samp-nohub.png"), full_page=True
                )

        # An unknown token is a 404, also without a cookie.
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(f"{base}/samp-table/{'A' * 43}", timeout=10)  # noqa: S310
        assert err.value.code == 404
