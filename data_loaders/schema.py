"""The single source of 4XMM column names, FITS types, units and descriptions.

Filters, tables, exports, ingest and the demo generator read this module instead of
repeating names. Names and units follow the SSC's 4XMM-DRn catalogue (see
``shared/design/SCHEMA.md``); the real file carries ~330 columns, of which the ones
listed here are first-class. Ingest keeps every other column it finds as well.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

FLUX_UNIT = "erg/cm**2/s"
RATE_UNIT = "ct/s"

#: EPIC energy bands of the catalogue, keV (band number -> (low, high)).
BANDS: dict[int, tuple[float, float]] = {
    1: (0.2, 0.5),
    2: (0.5, 1.0),
    3: (1.0, 2.0),
    4: (2.0, 4.5),
    5: (4.5, 12.0),
    6: (0.2, 2.0),
    7: (2.0, 12.0),
    8: (0.2, 12.0),
    9: (0.5, 4.5),
}
#: The five narrow bands that make up the 0.2-12 keV total band.
BASIC_BANDS = (1, 2, 3, 4, 5)
CAMERAS = ("PN", "M1", "M2")

#: Classes of the XMM2ATHENA probabilistic classifier, in PbaC0..PbaC6 order.
CLASS_NAMES = ("AGN", "star", "gal_xrb", "CV", "bk_AGN", "ext_xrb", "extended")
#: Plain-language labels for the classes, for people rather than machines.
CLASS_LABELS = {
    "AGN": "Active galactic nucleus",
    "star": "Star",
    "gal_xrb": "X-ray binary (Milky Way)",
    "CV": "Cataclysmic variable",
    "bk_AGN": "Blazar / bright AGN",
    "ext_xrb": "X-ray binary (other galaxy)",
    "extended": "Galaxy cluster / extended",
}


def class_names(codes, missing: str | None = None):
    """Class codes (indices into CLASS_NAMES, -1 unclassified) as a text Series, ``missing`` where unclassified.

    The one class decoder: tables, exports and cards all show classes through it.
    """
    import numpy as np
    import pandas as pd

    codes = np.asarray(codes, dtype=np.int64)
    names = np.array([*CLASS_NAMES, missing], dtype=object)
    valid = (codes >= 0) & (codes < len(CLASS_NAMES))
    return pd.Series(names[np.where(valid, codes, len(CLASS_NAMES))], dtype="string" if missing is None else object)


#: Columns holding class codes (decoded by :func:`class_names`): the X-ray classifier's and the OM list's.
CLASS_CODE_COLUMNS = ("CLASS", "OM_CLASS")


def class_code(values):
    """Class names or codes as read from a file (``AGN``, ``star``... any case, or 0..6) as codes, -1 unknown."""
    import numpy as np
    import pandas as pd

    values = pd.Series(values)
    numbers = pd.to_numeric(values, errors="coerce")
    lookup = {n.lower(): i for i, n in enumerate(CLASS_NAMES)}
    named = values.astype(str).str.strip().str.lower().map(lookup)
    codes = numbers.where(numbers.notna(), named).fillna(-1).to_numpy(np.float64)
    return np.where((codes >= 0) & (codes < len(CLASS_NAMES)) & (codes == np.round(codes)), codes, -1).astype(np.int8)


#: SUM_FLAG values (4XMM user guide).
SUM_FLAG_MEANING = {
    0: "good",
    1: "source parameters may be affected",
    2: "possibly spurious",
    3: "located where spurious detections may occur",
    4: "possibly spurious and in a spurious-prone area",
}
CLEAN_SUM_FLAG_MAX = 2  # clean sample: SUM_FLAG < 3


@dataclass(frozen=True)
class Column:
    """One catalogue column: FITS format code, unit, description, role."""

    name: str
    fits_format: str  # TFORM: K int64, J int32, I int16, B uint8, E float32, D float64, L bool, nA str
    unit: str | None
    description: str
    level: str = "detection"  # "detection" or "source" (same for every detection of a SRCID)
    null: int | None = None  # TNULL for integer columns that may be null

    @property
    def is_float(self) -> bool:
        return self.fits_format in ("E", "D")

    @property
    def is_string(self) -> bool:
        return self.fits_format.endswith("A")


def _band_desc(band: int) -> str:
    lo, hi = BANDS[band]
    return f"{lo}-{hi} keV"


def _build_columns() -> list[Column]:
    c: list[Column] = [
        Column("DETID", "K", None, "Unique detection identifier"),
        Column("SRCID", "K", None, "Unique source identifier (groups detections)", "source"),
        Column("IAUNAME", "21A", None, "IAU name of the unique source, 4XMM Jhhmmss.s+ddmmss", "source"),
        Column("OBS_ID", "10A", None, "XMM-Newton observation identifier"),
        Column("REVOLUT", "J", None, "Satellite revolution number"),
        Column("SRC_NUM", "J", None, "Source number in the observation's source list (hexadecimal in product names)"),
        Column("MJD_START", "D", "d", "Start of the observation (MJD)"),
        Column("MJD_STOP", "D", "d", "End of the observation (MJD)"),
        Column("OBS_CLASS", "J", None, "Observation class 0-5 (fraction of field with problems)", null=-1),
        Column("RA", "D", "deg", "Right ascension of the detection (ICRS)"),
        Column("DEC", "D", "deg", "Declination of the detection (ICRS)"),
        Column("POSERR", "E", "arcsec", "Total 1-sigma position uncertainty"),
        Column("LII", "D", "deg", "Galactic longitude"),
        Column("BII", "D", "deg", "Galactic latitude"),
        Column("RADEC_ERR", "E", "arcsec", "Statistical 1-sigma position error"),
        Column("SYSERRCC", "E", "arcsec", "Systematic position error"),
    ]
    for b in BANDS:
        c.append(Column(f"EP_{b}_FLUX", "E", FLUX_UNIT, f"EPIC flux in band {b} ({_band_desc(b)})"))
        c.append(Column(f"EP_{b}_FLUX_ERR", "E", FLUX_UNIT, f"Error of EP_{b}_FLUX"))
    for cam in CAMERAS:
        for b in BANDS:
            c.append(Column(f"{cam}_{b}_FLUX", "E", FLUX_UNIT, f"{cam} flux in band {b} ({_band_desc(b)})"))
            c.append(Column(f"{cam}_{b}_FLUX_ERR", "E", FLUX_UNIT, f"Error of {cam}_{b}_FLUX"))
    for b in BASIC_BANDS + (8,):
        c.append(Column(f"EP_{b}_RATE", "E", RATE_UNIT, f"EPIC count rate in band {b} ({_band_desc(b)})"))
        c.append(Column(f"EP_{b}_RATE_ERR", "E", RATE_UNIT, f"Error of EP_{b}_RATE"))
    c += [
        Column("EP_8_CTS", "E", "ct", "EPIC source counts, 0.2-12 keV"),
        Column("EP_8_DET_ML", "E", None, "EPIC detection likelihood, 0.2-12 keV"),
        Column("PN_8_DET_ML", "E", None, "pn detection likelihood, 0.2-12 keV"),
        Column("M1_8_DET_ML", "E", None, "MOS1 detection likelihood, 0.2-12 keV"),
        Column("M2_8_DET_ML", "E", None, "MOS2 detection likelihood, 0.2-12 keV"),
    ]
    for cam in CAMERAS:
        c.append(Column(f"{cam}_ONTIME", "E", "s", f"{cam} net exposure at the source position"))
        c.append(Column(f"{cam}_OFFAX", "E", "arcmin", f"{cam} off-axis angle"))
        c.append(Column(f"{cam}_FILTER", "6A", None, f"{cam} filter"))
        c.append(Column(f"{cam}_SUBMODE", "16A", None, f"{cam} observing mode"))
    c += [
        Column("EP_EXTENT", "E", "arcsec", "Extent radius (beta model core radius); 0 for point-like"),
        Column("EP_EXTENT_ERR", "E", "arcsec", "Error of EP_EXTENT"),
        Column("EP_EXTENT_ML", "E", None, "Extent likelihood"),
    ]
    for i in range(1, 5):
        c.append(Column(f"EP_HR{i}", "E", None, f"EPIC hardness ratio (B{i + 1}-B{i})/(B{i + 1}+B{i})"))
        c.append(Column(f"EP_HR{i}_ERR", "E", None, f"Error of EP_HR{i}"))
    for cam in CAMERAS:
        for i in range(1, 5):
            c.append(Column(f"{cam}_HR{i}", "E", None, f"{cam} hardness ratio {i}"))
            c.append(Column(f"{cam}_HR{i}_ERR", "E", None, f"Error of {cam}_HR{i}"))
    c += [
        Column("EP_CHI2PROB", "E", None, "Chi-squared probability of constancy (EPIC, in-observation)"),
        Column("PN_CHI2PROB", "E", None, "Chi-squared probability of constancy (pn)"),
        Column("M1_CHI2PROB", "E", None, "Chi-squared probability of constancy (MOS1)"),
        Column("M2_CHI2PROB", "E", None, "Chi-squared probability of constancy (MOS2)"),
        Column("EP_FVAR", "E", None, "Fractional excess variance (EPIC)"),
        Column("EP_FVAR_ERR", "E", None, "Error of EP_FVAR"),
        Column("PN_FVAR", "E", None, "Fractional excess variance (pn)"),
        Column("PN_FVAR_ERR", "E", None, "Error of PN_FVAR"),
        Column("M1_FVAR", "E", None, "Fractional excess variance (MOS1)"),
        Column("M1_FVAR_ERR", "E", None, "Error of M1_FVAR"),
        Column("M2_FVAR", "E", None, "Fractional excess variance (MOS2)"),
        Column("M2_FVAR_ERR", "E", None, "Error of M2_FVAR"),
        Column("VAR_FLAG", "L", None, "Variable within the observation (chi2 probability <= 1e-5)"),
        Column("VAR_EXP_ID", "4A", None, "Exposure in which variability was found"),
        Column("VAR_INST_ID", "2A", None, "Instrument in which variability was found"),
        Column("EP_FLAG", "12A", None, "EPIC flags 1-12 as a string of T/F"),
        Column("PN_FLAG", "12A", None, "pn flags 1-12"),
        Column("M1_FLAG", "12A", None, "MOS1 flags 1-12"),
        Column("M2_FLAG", "12A", None, "MOS2 flags 1-12"),
        Column("SUM_FLAG", "I", None, "Summary quality flag: 0 good ... 4 (clean sample SUM_FLAG < 3)"),
        Column("HIGH_BACKGROUND", "L", None, "Observation affected by high background"),
        Column("CONFUSED", "L", None, "Detection may be confused with a neighbour"),
        Column("TSERIES", "L", None, "An EPIC source time series (SRCTSR) exists"),
        Column("SPECTRA", "L", None, "An EPIC source spectrum (SRSPEC) exists"),
        Column("DIST_NN", "E", "arcsec", "Distance to the nearest neighbour detection"),
        # Unique-source (SC_) values: identical for every detection of one SRCID.
        Column("SC_RA", "D", "deg", "Right ascension of the unique source", "source"),
        Column("SC_DEC", "D", "deg", "Declination of the unique source", "source"),
        Column("SC_POSERR", "E", "arcsec", "Position error of the unique source", "source"),
        Column("SC_DET_ML", "E", None, "Detection likelihood of the unique source", "source"),
    ]
    for b in BANDS:
        c.append(Column(f"SC_EP_{b}_FLUX", "E", FLUX_UNIT, f"Mean EPIC flux of the source, band {b}", "source"))
        c.append(Column(f"SC_EP_{b}_FLUX_ERR", "E", FLUX_UNIT, f"Error of SC_EP_{b}_FLUX", "source"))
    c += [
        Column("SC_EP_8_FMIN", "E", FLUX_UNIT, "Lowest EP_8_FLUX among the source's detections", "source"),
        Column("SC_EP_8_FMIN_ERR", "E", FLUX_UNIT, "Error of SC_EP_8_FMIN", "source"),
        Column("SC_EP_8_FMAX", "E", FLUX_UNIT, "Highest EP_8_FLUX among the source's detections", "source"),
        Column("SC_EP_8_FMAX_ERR", "E", FLUX_UNIT, "Error of SC_EP_8_FMAX", "source"),
    ]
    for i in range(1, 5):
        c.append(Column(f"SC_HR{i}", "E", None, f"Mean hardness ratio {i} of the source", "source"))
        c.append(Column(f"SC_HR{i}_ERR", "E", None, f"Error of SC_HR{i}", "source"))
    c += [
        Column("SC_EXTENT", "E", "arcsec", "Mean extent of the source", "source"),
        Column("SC_CHI2PROB", "E", None, "Lowest in-observation chi2 probability of the source", "source"),
        Column("SC_FVAR", "E", None, "Fractional excess variance of the most variable detection", "source"),
        Column("SC_FVAR_ERR", "E", None, "Error of SC_FVAR", "source"),
        Column("SC_VAR_FLAG", "L", None, "Any detection of the source is variable", "source"),
        Column("SC_SUM_FLAG", "I", None, "Highest SUM_FLAG of the source's detections", "source"),
        Column("N_DETECTIONS", "I", None, "Number of detections of the unique source", "source"),
        Column("MJD_FIRST", "D", "d", "First observation of the source (MJD)", "source"),
        Column("MJD_LAST", "D", "d", "Last observation of the source (MJD)", "source"),
    ]
    return c


#: Columns we derive (not in the SSC's file): the absorbed power-law fit of the five band fluxes
#: (data_loaders.spectral.bandfit), added at ingest
#: or by ``xmm-explorer bandfit --release``: per detection from EP_1..5_FLUX, in the source table
#: from SC_EP_1..5_FLUX. Intervals are 68% (profile delta chi^2 = 1); errors are positive distances.
NH_UNIT = "1e22 cm**-2"
BANDFIT_COLUMNS = (
    Column("PL_GAMMA", "E", None, "Photon index of an absorbed power law fitted to the five band fluxes"),
    Column("PL_GAMMA_ERR_LO", "E", None, "Distance from PL_GAMMA down to the lower 68% bound"),
    Column("PL_GAMMA_ERR_HI", "E", None, "Distance from PL_GAMMA up to the upper 68% bound"),
    Column("PL_NH", "E", NH_UNIT, "Absorbing column of the five-band power-law fit (0: below 1e19 cm-2)"),
    Column("PL_NH_ERR_LO", "E", NH_UNIT, "Distance from PL_NH down to the lower 68% bound"),
    Column("PL_NH_ERR_HI", "E", NH_UNIT, "Distance from PL_NH up to the upper 68% bound"),
    Column("PL_FIT_STAT", "E", None, "Chi-squared of the five-band fit at its best"),
    Column("PL_FIT_DOF", "I", None, "Degrees of freedom of the five-band fit (usable bands - 3; -1 not fitted)"),
    Column(
        "PL_FIT_FLAG",
        "B",
        None,
        "Five-band fit: 0 constrained, 1 fewer than 3 usable bands (not fitted), 2 degenerate "
        "Gamma-NH valley (unconstrained), 3 no positive flux",
    ),
)
BANDFIT_NAMES = tuple(col.name for col in BANDFIT_COLUMNS)


#: Every first-class column of the per-detection catalogue, in file order.
COLUMNS: tuple[Column, ...] = tuple(_build_columns())
#: Every column with a unit and a description: the catalogue's and the ones we derive.
COLUMNS_BY_NAME: dict[str, Column] = {col.name: col for col in (*COLUMNS, *BANDFIT_COLUMNS)}

#: Columns without which a table is not a 4XMM-like catalogue.
REQUIRED_COLUMNS = (
    "DETID",
    "SRCID",
    "RA",
    "DEC",
    "POSERR",
    "OBS_ID",
    "EP_8_FLUX",
    "EP_8_FLUX_ERR",
    "SUM_FLAG",
)

#: Columns the unique-source table keeps (one row per SRCID).
SOURCE_COLUMNS = tuple(col.name for col in COLUMNS if col.level == "source")

#: Columns the Explore page plots and filters; loaded into memory as float32 where possible.
EXPLORE_COLUMNS = (
    "DETID",
    "SRCID",
    "IAUNAME",
    "OBS_ID",
    "SRC_NUM",
    "RA",
    "DEC",
    "LII",
    "BII",
    "POSERR",
    "EP_1_FLUX",
    "EP_2_FLUX",
    "EP_3_FLUX",
    "EP_4_FLUX",
    "EP_5_FLUX",
    "EP_8_FLUX",
    "EP_8_FLUX_ERR",
    "EP_HR1",
    "EP_HR2",
    "EP_HR3",
    "EP_HR4",
    "EP_8_DET_ML",
    "EP_EXTENT",
    "SUM_FLAG",
    "VAR_FLAG",
    "EP_CHI2PROB",
    "N_DETECTIONS",
    "MJD_START",
    "TSERIES",
    "SPECTRA",
    "SC_EP_8_FLUX",
    *BANDFIT_NAMES,
)

# --- Added-value tables (XMM2ATHENA style), Parquet beside the catalogue -------------------

CLASSIFICATION_COLUMNS = (
    ("SRCID", "int64", None, "Unique source identifier"),
    *((f"PbaC{i}", "float32", None, f"Posterior probability of class {n}") for i, n in enumerate(CLASS_NAMES)),
    ("prediction", "int8", None, "Most probable class index 0-6"),
    ("prediction_name", "str", None, "Most probable class name"),
    ("ClMargin", "float32", None, "P(predicted) - P(next most probable)"),
    ("outlier", "bool", None, "Source lies outside the training distribution"),
    ("N_missing", "int8", None, "Number of missing classifier inputs"),
    ("LII", "float32", "deg", "Galactic longitude (classifier input)"),
    ("BII", "float32", "deg", "Galactic latitude (classifier input)"),
    ("SC_HR1", "float32", None, "Input hardness ratio 1"),
    ("SC_HR2", "float32", None, "Input hardness ratio 2"),
    ("SC_HR3", "float32", None, "Input hardness ratio 3"),
    ("SC_HR4", "float32", None, "Input hardness ratio 4"),
    ("SC_EXTENT", "float32", "arcsec", "Input extent"),
    ("Gmag", "float32", "mag", "Gaia G magnitude of the best optical counterpart"),
    ("W1mag", "float32", "mag", "WISE W1 magnitude of the best infrared counterpart"),
    ("P_opt", "float32", None, "Match probability of the optical counterpart"),
)

COUNTERPART_COLUMNS = (
    ("SRCID", "int64", None, "Unique source identifier"),
    ("CATALOGUE", "str", None, "Catalogue of the candidate counterpart (Gaia DR3, 2MASS, AllWISE, SDSS DR16)"),
    ("CP_ID", "str", None, "Identifier in that catalogue"),
    ("CP_RA", "float64", "deg", "Right ascension of the counterpart"),
    ("CP_DEC", "float64", "deg", "Declination of the counterpart"),
    ("SEPARATION", "float32", "arcsec", "Separation from the X-ray position"),
    ("MATCH_PROB", "float32", None, "Probability that this is the true counterpart"),
    ("MAG_G", "float32", "mag", "Optical G-band magnitude (null if none)"),
    ("MAG_J", "float32", "mag", "Near-infrared J magnitude (null if none)"),
    ("MAG_W1", "float32", "mag", "Mid-infrared W1 magnitude (null if none)"),
)

LONGTERM_COLUMNS = (
    ("SRCID", "int64", None, "Unique source identifier"),
    ("MISSION", "str", None, "XMM, Swift, Chandra, eROSITA or ROSAT"),
    ("OBS_ID", "str", None, "Observation identifier within the mission"),
    ("MJD", "float64", "d", "Epoch (MJD)"),
    ("FLUX", "float32", FLUX_UNIT, "Flux in BAND, or the upper limit when UPPER_LIMIT"),
    ("FLUX_ERR", "float32", FLUX_UNIT, "1-sigma flux error (null for upper limits)"),
    ("UPPER_LIMIT", "bool", None, "FLUX is a 3-sigma upper limit"),
    ("BAND", "str", None, "Energy band, e.g. '0.2-12.0' keV"),
)

#: Flux conversion factors to the XMM 0.2-12 keV band (STONKS, Quintin et al. 2024).
MISSION_FLUX_FACTORS = {"XMM": 0.999, "Chandra": 0.69, "Swift": 0.9, "eROSITA": 0.39, "ROSAT": 0.41}

# Files of an ingested release, relative to its directory.
DETECTIONS_DIR = "detections.parquet"
SOURCES_FILE = "sources.parquet"
CLASSIFICATIONS_FILE = "classifications.parquet"
COUNTERPARTS_FILE = "counterparts.parquet"
LONGTERM_FILE = "longterm.parquet"
RELEASE_META_FILE = "release.json"


def unit_of(name: str) -> str | None:
    """Unit of a catalogue column, or None if dimensionless or unknown."""
    col = COLUMNS_BY_NAME.get(name)
    return col.unit if col else None


def describe(name: str) -> str:
    """One-line description of a catalogue column ('' if it is not first-class)."""
    col = COLUMNS_BY_NAME.get(name)
    return col.description if col else ""


#: UCD1+ of a column, by name pattern (first match wins); exports write them beside the units.
_UCDS: tuple[tuple[str, str], ...] = (
    (r"DETID", "meta.id;meta.main"),
    (r"SRCID|IAUNAME|SRC_NUM", "meta.id"),
    (r"OBS_ID", "meta.id;obs"),
    (r"REVOLUT", "meta.id;obs.sequence"),
    (r"MJD_(START|FIRST)", "time.start;obs"),
    (r"MJD_(STOP|LAST)", "time.end;obs"),
    (r"(SC_)?RA", "pos.eq.ra;meta.main"),
    (r"(SC_)?DEC", "pos.eq.dec;meta.main"),
    (r"(SC_)?POSERR|RADEC_ERR|SYSERRCC", "stat.error;pos.eq"),
    (r"LII", "pos.galactic.lon"),
    (r"BII", "pos.galactic.lat"),
    (r".*_FMIN", "phot.flux;em.X-ray;stat.min"),
    (r".*_FMAX", "phot.flux;em.X-ray;stat.max"),
    (r".*_(FLUX|FMIN|FMAX)_ERR", "stat.error;phot.flux;em.X-ray"),
    (r".*_FLUX", "phot.flux;em.X-ray"),
    (r".*_RATE_ERR", "stat.error;phot.count;em.X-ray"),
    (r".*_RATE", "arith.rate;phot.count;em.X-ray"),
    (r".*_CTS", "phot.count;em.X-ray"),
    (r".*DET_ML|.*EXTENT_ML", "stat.likelihood"),
    (r".*EXTENT_ERR", "stat.error;phys.angSize;src"),
    (r".*EXTENT", "phys.angSize;src"),
    (r".*HR\d_ERR", "stat.error;phot.color;em.X-ray"),
    (r".*HR\d", "phot.color;em.X-ray"),
    (r".*CHI2PROB", "stat.probability"),
    (r".*FVAR_ERR", "stat.error;src.var"),
    (r".*FVAR", "src.var"),
    (r"(SC_)?VAR_FLAG", "meta.code;src.var"),
    (r".*_ONTIME", "time.duration;obs.exposure"),
    (r".*_OFFAX|DIST_NN", "pos.angDistance"),
    (r".*_FILTER", "meta.id;instr.filter"),
    (r".*_SUBMODE", "instr.setup"),
    (r"PL_GAMMA", "spect.index;em.X-ray"),
    (r"PL_GAMMA_ERR_(LO|HI)", "stat.error;spect.index"),
    (r"PL_NH", "phys.columnDensity"),
    (r"PL_NH_ERR_(LO|HI)", "stat.error;phys.columnDensity"),
    (r"PL_FIT_STAT", "stat.fit.chi2"),
    (r"PL_FIT_DOF", "stat.fit.dof"),
    (r".*SUM_FLAG|.*_FLAG|OBS_CLASS|HIGH_BACKGROUND|CONFUSED", "meta.code.qual"),
    (r"TSERIES|SPECTRA", "meta.code"),
    (r"N_DETECTIONS", "meta.number"),
    (r"CLASS|prediction_name", "src.class"),
    (r"CLASS_PROB", "stat.probability;src.class"),
)


def ucd_of(name: str) -> str | None:
    """The UCD1+ of a catalogue column (None when no rule names it)."""
    return next((ucd for pattern, ucd in _UCDS if re.fullmatch(pattern, name)), None)


def text_width(name: str) -> int | None:
    """Fixed width of a text column (the catalogue's nA format; class names), else None."""
    col = COLUMNS_BY_NAME.get(name)
    if col is not None and col.is_string:
        return int(col.fits_format[:-1] or 1)
    if name in ("CLASS", "prediction_name"):
        return max(len(n) for n in CLASS_NAMES)
    return None
