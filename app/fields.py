"""Logical fields of the Explore page and the real column behind each, per level.

The page filters "flux" or "HR2"; at the detection level that is ``EP_8_FLUX`` or
``EP_HR2``, at the unique-source level ``SC_EP_8_FLUX`` or ``SC_HR2``. This is the one
place that knows the mapping; labels and units come from ``data_loaders.schema``.
"""

from __future__ import annotations

from collections.abc import Iterable

from data_loaders import schema

FLUX_BANDS = (8, 1, 2, 3, 4, 5)

_FIELDS: dict[str, tuple[str, str]] = {
    "ra": ("RA", "SC_RA"),
    "dec": ("DEC", "SC_DEC"),
    "poserr": ("POSERR", "SC_POSERR"),  # 1-sigma position error (arcsec)
    "hr1": ("EP_HR1", "SC_HR1"),
    "hr2": ("EP_HR2", "SC_HR2"),
    "hr3": ("EP_HR3", "SC_HR3"),
    "hr4": ("EP_HR4", "SC_HR4"),
    "det_ml": ("EP_8_DET_ML", "SC_DET_ML"),
    "extent": ("EP_EXTENT", "SC_EXTENT"),
    "sum_flag": ("SUM_FLAG", "SC_SUM_FLAG"),
    "var_flag": ("VAR_FLAG", "SC_VAR_FLAG"),
    "chi2prob": ("EP_CHI2PROB", "SC_CHI2PROB"),
    "n_det": ("N_DETECTIONS", "N_DETECTIONS"),
    "mjd": ("MJD_START", "MJD_FIRST"),
    "class": ("CLASS", "CLASS"),
    "class_prob": ("CLASS_PROB", "CLASS_PROB"),
    "srcid": ("SRCID", "SRCID"),
    "name": ("IAUNAME", "IAUNAME"),
    "pl_gamma": ("PL_GAMMA", "PL_GAMMA"),  # five-band fit: of the detection, or of the SC_ fluxes
}

LABELS = {
    "flux": "Flux",
    "hr1": "HR1 (0.2-0.5 vs 0.5-1 keV)",
    "hr2": "HR2 (0.5-1 vs 1-2 keV)",
    "hr3": "HR3 (1-2 vs 2-4.5 keV)",
    "hr4": "HR4 (2-4.5 vs 4.5-12 keV)",
    "det_ml": "Detection likelihood",
    "extent": "Extent (arcsec)",
    "n_det": "Number of detections",
    "mjd": "Date (MJD)",
    "pl_gamma": "Γ (five-band power-law fit)",
}
#: Axes of the HR diagram: the four hardness ratios and the fitted photon index.
DIAGRAM_FIELDS = ("hr1", "hr2", "hr3", "hr4", "pl_gamma")
_AXIS_RANGES = {"pl_gamma": (-1.1, 5.1)}
HR_AXIS_RANGE = (-1.05, 1.05)


def axis_range(field: str) -> tuple[float, float]:
    """Plotted range of a diagram axis (hardness ratios -1..1, with a margin)."""
    return _AXIS_RANGES.get(field, HR_AXIS_RANGE)


def column(field: str, level: str, band: int = 8) -> str:
    """The catalogue column of a logical field at ``level`` ('detections' or 'sources')."""
    i = 0 if level == "detections" else 1
    if field == "flux":
        return f"EP_{band}_FLUX" if i == 0 else f"SC_EP_{band}_FLUX"
    if field == "flux_err":
        return f"EP_{band}_FLUX_ERR" if i == 0 else f"SC_EP_{band}_FLUX_ERR"
    return _FIELDS[field][i]


def label(field: str, band: int = 8) -> str:
    """Axis/widget label with unit."""
    if field == "flux":
        lo, hi = schema.BANDS[band]
        return f"log flux {lo}-{hi} keV (erg/cm²/s)"
    return LABELS.get(field, field)


#: Default table columns (logical fields); the user can add any catalogue column.
TABLE_FIELDS = ("name", "srcid", "ra", "dec", "flux", "hr2", "hr3", "det_ml", "extent", "sum_flag", "n_det", "class")
#: Logical fields an export writes by default (the table's, plus errors, HR1/HR4, variability, date).
EXPORT_FIELDS = (
    "name",
    "srcid",
    "ra",
    "dec",
    "flux",
    "flux_err",
    "hr1",
    "hr2",
    "hr3",
    "hr4",
    "det_ml",
    "extent",
    "sum_flag",
    "var_flag",
    "n_det",
    "mjd",
    "class",
    "class_prob",
)


def export_columns(level: str, have: Iterable[str], band: int = 8) -> list[str]:
    """The columns an export writes unless the user picks others (both catalogue engines use this).

    :data:`EXPORT_FIELDS` at ``level``, the position error after DEC (DS9 radii need it)
    and, per detection, DETID and OBS_ID after SRCID; only those in ``have``.
    """
    cols = [column(f, level, band) for f in EXPORT_FIELDS]
    cols.insert(4, "POSERR" if level == "detections" else "SC_POSERR")
    if level == "detections":
        cols[2:2] = ["DETID", "OBS_ID"]
    available = set(have)
    return [c for c in dict.fromkeys(cols) if c in available]
