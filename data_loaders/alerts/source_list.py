"""Read an EPIC pipeline source list (``P<obsid>EPX000OBSMLI0000.FTZ``, SRCLIST extension) for the alert task.

The format is the one the XMM-Newton pipeline (SAS ``srcmatch``) writes and STONKS reads
(Quintin et al. 2024): one row per EPIC detection of one observation, with ``SRC_NUM``, ``RA``,
``DEC`` (deg), ``RADEC_ERR`` (arcsec, statistical), ``EP_TOT_FLUX`` / ``ERR_EP_TOT_FLUX``
(0.2-12 keV, erg/cm²/s), the band fluxes ``EP_1_FLUX`` ... ``EP_5_FLUX`` with ``ERR_EP_n_FLUX``,
and the likelihoods ``EP_DET_ML`` (optionally ``PN_DET_ML``, ``M1_DET_ML``, ``M2_DET_ML``,
``EP_EXT_ML``). ``EP_CHI2PROB`` (in-observation variability) is used when present. The
observation comes from the header (primary or SRCLIST): ``OBS_ID``, ``DATE-OBS``, ``DATE-END``.
Anything else — an OM or RGS list, a table without these columns, a file that is not FITS —
is refused with one sentence (:class:`SourceListError`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from astropy.io import fits
from astropy.time import Time

from data_loaders.errors import XmmExplorerError

EXTENSION = "SRCLIST"
#: Columns every source list must have (STONKS reads the same ones).
REQUIRED_COLUMNS = ("SRC_NUM", "RA", "DEC", "RADEC_ERR", "EP_TOT_FLUX", "ERR_EP_TOT_FLUX", "EP_DET_ML")
BANDS = (1, 2, 3, 4, 5)
BAND_COLUMNS = tuple(c for b in BANDS for c in (f"EP_{b}_FLUX", f"ERR_EP_{b}_FLUX"))
OPTIONAL_COLUMNS = ("PN_DET_ML", "M1_DET_ML", "M2_DET_ML", "EP_EXT_ML", "EP_CHI2PROB")
#: INSTRUME values of EPIC lists; other XMM instruments get a sentence naming them.
EPIC_INSTRUMENTS = {"EPIC", "EPN", "EMOS1", "EMOS2", "EMOS"}
_OTHER_INSTRUMENTS = {"OM": "OM (Optical Monitor)", "RGS1": "RGS", "RGS2": "RGS", "RGS": "RGS"}
#: Product-name tags of other instruments' source lists (P<obsid>OMX000OBSMLI..., P<obsid>R1S...SRCLI_).
_NAME_TAGS = (("OMX", "OM (Optical Monitor)"), ("OM", "OM (Optical Monitor)"), ("R1", "RGS"), ("R2", "RGS"))


class SourceListError(XmmExplorerError):
    """The file is not a usable EPIC pipeline source list; the message says why in one sentence."""


@dataclass
class SourceList:
    """One observation's EPIC detections, as read from its source list.

    ``detections`` columns: SRC_NUM, RA, DEC (deg), RADEC_ERR (arcsec), EP_TOT_FLUX,
    ERR_EP_TOT_FLUX, EP_n_FLUX, ERR_EP_n_FLUX (erg/cm²/s; NaN where absent), EP_DET_ML,
    EP_CHI2PROB (NaN where absent) and the optional likelihood columns that were present.
    """

    path: Path
    obs_id: str
    mjd_start: float
    mjd_stop: float
    detections: pd.DataFrame
    header: dict

    def __len__(self) -> int:
        return len(self.detections)


def _instrument_from_name(name: str) -> str | None:
    m = re.match(r"^P\d{10}(..)", name.upper())
    if not m:
        return None
    tag = m.group(1)
    if tag == "EP":
        return None
    return dict(_NAME_TAGS).get(tag, dict(_NAME_TAGS).get(tag[:2]))


def _mjd(value, key: str, path: Path) -> float:
    try:
        return float(Time(str(value).strip(), format="isot", scale="utc").mjd)
    except ValueError:
        raise SourceListError(
            f"{path.name}: header {key} = {value!r} is not an ISO date (e.g. 2021-03-04T05:06:07)."
        ) from None


def read_source_list(path: str | Path) -> SourceList:
    """Read and check an EPIC pipeline source list; :class:`SourceListError` with one sentence otherwise."""
    path = Path(path)
    if not path.is_file():
        raise SourceListError(f"{path} does not exist or is not a file.")
    try:
        hdul = fits.open(path, memmap=False)
    except (OSError, ValueError, TypeError) as exc:
        raise SourceListError(f"{path.name} is not a FITS file ({str(exc).rstrip('.')}).") from None
    with hdul:
        primary = hdul[0].header
        names = [h.name.upper() for h in hdul]
        if EXTENSION not in names:
            other = _instrument_from_name(path.name)
            instrume = str(primary.get("INSTRUME", "")).strip().upper()
            who = _OTHER_INSTRUMENTS.get(instrume) or other
            if who:
                raise SourceListError(
                    f"{path.name} is an {who} source list; the alert task needs an EPIC one (*EP*OBSMLI*)."
                )
            raise SourceListError(
                f"{path.name} is not an EPIC source list: it has no {EXTENSION} extension "
                f"(extensions: {', '.join(names[1:]) or 'none'})."
            )
        hdu = hdul[EXTENSION]
        if not isinstance(hdu, fits.BinTableHDU):
            raise SourceListError(f"{path.name}: the {EXTENSION} extension is not a binary table.")
        header = {**{k: primary[k] for k in primary if k}, **{k: hdu.header[k] for k in hdu.header if k}}
        for instrume in {str(h.get("INSTRUME", "EPIC")).strip().upper() for h in (primary, hdu.header)}:
            if instrume not in EPIC_INSTRUMENTS:
                who = _OTHER_INSTRUMENTS.get(instrume, f"INSTRUME = {instrume!r}")
                raise SourceListError(
                    f"{path.name} is an {who} source list; the alert task needs an EPIC one (*EP*OBSMLI*)."
                )
        by_name = _instrument_from_name(path.name)
        if by_name:
            raise SourceListError(
                f"{path.name} is an {by_name} source list by its name; the alert task needs an EPIC one (*EP*OBSMLI*)."
            )
        columns = [c.name.upper() for c in hdu.columns]
        missing = [c for c in REQUIRED_COLUMNS if c not in columns]
        if missing:
            raise SourceListError(
                f"{path.name} is not an EPIC pipeline source list: column(s) {', '.join(missing)} missing "
                f"from its {EXTENSION} table."
            )
        for key in ("OBS_ID", "DATE-OBS", "DATE-END"):
            if key not in header:
                raise SourceListError(
                    f"{path.name}: the header has no {key}; the alert task needs the observation and its dates."
                )
        data = hdu.data
        n = 0 if data is None else len(data)
        out = {}
        for c in (*REQUIRED_COLUMNS, *BAND_COLUMNS, *OPTIONAL_COLUMNS):
            if c in columns and n:
                out[c] = np.asarray(data.field(c), dtype=np.int64 if c == "SRC_NUM" else np.float64)
            elif c in REQUIRED_COLUMNS or c in BAND_COLUMNS or c == "EP_CHI2PROB":
                out[c] = np.zeros(n, np.int64) if c == "SRC_NUM" else np.full(n, np.nan)
    obs_id = str(header["OBS_ID"]).strip()
    if not re.fullmatch(r"\d{10}", obs_id):
        raise SourceListError(f"{path.name}: OBS_ID {obs_id!r} is not a 10-digit XMM-Newton observation id.")
    mjd_start = _mjd(header["DATE-OBS"], "DATE-OBS", path)
    mjd_stop = _mjd(header["DATE-END"], "DATE-END", path)
    if not mjd_stop >= mjd_start:
        raise SourceListError(f"{path.name}: DATE-END is before DATE-OBS.")
    frame = pd.DataFrame(out)
    if n:
        ra, dec = frame["RA"].to_numpy(), frame["DEC"].to_numpy()
        bad = ~(np.isfinite(ra) & np.isfinite(dec)) | (np.abs(dec) > 90)
        if bad.any():
            first = int(frame["SRC_NUM"].to_numpy()[bad][0])
            raise SourceListError(
                f"{path.name}: {int(bad.sum())} detection(s) have no valid RA/DEC (first: SRC_NUM {first})."
            )
        if frame["SRC_NUM"].duplicated().any():
            raise SourceListError(
                f"{path.name}: SRC_NUM is not unique; is this a per-camera list rather than the EPIC summary list?"
            )
    return SourceList(path, obs_id, mjd_start, mjd_stop, frame, header)


def write_source_list(
    detections: pd.DataFrame,
    path: str | Path,
    *,
    obs_id: str,
    date_obs: str,
    date_end: str,
    ra_pnt: float | None = None,
    dec_pnt: float | None = None,
    extra_header: dict | None = None,
) -> Path:
    """Write ``detections`` (the columns of :class:`SourceList`) as an EPIC pipeline source list.

    The primary header carries the observation (TELESCOP, INSTRUME = 'EPIC', OBS_ID, DATE-OBS,
    DATE-END, RA_PNT, DEC_PNT); the ``SRCLIST`` binary table the detections, in the pipeline's
    column names and units. The demo pipeline and the tests write their lists with this function.
    """
    path = Path(path)
    primary = fits.PrimaryHDU()
    h = primary.header
    h["TELESCOP"] = "XMM"
    h["INSTRUME"] = "EPIC"
    h["OBS_ID"] = str(obs_id)
    h["DATE-OBS"] = date_obs
    h["DATE-END"] = date_end
    if ra_pnt is not None and dec_pnt is not None:
        h["RA_PNT"], h["DEC_PNT"] = float(ra_pnt), float(dec_pnt)
    h["CREATOR"] = "xmm-explorer demo pipeline"
    for k, v in (extra_header or {}).items():
        h[k] = v
    units = {"RA": "deg", "DEC": "deg", "RADEC_ERR": "arcsec"}
    cols = []
    for c in (*REQUIRED_COLUMNS, *BAND_COLUMNS, *OPTIONAL_COLUMNS):
        if c not in detections:
            continue
        if c == "SRC_NUM":
            cols.append(fits.Column(c, "J", array=detections[c].to_numpy(np.int32)))
        elif c in ("RA", "DEC"):
            cols.append(fits.Column(c, "D", unit="deg", array=detections[c].to_numpy(np.float64)))
        else:
            unit = units.get(c, "erg/cm**2/s" if "FLUX" in c else None)
            cols.append(fits.Column(c, "E", unit=unit, array=detections[c].to_numpy(np.float32)))
    table = fits.BinTableHDU.from_columns(cols, name=EXTENSION)
    table.header["INSTRUME"] = "EPIC"
    table.header["OBS_ID"] = str(obs_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    fits.HDUList([primary, table]).writeto(path, overwrite=True)
    return path
