"""The go-to box: turn what a user types into a position, an identifier or a name pattern.

:func:`parse_target` understands

* decimal degrees ``10.684 41.269`` / ``10.684, +41.269``;
* sexagesimal ``00:42:44.3 +41:16:09``, ``00h42m44.3s +41d16m09s``, ``00 42 44.3 +41 16 09``;
* galactic ``l=121.17 b=-21.57`` or ``gal 121.17 -21.57`` (converted to ICRS);
* a famous field from a small offline dictionary (``M31``, ``Lockman Hole``, ...);
* any of the above followed by a radius with a unit: ``r=5arcmin``, ``, 2'``, ``30"``,
  ``0.5deg``;
* identifiers: ``srcid 2...``/``detid 1...`` (a bare 15-digit number starting with 2 is a
  source, with 1 a detection, as in 4XMM), a 10-digit ``OBS_ID``, and IAU names or their
  beginnings (``4XMM J0123``, ``J012345.6+41``).

Parsing and frame conversion go through astropy (``SkyCoord``, ``Angle``, units).
No network name resolver is used: object names come only from :data:`FAMOUS_FIELDS`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import astropy.units as u
from astropy.coordinates import Angle, SkyCoord

__all__ = [
    "FAMOUS_FIELDS",
    "DetectionId",
    "NamePattern",
    "ObsId",
    "Position",
    "SearchError",
    "SourceId",
    "Target",
    "parse_radius",
    "parse_target",
    "resolve_name",
]


class SearchError(ValueError):
    """The text could not be understood; the message is one sentence for the user."""


ACCEPTED_FORMS = (
    "a position ('10.684 41.269', '00:42:44.3 +41:16:09', 'l=121.17 b=-21.57'), "
    "a known field name ('M31'), an optional radius ('r=5arcmin', '30\"'), "
    "'srcid N', 'detid N', a 10-digit OBS_ID or an IAU name ('4XMM J0042')"
)


@dataclass(frozen=True)
class Position:
    """A sky position in ICRS degrees; ``frame_in`` says how the user typed it."""

    ra: float
    dec: float
    frame_in: str = "icrs"
    radius_deg: float | None = None
    name: str | None = None

    @property
    def skycoord(self) -> SkyCoord:
        return SkyCoord(self.ra * u.deg, self.dec * u.deg, frame="icrs")


@dataclass(frozen=True)
class SourceId:
    """A unique-source identifier (SRCID)."""

    srcid: int


@dataclass(frozen=True)
class DetectionId:
    """A detection identifier (DETID)."""

    detid: int


@dataclass(frozen=True)
class NamePattern:
    """The beginning of an IAU name, normalised to ``4XMM Jhhmmss.s+ddmmss`` spelling."""

    prefix: str

    def matches(self, name: str) -> bool:
        return _squash(name).startswith(_squash(self.prefix))


@dataclass(frozen=True)
class ObsId:
    """An XMM-Newton observation identifier (10 digits, kept as text)."""

    obs_id: str


Target = Position | SourceId | DetectionId | NamePattern | ObsId

#: Famous fields, ICRS degrees (approximate centres; offline, no name resolver is called).
FAMOUS_FIELDS: dict[str, tuple[float, float]] = {
    "M31": (10.6847, 41.2690),
    "M33": (23.4621, 30.6599),
    "M87": (187.7059, 12.3911),
    "M81": (148.8882, 69.0653),
    "M82": (148.9685, 69.6797),
    "M51": (202.4696, 47.1952),
    "M101": (210.8023, 54.3489),
    "LMC": (80.8942, -69.7561),
    "SMC": (13.1867, -72.8286),
    "CDF-S": (53.1221, -27.8050),
    "CDF-N": (189.2283, 62.2161),
    "Lockman Hole": (161.2500, 57.9833),
    "COSMOS": (150.1191, 2.2058),
    "XMM-LSS": (35.5000, -4.5000),
    "Galactic Centre": (266.4168, -29.0078),
    "Orion": (83.8221, -5.3911),
    "Pleiades": (56.7500, 24.1167),
    "Crab": (83.6331, 22.0145),
    "Cas A": (350.8500, 58.8150),
    "Cyg X-1": (299.5903, 35.2016),
    "Sco X-1": (244.9795, -15.6402),
    "47 Tuc": (6.0224, -72.0815),
    "Omega Cen": (201.6970, -47.4795),
    "Coma Cluster": (194.9529, 27.9806),
    "Perseus Cluster": (49.9507, 41.5117),
    "Virgo Cluster": (187.7059, 12.3911),
    "Vela": (128.8361, -45.1764),
    "Eta Car": (161.2648, -59.6844),
    "Sgr A*": (266.4168, -29.0078),
}
_ALIASES = {
    "andromeda": "M31",
    "triangulum": "M33",
    "virgo a": "M87",
    "large magellanic cloud": "LMC",
    "small magellanic cloud": "SMC",
    "chandra deep field south": "CDF-S",
    "chandra deep field north": "CDF-N",
    "galactic center": "Galactic Centre",
    "gc": "Galactic Centre",
    "orion nebula": "Orion",
    "m42": "Orion",
    "m45": "Pleiades",
    "crab nebula": "Crab",
    "m1": "Crab",
    "cassiopeia a": "Cas A",
    "47 tucanae": "47 Tuc",
    "ngc 104": "47 Tuc",
    "omega centauri": "Omega Cen",
    "coma": "Coma Cluster",
    "perseus": "Perseus Cluster",
    "eta carinae": "Eta Car",
    "lockman": "Lockman Hole",
}


def _squash(text: str) -> str:
    return re.sub(r"[\s_\-]+", "", text).lower()


_FIELD_KEYS = {_squash(k): k for k in FAMOUS_FIELDS} | {_squash(k): v for k, v in _ALIASES.items()}


def resolve_name(text: str) -> tuple[str, float, float] | None:
    """(canonical name, ra, dec) of a famous field, or None; case/space/hyphen tolerant."""
    key = _FIELD_KEYS.get(_squash(text))
    if key is None and _squash(text).startswith("messier"):
        key = _FIELD_KEYS.get("m" + _squash(text)[7:])
    if key is None:
        return None
    ra, dec = FAMOUS_FIELDS[key]
    return key, ra, dec


_RADIUS_UNITS = {
    "deg": u.deg,
    "degree": u.deg,
    "degrees": u.deg,
    "°": u.deg,
    "d": u.deg,
    "arcmin": u.arcmin,
    "amin": u.arcmin,
    "'": u.arcmin,
    "′": u.arcmin,
    "m": u.arcmin,
    "arcsec": u.arcsec,
    "asec": u.arcsec,
    '"': u.arcsec,
    "″": u.arcsec,
    "''": u.arcsec,
    "s": u.arcsec,
}
_NUM = r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?"
_UNIT_ALT = "|".join(re.escape(k) for k in sorted(_RADIUS_UNITS, key=len, reverse=True))
_RADIUS_EXPLICIT = re.compile(rf"(?:^|[\s,;]+)r(?:adius)?\s*[=:]?\s*(?P<num>{_NUM})\s*(?P<unit>[^\s,;]*)\s*$", re.I)
# A bare trailing radius needs a radius-only unit (not d/m/s, which end sexagesimal values).
_RADIUS_TRAIL = re.compile(
    rf"(?:^|[\s,;]+)(?P<num>{_NUM})\s*(?P<unit>deg|degrees?|°|arcmin|amin|′|'|arcsec|asec|″|\"|'')"
    r"\s*$",
    re.I,
)


def parse_radius(text: str) -> float:
    """A radius such as ``5arcmin``, ``2'``, ``30"``, ``0.5deg`` in degrees (unit required)."""
    m = re.fullmatch(rf"\s*(?P<num>{_NUM})\s*(?P<unit>\S*)\s*", text or "")
    if not m:
        raise SearchError(f"'{text}' is not a radius; write a number with a unit, e.g. 5arcmin.")
    return _radius(m["num"], m["unit"], text)


def _radius(num: str, unit: str, text: str) -> float:
    if not unit:
        raise SearchError(f"The radius '{text.strip()}' has no unit; write e.g. 5arcmin, 2' or 30\".")
    unit_obj = _RADIUS_UNITS.get(unit.lower()) or _RADIUS_UNITS.get(unit)
    if unit_obj is None:
        try:
            unit_obj = u.Unit(unit)
            Angle(1, unit_obj)
        except (ValueError, TypeError, u.UnitsError):
            raise SearchError(
                f"'{unit}' is not an angle unit for the radius; use deg, arcmin (') or arcsec (\")."
            ) from None
    value = float(num)
    if value <= 0:
        raise SearchError(f"The radius '{text.strip()}' must be positive.")
    deg = float((value * unit_obj).to_value(u.deg))
    if deg > 180:
        raise SearchError(f"The radius '{text.strip()}' is larger than 180°.")
    return deg


def _split_radius(text: str) -> tuple[str, float | None]:
    for pattern in (_RADIUS_EXPLICIT, _RADIUS_TRAIL):
        m = pattern.search(text)
        if m:
            return text[: m.start()].strip(" ,;"), _radius(m["num"], m["unit"], m.group(0))
    return text, None


_DECIMAL_PAIR = re.compile(rf"^\s*(?P<a>{_NUM})\s*[,\s]\s*(?P<b>{_NUM})\s*$")
_GALACTIC = re.compile(
    rf"^\s*(?:l\s*=\s*(?P<l1>{_NUM})\s*[,\s]\s*b\s*=\s*(?P<b1>{_NUM})"
    rf"|(?:gal(?:actic)?)\s*[:,]?\s*(?P<l2>{_NUM})\s*[,\s]\s*(?P<b2>{_NUM}))\s*$",
    re.I,
)
_IAU = re.compile(r"^(?:(?:4|3|2)?xmm\s*)?j(?P<body>[0-9.+\-]*)$", re.I)


def _check_dec(dec: float, what: str = "Dec") -> None:
    if not -90 <= dec <= 90:
        raise SearchError(f"The {what} {dec:g}° is outside [-90°, +90°].")


def _position(text: str, radius: float | None) -> Position | None:
    """ICRS position from coordinate text, or None if the text is not coordinates at all."""
    gm = _GALACTIC.match(text)
    if gm:
        lon = float(gm["l1"] or gm["l2"])
        lat = float(gm["b1"] or gm["b2"])
        _check_dec(lat, "Galactic latitude b")
        icrs = SkyCoord(l=lon * u.deg, b=lat * u.deg, frame="galactic").icrs
        return Position(float(icrs.ra.deg), float(icrs.dec.deg), "galactic", radius)
    dm = _DECIMAL_PAIR.match(text)
    if dm:
        ra, dec = float(dm["a"]), float(dm["b"])
        if not 0 <= ra < 360:
            raise SearchError(f"The RA {ra:g}° is outside [0°, 360°).")
        _check_dec(dec)
        return Position(ra, dec, "icrs", radius)
    if not re.search(r"\d", text) or not re.fullmatch(r"[\d\s:hdmsHDMS°'′\"″.,+\-]+", text):
        return None
    try:
        coord = SkyCoord(text.replace(",", " "), unit=(u.hourangle, u.deg), frame="icrs")
    except (ValueError, TypeError, u.UnitsError) as exc:
        if "dec" in str(exc).lower() or "latitude" in str(exc).lower():
            raise SearchError(f"The declination in '{text}' is outside [-90°, +90°] or not readable.") from None
        return None
    return Position(float(coord.ra.deg), float(coord.dec.deg), "icrs", radius)


def _identifier(text: str) -> Target | None:
    m = re.fullmatch(r"(?P<kind>srcid|detid|obsid|obs_id|obs)?\s*[=:#]?\s*(?P<num>\d+)", text.strip(), re.I)
    if not m:
        return None
    kind, num = (m["kind"] or "").lower(), m["num"]
    if kind == "srcid":
        return SourceId(int(num))
    if kind == "detid":
        return DetectionId(int(num))
    if kind.startswith("obs") or (not kind and len(num) == 10):
        if len(num) != 10:
            raise SearchError(f"An OBS_ID has 10 digits; '{num}' has {len(num)}.")
        return ObsId(num)
    if len(num) == 15 and num[0] == "2":
        return SourceId(int(num))
    if len(num) == 15 and num[0] == "1":
        return DetectionId(int(num))
    raise SearchError(f"The number '{num}' is ambiguous; write 'srcid {num}' or 'detid {num}'.")


def _name_pattern(text: str) -> NamePattern | None:
    m = _IAU.fullmatch(re.sub(r"\s+", " ", text.strip()).replace("J ", "J").replace("j ", "j"))
    if not m:
        return None
    body = re.sub(r"\s+", "", m["body"])
    if not re.fullmatch(r"\d{0,6}(?:\.\d?)?(?:[+\-]\d{0,6})?", body):
        return None
    return NamePattern(f"4XMM J{body}")


def parse_target(text: str) -> Target:
    """What the user typed in the go-to box, as a :data:`Target`.

    Raises :class:`SearchError` with one sentence when the text is not understood or a
    value is out of range (Dec beyond ±90°, RA outside [0, 360), a radius that is not
    positive or has no unit).
    """
    raw = (text or "").strip()
    if not raw:
        raise SearchError(f"Type something to search for: {ACCEPTED_FORMS}.")
    if len(raw) > 200:
        raise SearchError("The search text is too long (more than 200 characters).")
    found = _identifier(raw)
    if found is not None:
        return found
    found = _name_pattern(raw)
    if found is not None:
        return found
    # A sexagesimal value may itself end like a radius (41° 16' 09"): try it whole first.
    pos = _position(raw, None)
    if pos is not None:
        return pos
    body, radius = _split_radius(raw)
    named = resolve_name(body)
    if named is not None:
        return Position(named[1], named[2], "icrs", radius, named[0])
    pos = _position(body, radius) if body else None
    if pos is not None:
        return pos
    raise SearchError(f"'{raw}' was not understood; accepted are {ACCEPTED_FORMS}.")
