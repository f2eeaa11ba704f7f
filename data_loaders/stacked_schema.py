"""Column names, FITS types and units of the stacked catalogues (4XMM-DRns, 5XMM-like files).

Layout (Traulsen et al. 2019, 2020; SSC stacked-catalogue pages; HEASARC ``xmmstack``):
one **summary row** per source (the combined fit over the stack; ``N_OBS`` and
``N_CONTRIB`` set, ``OBS_ID`` blank) followed by one **observation row** per contributing
observation (``OBS_ID`` set, ``N_OBS``/``N_CONTRIB`` null). Stack-level values
(``SRCID``, ``IAUNAME``, ``RA``/``DEC`` of the combined fit, ``STACK_DET_ML``,
``VAR_PROB``, ``FRATIO``, extent, hardness ratios) are repeated in every row of the source.
A file without summary rows (only observation rows, stack values repeated) is read too.

Names follow the real catalogues where they are known (``SRCID``, ``IAUNAME`` "4XMMs J…",
``OBS_ID``, ``N_OBS``, ``N_CONTRIB``, ``RA``, ``DEC``, ``RADEC_ERR``, ``POSERR``, ``LII``,
``BII``, ``EP_FLUX``/``EP_RATE`` and ``EP_n_FLUX`` per observation, ``STACK_DET_ML``,
``EP_DET_ML``, ``VAR_PROB``, ``FRATIO``, ``EXTENT``, ``EP_HRi``, ``SUM_FLAG``). Our choices,
where the public pages do not settle a name:

* ``UPPER_LIMIT`` (L): the observation row is an upper limit (5XMM: the source was in the
  field of view but not detected); its flux columns are null and ``EP_FLUX_UL`` holds the
  3-sigma 0.2-12 keV upper limit. Files without the column have no upper-limit rows.
* ``EP_FLUX_UL`` (E, erg/cm2/s): that upper limit (null in measurement rows).
* ``PN_OFFAX`` (E, arcmin): off-axis angle in the observation (null in summary rows).

Ingest maps these onto the per-detection names the Explore page uses
(:data:`DETECTION_ALIASES`, :data:`SOURCE_MAPPING`).
"""

from __future__ import annotations

from data_loaders.schema import BASIC_BANDS, FLUX_UNIT, RATE_UNIT, Column

#: TNULL of the integer columns that are null in one kind of row.
INT_NULL = -1
#: Upper limits are 3-sigma (as the long-term table and the STONKS criterion expect).
UL_SIGMA = 3.0


def _build() -> list[Column]:
    c = [
        Column("SRCID", "K", None, "Unique stacked-source identifier: 3, lowest OBS_ID of the stack, 5-digit number"),
        Column("IAUNAME", "22A", None, "IAU name of the source, 4XMMs Jhhmmss.s+ddmmss"),
        Column("OBS_ID", "10A", None, "Observation of this row (blank in the summary row)"),
        Column("N_OBS", "J", None, "Observations in the stack (summary row only)", null=INT_NULL),
        Column(
            "N_CONTRIB",
            "J",
            None,
            "Observations with the source in the field of view (summary row only)",
            null=INT_NULL,
        ),
        Column("RA", "D", "deg", "Right ascension of the combined fit (ICRS)"),
        Column("DEC", "D", "deg", "Declination of the combined fit (ICRS)"),
        Column("RADEC_ERR", "E", "arcsec", "Statistical 1-sigma position error of the combined fit"),
        Column("POSERR", "E", "arcsec", "Total 1-sigma position error (statistical and systematic)"),
        Column("LII", "D", "deg", "Galactic longitude"),
        Column("BII", "D", "deg", "Galactic latitude"),
        Column("STACK_DET_ML", "E", None, "Detection likelihood of the combined fit over the stack"),
        Column("EP_DET_ML", "E", None, "EPIC detection likelihood in this observation (summary: whole stack)"),
        Column("EP_FLUX", "E", FLUX_UNIT, "EPIC flux 0.2-12 keV (null for upper limits)"),
        Column("EP_FLUX_ERR", "E", FLUX_UNIT, "Error of EP_FLUX"),
        Column("EP_RATE", "E", RATE_UNIT, "EPIC count rate 0.2-12 keV (null for upper limits)"),
        Column("EP_RATE_ERR", "E", RATE_UNIT, "Error of EP_RATE"),
    ]
    for b in BASIC_BANDS:
        c.append(Column(f"EP_{b}_FLUX", "E", FLUX_UNIT, f"EPIC flux in band {b} (null for upper limits)"))
        c.append(Column(f"EP_{b}_FLUX_ERR", "E", FLUX_UNIT, f"Error of EP_{b}_FLUX"))
    for i in range(1, 5):
        c.append(Column(f"EP_HR{i}", "E", None, f"Hardness ratio {i} of the combined fit"))
        c.append(Column(f"EP_HR{i}_ERR", "E", None, f"Error of EP_HR{i}"))
    c += [
        Column("EXTENT", "E", "arcsec", "Extent radius of the combined fit; 0 for point-like"),
        Column("VAR_PROB", "E", None, "Probability that the flux is constant between observations"),
        Column("FRATIO", "E", None, "Ratio of the highest to the lowest EP_FLUX between observations"),
        Column("MJD_START", "D", "d", "Start of the observation (MJD; null in the summary row)"),
        Column("MJD_STOP", "D", "d", "End of the observation (MJD; null in the summary row)"),
        Column("PN_ONTIME", "E", "s", "pn net exposure at the source position (summary: sum)"),
        Column("M1_ONTIME", "E", "s", "MOS1 net exposure at the source position (summary: sum)"),
        Column("M2_ONTIME", "E", "s", "MOS2 net exposure at the source position (summary: sum)"),
        Column("PN_OFFAX", "E", "arcmin", "Off-axis angle in the observation (null in the summary row)"),
        Column("SUM_FLAG", "I", None, "Summary quality flag 0-4 (clean: SUM_FLAG < 3)"),
        Column("UPPER_LIMIT", "L", None, "This observation row is an upper limit, not a detection"),
        Column("EP_FLUX_UL", "E", FLUX_UNIT, "3-sigma 0.2-12 keV flux upper limit (upper-limit rows only)"),
    ]
    return c


#: Columns of the stacked file, in file order.
STACKED_COLUMNS: tuple[Column, ...] = tuple(_build())
STACKED_BY_NAME = {col.name: col for col in STACKED_COLUMNS}

#: Without these a table is not a stacked catalogue.
STACKED_REQUIRED = ("SRCID", "OBS_ID", "N_CONTRIB", "RA", "DEC", "EP_FLUX", "EP_FLUX_ERR")

#: Observation-row column -> per-detection (4XMM) name added at ingest, so the Explore page,
#: the exports and the Source view find the names they know. The stacked name is kept too.
DETECTION_ALIASES = {
    "EP_FLUX": "EP_8_FLUX",
    "EP_FLUX_ERR": "EP_8_FLUX_ERR",
    "EP_RATE": "EP_8_RATE",
    "EP_RATE_ERR": "EP_8_RATE_ERR",
    "EP_DET_ML": "EP_8_DET_ML",
    "EXTENT": "EP_EXTENT",
}

#: Derived unique-source column <- how it is computed (documented mapping of ``sources.parquet``).
SOURCE_MAPPING = {
    "SRCID": "SRCID",
    "IAUNAME": "IAUNAME (4XMMs J…)",
    "SC_RA": "RA of the summary row (combined fit)",
    "SC_DEC": "DEC of the summary row (combined fit)",
    "SC_POSERR": "POSERR of the summary row",
    "SC_DET_ML": "STACK_DET_ML",
    "SC_EP_n_FLUX(_ERR)": "EP_n_FLUX of the summary row (n = 1-5; 8 = EP_FLUX); without summary rows the "
    "error-weighted mean of the detected observation rows",
    "SC_EP_8_FMIN / FMAX (_ERR)": "lowest / highest EP_FLUX among the detected observation rows",
    "SC_HRi(_ERR)": "EP_HRi of the combined fit",
    "SC_EXTENT": "EXTENT",
    "SC_SUM_FLAG": "highest SUM_FLAG of the source's rows",
    "SC_VAR_FLAG": "VAR_PROB <= 1e-5 (variable BETWEEN observations; 4XMM's flag is within one)",
    "SC_CHI2PROB": "VAR_PROB (between observations)",
    "N_DETECTIONS": "number of observation rows that are not upper limits",
    "N_UPPER_LIMITS": "number of upper-limit observation rows",
    "N_OBS, N_CONTRIB": "from the summary row (N_CONTRIB: number of observation rows without one)",
    "VAR_PROB, FRATIO, STACK_DET_ML": "copied",
    "MJD_FIRST / MJD_LAST": "first / last MJD_START among the detected observation rows",
    "LII, BII": "from SC_RA/SC_DEC",
}

#: DETID of an observation row (the stacked file has none): 4e15 + OBS_ID * 1e5 + rank of the
#: SRCID within that observation. Deterministic from the file's content, unique per row.
DETID_BASE = 4 * 10**15


def unit_of(name: str) -> str | None:
    """Unit of a stacked-catalogue column, or None."""
    col = STACKED_BY_NAME.get(name)
    return col.unit if col else None


def describe(name: str) -> str:
    """Description of a stacked-catalogue column ('' if unknown)."""
    col = STACKED_BY_NAME.get(name)
    return col.description if col else ""
