"""Which kind of XMM catalogue a FITS table is, from its columns and its header together.

Three kinds are read (SSC format descriptions; ``shared/design/SCHEMA.md``):

* ``detections``: a per-detection 4XMM-DRn catalogue: one row per detection, ``DETID``,
  the unique-source ``SC_*`` values repeated, IAU names ``4XMM J...``;
* ``stacked``: a stacked 4XMM-DRns catalogue: a summary row per source (``N_OBS`` /
  ``N_CONTRIB`` set, null in the observation rows) and one row per contributing observation,
  IAU names ``4XMMs J...``; it may carry a ``DETID`` column of its own;
* ``stacked`` with upper limits: a 5XMM-like stacked catalogue whose observation rows include
  upper limits (``UPPER_LIMIT``), IAU names ``5XMM J...``.

The columns decide the layout (``N_OBS``/``N_CONTRIB`` mean summary rows, whatever else is
there); the header keywords (``CATALOG``, ``EXTNAME``, ``TITLE`` of the table and primary
HDUs) and the IAU name prefix must not contradict them. Anything else is refused with one
sentence naming what the file looks like and what it lacks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from astropy.io import fits

from data_loaders import schema, stacked_schema
from data_loaders.errors import IngestError

DETECTIONS = "detections"
STACKED = "stacked"

_STACKED_NAME = re.compile(r"[2345]XMM[-_ ]?DR\d+s|\b5XMM|XMMs\b|STACK", re.IGNORECASE)
_DETECTION_NAME = re.compile(r"\b[234]XMM[-_ ]?DR\d+(?![\dsS])")
_HEADER_KEYS = ("CATALOG", "EXTNAME", "TITLE")
#: Columns that mark the summary rows of a stacked catalogue (null in its observation rows).
SUMMARY_COLUMNS = ("N_CONTRIB", "N_OBS")


@dataclass(frozen=True)
class CatalogueKind:
    """What a catalogue file is: ``kind`` (detections or stacked), a label for people, the evidence."""

    kind: str
    label: str
    upper_limits: bool
    evidence: str

    @property
    def stacked(self) -> bool:
        return self.kind == STACKED


def _header_text(hdu: fits.BinTableHDU, primary: fits.Header | None) -> str:
    values = []
    for header in (hdu.header, primary or fits.Header()):
        values += [str(header[k]) for k in _HEADER_KEYS if k in header]
    return " ".join(values)


def _keywords(hdu: fits.BinTableHDU, primary: fits.Header | None) -> str:
    """The catalogue keywords of the file as ``KEY='value'`` text, for the sentences."""
    found = []
    for key in _HEADER_KEYS:
        value = hdu.header.get(key, (primary or fits.Header()).get(key))
        if value not in (None, ""):
            found.append(f"{key}={str(value)!r}")
    return ", ".join(found) or "no CATALOG, EXTNAME or TITLE keyword"


def _iau_prefix(hdu: fits.BinTableHDU) -> str:
    """'4XMMs', '5XMM', '4XMM'... from the first non-blank IAUNAME ('' if none)."""
    if "IAUNAME" not in hdu.columns.names or not hdu.header.get("NAXIS2"):
        return ""
    for value in hdu.data.field("IAUNAME")[:50]:
        text = value.decode() if isinstance(value, bytes) else str(value)
        if text.strip():
            return text.split()[0]
    return ""


def _looks_like(names: set[str], header: fits.Header) -> str:
    """A guess at what a file that is no catalogue is, for the refusal sentence."""
    if header.get("PIXTYPE") == "HEALPIX" or {"PROB", "UNIQ"} & names:
        return "a HEALPix sky map"
    if {"CHANNEL", "COUNTS"} <= names:
        return "a spectrum"
    if {"TIME", "RATE"} <= names:
        return "a lightcurve"
    if {"EP_TOT_FLUX", "SRC_NUM"} <= names or "RA_CORR" in names:
        return "a pipeline EPIC source list (OBSMLI), one observation's detections"
    if {"SRCID", "PbaC0"} <= names:
        return "a classification table"
    return f"a table of {len(names)} columns ({', '.join(sorted(names)[:5])}{'...' if len(names) > 5 else ''})"


def recognise(hdu: fits.BinTableHDU, primary: fits.Header | None = None, filename: str = "the file") -> CatalogueKind:
    """The kind of catalogue in ``hdu``; IngestError (one sentence) if it is none or is incomplete."""
    names = set(hdu.columns.names)
    text = _header_text(hdu, primary)
    iau = _iau_prefix(hdu)
    header_stacked = bool(_STACKED_NAME.search(text)) or iau.upper().endswith("XMMS") or iau.startswith("5XMM")
    header_detections = bool(_DETECTION_NAME.search(text)) or iau in ("4XMM", "3XMM", "2XMM")
    said = _keywords(hdu, primary)
    summary_cols = [c for c in SUMMARY_COLUMNS if c in names]

    if summary_cols and {"SRCID", "OBS_ID"} <= names:
        if header_detections and not header_stacked:
            raise IngestError(
                f"{filename} has the columns of a stacked catalogue ({', '.join(summary_cols)}, OBS_ID, SRCID) but its "
                f"header says a per-detection one ({said}; IAU names {iau or 'none'}); check which file this is."
            )
        required = [c for c in stacked_schema.STACKED_REQUIRED if c not in SUMMARY_COLUMNS]
        missing = [c for c in required if c not in names]
        upper = "UPPER_LIMIT" in names
        five = bool(re.search(r"5XMM", text)) or iau.startswith("5XMM")
        label = "5XMM-like stacked catalogue" if five or upper else "stacked 4XMM-DRns catalogue"
        if upper:
            label += " with upper limits"
        evidence = f"columns {', '.join(summary_cols)}, OBS_ID, SRCID; {said}"
        if missing:
            raise IngestError(
                f"{filename} looks like a {label} ({evidence}) but has no {', '.join(missing)} column"
                f"{'s' if len(missing) > 1 else ''}."
            )
        return CatalogueKind(STACKED, label, upper, evidence)

    if "DETID" in names:
        if header_stacked and not header_detections:
            raise IngestError(
                f"{filename} has DETID but no N_OBS or N_CONTRIB column, while its header says a stacked catalogue "
                f"({said}; IAU names {iau or 'none'}): a stacked catalogue needs its summary-row columns."
            )
        missing = [c for c in schema.REQUIRED_COLUMNS if c not in names]
        if missing:
            raise IngestError(
                f"{filename} looks like a per-detection 4XMM catalogue (DETID; {said}) but has no "
                f"{', '.join(missing)} column{'s' if len(missing) > 1 else ''}."
            )
        return CatalogueKind(DETECTIONS, "per-detection 4XMM-DRn catalogue", False, f"column DETID; {said}")

    if header_stacked:
        raise IngestError(
            f"{filename} looks like a stacked catalogue ({said}) but has no N_OBS or N_CONTRIB column to tell "
            f"its summary rows from its observation rows{'' if 'OBS_ID' in names else ', and no OBS_ID'}."
        )
    if header_detections or {"SRCID", "RA", "DEC"} <= names:
        raise IngestError(
            f"{filename} looks like a 4XMM catalogue ({said}) but has neither DETID (per-detection catalogue) "
            f"nor N_OBS/N_CONTRIB with OBS_ID (stacked catalogue)."
        )
    raise IngestError(
        f"{filename} is not an XMM catalogue: it looks like {_looks_like(names, hdu.header)}, and has neither "
        f"DETID (per-detection catalogue) nor N_OBS/N_CONTRIB with OBS_ID (stacked catalogue)."
    )
