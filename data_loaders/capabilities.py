"""What a release and the engine serving it can do: named capabilities, each absent one with the sentence a page shows.

One mechanism for two sources of "cannot":

* **column groups** of a release (hardness ratios, extent, unique-source values, added-value
  tables...): ingest records them in ``release.json`` (``capabilities``); releases ingested
  before that derive them from the columns present (:func:`of_release`);
* **engine abilities** (what a catalogue engine cannot do, e.g. Dask at scale): the engine
  declares them with :meth:`Capabilities.without`.

A page asks ``caps.has(name)`` before it builds a control or a panel, and shows
``caps.reason(name)`` (one sentence, never a traceback) in its place::

    caps = release_caps | engine_caps            # absences of both
    if not caps.has(capabilities.HARDNESS):
        pane = pn.pane.Markdown(caps.reason(capabilities.HARDNESS))

Engines name their own abilities (any string; keep a module constant for it)::

    caps = of_release(path).without("sort_all_rows", "Sorting every row is not possible on Dask; "
                                    "the table shows the first 1,000 rows in sky order.")

This module imports nothing of Panel or the app, so loaders, engines and views all use it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from data_loaders import schema


@dataclass(frozen=True)
class ColumnGroup:
    """A set of optional columns that together enable one thing a page shows."""

    name: str
    enables: str  # what a page shows with them, as in "No <enables>: this release has no X column."
    detections: tuple[str, ...] = ()  # columns of detections.parquet
    sources: tuple[str, ...] = ()  # columns of sources.parquet
    table: str | None = None  # an added-value file beside the catalogue (schema.*_FILE)
    table_columns: tuple[str, ...] = ()

    def missing(self, detections: set[str], sources: set[str], tables: Mapping[str, set[str]]) -> list[str]:
        """Names of this group's columns (or its table) that are absent; [] if the group is complete."""
        out = [c for c in self.detections if c not in detections]
        out += [c for c in self.sources if c not in sources]
        if self.table is not None:
            if self.table not in tables:
                return [self.table]
            out += [c for c in self.table_columns if c not in tables[self.table]]
        return out

    def reason(self, missing: list[str]) -> str:
        if self.table is not None and missing == [self.table]:
            return f"No {self.enables}: this release has no {self.table.removesuffix('.parquet')} table."
        shown = ", ".join(missing[:6]) + (f" and {len(missing) - 6} more" if len(missing) > 6 else "")
        where = f"its {self.table.removesuffix('.parquet')} table" if self.table else "this release"
        return f"No {self.enables}: {where} has no {shown} column{'s' if len(missing) > 1 else ''}."


def _bands(fmt: str, bands: Iterable[int]) -> tuple[str, ...]:
    return tuple(fmt.format(b) for b in bands)


# Capability names: module constants so that a typo is an AttributeError, not a silent False.
SOURCE_POSITIONS = "source_positions"
SOURCE_NAMES = "source_names"
SOURCE_FLUXES = "source_fluxes"
SOURCE_BAND_FLUXES = "source_band_fluxes"
SOURCE_HARDNESS = "source_hardness"
SOURCE_EXTENT = "source_extent"
SOURCE_VARIABILITY = "source_variability"
SOURCE_EPOCHS = "source_epochs"
BAND_FLUXES = "band_fluxes"
HARDNESS = "hardness"
EXTENT = "extent"
DETECTION_LIKELIHOOD = "detection_likelihood"
VARIABILITY = "variability"
EPOCHS = "epochs"
GALACTIC = "galactic"
PRODUCTS = "products"
CLASSIFICATIONS = "classifications"
COUNTERPARTS = "counterparts"
LONGTERM = "longterm"
OBSERVATIONS = "observations"
OM = "om"
PHOTOZ = "photoz"
SPECTRAL_FITS = "spectral_fits"
BAND_FIT = "band_fit"
SOURCE_BAND_FIT = "source_band_fit"
# Engine abilities (declared absent by an engine with Capabilities.without):
DEEP_PAGES = "deep_pages"  # any page of the table in any sort order (else the first pages only: top-k)

#: The optional column groups of a release, by name.
GROUPS: dict[str, ColumnGroup] = {
    g.name: g
    for g in (
        ColumnGroup(SOURCE_POSITIONS, "unique-source position", sources=("SC_RA", "SC_DEC")),
        ColumnGroup(SOURCE_NAMES, "IAU source names", detections=("IAUNAME",)),
        ColumnGroup(SOURCE_FLUXES, "unique-source flux", sources=("SC_EP_8_FLUX",)),
        ColumnGroup(
            SOURCE_BAND_FLUXES, "unique-source band fluxes", sources=_bands("SC_EP_{}_FLUX", schema.BASIC_BANDS)
        ),
        ColumnGroup(SOURCE_HARDNESS, "unique-source hardness ratios", sources=_bands("SC_HR{}", range(1, 5))),
        ColumnGroup(SOURCE_EXTENT, "unique-source extent", sources=("SC_EXTENT",)),
        ColumnGroup(SOURCE_VARIABILITY, "unique-source variability", sources=("SC_VAR_FLAG", "SC_CHI2PROB")),
        ColumnGroup(SOURCE_EPOCHS, "first and last observation dates", sources=("MJD_FIRST", "MJD_LAST")),
        ColumnGroup(BAND_FLUXES, "narrow-band fluxes", detections=_bands("EP_{}_FLUX", schema.BASIC_BANDS)),
        ColumnGroup(HARDNESS, "hardness-ratio diagram", detections=_bands("EP_HR{}", range(1, 5))),
        ColumnGroup(EXTENT, "extent of detections", detections=("EP_EXTENT",)),
        ColumnGroup(DETECTION_LIKELIHOOD, "detection likelihood", detections=("EP_8_DET_ML",)),
        ColumnGroup(VARIABILITY, "variability within an observation", detections=("VAR_FLAG", "EP_CHI2PROB")),
        ColumnGroup(EPOCHS, "observation dates (flux against time)", detections=("MJD_START",)),
        ColumnGroup(GALACTIC, "galactic coordinates of detections", detections=("LII", "BII")),
        ColumnGroup(BAND_FIT, "five-band spectral fit of detections", detections=schema.BANDFIT_NAMES),
        ColumnGroup(SOURCE_BAND_FIT, "five-band spectral fit of sources", sources=schema.BANDFIT_NAMES),
        ColumnGroup(PRODUCTS, "source products (lightcurves, spectra)", detections=("SRC_NUM", "TSERIES", "SPECTRA")),
        ColumnGroup(
            CLASSIFICATIONS,
            "classification",
            table=schema.CLASSIFICATIONS_FILE,
            table_columns=("SRCID", *(f"PbaC{i}" for i in range(len(schema.CLASS_NAMES))), "prediction"),
        ),
        ColumnGroup(
            COUNTERPARTS,
            "counterparts list",
            table=schema.COUNTERPARTS_FILE,
            table_columns=("SRCID", "CATALOGUE", "CP_RA", "CP_DEC", "SEPARATION"),
        ),
        ColumnGroup(
            LONGTERM,
            "long-term lightcurve",
            table=schema.LONGTERM_FILE,
            table_columns=("SRCID", "MISSION", "MJD", "FLUX", "FLUX_ERR", "UPPER_LIMIT"),
        ),
        ColumnGroup(
            OM,
            "optical/UV monitor (OM) magnitudes",
            table="om.parquet",
            table_columns=("SRCID", "OM_SEP"),
        ),
        ColumnGroup(
            PHOTOZ,
            "photometric redshifts and luminosities",
            table="photoz.parquet",
            table_columns=("SRCID", "PHOTO_Z", "LOG_LX"),
        ),
        ColumnGroup(
            SPECTRAL_FITS,
            "published spectral fits",
            table="spectral_fits.parquet",
            table_columns=("SRCID", "MODEL", "STAT"),
        ),
        ColumnGroup(
            OBSERVATIONS,
            "sky coverage",
            table="observations.parquet",
            table_columns=("OBS_ID", "RA_PNT", "DEC_PNT"),
        ),
    )
}


#: Description of the stand-in IAUNAME ingest writes when a file has none ("SRCID <n>"): not IAU names.
NO_IAU_NAME = "Not an IAU name: the file has no IAUNAME, so sources are named 'SRCID <n>'"


class Capabilities:
    """Which named capabilities are absent, each with the sentence that explains it.

    Everything not listed as absent is available, so an engine or a release that knows
    nothing of a capability does not switch it off. Immutable: :meth:`without` and ``|``
    return new objects.
    """

    __slots__ = ("_absent",)

    def __init__(self, absent: Mapping[str, str] | None = None):
        self._absent: dict[str, str] = dict(absent or {})

    def has(self, name: str) -> bool:
        """True unless ``name`` was declared absent."""
        return name not in self._absent

    def reason(self, name: str) -> str:
        """The sentence a page shows in place of ``name`` ('' when it is available)."""
        return self._absent.get(name, "")

    def first_reason(self, *names: str) -> str:
        """The reason of the first absent name among ``names`` ('' when all are available)."""
        return next((self._absent[n] for n in names if n in self._absent), "")

    def without(self, name: str, reason: str) -> Capabilities:
        """A copy with ``name`` declared absent for ``reason`` (one sentence, for people)."""
        return Capabilities({**self._absent, name: reason})

    def __or__(self, other: Capabilities) -> Capabilities:
        """Absences of both (e.g. a release's column groups and an engine's limits)."""
        return Capabilities({**self._absent, **other._absent})

    @property
    def absent(self) -> dict[str, str]:
        return dict(self._absent)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Capabilities) and self._absent == other._absent

    def __hash__(self) -> int:
        return hash(frozenset(self._absent.items()))

    def __repr__(self) -> str:
        return f"Capabilities(absent={sorted(self._absent)})"

    def to_meta(self) -> dict:
        """The ``capabilities`` entry of ``release.json``: present groups and absent ones with reasons."""
        return {"present": sorted(n for n in GROUPS if self.has(n)), "absent": dict(sorted(self._absent.items()))}

    @classmethod
    def from_meta(cls, meta: Mapping) -> Capabilities:
        return cls(meta.get("absent", {}))


def from_columns(
    detections: Iterable[str], sources: Iterable[str], tables: Mapping[str, Iterable[str]] | None = None
) -> Capabilities:
    """The column-group capabilities of a release with these columns (``tables``: file name -> columns)."""
    det, src = set(detections), set(sources)
    tabs = {k: set(v) for k, v in (tables or {}).items()}
    absent = {}
    for group in GROUPS.values():
        missing = group.missing(det, src, tabs)
        if missing:
            absent[group.name] = group.reason(missing)
    return Capabilities(absent)


def scan_release(path: Path) -> Capabilities:
    """Derive the column-group capabilities from the files of a release directory (Parquet schemas only)."""
    import pyarrow.parquet as pq

    path = Path(path)
    det_schema = pq.read_schema(path / schema.DETECTIONS_DIR / "part-0.parquet")
    det = det_schema.names
    if "IAUNAME" in det and (det_schema.field("IAUNAME").metadata or {}).get(b"description") == NO_IAU_NAME.encode():
        det = [c for c in det if c != "IAUNAME"]  # a stand-in, not IAU names
    src = pq.read_schema(path / schema.SOURCES_FILE).names if (path / schema.SOURCES_FILE).exists() else []
    tables = {
        g.table: pq.read_schema(path / g.table).names
        for g in GROUPS.values()
        if g.table is not None and (path / g.table).exists()
    }
    return from_columns(det, src, tables)


def of_release(path: Path, meta: Mapping | None = None) -> Capabilities:
    """The column-group capabilities of an ingested release.

    Read from ``release.json`` when ingest recorded them; a release ingested by an earlier
    version (no ``capabilities`` entry) gets them derived from its Parquet schemas, so it keeps
    working without a new ingest. Tables attached after ingest (observations) are checked on disk.
    """
    path = Path(path)
    if meta is None:
        meta = json.loads((path / schema.RELEASE_META_FILE).read_text())
    recorded = meta.get("capabilities")
    if recorded is None:
        return scan_release(path)
    caps = Capabilities.from_meta(recorded)
    present = set(recorded.get("present", ()))
    for g in GROUPS.values():  # a table attached later (attach_observations, attach_om) counts once it is there
        if g.table is None:
            continue
        if not caps.has(g.name) and (path / g.table).exists():
            caps = Capabilities({k: v for k, v in caps.absent.items() if k != g.name}) | _table_caps(path, g)
        elif g.name not in present and caps.has(g.name) and not (path / g.table).exists():
            caps = caps.without(g.name, g.reason([g.table]))  # a group newer than the release's record
    return caps


def _table_caps(path: Path, group: ColumnGroup) -> Capabilities:
    import pyarrow.parquet as pq

    assert group.table is not None
    missing = group.missing(set(), set(), {group.table: set(pq.read_schema(path / group.table).names)})
    return Capabilities({group.name: group.reason(missing)} if missing else {})


__all__ = ["GROUPS", "Capabilities", "ColumnGroup", "from_columns", "of_release", "scan_release"]
