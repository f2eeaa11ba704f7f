"""Products as archives hold them, read from files in the pipeline's formats (see pps_files.py).

One fixture per fault found with real files: archive layouts and name spellings, statistics
of the S/U exposures (not the merged X000 file), FVAR = -1 as "not computed", TT times,
signalling NaNs in gaps, and RGS / OM products refused with a sentence.
"""

from __future__ import annotations

import functools
import http.server
import threading
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.time import Time

from data_loaders.products import (
    Lightcurve,
    ProductError,
    ProductStore,
    ProductUnavailable,
    Spectrum,
    names,
    read_lightcurve,
    read_spectrum,
)
from tests.data_loaders import pps_files as pps

OBS, SRC = pps.OBS, pps.SRC


def _archive(directory: Path, spell=lambda name: name) -> None:
    """pn merged + MOS1 single-exposure lightcurves and the pn spectrum set, names spelt by ``spell``."""
    pps.pn_merged_lightcurve(directory, spell(pps.pps_name("PN", "X000", "SRCTSR", "8")))
    pps.exposure_lightcurve(directory, "M1", "S001", fvar=0.12, fvarerr=0.03)
    m1 = directory / pps.pps_name("M1", "S001", "SRCTSR", "8")
    m1.rename(directory / spell(m1.name))
    pps.pn_spectrum_set(
        directory, {k: spell(pps.pps_name("PN", "S003", k, "0")) for k in ("SRSPEC", "BGSPEC", "SRCARF")}
    )


def _lower_fits_gz(name: str) -> str:
    return name[: -len(".FTZ")].lower() + ".fits.gz"


def _plain_fit(name: str) -> str:
    return name[: -len(".FTZ")] + ".FIT"


LAYOUTS = {
    # name: (folder under the root, spelling of names)
    "OBSID/pps, .FTZ": (f"{OBS}/pps", lambda n: n),
    "OBSID/PPS, .FTZ": (f"{OBS}/PPS", lambda n: n),
    "OBSID/pps, lower-case .ftz": (f"{OBS}/pps", lambda n: n.lower()),
    "OBSID flat, lower-case .fits.gz": (OBS, _lower_fits_gz),
    "one flat folder, .FIT (not compressed)": (".", _plain_fit),
}


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_every_archive_layout_and_spelling(tmp_path, layout):
    folder, spell = LAYOUTS[layout]
    directory = (tmp_path / folder).resolve()
    _archive(directory, spell)
    # A neighbour observation in the same folder is not mistaken for ours.
    pps.exposure_lightcurve(
        directory, "M2", "S002", fvar=0.1, fvarerr=0.01, name=spell("P0831790801M2S002SRCTSR801C.FTZ")
    )
    store = ProductStore(root=tmp_path)
    found = store.find(OBS, SRC)
    assert found.origin == "local" and Path(found.location) == directory
    assert found["PN"].lightcurve.name == spell(pps.pps_name("PN", "X000", "SRCTSR", "8"))
    assert found["M1"].lightcurve.name == spell(pps.pps_name("M1", "S001", "SRCTSR", "8"))
    assert "no MOS2 lightcurve" in found["M2"].lightcurve.reason
    curves = store.lightcurves(OBS, SRC)
    assert isinstance(curves["PN"], Lightcurve) and isinstance(curves["M1"], Lightcurve)
    assert curves["PN"].expid == "X000" and curves["M1"].expid == "S001"
    spectrum = store.spectra(OBS, SRC)["PN"]
    assert isinstance(spectrum, Spectrum)
    assert spectrum.background_counts is not None and spectrum.effective_area is not None


def test_big_flat_folder_is_indexed_and_sees_new_files(tmp_path, monkeypatch):
    monkeypatch.setattr(names, "BIG_FOLDER", 10)
    for src in range(40):  # other sources and another observation: a big flat folder
        (tmp_path / pps.pps_name("M2", "S002", "SRCTSR", "8", src=src + 100)).write_bytes(b"x")
        (tmp_path / pps.pps_name("PN", "X000", "SRCTSR", "8", src=src, obs="0831790801")).write_bytes(b"x")
    store = ProductStore(root=tmp_path)
    assert not store.find(OBS, SRC).available
    assert (str(tmp_path), tmp_path.stat().st_mtime_ns) in names._INDEXES  # listed once, by OBS_ID
    time.sleep(0.05)  # directory mtimes tick coarsely: let this change be seen as one
    _archive(tmp_path)
    found = store.find(OBS, SRC)
    assert found.available and found["PN"].lightcurve.name == pps.pps_name("PN", "X000", "SRCTSR", "8")
    assert isinstance(store.lightcurves(OBS, SRC)["M1"], Lightcurve)


def test_canonical_name_preferred_when_a_product_is_there_twice(tmp_path):
    directory = tmp_path / OBS / "pps"
    pps.pn_merged_lightcurve(directory)
    pps.pn_merged_lightcurve(directory, _lower_fits_gz(pps.pps_name("PN", "X000", "SRCTSR", "8")))
    found = ProductStore(root=tmp_path).find(OBS, SRC)
    assert found["PN"].lightcurve.name == pps.pps_name("PN", "X000", "SRCTSR", "8")


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def test_http_archive_with_lower_case_names(tmp_path):
    served = tmp_path / "served"
    _archive(served / OBS / "pps", lambda n: n.lower())
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(served)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        store = ProductStore(base_url=f"http://127.0.0.1:{server.server_address[1]}/", cache_dir=tmp_path / "cache")
        curves = store.lightcurves(OBS, SRC)
        assert isinstance(curves["PN"], Lightcurve) and isinstance(curves["M1"], Lightcurve)
        assert curves["PN"].path.name == pps.pps_name("PN", "X000", "SRCTSR", "8").lower()
        assert isinstance(store.spectra(OBS, SRC)["PN"], Spectrum)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_statistics_come_from_the_exposures_not_the_merged_file(tmp_path):
    directory = tmp_path / OBS / "pps"
    merged = pps.pn_merged_lightcurve(directory)
    with fits.open(merged) as hdul:
        assert "CHI2PROB" not in hdul["RATE"].header and "AVRATE" not in hdul["RATE"].header
    # S003 is too short for an excess variance: the pipeline writes FVAR = FVARERR = -1.
    pps.exposure_lightcurve(directory, "PN", "S003", fvar=-1.0, fvarerr=-1.0, chi2prob=0.6)
    pps.exposure_lightcurve(directory, "PN", "U004", fvar=0.31, fvarerr=0.04, chi2prob=2e-7, part=1)
    pps.exposure_lightcurve(directory, "M1", "S001", fvar=0.12, fvarerr=0.03)
    alone = read_lightcurve(merged)
    assert alone.statistics == () and np.isnan(alone.chi2prob) and np.isnan(alone.avrate)

    curves = ProductStore(root=tmp_path).lightcurves(OBS, SRC)
    pn = curves["PN"]
    assert pn.expid == "X000"  # the merged file is drawn...
    assert [s.expid for s in pn.statistics] == ["S003", "U004"]  # ...with its exposures' statistics
    s003, u004 = pn.statistics
    assert s003.chi2prob == 0.6 and np.isnan(s003.fvar) and np.isnan(s003.fvarerr)  # -1: not computed
    assert u004.chi2prob == pytest.approx(2e-7) and u004.fvar == pytest.approx(0.31)
    assert s003.source == pps.pps_name("PN", "S003", "SRCTSR", "8")
    # A single-exposure file is its own statistics.
    m1 = curves["M1"]
    assert [(s.expid, s.fvar) for s in m1.statistics] == [("S001", pytest.approx(0.12))]
    assert m1.fvar == pytest.approx(0.12)


def test_fvar_sentinel_read_as_not_computed(tmp_path):
    path = pps.exposure_lightcurve(tmp_path, "M2", "S002", fvar=-1.0, fvarerr=-1.0, chi2prob=0.9)
    with fits.open(path) as hdul:
        assert hdul["RATE"].header["FVAR"] == -1.0
    lc = read_lightcurve(path)
    assert np.isnan(lc.fvar) and np.isnan(lc.fvarerr) and lc.chi2prob == 0.9


def test_times_are_tt_and_convert_to_utc(tmp_path):
    lc = read_lightcurve(pps.pn_merged_lightcurve(tmp_path))
    assert lc.timesys == "TT" and lc.scale == "tt" and lc.timeref == "LOCAL"
    start = lc.start
    assert start.scale == "tt"
    assert abs((start.utc - Time(pps.START_UTC, scale="utc")).sec) < 1e-3
    # TT runs 69.184 s ahead of UTC in 2019: reading MJD as UTC would be that far off.
    naive = Time(lc.mjdref + (lc.time[0] - lc.timedel / 2) / 86400.0, format="mjd", scale="utc")
    assert (naive - Time(pps.START_UTC, scale="utc")).sec == pytest.approx(69.184, abs=1e-3)
    assert abs((lc.times()[0] - start).sec - lc.timedel / 2) < 1e-6


def test_time_stamps_at_bin_start_become_centres(tmp_path):
    path = pps.exposure_lightcurve(tmp_path, "M1", "S001", fvar=0.1, fvarerr=0.01)
    centres = read_lightcurve(path).time
    with fits.open(path) as hdul:
        hdul["RATE"].data["TIME"] -= 50.0  # stamps at the start of each 100 s bin...
        hdul["RATE"].header["TIMEPIXR"] = 0.0  # ...as the keyword says
        hdul["RATE"].header["TIMEZERO"] = 10.0
        hdul.writeto(tmp_path / "start.fits")
    np.testing.assert_allclose(read_lightcurve(tmp_path / "start.fits").time, centres + 10.0)


def test_unknown_time_system_is_one_sentence(tmp_path):
    path = pps.exposure_lightcurve(tmp_path, "M1", "S001", fvar=0.1, fvarerr=0.01)
    with fits.open(path) as hdul:
        hdul["RATE"].header["TIMESYS"] = "GPS"
        hdul["PRIMARY"].header["TIMESYS"] = "GPS"
        hdul.writeto(tmp_path / "gps.fits")
    with pytest.raises(ProductError, match=r"gps\.fits has TIMESYS = 'GPS', not a time scale this reader knows"):
        read_lightcurve(tmp_path / "gps.fits")


def test_signalling_nans_in_gaps_read_quietly(tmp_path):
    path = pps.pn_merged_lightcurve(tmp_path)
    with fits.open(path) as hdul:
        bits = hdul["RATE"].data["RATE"].view(">u4")
        assert (bits == pps.SIGNALLING_NAN).sum() == 2  # the fixture really holds them
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy's "invalid value encountered in cast" would raise here
        lc = read_lightcurve(path)
        binned = lc.rebin(3)
    assert np.isnan(lc.rate[lc.gaps]).all() and lc.gaps.sum() == 2
    assert np.isnan(lc.band_rates[2][lc.gaps]).all() and np.isfinite(lc.rate[~lc.gaps]).all()
    assert np.isfinite(binned.rate).all()


def test_rgs_spectrum_refused_with_a_sentence(tmp_path):
    rgs = pps.rgs_spectrum(tmp_path)
    with pytest.raises(ProductError) as info:
        read_spectrum(rgs)
    assert str(info.value) == (
        f"{rgs.name} is an RGS spectrum (INSTRUME = 'RGS1'); the Source view draws EPIC spectra only (pn, MOS1, MOS2)."
    )
    # Under an EPIC name in the archive, the header still tells: the page shows the sentence.
    directory = tmp_path / OBS / "pps"
    directory.mkdir(parents=True)
    rgs.rename(directory / pps.pps_name("PN", "S003", "SRSPEC", "0"))
    value = ProductStore(root=tmp_path).spectra(OBS, SRC)["PN"]
    assert isinstance(value, ProductUnavailable)
    assert "is an RGS spectrum (INSTRUME = 'RGS1'); the Source view draws EPIC spectra only" in value.reason


def test_om_lightcurve_refused_with_a_sentence(tmp_path):
    om = pps.om_lightcurve(tmp_path)
    with pytest.raises(ProductError) as info:
        read_lightcurve(om)
    assert str(info.value) == (
        f"{om.name} is an OM lightcurve (INSTRUME = 'OM'); "
        "the Source view draws EPIC lightcurves only (pn, MOS1, MOS2)."
    )


def test_rgs_product_without_instrume_refused_by_its_name(tmp_path):
    rgs = pps.rgs_spectrum(tmp_path)
    with fits.open(rgs) as hdul:
        for hdu in hdul:
            del hdu.header["INSTRUME"]
        hdul.writeto(tmp_path / f"P{OBS}R2S005SRSPEC1002.fits")
    with pytest.raises(ProductError, match=r"is an RGS spectrum \(instrument R2 in its name\)"):
        read_spectrum(tmp_path / f"P{OBS}R2S005SRSPEC1002.fits")


def test_epic_fixtures_read_as_described(tmp_path):
    files = pps.pn_spectrum_set(tmp_path)
    spectrum = read_spectrum(files["SRSPEC"], files["BGSPEC"], files["SRCARF"])
    assert (spectrum.camera, spectrum.src_num, len(spectrum.channel)) == ("PN", SRC, 4096)
    assert spectrum.energy_hi[-1] == pytest.approx(20.48)
    rate, _ = spectrum.net_rate()
    assert np.nansum(rate) > 0
    mos = read_lightcurve(pps.exposure_lightcurve(tmp_path, "M1", "S001", fvar=0.1, fvarerr=0.01))
    assert (mos.camera, mos.timedel, mos.exp_id, mos.band_rates) == ("M1", 100.0, None, {})
    pn = read_lightcurve(pps.pn_merged_lightcurve(tmp_path))
    assert set(pn.exp_id) == {"S003", "U004"} and sorted(pn.band_rates) == [1, 2, 3, 4, 5]
