"""Small product files in the XMM pipeline (PPS) formats, written here and not by the demo generator.

They follow the SSC's published descriptions of the pipeline products (and SCHEMA.md's section
checked on real files), not ``data_loaders.products.synthetic*``, so recognition is not tested
against the code that wrote the demo: OGIP extension names and HDUCLAS keywords, TIMESYS = TT
with MJDREF = 50814 (XMM mission time), per-exposure ``EXPIDSTR``, the variability keywords
(``AVRATE``, ``CHI2PROB``, ``FVAR``, ``FVARERR``) only in single-exposure (S/U) lightcurves, the
``-1`` the pipeline writes for an FVAR it could not compute, and gap bins whose NaNs are
*signalling* NaN bit patterns, as the real lightcurves that printed a RuntimeWarning hold.
Each writer returns the path it wrote; names are PPS names unless a test passes another.
"""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.time import Time

OBS = "0831790701"
SRC = 0x1C  # source 28: names end in 01C
MJDREF = 50814.0
#: The observation starts at this UTC instant; TSTART is written in TT (69.184 s later on the clock).
START_UTC = "2019-05-03T10:00:00"
TSTART = float((Time(START_UTC, scale="utc").tt.mjd - MJDREF) * 86400.0)
#: A signalling NaN (quiet bit clear) as float32 bits: what the gap bins of real files hold.
SIGNALLING_NAN = 0x7FBFFFFF
_INSTRUME = {"PN": "EPN", "M1": "EMOS1", "M2": "EMOS2"}


def pps_name(instrument: str, expid: str, ptype: str, order: str, src: int = SRC, obs: str = OBS) -> str:
    return f"P{obs}{instrument}{expid}{ptype}{order}{src:03X}.FTZ"


def _write(hdus: list, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    fits.HDUList(hdus).writeto(buffer)
    data = buffer.getvalue()
    if path.name.upper().endswith((".FTZ", ".GZ")):
        data = gzip.compress(data)
    path.write_bytes(data)
    return path


def _primary(instrume: str, expidstr: str | None = None) -> fits.PrimaryHDU:
    hdu = fits.PrimaryHDU()
    for key, value in (
        ("TELESCOP", "XMM"),
        ("INSTRUME", instrume),
        ("OBS_ID", OBS),
        ("OBJECT", "PPS format test"),
        ("DATE-OBS", START_UTC),
        ("TIMESYS", "TT"),
        ("CREATOR", "tests/data_loaders/pps_files.py"),
    ):
        hdu.header[key] = value
    if expidstr:
        hdu.header["EXPIDSTR"] = expidstr
    return hdu


def _float32_with_gaps(values: np.ndarray, gaps: np.ndarray) -> np.ndarray:
    """``values`` as big-endian float32, the gap bins holding the signalling NaN bit pattern."""
    out = np.asarray(values, dtype=">f4").copy()
    out.view(">u4")[gaps] = SIGNALLING_NAN
    return out


def _rate_hdu(columns: list[fits.Column], instrume: str, n: int, timedel: float, tstart: float) -> fits.BinTableHDU:
    hdu = fits.BinTableHDU.from_columns(columns, name="RATE")
    for key, value in (
        ("HDUCLASS", "OGIP"),
        ("HDUCLAS1", "LIGHTCURVE"),
        ("HDUCLAS2", "NET"),
        ("HDUCLAS3", "RATE"),
        ("TELESCOP", "XMM"),
        ("INSTRUME", instrume),
        ("OBS_ID", OBS),
        ("TIMESYS", "TT"),
        ("TIMEREF", "LOCAL"),
        ("TASSIGN", "SATELLITE"),
        ("TIMEUNIT", "s"),
        ("MJDREF", MJDREF),
        ("TIMEZERO", 0.0),
        ("TIMEPIXR", 0.5),
        ("TSTART", tstart),
        ("TSTOP", tstart + n * timedel),
        ("SRCNUM", SRC),
        ("SRC_RA", 201.365),
        ("SRC_DEC", -43.019),
    ):
        hdu.header[key] = value
    return hdu


def _curve(n: int, timedel: float, tstart: float, level: float, seed: int):
    rng = np.random.default_rng(seed)
    time = tstart + (np.arange(n) + 0.5) * timedel
    fracexp = np.ones(n)
    fracexp[0] = 0.4
    gaps = np.zeros(n, bool)
    gaps[n // 3 : n // 3 + 2] = True
    fracexp[gaps] = 0.0
    rate = level * (1 + 0.1 * rng.standard_normal(n))
    error = np.full(n, 0.1 * level)
    background = np.full(n, 0.02 * level)
    return time, fracexp, gaps, rate, error, background


def _common_columns(time, fracexp, gaps, rate, error, background) -> list[fits.Column]:
    return [
        fits.Column("TIME", "D", unit="s", array=time),
        fits.Column("RATE", "E", unit="count/s", array=_float32_with_gaps(rate, gaps)),
        fits.Column("ERROR", "E", unit="count/s", array=_float32_with_gaps(error, gaps)),
        fits.Column("FRACEXP", "E", array=fracexp),
        fits.Column("BACKV", "E", unit="count/s", array=_float32_with_gaps(background, gaps)),
        fits.Column("BACKE", "E", unit="count/s", array=_float32_with_gaps(background / 5, gaps)),
    ]


def pn_merged_lightcurve(directory: Path, name: str | None = None, n: int = 60, timedel: float = 100.0) -> Path:
    """``PNX000SRCTSR`` over exposures S003 and U004: band columns, EXP_ID and TIMEDEL columns, no statistics."""
    time, fracexp, gaps, rate, error, background = _curve(n, timedel, TSTART, 2.0, seed=1)
    columns = _common_columns(time, fracexp, gaps, rate, error, background)
    for band in range(1, 6):
        share = rate / 5
        columns += [
            fits.Column(f"RATE{band}", "E", unit="count/s", array=_float32_with_gaps(share, gaps)),
            fits.Column(f"RATE{band}_ERR", "E", unit="count/s", array=_float32_with_gaps(error / 2, gaps)),
            fits.Column(f"BACK{band}V", "E", unit="count/s", array=_float32_with_gaps(background / 5, gaps)),
            fits.Column(f"BACK{band}E", "E", unit="count/s", array=_float32_with_gaps(background / 25, gaps)),
        ]
    exp_id = np.where(np.arange(n) < n // 2, "S003", "U004")
    columns += [
        fits.Column("EXP_ID", "4A", array=exp_id),
        fits.Column("TIMEDEL", "D", unit="s", array=np.full(n, timedel)),
    ]
    rate_hdu = _rate_hdu(columns, "EPN", n, timedel, TSTART)
    rate_hdu.header["EXPOSURE"] = float(np.sum(fracexp) * timedel)
    return _write([_primary("EPN"), rate_hdu], directory / (name or pps_name("PN", "X000", "SRCTSR", "8")))


def exposure_lightcurve(
    directory: Path,
    camera: str,
    expid: str,
    *,
    fvar: float,
    fvarerr: float,
    chi2prob: float = 0.42,
    part: int = 0,
    n: int = 30,
    timedel: float = 100.0,
    name: str | None = None,
) -> Path:
    """A single-exposure ``SRCTSR`` (pn S/U or MOS): TIMEDEL and ekstest's statistics in the header.

    ``part`` places it: 0 from TSTART, 1 after the first ``n`` bins (pn's second exposure).
    """
    tstart = TSTART + part * n * timedel
    time, fracexp, gaps, rate, error, background = _curve(n, timedel, tstart, 0.7 if camera != "PN" else 2.0, seed=2)
    rate_hdu = _rate_hdu(
        _common_columns(time, fracexp, gaps, rate, error, background), _INSTRUME[camera], n, timedel, tstart
    )
    for key, value in (
        ("TIMEDEL", timedel),
        ("EXPIDSTR", expid),
        ("EXPOSURE", float(np.sum(fracexp) * timedel)),
        ("AVRATE", float(np.mean(rate[~gaps]))),
        ("CHI2PROB", chi2prob),
        ("FVAR", fvar),
        ("FVARERR", fvarerr),
    ):
        rate_hdu.header[key] = value
    path = directory / (name or pps_name(camera, expid, "SRCTSR", "8"))
    return _write([_primary(_INSTRUME[camera], expid), rate_hdu], path)


def _spectrum_hdu(counts: np.ndarray, kind: str, exposure: float, backscal: float, names: dict) -> fits.BinTableHDU:
    channel = np.arange(len(counts), dtype=np.int32)
    columns = [fits.Column("CHANNEL", "J", array=channel), fits.Column("COUNTS", "J", unit="count", array=counts)]
    if kind == "TOTAL":
        columns += [
            fits.Column("GROUPING", "I", array=np.ones(len(counts), np.int16)),
            fits.Column("QUALITY", "I", array=np.zeros(len(counts), np.int16)),
        ]
    hdu = fits.BinTableHDU.from_columns(columns, name="SPECTRUM")
    for key, value in (
        ("HDUCLASS", "OGIP"),
        ("HDUCLAS1", "SPECTRUM"),
        ("HDUCLAS2", kind),
        ("HDUCLAS3", "COUNT"),
        ("TELESCOP", "XMM"),
        ("INSTRUME", "EPN"),
        ("OBS_ID", OBS),
        ("CHANTYPE", "PI"),
        ("DETCHANS", len(counts)),
        ("TLMIN1", 0),
        ("TLMAX1", len(counts) - 1),
        ("EXPOSURE", exposure),
        ("BACKSCAL", backscal),
        ("AREASCAL", 1.0),
        ("SPECDELT", 5),
        ("SRCNUM", SRC),
        *names.items(),
    ):
        hdu.header[key] = value
    return hdu


def pn_spectrum_set(directory: Path, names: dict[str, str] | None = None) -> dict[str, Path]:
    """pn ``SRSPEC``, its ``BGSPEC`` and ``SRCARF`` (exposure S003), 4096 channels of 5 eV."""
    names = names or {kind: pps_name("PN", "S003", kind, "0") for kind in ("SRSPEC", "BGSPEC", "SRCARF")}
    rng = np.random.default_rng(3)
    energy = (np.arange(4096) + 0.5) * 0.005
    shape = np.where((energy > 0.2) & (energy < 12), energy**-1.7 * np.exp(-0.1 / energy), 0.0)
    source = rng.poisson(40 * shape).astype(np.int32)
    background = rng.poisson(np.where(energy < 12, 0.3, 0.0), 4096).astype(np.int32)
    keys = {"RESPFILE": "epn_e4_ff20_sdY9.rmf", "ANCRFILE": names["SRCARF"], "BACKFILE": names["BGSPEC"]}
    out = {
        "SRSPEC": _write(
            [_primary("EPN", "S003"), _spectrum_hdu(source, "TOTAL", 30_000.0, 1.2e5, keys)],
            directory / names["SRSPEC"],
        ),
        "BGSPEC": _write(
            [_primary("EPN", "S003"), _spectrum_hdu(background, "BKG", 30_000.0, 9.6e5, {})],
            directory / names["BGSPEC"],
        ),
    }
    edges = np.round(np.arange(0.1, 15.0 + 1e-9, 0.005), 6)
    centre = 0.5 * (edges[:-1] + edges[1:])
    arf = fits.BinTableHDU.from_columns(
        [
            fits.Column("ENERG_LO", "E", unit="keV", array=edges[:-1]),
            fits.Column("ENERG_HI", "E", unit="keV", array=edges[1:]),
            fits.Column("SPECRESP", "E", unit="cm**2", array=1200.0 * np.exp(-(((np.log(centre / 1.5)) / 1.2) ** 2))),
        ],
        name="SPECRESP",
    )
    for key, value in (("HDUCLASS", "OGIP"), ("HDUCLAS1", "RESPONSE"), ("HDUCLAS2", "SPECRESP"), ("INSTRUME", "EPN")):
        arf.header[key] = value
    out["SRCARF"] = _write([_primary("EPN", "S003"), arf], directory / names["SRCARF"])
    return out


def rgs_spectrum(directory: Path, name: str | None = None) -> Path:
    """An RGS1 first-order source spectrum (``R1S004SRSPEC1``): 3400 channels, BACKSCAL and AREASCAL as columns."""
    n = 3400
    counts = np.random.default_rng(4).poisson(3.0, n).astype(np.int32)
    hdu = fits.BinTableHDU.from_columns(
        [
            fits.Column("CHANNEL", "J", array=np.arange(1, n + 1, dtype=np.int32)),
            fits.Column("COUNTS", "J", unit="count", array=counts),
            fits.Column("QUALITY", "I", array=np.zeros(n, np.int16)),
            fits.Column("GROUPING", "I", array=np.ones(n, np.int16)),
            fits.Column("AREASCAL", "E", array=np.ones(n, np.float32)),
            fits.Column("BACKSCAL", "E", array=np.full(n, 0.2, np.float32)),
        ],
        name="SPECTRUM",
    )
    for key, value in (
        ("HDUCLASS", "OGIP"),
        ("HDUCLAS1", "SPECTRUM"),
        ("HDUCLAS2", "TOTAL"),
        ("HDUCLAS3", "COUNT"),
        ("TELESCOP", "XMM"),
        ("INSTRUME", "RGS1"),
        ("OBS_ID", OBS),
        ("CHANTYPE", "PI"),
        ("DETCHANS", n),
        ("RFLORDER", -1),
        ("EXPOSURE", 60_000.0),
    ):
        hdu.header[key] = value
    path = directory / (name or f"P{OBS}R1S004SRSPEC1001.FTZ")
    return _write([_primary("RGS1", "S004"), hdu], path)


def om_lightcurve(directory: Path, name: str | None = None) -> Path:
    """An OM fast-mode source time series (``OMS006TIMESR``): OGIP RATE table, INSTRUME = OM."""
    n = 40
    time = TSTART + (np.arange(n) + 0.5) * 10.0
    rate = np.random.default_rng(5).normal(25.0, 1.0, n)
    hdu = fits.BinTableHDU.from_columns(
        [
            fits.Column("TIME", "D", unit="s", array=time),
            fits.Column("RATE", "E", unit="count/s", array=rate),
            fits.Column("ERROR", "E", unit="count/s", array=np.full(n, 1.0)),
            fits.Column("BACKV", "E", unit="count/s", array=np.full(n, 0.5)),
            fits.Column("BACKE", "E", unit="count/s", array=np.full(n, 0.05)),
        ],
        name="RATE",
    )
    for key, value in (
        ("HDUCLASS", "OGIP"),
        ("HDUCLAS1", "LIGHTCURVE"),
        ("TELESCOP", "XMM"),
        ("INSTRUME", "OM"),
        ("FILTER", "UVW1"),
        ("TIMESYS", "TT"),
        ("MJDREF", MJDREF),
        ("TIMEDEL", 10.0),
    ):
        hdu.header[key] = value
    path = directory / (name or f"P{OBS}OMS006TIMESR1000.FTZ")
    return _write([_primary("OM", "S006"), hdu], path)
