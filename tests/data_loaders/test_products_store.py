"""ProductStore: local archive, lazy synthesis under concurrency, and an HTTP archive through a cache."""

from __future__ import annotations

import functools
import http.server
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from data_loaders.products import (
    Lightcurve,
    ProductStore,
    ProductUnavailable,
    Spectrum,
    product_dir,
    write_detection_products,
)

OBS = "0886010101"


def _write(root, src_num=12, cameras=("PN", "M1", "M2"), **extra):
    return write_detection_products(
        root,
        obs_id=OBS,
        src_num=src_num,
        ra=150.0,
        dec=2.0,
        rate=0.4,
        exposure=20_000,
        mjd_start=59000.0,
        cameras=cameras,
        seed=7,
        **extra,
    )


def test_local_archive(tmp_path):
    _write(tmp_path)
    store = ProductStore(root=tmp_path)
    found = store.find(OBS, 12)
    assert found.origin == "local" and found.available
    assert found["PN"].lightcurve.name == "P0886010101PNX000SRCTSR800C.FTZ"
    assert found["M2"].arf.name == "P0886010101M2S002SRCARF000C.FTZ"
    curves = store.lightcurves(OBS, 12)
    assert set(curves) == {"PN", "M1", "M2"}
    assert all(isinstance(lc, Lightcurve) for lc in curves.values())
    assert curves["M1"].instrument == "EMOS1"
    spectra = store.spectra(OBS, 12)
    assert all(isinstance(s, Spectrum) for s in spectra.values())
    assert spectra["PN"].background_counts is not None
    assert spectra["PN"].effective_area is not None
    # Read once, shared afterwards (arrays are read-only).
    assert store.lightcurves(OBS, 12)["PN"] is curves["PN"]


def test_missing_camera_and_missing_detection_give_reasons(tmp_path):
    _write(tmp_path, cameras=("PN",))
    store = ProductStore(root=tmp_path)
    curves = store.lightcurves(OBS, 12)
    assert isinstance(curves["PN"], Lightcurve)
    assert isinstance(curves["M1"], ProductUnavailable) and not curves["M1"]
    assert curves["M1"].reason.startswith("no MOS1 lightcurve for this detection in ")
    assert str(curves["M1"]).startswith("not available: no MOS1 lightcurve")
    nothing = store.spectra(OBS, 99)
    assert all(isinstance(v, ProductUnavailable) for v in nothing.values())
    assert "no products for detection 0886010101/99 in" in nothing["PN"].reason
    other = store.find("0000000001", 1)
    assert other.origin == "none" and "(no such directory)" in other["PN"].lightcurve.reason


def test_broken_local_file_is_unavailable_not_raised(tmp_path):
    paths = _write(tmp_path, cameras=("PN",))
    # A broken exposure file costs only its statistics; the merged lightcurve is still drawn.
    next(p for p in paths if "S003SRCTSR" in p.name).write_bytes(b"garbage")
    store = ProductStore(root=tmp_path)
    curve = store.lightcurves(OBS, 12)["PN"]
    assert isinstance(curve, Lightcurve) and curve.expid == "X000" and curve.statistics == ()
    lightcurve = next(p for p in paths if "X000SRCTSR" in p.name)
    lightcurve.write_bytes(b"garbage")
    value = store.lightcurves(OBS, 12)["PN"]
    assert isinstance(value, ProductUnavailable)
    assert value.reason == f"{lightcurve.name} is not a FITS file (it does not start with a SIMPLE card)."
    # A broken ARF does not hide a good spectrum.
    next(p for p in paths if "SRCARF" in p.name).write_bytes(b"junk")
    spectrum = store.spectra(OBS, 12)["PN"]
    assert isinstance(spectrum, Spectrum) and spectrum.effective_area is None


def test_lazy_synthesis_once_under_concurrency(tmp_path):
    calls = []
    lock = threading.Lock()

    def synthesize(obs_id, src_num):
        with lock:
            calls.append((obs_id, src_num))
        _write(tmp_path, src_num=src_num)

    store = ProductStore(root=tmp_path, synthesize=synthesize)
    barrier = threading.Barrier(8)

    def ask(_):
        barrier.wait()
        return store.lightcurves(OBS, 5)

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(ask, range(8)))
    assert calls == [(OBS, 5)]
    first = results[0]["PN"]
    assert isinstance(first, Lightcurve)
    for result in results:
        assert np.array_equal(result["PN"].rate, first.rate, equal_nan=True)
        assert isinstance(result["M2"], Lightcurve)
    directory = product_dir(tmp_path, OBS)
    assert sorted(p.name for p in directory.iterdir() if not p.name.endswith(".FTZ")) == []
    assert store.find(OBS, 5).origin == "local"  # second time: already on disk
    assert len(calls) == 1


def test_failed_synthesis_is_a_reason(tmp_path):
    def synthesize(obs_id, src_num):
        raise RuntimeError("catalogue has no row for this detection")

    store = ProductStore(root=tmp_path, synthesize=synthesize)
    value = store.lightcurves(OBS, 3)["PN"]
    assert isinstance(value, ProductUnavailable)
    assert "generating products of 0886010101/3 failed: catalogue has no row" in value.reason


class _Handler(http.server.SimpleHTTPRequestHandler):
    requests: list[str]

    def log_message(self, *args):  # keep test output quiet
        pass

    def do_GET(self):
        self.requests.append(self.path)
        super().do_GET()


class _NoListingHandler(_Handler):
    def list_directory(self, path):
        self.send_error(404, "listing disabled")
        return None


@pytest.fixture
def http_archive(tmp_path):
    served = tmp_path / "served"
    _write(served, src_num=12)
    _write(served, src_num=13, cameras=("PN",))
    servers = []

    def start(handler=_Handler):
        log: list[str] = []
        cls = type("H", (handler,), {"requests": log})
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(cls, directory=str(served)))
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        servers.append((server, thread))
        return f"http://127.0.0.1:{server.server_address[1]}/", log

    yield served, start
    for server, thread in servers:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_http_archive_through_cache(http_archive, tmp_path):
    served, start = http_archive
    url, log = start()
    cache = tmp_path / "cache"
    store = ProductStore(base_url=url, cache_dir=cache)
    curves = store.lightcurves(OBS, 12)
    assert all(isinstance(v, Lightcurve) for v in curves.values())
    found = store.find(OBS, 12)
    assert found.origin == "http" and found.location == f"{url}{OBS}/pps/"
    assert found["PN"].lightcurve == cache / OBS / "pps" / "P0886010101PNX000SRCTSR800C.FTZ"
    assert (
        found["PN"].lightcurve.read_bytes() == (served / OBS / "pps" / "P0886010101PNX000SRCTSR800C.FTZ").read_bytes()
    )
    fetched = [p for p in log if p.endswith(".FTZ")]
    assert len(fetched) == 13 and len(set(fetched)) == 13  # each file once (pn: X000 and S003 lightcurves)
    assert [s.expid for s in curves["PN"].statistics] == ["S003"]
    # Second call: listing and files come from the cache, no request at all.
    before = len(log)
    spectra = store.spectra(OBS, 12)
    assert isinstance(spectra["M1"], Spectrum) and spectra["M1"].effective_area is not None
    assert len(log) == before
    # A new store on the same cache re-reads the listing but downloads nothing.
    again = ProductStore(base_url=url, cache_dir=cache)
    assert isinstance(again.lightcurves(OBS, 12)["PN"], Lightcurve)
    assert [p for p in log[before:] if p.endswith(".FTZ")] == []
    assert not list(cache.rglob("*.part"))


def test_http_404_and_missing_products(http_archive, tmp_path):
    served, start = http_archive
    url, _ = start()
    store = ProductStore(base_url=url, cache_dir=tmp_path / "cache")
    assert isinstance(store.lightcurves(OBS, 12)["PN"], Lightcurve)  # caches the listing
    # Listed, but gone from the server by the time it is fetched: HTTP 404.
    (served / OBS / "pps" / "P0886010101PNS003SRSPEC000D.FTZ").unlink()
    spectra = store.spectra(OBS, 13)
    assert isinstance(spectra["PN"], ProductUnavailable)
    assert spectra["PN"].reason == (
        f"P0886010101PNS003SRSPEC000D.FTZ is not in the archive "
        f"({url}{OBS}/pps/P0886010101PNS003SRSPEC000D.FTZ gave HTTP 404)"
    )
    assert "no MOS1 spectrum for this detection at" in spectra["M1"].reason
    # An observation the archive does not have at all.
    missing = store.lightcurves("0999999999", 1)["PN"]
    assert isinstance(missing, ProductUnavailable)
    assert "no products for 0999999999/1 at" in missing.reason


def test_http_without_listing_probes_standard_names(http_archive, tmp_path):
    _, start = http_archive
    url, log = start(_NoListingHandler)
    store = ProductStore(base_url=url, cache_dir=tmp_path / "cache")
    found = store.find(OBS, 12)
    assert found.origin == "http"
    for camera in ("PN", "M1", "M2"):
        for kind in ("lightcurve", "spectrum", "background", "arf"):
            assert isinstance(getattr(found[camera], kind), Path), (camera, kind)
    # pn: the merged lightcurve is drawn, the exposure's file probed too for its statistics.
    assert found["PN"].lightcurve.name == "P0886010101PNX000SRCTSR800C.FTZ"
    assert [p.name for p in found["PN"].exposures] == ["P0886010101PNS003SRCTSR800C.FTZ"]
    curves = store.lightcurves(OBS, 13)
    assert isinstance(curves["PN"], Lightcurve)
    assert [s.expid for s in curves["PN"].statistics] == ["S003"]
    assert isinstance(curves["M1"], ProductUnavailable)
    assert "no MOS1 lightcurve" in curves["M1"].reason
    # Known misses and the refused listing are remembered: asking again sends no request.
    before = len(log)
    assert isinstance(store.lightcurves(OBS, 13)["M1"], ProductUnavailable)
    assert len(log) == before


def test_store_arguments_checked(tmp_path):
    with pytest.raises(ValueError, match="needs a root directory, a base_url, or both"):
        ProductStore()
    with pytest.raises(ValueError, match="synthesize needs a root"):
        ProductStore(base_url="http://127.0.0.1:9/", synthesize=lambda o, s: None)
    with pytest.raises(ValueError, match="http"):
        ProductStore(base_url="file:///etc/", cache_dir=tmp_path)
