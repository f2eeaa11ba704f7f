"""The synthetic writers: exact archive layout, reproducible bytes."""

from __future__ import annotations

import gzip

import numpy as np
import pytest
from astropy.io import fits

from data_loaders.products import parse_product_name, read_lightcurve, write_detection_products

ARGS = dict(
    obs_id="0886010101",
    src_num=12,
    ra=150.1,
    dec=2.2,
    rate=0.6,
    exposure=25_000,
    mjd_start=59000.0,
    variable=True,
    fvar=0.2,
    photon_index=1.7,
    nh=0.1,
    seed=4,
)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    paths = write_detection_products(tmp_path_factory.mktemp("a"), **ARGS)
    return {p.name: p for p in paths}


def test_same_inputs_same_bytes(files, tmp_path):
    again = write_detection_products(tmp_path, **ARGS)
    assert [p.name for p in again] == sorted(files)
    for path in again:
        assert path.read_bytes() == files[path.name].read_bytes(), path.name
        assert path.read_bytes()[4:8] == b"\0\0\0\0"  # gzip mtime 0
    other = write_detection_products(tmp_path / "b", **{**ARGS, "seed": 5})
    lightcurve = next(p for p in other if "PNX000SRCTSR" in p.name)
    assert lightcurve.read_bytes() != files[lightcurve.name].read_bytes()


def test_file_set_and_names(files, tmp_path):
    expected = set()
    for lc_prefix, spec_prefix in (("PNX000", "PNS003"), ("M1S001", "M1S001"), ("M2S002", "M2S002")):
        expected.add(f"P0886010101{lc_prefix}SRCTSR800C.FTZ")
        for ptype in ("SRSPEC", "BGSPEC", "SRCARF"):
            expected.add(f"P0886010101{spec_prefix}{ptype}000C.FTZ")
    expected.add("P0886010101PNS003SRCTSR800C.FTZ")  # pn's exposure, beside the merged X000
    assert set(files) == expected
    assert all(p.parent.parts[-2:] == ("0886010101", "pps") for p in files.values())
    only_pn = write_detection_products(tmp_path, **{**ARGS, "cameras": ("PN",)})
    assert {parse_product_name(p).instrument for p in only_pn} == {"PN"}
    with pytest.raises(ValueError, match="unknown camera"):
        write_detection_products(tmp_path, **{**ARGS, "cameras": ("MOS1",)})


def test_lightcurve_layout(files):
    with fits.open(files["P0886010101PNX000SRCTSR800C.FTZ"]) as hdul:
        assert [h.name for h in hdul] == ["PRIMARY", "RATE", "SRC_GTIS", "BKG_GTIS", "REGION_SRC", "REGION_BKG"]
        rate = hdul["RATE"]
        header = rate.header
        assert header["HDUCLAS1"] == "LIGHTCURVE"
        assert (header["MJDREF"], header["TIMESYS"], header["INSTRUME"]) == (50814.0, "TT", "EPN")
        for key in (
            "TSTART",
            "TSTOP",
            "EXPOSURE",
            "SRCNUM",
            "SRC_RA",
            "SRC_DEC",
            "OBS_ID",
        ):
            assert key in header, key
        # As the pipeline's, the merged file has no statistics; its exposures' files have them.
        assert not {"AVRATE", "CHI2PROB", "FVAR", "FVARERR", "TIMEDEL"} & set(header)
        assert header["SRCNUM"] == 12 and header["OBS_ID"] == "0886010101"
        assert "DATE" not in header and "DATE" not in hdul[0].header
        names = rate.columns.names
        for column in (
            "TIME",
            "RATE",
            "ERROR",
            "FRACEXP",
            "BACKV",
            "BACKE",
            "EXP_ID",
            "TIMEDEL",
            "RATE1",
            "RATE5",
            "RATE3_ERR",
            "BACK2V",
            "BACK4E",
        ):
            assert column in names, column
        assert rate.columns["TIME"].unit == "s" and rate.columns["RATE"].unit == "count/s"
    with fits.open(files["P0886010101PNS003SRCTSR800C.FTZ"]) as hdul:
        header = hdul["RATE"].header
        assert (header["INSTRUME"], header["EXPIDSTR"]) == ("EPN", "S003") and header["TIMEDEL"] > 0
        assert {"AVRATE", "CHI2PROB", "FVAR", "FVARERR"} <= set(header)
        assert set(hdul["RATE"].columns.names) == {"TIME", "RATE", "ERROR", "FRACEXP", "BACKV", "BACKE"}
    with fits.open(files["P0886010101M2S002SRCTSR800C.FTZ"]) as hdul:
        rate = hdul["RATE"]
        assert rate.header["INSTRUME"] == "EMOS2" and rate.header["TIMEDEL"] > 0
        assert {"AVRATE", "CHI2PROB", "FVAR", "FVARERR"} <= set(rate.header)
        assert set(rate.columns.names) == {"TIME", "RATE", "ERROR", "FRACEXP", "BACKV", "BACKE"}
        assert len(hdul["SRC_GTIS"].data) >= 1


def test_spectrum_and_arf_layout(files):
    with fits.open(files["P0886010101PNS003SRSPEC000C.FTZ"]) as hdul:
        assert [h.name for h in hdul] == ["PRIMARY", "SPECTRUM", "REGION"]
        spectrum = hdul["SPECTRUM"]
        assert spectrum.columns.names == ["CHANNEL", "COUNTS", "GROUPING", "QUALITY"]
        assert len(spectrum.data) == 4096
        h = spectrum.header
        assert h["SPECDELT"] == 5 and h["RESPFILE"] == "epn_e3_ff20_sdY9.rmf"
        assert h["ANCRFILE"] == "P0886010101PNS003SRCARF000C.FTZ" in files
        assert h["BACKFILE"] == "P0886010101PNS003BGSPEC000C.FTZ" in files
        source_backscal, exposure = h["BACKSCAL"], h["EXPOSURE"]
        assert h["AREASCAL"] == 1.0 and exposure > 0
    with fits.open(files["P0886010101PNS003BGSPEC000C.FTZ"]) as hdul:
        assert hdul["SPECTRUM"].columns.names == ["CHANNEL", "COUNTS"]
        assert hdul["SPECTRUM"].header["BACKSCAL"] > source_backscal
    with fits.open(files["P0886010101M1S001SRSPEC000C.FTZ"]) as hdul:
        assert len(hdul["SPECTRUM"].data) == 2400 and hdul["SPECTRUM"].header["SPECDELT"] == 5
    with fits.open(files["P0886010101M1S001SRCARF000C.FTZ"]) as hdul:
        arf = hdul["SPECRESP"]
        assert arf.columns.names == ["ENERG_LO", "ENERG_HI", "SPECRESP"]
        assert (arf.columns["ENERG_LO"].unit, arf.columns["SPECRESP"].unit) == ("keV", "cm**2")


def test_files_are_gzip_fits(files):
    for path in files.values():
        raw = gzip.decompress(path.read_bytes())
        assert raw.startswith(b"SIMPLE  =") and len(raw) % 2880 == 0


def test_pn_and_mos_lightcurves_follow_one_source(tmp_path):
    """One source model for every camera: the same flare at the same time, only the noise differs."""
    paths = write_detection_products(
        tmp_path, **{**ARGS, "rate": 3.0, "exposure": 40_000, "fvar": 0.4, "seed": 11, "src_num": 5}
    )
    curves = {
        camera: read_lightcurve(next(p for p in paths if f"{camera}{expid}SRCTSR" in p.name))
        for camera, expid in (("PN", "X000"), ("M1", "S001"), ("M2", "S002"))
    }
    pn = curves["PN"].rebin(4)
    ok = ~pn.gaps
    for camera in ("M1", "M2"):
        mos = curves[camera]
        good = ~mos.gaps
        # MOS rates at pn's bin centres, each camera relative to its own mean.
        at_pn = np.interp(pn.time[ok], mos.time[good], mos.rate[good])
        r = np.corrcoef(pn.rate[ok] / np.nanmean(pn.rate[ok]), at_pn / np.nanmean(at_pn))[0, 1]
        assert r > 0.8, (camera, r)
