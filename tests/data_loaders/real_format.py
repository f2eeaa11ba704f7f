"""Small catalogue files in the SSC's published formats, written here and not by the demo generator.

Column names, FITS types, units, TNULL values and header keywords follow the public format
descriptions (4XMM-DR14 ``col_*.html`` pages; Traulsen et al. 2019, Table B.2 for the
stacked 4XMM-DRns layout; the 5XMM-DR15 ``col_id.html`` page for its identifiers), so that
recognition and ingest are not tested against the generator's own habits: names are spelled
out below instead of read from ``data_loaders.schema``. Units are spelled as those pages and
files do ("degrees", "erg/cm**2/s"), not always as astropy prefers.

Each writer takes the changes one bug fixture needs (``drop``, ``extra`` columns, header keywords).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from astropy.io import fits

FLUX = "erg/cm**2/s"
INT_NULL = -2147483648  # TNULL of 'J' columns in the SSC files
LONG_NULL = -9223372036854775808  # TNULL of 'K' columns
BANDS = range(1, 10)  # EPIC bands 1-9


def _write(path: Path, cols: list[fits.Column], header: dict, primary: dict | None = None) -> Path:
    hdu = fits.BinTableHDU.from_columns(cols)
    for key, value in header.items():
        hdu.header[key] = value
    prim = fits.PrimaryHDU()
    prim.header["TELESCOP"] = "XMM"
    for key, value in (primary or {}).items():
        prim.header[key] = value
    fits.HDUList([prim, hdu]).writeto(path, overwrite=True)
    return Path(path)


def _keep(cols: list[fits.Column], drop, extra) -> list[fits.Column]:
    out = [c for c in cols if c.name not in set(drop)]
    return out + list(extra)


def _iau(prefix: str, ra: np.ndarray, dec: np.ndarray) -> np.ndarray:
    names = []
    for r, d in zip(ra, dec, strict=True):
        h, m, s = int(r / 15), int((r / 15 % 1) * 60), (r / 15 * 3600) % 60
        sign, ad = ("+" if d >= 0 else "-"), abs(d)
        dm, ds = int(ad % 1 * 60), int(ad * 3600 % 60)
        names.append(f"{prefix} J{h:02d}{m:02d}{s:04.1f}{sign}{int(ad):02d}{dm:02d}{ds:02d}")
    return np.array(names)


def per_detection(path: Path, n: int = 60, seed: int = 1, drop=(), extra=(), header=None) -> Path:
    """A 4XMM-DR14-like slice: ``n`` detections of ``n // 2`` sources in three observations."""
    rng = np.random.default_rng(seed)
    srcid = 201400000000000 + np.arange(n) // 2
    ra = 150.0 + (np.arange(n) // 2) * 0.01 + rng.normal(0, 1e-4, n)
    dec = 2.0 + (np.arange(n) // 2) * 0.01 + rng.normal(0, 1e-4, n)
    obs = np.array(["0123700101", "0123700201", "0555780101"])[np.arange(n) % 3]
    mjd = np.array([51900.5, 52500.25, 55000.75])[np.arange(n) % 3]
    flux = 10 ** rng.uniform(-14.5, -12, n)
    hr = rng.uniform(-1, 1, (4, n)).astype(np.float32)
    fvar = np.where(rng.random(n) < 0.5, np.nan, rng.uniform(0, 0.5, n)).astype(np.float32)
    cols = [
        fits.Column("DETID", "K", array=101234500000000 + np.arange(n)),
        fits.Column("SRCID", "K", array=srcid),
        fits.Column("IAUNAME", "21A", array=_iau("4XMM", ra, dec)),
        fits.Column("SRC_NUM", "J", array=(np.arange(n) % 40 + 1).astype(np.int32)),
        fits.Column("OBS_ID", "10A", array=obs),
        fits.Column("MJD_START", "D", unit="d", array=mjd),
        fits.Column("MJD_STOP", "D", unit="d", array=mjd + 0.4),
        fits.Column("OBS_CLASS", "J", null=INT_NULL, array=np.where(np.arange(n) == 3, INT_NULL, 1).astype(np.int32)),
        fits.Column("RA", "D", unit="deg", array=ra),
        fits.Column("DEC", "D", unit="deg", array=dec),
        fits.Column("POSERR", "E", unit="arcsec", array=rng.uniform(0.5, 2, n).astype(np.float32)),
        fits.Column("LII", "D", unit="deg", array=np.full(n, 236.8)),
        fits.Column("BII", "D", unit="deg", array=np.full(n, 42.1)),
        *[fits.Column(f"EP_{b}_FLUX", "E", unit=FLUX, array=(flux / (b + 1)).astype(np.float32)) for b in range(1, 10)],
        *[fits.Column(f"EP_{b}_FLUX_ERR", "E", unit=FLUX, array=(flux / 10).astype(np.float32)) for b in range(1, 10)],
        fits.Column("EP_8_DET_ML", "E", array=rng.uniform(6, 500, n).astype(np.float32)),
        fits.Column("EP_EXTENT", "E", unit="arcsec", array=np.where(np.arange(n) == 5, 12.5, 0).astype(np.float32)),
        fits.Column("EP_EXTENT_ML", "E", array=np.zeros(n, np.float32)),
        *[fits.Column(f"EP_HR{i}", "E", array=hr[i - 1]) for i in range(1, 5)],
        *[fits.Column(f"EP_HR{i}_ERR", "E", array=np.full(n, 0.1, np.float32)) for i in range(1, 5)],
        fits.Column("EP_CHI2PROB", "E", array=rng.uniform(0, 1, n).astype(np.float32)),
        fits.Column("EP_FVAR", "E", array=fvar),
        fits.Column("VAR_FLAG", "L", array=np.arange(n) == 7),
        fits.Column("SUM_FLAG", "J", array=(np.arange(n) % 5).astype(np.int32)),
        fits.Column("EP_FLAG", "12A", array=np.full(n, "FFFFFFFFFFFF")),
        fits.Column("TSERIES", "L", array=np.arange(n) % 2 == 0),
        fits.Column("SPECTRA", "L", array=np.arange(n) % 2 == 0),
        fits.Column("SC_RA", "D", unit="deg", array=ra),
        fits.Column("SC_DEC", "D", unit="deg", array=dec),
        fits.Column("SC_POSERR", "E", unit="arcsec", array=np.full(n, 1.0, np.float32)),
        fits.Column("SC_DET_ML", "E", array=np.full(n, 50.0, np.float32)),
        *[fits.Column(f"SC_EP_{b}_FLUX", "E", unit=FLUX, array=(flux / (b + 1)).astype(np.float32)) for b in BANDS],
        *[fits.Column(f"SC_EP_{b}_FLUX_ERR", "E", unit=FLUX, array=(flux / 10).astype(np.float32)) for b in BANDS],
        *[fits.Column(f"SC_HR{i}", "E", array=hr[i - 1]) for i in range(1, 5)],
        fits.Column("SC_EXTENT", "E", unit="arcsec", array=np.zeros(n, np.float32)),
        fits.Column("SC_CHI2PROB", "E", array=np.full(n, 0.5, np.float32)),
        fits.Column("SC_VAR_FLAG", "L", array=np.zeros(n, bool)),
        fits.Column("SC_SUM_FLAG", "J", array=np.zeros(n, np.int32)),
        fits.Column("N_DETECTIONS", "J", array=np.full(n, 2, np.int32)),
        fits.Column("MJD_FIRST", "D", unit="d", array=np.full(n, 51900.5)),
        fits.Column("MJD_LAST", "D", unit="d", array=np.full(n, 52500.25)),
    ]
    head = {"EXTNAME": "4XMM_DR14cat", **(header or {})}
    return _write(path, _keep(cols, drop, extra), head)


def _stacked_rows(n_sources: int, n_obs: int, seed: int, upper_limits: bool) -> dict[str, np.ndarray]:
    """Rows in file order: per source, a summary row (OBS_ID blank, N_OBS/N_CONTRIB set) then its observations."""
    rng = np.random.default_rng(seed)
    obs_ids = np.array([f"0{700000000 + 1010 * k:09d}" for k in range(n_obs)])
    mjd = 53000.0 + 400.0 * np.arange(n_obs)
    rows: dict[str, list] = {k: [] for k in ("src", "obs", "summary", "mjd", "flux", "ul")}
    for s in range(n_sources):
        rows["src"].append(s), rows["obs"].append(""), rows["summary"].append(True)
        rows["mjd"].append(np.nan), rows["flux"].append(1e-13), rows["ul"].append(False)
        for k in range(n_obs):
            ul = upper_limits and (s + k) % 3 == 0
            rows["src"].append(s), rows["obs"].append(obs_ids[k]), rows["summary"].append(False)
            rows["mjd"].append(mjd[k]), rows["flux"].append(np.nan if ul else 1e-13 * rng.uniform(0.2, 5))
            rows["ul"].append(ul)
    return {k: np.array(v) for k, v in rows.items()}


def stacked(path: Path, n_sources: int = 12, n_obs: int = 3, seed: int = 2, drop=(), extra=(), header=None) -> Path:
    """A 4XMM-DR13s-like slice: summary + observation rows, IAU names '4XMMs J...'."""
    r = _stacked_rows(n_sources, n_obs, seed, upper_limits=False)
    n = r["src"].size
    first_obs = 700000000
    srcid = 3 * 10**15 + first_obs * 10**5 + r["src"] + 1
    ra, dec = 40.0 + r["src"] * 0.02, -8.0 + r["src"] * 0.02
    n_obs_col = np.where(r["summary"], n_obs, INT_NULL).astype(np.int32)
    cols = [
        fits.Column("SRCID", "K", array=srcid),
        fits.Column("OBS_ID", "10A", array=r["obs"]),
        fits.Column("N_OBS", "J", null=INT_NULL, array=n_obs_col),
        fits.Column("N_CONTRIB", "J", null=INT_NULL, array=n_obs_col),
        fits.Column("RA", "D", unit="degrees", array=ra),
        fits.Column("DEC", "D", unit="degrees", array=dec),
        fits.Column("RADEC_ERR", "E", unit="arcsec", array=np.full(n, 0.8, np.float32)),
        fits.Column("POSERR", "E", unit="arcsec", array=np.full(n, 1.1, np.float32)),
        fits.Column("LII", "D", unit="degrees", array=np.full(n, 180.0)),
        fits.Column("BII", "D", unit="degrees", array=np.full(n, -55.0)),
        fits.Column("IAUNAME", "22A", array=_iau("4XMMs", ra, dec)),
        fits.Column("STACK_DET_ML", "E", array=np.full(n, 40.0, np.float32)),
        fits.Column("EP_FLUX", "E", unit=FLUX, array=r["flux"].astype(np.float32)),
        fits.Column("EP_FLUX_ERR", "E", unit=FLUX, array=(r["flux"] / 8).astype(np.float32)),
        fits.Column("VAR_PROB", "E", array=np.full(n, 1e-7, np.float32)),
        fits.Column("FRATIO", "E", array=np.full(n, 6.0, np.float32)),
        fits.Column("MJD_START", "D", unit="d", array=r["mjd"]),
        fits.Column("MJD_STOP", "D", unit="d", array=r["mjd"] + 0.3),
        fits.Column("SUM_FLAG", "J", array=np.zeros(n, np.int32)),
    ]
    head = {"EXTNAME": "4XMM_DR13s", **(header or {})}
    return _write(path, _keep(cols, drop, extra), head)


def stacked_detid(n_sources: int = 12, n_obs: int = 3) -> fits.Column:
    """A DETID column for :func:`stacked` (the bug: such a file was read as per-detection)."""
    n = n_sources * (n_obs + 1)
    return fits.Column(
        "DETID",
        "K",
        null=LONG_NULL,
        array=np.where(np.arange(n) % (n_obs + 1) == 0, LONG_NULL, 104000000000000 + np.arange(n)),
    )


def fivexmm(path: Path, n_sources: int = 10, n_obs: int = 4, seed: int = 3, drop=(), extra=(), header=None) -> Path:
    """A 5XMM-DR15-like slice: stacked rows where some observation rows are 3-sigma upper limits."""
    r = _stacked_rows(n_sources, n_obs, seed, upper_limits=True)
    n = r["src"].size
    srcid = 5 * 10**15 + r["src"] + 1
    ra, dec = 210.0 + r["src"] * 0.03, 54.0 + r["src"] * 0.01
    n_obs_col = np.where(r["summary"], n_obs, INT_NULL).astype(np.int32)
    cols = [
        fits.Column("SRCID", "K", array=srcid),
        fits.Column("IAUNAME", "22A", array=_iau("5XMM", ra, dec)),
        fits.Column("OBS_ID", "10A", array=r["obs"]),
        fits.Column("PPS_SRCNUM", "J", null=INT_NULL, array=np.where(r["summary"], INT_NULL, 7).astype(np.int32)),
        fits.Column("N_OBS", "J", null=INT_NULL, array=n_obs_col),
        fits.Column("N_CONTRIB", "J", null=INT_NULL, array=n_obs_col),
        fits.Column("N_EXP", "J", array=np.full(n, 3, np.int32)),
        fits.Column("RA", "D", unit="deg", array=ra),
        fits.Column("DEC", "D", unit="deg", array=dec),
        fits.Column("POSERR", "E", unit="arcsec", array=np.full(n, 1.0, np.float32)),
        fits.Column("STACK_DET_ML", "E", array=np.full(n, 30.0, np.float32)),
        fits.Column("EP_FLUX", "E", unit=FLUX, array=r["flux"].astype(np.float32)),
        fits.Column("EP_FLUX_ERR", "E", unit=FLUX, array=(r["flux"] / 8).astype(np.float32)),
        fits.Column("UPPER_LIMIT", "L", array=r["ul"]),
        fits.Column("EP_FLUX_UL", "E", unit=FLUX, array=np.where(r["ul"], 3e-14, np.nan).astype(np.float32)),
        fits.Column("MJD_START", "D", unit="d", array=r["mjd"]),
        fits.Column("MJD_STOP", "D", unit="d", array=r["mjd"] + 0.3),
        fits.Column("SUM_FLAG", "J", array=np.zeros(n, np.int32)),
    ]
    head = {"EXTNAME": "5XMM_DR15", **(header or {})}
    return _write(path, _keep(cols, drop, extra), head, primary={"TITLE": "5XMM-DR15 stacked catalogue (slice)"})
