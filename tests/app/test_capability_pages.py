"""Every page on releases that lack an optional column group: no traceback, the missing part explained in one line."""

import html
import json

import pytest
from astropy.io import fits
from bokeh.document import Document

from data_loaders import capabilities, schema
from data_loaders.catalogue import Catalogue
from data_loaders.ingest import ingest
from data_loaders.store import open_store
from tests.data_loaders import real_format

COLUMN_GROUPS = [g.name for g in capabilities.GROUPS.values() if g.table is None]
#: Where a missing group is explained: (page, capability) pairs whose reason must be on the page.
EXPLAINED = {
    capabilities.SOURCE_HARDNESS: "explore",
    capabilities.EPOCHS: "alerts",
    capabilities.SOURCE_BAND_FLUXES: "classify",
}
#: Groups ingest derives from the detections when the file lacks them (documented in the field descriptions).
DERIVED = {capabilities.SOURCE_POSITIONS, capabilities.SOURCE_FLUXES, capabilities.SOURCE_EPOCHS}
FITTED = {capabilities.BAND_FIT: "detections", capabilities.SOURCE_BAND_FIT: "sources"}


@pytest.fixture(scope="module")
def full_file(tmp_path_factory):
    return real_format.per_detection(tmp_path_factory.mktemp("caps") / "full.fits")


def _release(tmp_path, full_file, drop, name) -> Catalogue:
    path = real_format.per_detection(tmp_path / f"{name}.fits", drop=drop)
    return Catalogue(ingest(path, tmp_path / "data", name=name).path)


def _page_texts(cat: Catalogue, data_dir) -> dict[str, str]:
    """Each page built for one session, serialised as the browser would receive it, HTML entities decoded."""
    from layouts import alerts, classify, explore, outreach, review, source

    srcid = str(int(cat.sources["SRCID"].iloc[0]))
    out = {}
    with open_store(None, data_dir) as store:
        pages = {
            "explore": lambda: explore.create_page(cat)[0],
            "source": lambda: source.create_page(cat, srcid=srcid)[0],
            "review": lambda: review.create_page(cat)[0],
            "outreach": lambda: outreach.create_page(cat)[0],
            "alerts": lambda: alerts.create_page(cat)[0],
            "classify": lambda: classify.create_page(cat, store, data_dir / "users.json", None)[0],
        }
        for page, build in pages.items():
            doc = Document()
            built = build()
            if hasattr(built, "server_doc"):
                built.server_doc(doc)
            else:
                built.get_root(doc)
            text = json.dumps(doc.to_json(deferred=False), default=lambda o: None, ensure_ascii=False)
            out[page] = html.unescape(html.unescape(text))  # as shown: panes escape text (app.text.inert) once more
    return out


def test_minimal_nine_column_release_opens_every_page(tmp_path, full_file):
    """Bug: a nine-column file ingested, then the Source view crashed (KeyError SC_RA, MJD_FIRST, SC_EXTENT...)."""
    drop = [c for c in fits.getdata(full_file, 1).columns.names if c not in schema.REQUIRED_COLUMNS]
    cat = _release(tmp_path, full_file, drop, "NINE")
    texts = _page_texts(cat, tmp_path / "data")
    caps = cat.capabilities
    assert "The Alerts page needs dated detections. " + caps.reason(capabilities.EPOCHS) in texts["alerts"]
    assert caps.reason(capabilities.SOURCE_HARDNESS) in texts["explore"]
    assert caps.reason(capabilities.EPOCHS) in texts["source"]  # the long-term lightcurve's place
    assert "SRCID " in texts["source"]  # named by SRCID: the file has no IAU names
    assert "Traceback" not in "".join(texts.values())


@pytest.mark.slow
@pytest.mark.parametrize("k", range(4))
def test_each_missing_column_group_keeps_every_page(tmp_path, full_file, k):
    """Every optional column group is removed in one of four releases (a quarter of the groups each, so
    the six pages are built 24 times rather than 96); each release opens every page."""
    groups = COLUMN_GROUPS[k::4]
    drop = [c for g in groups for c in capabilities.GROUPS[g].detections + capabilities.GROUPS[g].sources]
    cat = _release(tmp_path, full_file, drop, f"WITHOUT-{k}")
    texts = _page_texts(cat, tmp_path / "data")
    fitted = json.loads((tmp_path / "data" / "releases" / f"WITHOUT-{k}" / "release.json").read_text())["band_fit"]
    for group in groups:
        if group in FITTED:  # no catalogue file has them: ingest fits them from the band fluxes it kept
            assert cat.capabilities.has(group) == bool(fitted[FITTED[group]]), group
        else:
            assert cat.capabilities.has(group) == (group in DERIVED), group
        if group in EXPLAINED:
            assert cat.capabilities.reason(group) in texts[EXPLAINED[group]], group
