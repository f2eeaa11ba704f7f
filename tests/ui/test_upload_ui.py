"""Uploads past the size limit are refused in the browser with one sentence, and the page lives on."""

from __future__ import annotations

import pytest

from app.upload import MAX_UPLOAD_BYTES
from tests.ui.serving import browser, wait_idle
from tests.ui.test_export_samp_ui import serve_page

pytestmark = [pytest.mark.ui, pytest.mark.slow]


def test_a_25_mb_upload_gets_a_sentence_and_a_small_one_still_works(demo_data_dir, demo_catalogue, tmp_path):
    big = tmp_path / "big.csv"
    with open(big, "wb") as handle:
        handle.write(b"srcid\n" + b"1\n" * (25_000_000 // 2))
    ids = demo_catalogue.sources["SRCID"].iloc[:3].tolist()
    small = tmp_path / "small.csv"
    small.write_text("srcid\n" + "\n".join(map(str, ids)) + "\n")
    with serve_page(demo_data_dir, tmp_path / "samp") as base, browser() as b:
        page = b.new_page(viewport={"width": 1200, "height": 900})
        page.goto(f"{base}/export_page")
        wait_idle(page, 60_000)
        upload = page.locator("input.xmm-sized-file-input")
        upload.set_input_files(str(big))
        sentence = f"'big.csv' is 25.0 MB; files of at most {MAX_UPLOAD_BYTES / 1e6:g} MB can be uploaded."
        page.get_by_text(sentence).wait_for(timeout=15_000)
        upload.set_input_files(str(small))  # the connection is still there: the next file is matched
        page.get_by_text("3 of 3").wait_for(timeout=30_000)
