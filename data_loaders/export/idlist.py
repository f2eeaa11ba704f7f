"""Bring a user's list back in: a CSV or VOTable of identifiers or positions."""

from __future__ import annotations

import io
import os
import warnings
from typing import Any

import astropy.units as u
import numpy as np
import pandas as pd
from astropy.coordinates import SkyCoord, search_around_sky

from data_loaders.export.frames import ExportError

_ID_COLUMNS = ("SRCID", "DETID", "IAUNAME")
_POSITION_PAIRS = (
    ("RA", "DEC"),
    ("SC_RA", "SC_DEC"),
    ("RAJ2000", "DEJ2000"),
    ("RA_ICRS", "DE_ICRS"),
    ("RA_DEG", "DEC_DEG"),
)
_MAX_BYTES = 50_000_000
EXPECTED = "a SRCID, DETID or IAUNAME column, or RA and DEC columns in degrees"


def _read_bytes(source: Any, filename: str) -> bytes:
    if isinstance(source, bytes | bytearray | memoryview):
        data = bytes(source)
    elif isinstance(source, str | os.PathLike):
        with open(source, "rb") as handle:
            data = handle.read(_MAX_BYTES + 1)
    else:
        data = source.read(_MAX_BYTES + 1)
    if len(data) > _MAX_BYTES:
        raise ExportError(f"'{filename}' is larger than {_MAX_BYTES // 1_000_000} MB.")
    if not data.strip():
        raise ExportError(f"'{filename}' is empty; expected {EXPECTED}.")
    return data


def _votable(data: bytes, filename: str) -> pd.DataFrame:
    from astropy.io.votable import parse_single_table

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            table = parse_single_table(io.BytesIO(data)).to_table()
    except Exception as exc:  # astropy raises many types for broken XML
        raise ExportError(f"'{filename}' is not a readable VOTable ({type(exc).__name__}).") from None
    frame = table.to_pandas()
    return frame


def _csv(data: bytes, filename: str) -> pd.DataFrame:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ExportError(f"'{filename}' is not a UTF-8 text CSV file.") from None
    try:
        header = next((ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")), "")
        sep = next((s for s in (",", "\t", ";", "|") if s in header), ",")
        return pd.read_csv(io.StringIO(text), comment="#", skipinitialspace=True, sep=sep)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError, TypeError):
        raise ExportError(f"'{filename}' is not a readable CSV file; expected {EXPECTED}.") from None


def read_id_list(source: Any, filename: str) -> pd.DataFrame:
    """Identifiers or positions from an uploaded CSV or VOTable.

    ``source`` is a path, bytes or a binary stream; ``filename`` picks the format
    (``.xml``/``.vot``/``.votable`` are VOTable, anything else CSV, sniffing '<?xml') and
    names the file in errors. Column names are matched case-insensitively. Returns a
    frame with one of: ``SRCID`` (int64), ``DETID`` (int64), ``IAUNAME`` (str), or
    ``RA``/``DEC`` (float64, degrees ICRS); an :class:`ExportError` names what was
    expected otherwise.
    """
    data = _read_bytes(source, filename)
    is_xml = filename.lower().endswith((".xml", ".vot", ".votable")) or data.lstrip()[:5].lower() in (
        b"<?xml",
        b"<vota",
    )
    frame = _votable(data, filename) if is_xml else _csv(data, filename)
    lower = {str(c).strip().lower(): c for c in frame.columns}
    for name in _ID_COLUMNS:
        if name.lower() in lower:
            col = frame[lower[name.lower()]]
            if name == "IAUNAME":
                values = col.dropna().astype(str).str.strip()
                return pd.DataFrame({"IAUNAME": values[values != ""].to_numpy()})
            numbers = pd.to_numeric(col, errors="coerce")
            bad = numbers.isna() | (numbers % 1 != 0)
            if bad.any():
                first = col[bad].iloc[0]
                raise ExportError(f"'{filename}' has a {name} value {first!r} that is not a whole number.")
            return pd.DataFrame({name: numbers.astype("int64").to_numpy()})
    for ra_name, dec_name in _POSITION_PAIRS:
        if ra_name.lower() in lower and dec_name.lower() in lower:
            ra = pd.to_numeric(frame[lower[ra_name.lower()]], errors="coerce").to_numpy(dtype="float64")
            dec = pd.to_numeric(frame[lower[dec_name.lower()]], errors="coerce").to_numpy(dtype="float64")
            bad = np.isnan(ra) | np.isnan(dec) | (np.abs(dec) > 90) | (ra < 0) | (ra >= 360)
            if bad.any():
                row = int(np.flatnonzero(bad)[0]) + 1
                raise ExportError(
                    f"'{filename}' row {row} has no valid RA/DEC in degrees (RA in [0, 360), DEC in [-90, 90])."
                )
            return pd.DataFrame({"RA": ra, "DEC": dec})
    found = ", ".join(map(str, list(frame.columns)[:8])) or "none"
    raise ExportError(f"'{filename}' has no usable column (found: {found}); expected {EXPECTED}.")


def match_positions(
    catalogue_ra: Any, catalogue_dec: Any, ra: Any, dec: Any, radius_arcsec: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every catalogue row within ``radius_arcsec`` of each given position.

    Returns ``(list_index, catalogue_index, separation_arcsec)`` arrays, sorted by list
    index then separation (astropy ``search_around_sky``); all angles in degrees ICRS.
    """
    if not radius_arcsec > 0:
        raise ExportError(f"The match radius must be positive, not {radius_arcsec}.")
    cat = SkyCoord(
        np.asarray(catalogue_ra, dtype="float64") * u.deg, np.asarray(catalogue_dec, dtype="float64") * u.deg
    )
    pts = SkyCoord(
        np.atleast_1d(np.asarray(ra, dtype="float64")) * u.deg, np.atleast_1d(np.asarray(dec, dtype="float64")) * u.deg
    )
    if len(cat) == 0 or len(pts) == 0:
        empty = np.array([], dtype=np.intp)
        return empty, empty.copy(), np.array([], dtype="float64")
    idx_list, idx_cat, sep, _ = search_around_sky(pts, cat, radius_arcsec * u.arcsec)
    sep_arcsec = sep.to_value(u.arcsec)
    order = np.lexsort((sep_arcsec, idx_list))
    return idx_list[order], idx_cat[order], sep_arcsec[order]
