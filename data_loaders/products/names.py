"""Archive file names of per-detection products: build, parse, and list them.

A product is named ``P<OBS_ID:10><INST><EXPID><TYPE:6><ORDER:1><SRCNUM:3 hex>.FTZ`` and
lives in ``<root>/<OBS_ID>/pps/`` (see ``shared/design/SCHEMA.md``), for example
``P0886010101PNX000SRCTSR800C.FTZ`` is the pn total-band (``8``) lightcurve of source 12,
merged over exposures (``X000``).

Archives as people keep them differ: names in any case, ``.FTZ``, ``.FIT``, ``.fits`` or
``.fits.gz``, and the files in ``<OBS_ID>/pps``, ``<OBS_ID>/PPS``, ``<OBS_ID>`` or one flat
folder. Names are matched case-blind and every one of those suffixes is accepted; names
this package writes are always the canonical upper-case ``.FTZ``. RGS (``R1``, ``R2``,
``RG``) and OM product names are recognised, so they can be refused by name, not mistaken.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from data_loaders.process_cache import ProcessCache
from data_loaders.products.errors import ProductError

#: Instruments in product names: the three EPIC cameras and EPIC combined.
INSTRUMENTS = ("PN", "M1", "M2", "EP")
#: Other XMM instruments whose pipeline products share the naming scheme; recognised to be refused.
OTHER_INSTRUMENTS = {"R1": "RGS", "R2": "RGS", "RG": "RGS", "OM": "OM"}
#: Product types this package reads, with what they are.
PRODUCT_TYPES = {
    "SRCTSR": "lightcurve",
    "SRSPEC": "spectrum",
    "BGSPEC": "background",
    "SRCARF": "arf",
}
#: The INSTRUME header value of each camera.
INSTRUME = {"PN": "EPN", "M1": "EMOS1", "M2": "EMOS2"}
#: Band (order character) of the total-band 0.2-12 keV lightcurve; spectra use ``0``.
TOTAL_BAND_ORDER = "8"
SPECTRUM_ORDER = "0"
SUFFIX = ".FTZ"
#: Suffixes a product may have in an archive (compared upper-cased): gzip FITS, plain FITS, gzipped FITS.
SUFFIXES = (".FTZ", ".FIT", ".FITS", ".FTS", ".FIT.GZ", ".FITS.GZ", ".FTS.GZ")
MAX_SRC_NUM = 0xFFF

_SUFFIX_PATTERN = "|".join(re.escape(s) for s in SUFFIXES)
_NAME = re.compile(
    r"^P(?P<obs_id>\d{10})(?P<instrument>PN|M1|M2|EP|R1|R2|RG|OM)(?P<expid>[SUX]\d{3})"
    r"(?P<ptype>[A-Z0-9_]{6})(?P<order>[0-9A-Z])(?P<src_num>[0-9A-F]{3})"
    rf"(?P<suffix>{_SUFFIX_PATTERN})$"
)


def _match(filename: str) -> re.Match | None:
    """The name pattern matched case-blind (archives hold ``.FTZ``, ``.ftz``, ``.fits.gz``...)."""
    return _NAME.match(filename.upper())


@dataclass(frozen=True, order=True)
class ProductName:
    """The parts of one product file name.

    ``expid`` is ``S``/``U`` (scheduled/unscheduled exposure) or ``X`` (merged) and three
    digits; ``order`` is the energy band of a lightcurve (``8`` = 0.2-12 keV) or ``0``;
    ``src_num`` is the catalogue's decimal SRC_NUM. ``found_as`` is the file name as the
    archive spells it (e.g. ``p0886010101pnx000srctsr800c.fits.gz``) when it was parsed from
    one; it takes no part in comparisons, so one product found under two spellings is one name.
    """

    obs_id: str
    instrument: str
    expid: str
    ptype: str
    order: str
    src_num: int
    found_as: str = field(default="", compare=False)

    @property
    def filename(self) -> str:
        """The canonical name (upper case, ``.FTZ``), as this package writes it."""
        return product_name(self.obs_id, self.instrument, self.expid, self.ptype, self.src_num, self.order)

    @property
    def archive_name(self) -> str:
        """The name as found in the archive, else the canonical one."""
        return self.found_as or self.filename

    @property
    def family(self) -> str:
        """``EPIC``, ``RGS`` or ``OM``."""
        return OTHER_INSTRUMENTS.get(self.instrument, "EPIC")

    @property
    def kind(self) -> str | None:
        """``lightcurve``, ``spectrum``, ``background``, ``arf``, or None for other types."""
        return PRODUCT_TYPES.get(self.ptype)

    def __str__(self) -> str:
        return self.filename


def _check_obs_id(obs_id: str) -> str:
    obs_id = str(obs_id)
    if not (len(obs_id) == 10 and obs_id.isdigit()):
        raise ValueError(f"OBS_ID must be 10 digits, got {obs_id!r}")
    return obs_id


def product_name(obs_id: str, instrument: str, expid: str, ptype: str, src_num: int, order: str = "0") -> str:
    """The archive file name of one product, e.g. ``P0886010101PNS003SRSPEC000C.FTZ``.

    ``src_num`` is the catalogue's decimal SRC_NUM (1..4095), written as 3 upper-case hex digits.
    """
    obs_id = _check_obs_id(obs_id)
    if instrument not in INSTRUMENTS and instrument not in OTHER_INSTRUMENTS:
        known = ", ".join((*INSTRUMENTS, *OTHER_INSTRUMENTS))
        raise ValueError(f"instrument must be one of {known}, got {instrument!r}")
    if not re.fullmatch(r"[SUX]\d{3}", expid):
        raise ValueError(f"exposure id must look like S003, U002 or X000, got {expid!r}")
    if not re.fullmatch(r"[A-Z0-9_]{6}", ptype):
        raise ValueError(f"product type must be 6 characters like SRCTSR, got {ptype!r}")
    if not re.fullmatch(r"[0-9A-Z]", order):
        raise ValueError(f"order must be one character like 8 or 0, got {order!r}")
    src_num = int(src_num)
    if not 0 <= src_num <= MAX_SRC_NUM:
        raise ValueError(f"SRC_NUM must be in 0..{MAX_SRC_NUM} to fit 3 hex digits, got {src_num}")
    return f"P{obs_id}{instrument}{expid}{ptype}{order}{src_num:03X}{SUFFIX}"


def parse_product_name(name: str | Path) -> ProductName:
    """Split a product file name (or path) into its parts; foreign names raise ProductError.

    Case does not matter, and any of ``SUFFIXES`` is accepted.
    """
    base = Path(name).name
    match = _match(base)
    if match:
        parts = match.groupdict()
        return ProductName(
            obs_id=parts["obs_id"],
            instrument=parts["instrument"],
            expid=parts["expid"],
            ptype=parts["ptype"],
            order=parts["order"],
            src_num=int(parts["src_num"], 16),
            found_as=base,
        )
    raise ProductError(f"{base!r} is not an XMM product name: {_why_not(base)}", path=name)


def _why_not(base: str) -> str:
    """The first part of a foreign name that breaks the pattern, said in words."""
    expected = "P<OBS_ID:10 digits><PN|M1|M2|EP><S|U|X + 3 digits><TYPE:6><ORDER:1><SRCNUM:3 hex>"
    upper = base.upper()
    suffix = next((s for s in sorted(SUFFIXES, key=len, reverse=True) if upper.endswith(s)), None)
    if suffix is None:
        return "it should end in .FTZ, .FIT, .fits or .fits.gz (FITS, possibly gzip-compressed)"
    stem = upper[: -len(suffix)]
    checks = [
        (1, r"P", "it should start with 'P'"),
        (11, r"P\d{10}", "characters 2-11 should be the 10-digit OBS_ID"),
        (
            13,
            r"P\d{10}(PN|M1|M2|EP|R1|R2|RG|OM)",
            "the instrument after the OBS_ID should be PN, M1, M2 or EP (EPIC; R1, R2, RG and OM are known too)",
        ),
        (17, r"P\d{10}..[SUX]\d{3}", "the exposure id should look like S003, U002 or X000"),
        (23, r"P\d{10}.{6}[A-Z0-9_]{6}", "the product type should be 6 characters like SRCTSR"),
        (24, r"P\d{10}.{12}[0-9A-Z]", "the order character should be a digit or letter"),
        (27, r"P\d{10}.{13}[0-9A-F]{3}", "the source number should be 3 hex digits"),
    ]
    for length, pattern, reason in checks:
        if len(stem) < length or not re.match(pattern, stem):
            return reason
    if len(stem) != 27:
        return f"it has {len(stem)} characters before {suffix.lower()}, expected 27 ({expected})"
    return f"expected {expected}{SUFFIX}"


def product_dir(root: str | Path, obs_id: str) -> Path:
    """The directory this package writes one observation's products into: ``<root>/<OBS_ID>/pps``."""
    return Path(root) / _check_obs_id(obs_id) / "pps"


def product_dirs(root: str | Path, obs_id: str) -> list[Path]:
    """Where one observation's products may be, in the order they are looked at.

    ``<root>/<OBS_ID>/pps`` (the archive's layout), ``<root>/<OBS_ID>/PPS``, ``<root>/<OBS_ID>``
    (a flat folder per observation) and ``<root>`` itself (one flat folder for everything).
    """
    obs = Path(root) / _check_obs_id(obs_id)
    return [obs / "pps", obs / "PPS", obs, Path(root)]


def _preference(path: Path) -> tuple[int, str]:
    """Of two spellings of one product, the canonical ``.FTZ`` first, then by suffix order."""
    upper = path.name.upper()
    rank = next((i for i, s in enumerate(SUFFIXES) if upper.endswith(s)), len(SUFFIXES))
    return (rank, path.name)


def list_products(directory: str | Path, obs_id: str, src_num: int) -> list[tuple[Path, ProductName]]:
    """Products of one detection (OBS_ID, SRC_NUM) found in ``directory``, sorted by name.

    Names match in any case and with any of ``SUFFIXES``; a product present under two
    spellings (``.FTZ`` and ``.fits``) is listed once, the ``.FTZ`` preferred. Files whose
    names are not product names, or belong to another detection, are skipped; a missing
    directory gives an empty list.
    """
    obs_id = _check_obs_id(obs_id)
    directory = Path(directory)
    candidates = _candidates(directory, obs_id)
    found: dict[ProductName, Path] = {}
    for filename in candidates:
        if not _match(filename):
            continue
        name = parse_product_name(filename)
        if name.src_num != int(src_num):
            continue
        path = directory / filename
        if not path.is_file():
            continue
        if name not in found or _preference(path) < _preference(found[name]):
            found[name] = path
    return sorted(((path, name) for name, path in found.items()), key=lambda item: item[1].filename)


#: A folder with at least this many entries (a whole archive kept flat) is indexed by OBS_ID,
#: and the index is reused while the folder's modification time stays the same.
BIG_FOLDER = 5000
#: OBS_ID -> product names, per big folder and its mtime.
_INDEXES: ProcessCache[dict[str, tuple[str, ...]]] = ProcessCache("product folder indexes", max_items=4)


def _candidates(directory: Path, obs_id: str) -> tuple[str, ...] | list[str]:
    """Names in ``directory`` that may be products of ``obs_id`` (``P<OBS_ID>...``), any case.

    A big flat folder is listed once per change of its mtime (adding or removing a file
    changes it), not on every lookup: 50k files took ~0.2 s to scan.
    """
    try:
        mtime = directory.stat().st_mtime_ns
    except OSError:
        return []
    key = (str(directory), mtime)
    index = _INDEXES.peek(key)
    if index is not None:
        return index.get(obs_id, ())
    try:
        names = os.listdir(directory)
    except OSError:  # not a directory, or gone
        return []
    if len(names) < BIG_FOLDER:
        return [n for n in names if n[1:11] == obs_id]

    def by_obs_id() -> dict[str, tuple[str, ...]]:
        index: dict[str, list[str]] = {}
        for n in names:
            if n[:1] in "Pp":
                index.setdefault(n[1:11], []).append(n)
        return {obs: tuple(found) for obs, found in index.items()}

    return _INDEXES.get(key, by_obs_id, paths=[directory]).get(obs_id, ())


def names_in(filenames: list[str], obs_id: str, src_num: int) -> list[ProductName]:
    """The product names of one detection among arbitrary file names (e.g. an HTTP listing).

    Each name keeps the archive's spelling in ``found_as`` (the ``.FTZ`` one when there are two).
    """
    out: dict[ProductName, ProductName] = {}
    for filename in filenames:
        if _match(filename):
            name = parse_product_name(filename)
            if name.obs_id == obs_id and name.src_num == int(src_num):
                old = out.get(name)
                if old is None or _preference(Path(filename)) < _preference(Path(old.found_as)):
                    out[name] = name
    return sorted(out.values(), key=lambda n: n.filename)
