"""Every page in Chromium on a release ingested from only the nine required columns: sentences, no tracebacks."""

import pytest
from astropy.io import fits

from data_loaders import capabilities, schema
from data_loaders.catalogue import Catalogue
from data_loaders.ingest import ingest
from tests.data_loaders import real_format
from tests.ui.serving import browser, serve_app, wait_idle

pytestmark = pytest.mark.ui


@pytest.fixture(scope="module")
def minimal_release(tmp_path_factory):
    root = tmp_path_factory.mktemp("nine-columns")
    full = real_format.per_detection(root / "full.fits")
    drop = [c for c in fits.getdata(full, 1).columns.names if c not in schema.REQUIRED_COLUMNS]
    report = ingest(real_format.per_detection(root / "nine.fits", drop=drop), root / "data", name="NINE")
    return root / "data", Catalogue(report.path)


def test_every_page_of_a_nine_column_release_explains_what_is_missing(minimal_release):
    data, cat = minimal_release
    caps = cat.capabilities
    srcid = int(cat.sources["SRCID"].iloc[0])
    expected = {  # page -> a sentence it must show (the rest must simply open)
        "explore": caps.reason(capabilities.SOURCE_HARDNESS),
        f"source?srcid={srcid}": caps.reason(capabilities.EPOCHS),
        "review": "",
        "outreach": "",
        "alerts": caps.reason(capabilities.EPOCHS),
        "classify": caps.reason(capabilities.SOURCE_BAND_FLUXES),
    }
    errors = []
    with serve_app(data) as base, browser() as b:
        page = b.new_page(viewport={"width": 1400, "height": 1000})
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        for path, sentence in expected.items():
            page.goto(f"{base}/{path}")
            wait_idle(page, timeout=60_000)
            if sentence:
                page.get_by_text(sentence).first.wait_for(timeout=30_000)
            body = page.inner_text("body")
            assert "Traceback" not in body and "KeyError" not in body, (path, body[:500])
        log = "".join(p.read_text() for p in data.glob("server-*.log"))
    assert "Traceback" not in log, log[-3000:]
    assert not [e for e in errors if "ERR_NAME_NOT_RESOLVED" not in e], errors
