"""Selections as data: a small immutable expression tree that evaluates to a row mask.

A selection (glue's *subset state*) is built from leaf nodes -- :class:`Range`,
:class:`In`, :class:`IsTrue`, :class:`Box`, :class:`Lasso`, :class:`Cone`,
:class:`Ids`, :class:`SkyMapRegion`, :class:`All` -- combined with :class:`And`, :class:`Or`, :class:`Not`
(or the operators ``&``, ``|``, ``~``). It

* evaluates to a numpy boolean mask on a pandas DataFrame (or a mapping of column
  name to array), and to a lazy boolean dask Series on a dask DataFrame;
* lists the columns it needs (:meth:`Selection.columns`) so callers read only those;
* serialises to a compact JSON dict and to a URL-safe string for permalinks, and is
  rebuilt from them by a validating decoder that never evaluates text;
* describes itself in one line of text for export provenance.

Values are stored in the column's own linear units: a flux slider shown on a log
axis still stores ``Range("EP_8_FLUX", 1e-14, None)``. NaN/missing values never
match a leaf; ``Not`` is the plain complement of its term's mask, so
``~Range(...)`` does include rows whose value is missing.
"""

from __future__ import annotations

import base64
import json
import math
import re
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from app.text import readable

__all__ = [
    "All",
    "And",
    "Box",
    "Cone",
    "Ids",
    "In",
    "IsTrue",
    "Lasso",
    "Not",
    "Or",
    "Range",
    "Selection",
    "SelectionError",
    "SkyMapRegion",
    "from_json",
    "from_url",
]

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
_MAX_NODES = 2_000
_MAX_DEPTH = 40
_MAX_IDS = 1_000_000
_MAX_VERTICES = 10_000
_MAX_URL_BYTES = 8_000_000


class SelectionError(ValueError):
    """A selection cannot be built, decoded or evaluated; the message is one sentence."""


# --- column access ----------------------------------------------------------------------


def _series(frame: Any, name: str) -> Any:
    try:
        return frame[name]
    except KeyError:
        raise SelectionError(f"The selection needs the column '{name}', which this table does not have.") from None


def _floats(frame: Any, name: str) -> np.ndarray:
    """A column as float64 with NaN for missing values (nullable and Arrow dtypes too)."""
    col = _series(frame, name)
    if isinstance(col, pd.Series):
        if col.dtype == object or pd.api.types.is_string_dtype(col.dtype):
            raise SelectionError(f"The column '{name}' holds text, not numbers.")
        return col.to_numpy(dtype="float64", na_value=np.nan)
    return np.asarray(col, dtype="float64")


def _is_dask(frame: Any) -> bool:
    return type(frame).__module__.startswith("dask")


def _fmt(value: float) -> str:
    return f"{value:.6g}"


def _angle(deg: float) -> str:
    if deg >= 0.1:
        return f"{deg:.6g}°"
    if deg >= 1 / 60:
        return f"{deg * 60:.6g}′"
    return f"{deg * 3600:.6g}″"


def _float_or_none(value: Any, what: str) -> float | None:
    if value is None:
        return None
    value = float(value)
    if math.isnan(value):
        raise SelectionError(f"The {what} is NaN; leave it out to mean 'no limit'.")
    return None if math.isinf(value) else value


def _scalar(value: Any) -> Any:
    """A plain JSON-friendly Python scalar (numpy scalars become int/float/str/bool)."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool | int | str):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return value
    raise SelectionError(f"The value {value!r} is not a number, text or true/false.")


# --- the node types -----------------------------------------------------------------------


class Selection:
    """Base class of every selection node; immutable, hashable and comparable."""

    kind: ClassVar[str] = ""

    def evaluate(self, frame: Any) -> Any:
        """Boolean mask of the rows of ``frame`` this selection keeps.

        A pandas DataFrame (or a mapping of name -> array) gives a numpy bool array;
        a dask DataFrame gives a lazy boolean dask Series with the frame's partitions.
        """
        if _is_dask(frame):

            def _part(part: pd.DataFrame) -> pd.Series:
                return pd.Series(self._mask(part), index=part.index, dtype=bool)

            return frame.map_partitions(_part, meta=pd.Series(dtype=bool))
        return self._mask(frame)

    def _mask(self, frame: Any) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def columns(self) -> tuple[str, ...]:
        """Names of the columns this selection reads, sorted, without repeats."""
        return tuple(sorted(set(self._columns())))

    def _columns(self) -> Iterable[str]:
        return ()

    def describe(self) -> str:
        """One line of human-readable text, e.g. ``EP_8_FLUX in [1e-14, ∞)``."""
        raise NotImplementedError  # pragma: no cover

    def to_json(self) -> dict[str, Any]:
        """A compact JSON-serialisable dict; :func:`from_json` rebuilds an equal selection."""
        raise NotImplementedError  # pragma: no cover

    def to_url(self) -> str:
        """URL-safe text (zlib-compressed compact JSON in base64url, no padding)."""
        raw = json.dumps(self.to_json(), separators=(",", ":"), allow_nan=False)
        packed = zlib.compress(raw.encode("utf-8"), 9)
        return base64.urlsafe_b64encode(packed).rstrip(b"=").decode("ascii")

    @staticmethod
    def from_json(data: Any, allowed_columns: Iterable[str] | None = None) -> Selection:
        return from_json(data, allowed_columns)

    @staticmethod
    def from_url(text: str, allowed_columns: Iterable[str] | None = None) -> Selection:
        return from_url(text, allowed_columns)

    def __and__(self, other: Selection) -> Selection:
        _check_node(other)
        left = self.terms if isinstance(self, And) else (self,)
        right = other.terms if isinstance(other, And) else (other,)
        return And(*left, *right)

    def __or__(self, other: Selection) -> Selection:
        _check_node(other)
        left = self.terms if isinstance(self, Or) else (self,)
        right = other.terms if isinstance(other, Or) else (other,)
        return Or(*left, *right)

    def __invert__(self) -> Selection:
        return self.term if isinstance(self, Not) else Not(self)


def _check_node(value: Any) -> None:
    if not isinstance(value, Selection):
        raise TypeError(f"Cannot combine a selection with {type(value).__name__}.")


def _check_name(name: Any) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise SelectionError(f"{name!r} is not a valid column name.")
    return name


@dataclass(frozen=True)
class All(Selection):
    """Every row."""

    kind: ClassVar[str] = "all"

    def _mask(self, frame: Any) -> np.ndarray:
        return np.ones(len(frame), dtype=bool)

    def describe(self) -> str:
        return "all rows"

    def to_json(self) -> dict[str, Any]:
        return {"t": "all"}


@dataclass(frozen=True)
class Range(Selection):
    """``lo <= column <= hi``; a bound of None (or ±inf) is open-ended.

    ``lo_open``/``hi_open`` make a bound strict (``<``) for the query grammar.
    With neither bound the range keeps every row whose value is present.
    """

    column: str
    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False
    kind: ClassVar[str] = "range"

    def __post_init__(self) -> None:
        _check_name(self.column)
        lo = _float_or_none(self.lo, f"lower bound of {self.column}")
        hi = _float_or_none(self.hi, f"upper bound of {self.column}")
        if lo is not None and hi is not None and lo > hi:
            raise SelectionError(f"The range on {self.column} is empty: lower bound {lo:g} > upper bound {hi:g}.")
        object.__setattr__(self, "lo", lo)
        object.__setattr__(self, "hi", hi)
        object.__setattr__(self, "lo_open", bool(self.lo_open))
        object.__setattr__(self, "hi_open", bool(self.hi_open))

    def _mask(self, frame: Any) -> np.ndarray:
        x = _floats(frame, self.column)
        mask = ~np.isnan(x)
        if self.lo is not None:
            mask &= (x > self.lo) if self.lo_open else (x >= self.lo)
        if self.hi is not None:
            mask &= (x < self.hi) if self.hi_open else (x <= self.hi)
        return mask

    def _columns(self) -> Iterable[str]:
        return (self.column,)

    def describe(self) -> str:
        if self.lo is None and self.hi is None:
            return f"{self.column} is present"
        left = "-∞" if self.lo is None else _fmt(self.lo)
        right = "∞" if self.hi is None else _fmt(self.hi)
        lb = "(" if self.lo is None or self.lo_open else "["
        rb = ")" if self.hi is None or self.hi_open else "]"
        return f"{self.column} in {lb}{left}, {right}{rb}"

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"t": "range", "c": self.column}
        if self.lo is not None:
            out["lo"] = self.lo
        if self.hi is not None:
            out["hi"] = self.hi
        if self.lo_open:
            out["lx"] = True
        if self.hi_open:
            out["hx"] = True
        return out


@dataclass(frozen=True)
class In(Selection):
    """``column`` equals one of ``values`` (numbers, text or booleans)."""

    column: str
    values: tuple = ()
    kind: ClassVar[str] = "in"

    def __post_init__(self) -> None:
        _check_name(self.column)
        values = (self.values,) if isinstance(self.values, str) else tuple(self.values)
        object.__setattr__(self, "values", tuple(_scalar(v) for v in values))

    def _mask(self, frame: Any) -> np.ndarray:
        col = _series(frame, self.column)
        if not isinstance(col, pd.Series):
            col = pd.Series(np.asarray(col))
        return np.asarray(col.isin(list(self.values)).to_numpy(dtype=bool, na_value=False))

    def _columns(self) -> Iterable[str]:
        return (self.column,)

    def describe(self) -> str:
        shown = ", ".join(repr(v) if isinstance(v, str) else str(v) for v in self.values[:8])
        more = f", … ({len(self.values)} values)" if len(self.values) > 8 else ""
        return f"{self.column} in {{{shown}{more}}}"

    def to_json(self) -> dict[str, Any]:
        return {"t": "in", "c": self.column, "v": list(self.values)}


@dataclass(frozen=True)
class IsTrue(Selection):
    """A boolean (flag) column is true; missing values are false, numbers are true if != 0."""

    column: str
    kind: ClassVar[str] = "true"

    def __post_init__(self) -> None:
        _check_name(self.column)

    def _mask(self, frame: Any) -> np.ndarray:
        col = _series(frame, self.column)
        if not isinstance(col, pd.Series):
            col = pd.Series(np.asarray(col))
        if pd.api.types.is_bool_dtype(col.dtype):
            return col.to_numpy(dtype=bool, na_value=False)
        if col.dtype == object or pd.api.types.is_string_dtype(col.dtype):
            text = col.astype("string").str.strip().str.upper()
            return text.isin(["T", "TRUE", "1", "Y", "YES"]).to_numpy(dtype=bool, na_value=False)
        x = col.to_numpy(dtype="float64", na_value=np.nan)
        return ~np.isnan(x) & (x != 0)

    def _columns(self) -> Iterable[str]:
        return (self.column,)

    def describe(self) -> str:
        return self.column

    def to_json(self) -> dict[str, Any]:
        return {"t": "true", "c": self.column}


@dataclass(frozen=True)
class Box(Selection):
    """``x0 <= xcol <= x1`` and ``y0 <= ycol <= y1`` (corners are put in order)."""

    xcol: str
    ycol: str
    x0: float
    x1: float
    y0: float
    y1: float
    kind: ClassVar[str] = "box"

    def __post_init__(self) -> None:
        _check_name(self.xcol)
        _check_name(self.ycol)
        xs = sorted(_finite(v, "box corner") for v in (self.x0, self.x1))
        ys = sorted(_finite(v, "box corner") for v in (self.y0, self.y1))
        for name, value in zip(("x0", "x1", "y0", "y1"), (*xs, *ys), strict=True):
            object.__setattr__(self, name, value)

    def _mask(self, frame: Any) -> np.ndarray:
        x = _floats(frame, self.xcol)
        y = _floats(frame, self.ycol)
        return (x >= self.x0) & (x <= self.x1) & (y >= self.y0) & (y <= self.y1)

    def _columns(self) -> Iterable[str]:
        return (self.xcol, self.ycol)

    def describe(self) -> str:
        return (
            f"box({self.xcol} in [{_fmt(self.x0)}, {_fmt(self.x1)}], {self.ycol} in [{_fmt(self.y0)}, {_fmt(self.y1)}])"
        )

    def to_json(self) -> dict[str, Any]:
        return {"t": "box", "x": self.xcol, "y": self.ycol, "b": [self.x0, self.x1, self.y0, self.y1]}


def _finite(value: Any, what: str) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise SelectionError(f"The {what} {value!r} is not a number.") from None
    if not math.isfinite(value):
        raise SelectionError(f"The {what} must be a finite number, not {value}.")
    return value


@dataclass(frozen=True)
class Lasso(Selection):
    """Points of (xcol, ycol) inside a polygon, by the even-odd rule (vectorised numpy).

    ``vertices`` is a sequence of (x, y) pairs; the polygon closes itself. Points exactly
    on an edge may fall either side.
    """

    xcol: str
    ycol: str
    vertices: tuple = ()
    kind: ClassVar[str] = "lasso"

    def __post_init__(self) -> None:
        _check_name(self.xcol)
        _check_name(self.ycol)
        try:
            verts = tuple((_finite(x, "lasso vertex"), _finite(y, "lasso vertex")) for x, y in self.vertices)
        except (TypeError, ValueError) as exc:
            if isinstance(exc, SelectionError):
                raise
            raise SelectionError("A lasso needs a list of (x, y) vertex pairs.") from None
        if len(verts) < 3:
            raise SelectionError(f"A lasso needs at least 3 vertices, not {len(verts)}.")
        if len(verts) > _MAX_VERTICES:
            raise SelectionError(f"A lasso may have at most {_MAX_VERTICES} vertices.")
        object.__setattr__(self, "vertices", verts)

    def _mask(self, frame: Any) -> np.ndarray:
        x = _floats(frame, self.xcol)
        y = _floats(frame, self.ycol)
        poly = np.asarray(self.vertices, dtype="float64")
        inside = np.zeros(len(x), dtype=bool)
        # Only points in the bounding box can be inside; NaN fails these comparisons.
        cand = np.flatnonzero(
            (x >= poly[:, 0].min()) & (x <= poly[:, 0].max()) & (y >= poly[:, 1].min()) & (y <= poly[:, 1].max())
        )
        px, py = x[cand], y[cand]
        hit = np.zeros(len(cand), dtype=bool)
        xj, yj = poly[-1]
        for xi, yi in poly:
            crosses = (yi > py) != (yj > py)
            if crosses.any():
                with np.errstate(divide="ignore", invalid="ignore"):
                    xcross = xi + (py - yi) * (xj - xi) / (yj - yi)
                hit ^= crosses & (px < xcross)
            xj, yj = xi, yi
        inside[cand] = hit
        return inside

    def _columns(self) -> Iterable[str]:
        return (self.xcol, self.ycol)

    def describe(self) -> str:
        return f"lasso({self.xcol}, {self.ycol}; {len(self.vertices)} vertices)"

    def to_json(self) -> dict[str, Any]:
        return {"t": "lasso", "x": self.xcol, "y": self.ycol, "v": [list(v) for v in self.vertices]}


@dataclass(frozen=True)
class Cone(Selection):
    """Rows within ``radius_deg`` (great circle) of (ra, dec), ICRS degrees."""

    ra: float
    dec: float
    radius_deg: float
    ra_col: str = "RA"
    dec_col: str = "DEC"
    kind: ClassVar[str] = "cone"

    def __post_init__(self) -> None:
        _check_name(self.ra_col)
        _check_name(self.dec_col)
        ra = _finite(self.ra, "cone centre RA") % 360.0
        dec = _finite(self.dec, "cone centre Dec")
        radius = _finite(self.radius_deg, "cone radius")
        if not -90 <= dec <= 90:
            raise SelectionError(f"The cone centre Dec {dec:g}° is outside [-90°, +90°].")
        if not 0 < radius <= 180:
            raise SelectionError(f"The cone radius {radius:g}° must be in (0°, 180°].")
        object.__setattr__(self, "ra", ra)
        object.__setattr__(self, "dec", dec)
        object.__setattr__(self, "radius_deg", radius)

    def _mask(self, frame: Any) -> np.ndarray:
        from data_loaders.projection import within

        return within(_floats(frame, self.ra_col), _floats(frame, self.dec_col), self.ra, self.dec, self.radius_deg)

    def _columns(self) -> Iterable[str]:
        return (self.ra_col, self.dec_col)

    def describe(self) -> str:
        cols = "" if (self.ra_col, self.dec_col) == ("RA", "DEC") else (f" on {self.ra_col}/{self.dec_col}")
        return f"cone({_fmt(self.ra)}°, {self.dec:+.6g}°, {_angle(self.radius_deg)}){cols}"

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"t": "cone", "p": [self.ra, self.dec, self.radius_deg]}
        if (self.ra_col, self.dec_col) != ("RA", "DEC"):
            out["c"] = [self.ra_col, self.dec_col]
        return out


@dataclass(frozen=True)
class SkyMapRegion(Selection):
    """Rows inside the ``level`` credible region of the sky map ``name`` (the operator's sky-map folder).

    The map is named, not embedded, so the selection stays small in a link; it is read (and its
    region cached) from :func:`app.config.skymap_dir` when evaluated.
    """

    name: str
    level: float = 0.9
    ra_col: str = "RA"
    dec_col: str = "DEC"
    kind: ClassVar[str] = "skymap"

    def __post_init__(self) -> None:
        from data_loaders.skymap import NAME_RE

        _check_name(self.ra_col)
        _check_name(self.dec_col)
        if not isinstance(self.name, str) or not NAME_RE.match(self.name):
            raise SelectionError(f"{str(self.name)[:40]!r} is not a sky-map name (letters, digits, _ . + - only).")
        level = _finite(self.level, "credible level")
        if not 0 < level < 1:
            raise SelectionError(f"The credible level {level:g} must be between 0 and 1 (e.g. 0.9).")
        object.__setattr__(self, "level", level)

    def _mask(self, frame: Any) -> np.ndarray:
        import astropy.units as u

        from app.config import skymap_dir
        from data_loaders.skymap import SkyMapError, credible_region

        try:
            moc = credible_region(skymap_dir(), self.name, self.level)
        except SkyMapError as exc:
            raise SelectionError(str(exc)) from None
        ra, dec = _floats(frame, self.ra_col), _floats(frame, self.dec_col)
        ok = np.isfinite(ra) & np.isfinite(dec) & (np.abs(dec) <= 90)
        mask = np.zeros(len(ra), dtype=bool)
        if ok.any():
            mask[ok] = moc.contains_lonlat(ra[ok] * u.deg, dec[ok] * u.deg)
        return mask

    def _columns(self) -> Iterable[str]:
        return (self.ra_col, self.dec_col)

    def describe(self) -> str:
        cols = "" if (self.ra_col, self.dec_col) == ("RA", "DEC") else f" on {self.ra_col}/{self.dec_col}"
        return f"in the {self.level:.6g} credible region of sky map '{self.name}'{cols}"

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"t": "skymap", "m": self.name, "p": self.level}
        if (self.ra_col, self.dec_col) != ("RA", "DEC"):
            out["c"] = [self.ra_col, self.dec_col]
        return out


@dataclass(frozen=True)
class Ids(Selection):
    """Rows whose integer identifier (SRCID, DETID) is in a list; stored sorted, unique."""

    column: str
    #: Any sequence or array of whole numbers when built; a sorted tuple of unique ints afterwards.
    values: tuple | np.ndarray = ()
    kind: ClassVar[str] = "ids"

    def __post_init__(self) -> None:
        _check_name(self.column)
        try:
            arr = np.asarray(list(self.values) if not isinstance(self.values, np.ndarray) else self.values)
            if arr.size and not np.issubdtype(arr.dtype, np.integer) and not all(float(v).is_integer() for v in arr):
                raise ValueError
            arr = np.unique(arr.astype("int64"))
        except (TypeError, ValueError, OverflowError):
            raise SelectionError(f"The {self.column} list must hold whole numbers.") from None
        if arr.size > _MAX_IDS:
            raise SelectionError(f"An ID list may hold at most {_MAX_IDS:,} identifiers.")
        object.__setattr__(self, "values", tuple(int(v) for v in arr))

    def _mask(self, frame: Any) -> np.ndarray:
        col = _series(frame, self.column)
        if isinstance(col, pd.Series):
            return col.isin(np.asarray(self.values, dtype="int64")).to_numpy(dtype=bool, na_value=False)
        return np.isin(np.asarray(col), np.asarray(self.values, dtype="int64"))

    def _columns(self) -> Iterable[str]:
        return (self.column,)

    def describe(self) -> str:
        if len(self.values) <= 3:
            return f"{self.column} in {{{', '.join(map(str, self.values))}}}"
        return f"{self.column} in a list of {len(self.values):,} identifiers"

    def to_json(self) -> dict[str, Any]:
        # Sorted IDs as first value + gaps: far shorter once compressed for the URL.
        arr = np.asarray(self.values, dtype="int64")
        deltas = np.diff(arr, prepend=np.int64(0)) if arr.size else arr
        return {"t": "ids", "c": self.column, "d": [int(v) for v in deltas]}


class _Compound(Selection):
    terms: tuple

    def __init__(self, *terms: Selection) -> None:
        if len(terms) == 1 and not isinstance(terms[0], Selection):
            terms = tuple(terms[0])
        for t in terms:
            _check_node(t)
        if not terms:
            raise SelectionError(f"{type(self).__name__} needs at least one term.")
        object.__setattr__(self, "terms", tuple(terms))

    def _columns(self) -> Iterable[str]:
        for t in self.terms:
            yield from t._columns()

    def to_json(self) -> dict[str, Any]:
        return {"t": self.kind, "a": [t.to_json() for t in self.terms]}

    def _join(self, word: str) -> str:
        parts = []
        for t in self.terms:
            text = t.describe()
            parts.append(f"({text})" if isinstance(t, _Compound) and len(t.terms) > 1 else text)
        return f" {word} ".join(parts)


@dataclass(frozen=True, init=False)
class And(_Compound):
    """Every term holds."""

    terms: tuple
    kind: ClassVar[str] = "and"

    def _mask(self, frame: Any) -> np.ndarray:
        mask = self.terms[0]._mask(frame).copy()
        for t in self.terms[1:]:
            mask &= t._mask(frame)
        return mask

    def describe(self) -> str:
        return self._join("AND")


@dataclass(frozen=True, init=False)
class Or(_Compound):
    """At least one term holds."""

    terms: tuple
    kind: ClassVar[str] = "or"

    def _mask(self, frame: Any) -> np.ndarray:
        mask = self.terms[0]._mask(frame).copy()
        for t in self.terms[1:]:
            mask |= t._mask(frame)
        return mask

    def describe(self) -> str:
        return self._join("OR")


@dataclass(frozen=True)
class Not(Selection):
    """The complement of a term (rows with missing values included)."""

    term: Selection
    kind: ClassVar[str] = "not"

    def __post_init__(self) -> None:
        _check_node(self.term)

    def _mask(self, frame: Any) -> np.ndarray:
        return ~self.term._mask(frame)

    def _columns(self) -> Iterable[str]:
        return self.term._columns()

    def describe(self) -> str:
        text = self.term.describe()
        wrap = isinstance(self.term, _Compound) and len(self.term.terms) > 1
        return f"NOT ({text})" if wrap else f"NOT {text}"

    def to_json(self) -> dict[str, Any]:
        return {"t": "not", "a": self.term.to_json()}


# --- decoding -----------------------------------------------------------------------------

_KEYS = {
    "all": {"t"},
    "range": {"t", "c", "lo", "hi", "lx", "hx"},
    "in": {"t", "c", "v"},
    "true": {"t", "c"},
    "box": {"t", "x", "y", "b"},
    "lasso": {"t", "x", "y", "v"},
    "cone": {"t", "p", "c"},
    "skymap": {"t", "m", "p", "c"},
    "ids": {"t", "c", "d"},
    "and": {"t", "a"},
    "or": {"t", "a"},
    "not": {"t", "a"},
}


class _Decoder:
    def __init__(self, allowed: Iterable[str] | None) -> None:
        self.allowed = None if allowed is None else frozenset(allowed)
        self.nodes = 0

    def column(self, name: Any) -> str:
        _check_name(name)
        if self.allowed is not None and name not in self.allowed:
            raise SelectionError(
                f"The selection refers to the column '{name}', which is not one of the columns it may use."
            )
        return name

    def number(self, value: Any, what: str) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise SelectionError(f"The {what} must be a number, not {value!r}.")
        return value

    def list_of(self, value: Any, what: str) -> list:
        if not isinstance(value, list):
            raise SelectionError(f"The {what} must be a list.")
        return value

    def node(self, data: Any, depth: int = 0) -> Selection:
        self.nodes += 1
        if self.nodes > _MAX_NODES or depth > _MAX_DEPTH:
            raise SelectionError("The selection is too large or too deeply nested to decode.")
        if not isinstance(data, dict) or not isinstance(data.get("t"), str):
            raise SelectionError("Each selection node must be an object with a type 't'.")
        kind = data["t"]
        if kind not in _KEYS:
            raise SelectionError(
                f"'{readable(kind, 40)}' is not a known selection type; known types are {', '.join(sorted(_KEYS))}."
            )
        extra = set(data) - _KEYS[kind]
        if extra:
            raise SelectionError(f"A '{kind}' node has unexpected fields: {', '.join(sorted(map(str, extra)))}.")
        try:
            return getattr(self, f"_{kind}")(data, depth)
        except KeyError as exc:
            raise SelectionError(f"A '{kind}' node lacks the field {exc}.") from None

    def _all(self, d: dict, depth: int) -> Selection:
        return All()

    def _range(self, d: dict, depth: int) -> Selection:
        lo = None if d.get("lo") is None else self.number(d["lo"], "range bound")
        hi = None if d.get("hi") is None else self.number(d["hi"], "range bound")
        return Range(self.column(d["c"]), lo, hi, d.get("lx") is True, d.get("hx") is True)

    def _in(self, d: dict, depth: int) -> Selection:
        values = self.list_of(d["v"], "value list")
        if len(values) > _MAX_IDS or not all(isinstance(v, str | int | float | bool) for v in values):
            raise SelectionError("An 'in' list must hold numbers, text or true/false.")
        return In(self.column(d["c"]), tuple(values))

    def _true(self, d: dict, depth: int) -> Selection:
        return IsTrue(self.column(d["c"]))

    def _box(self, d: dict, depth: int) -> Selection:
        b = self.list_of(d["b"], "box bounds")
        if len(b) != 4:
            raise SelectionError("A box needs 4 bounds [x0, x1, y0, y1].")
        nums = [self.number(v, "box bound") for v in b]
        return Box(self.column(d["x"]), self.column(d["y"]), *nums)

    def _lasso(self, d: dict, depth: int) -> Selection:
        verts = self.list_of(d["v"], "lasso vertex list")
        pairs = []
        for v in verts:
            if not isinstance(v, list) or len(v) != 2:
                raise SelectionError("Each lasso vertex must be an [x, y] pair.")
            pairs.append((self.number(v[0], "lasso vertex"), self.number(v[1], "lasso vertex")))
        return Lasso(self.column(d["x"]), self.column(d["y"]), tuple(pairs))

    def _cone(self, d: dict, depth: int) -> Selection:
        p = self.list_of(d["p"], "cone parameters")
        if len(p) != 3:
            raise SelectionError("A cone needs [ra, dec, radius] in degrees.")
        ra, dec, r = (self.number(v, "cone parameter") for v in p)
        cols = self.list_of(d.get("c", ["RA", "DEC"]), "cone columns")
        if len(cols) != 2:
            raise SelectionError("A cone's columns must be [ra_column, dec_column].")
        return Cone(ra, dec, r, self.column(cols[0]), self.column(cols[1]))

    def _skymap(self, d: dict, depth: int) -> Selection:
        if not isinstance(d["m"], str):
            raise SelectionError("A skymap node's map name must be text.")
        level = self.number(d["p"], "credible level")
        cols = self.list_of(d.get("c", ["RA", "DEC"]), "skymap columns")
        if len(cols) != 2:
            raise SelectionError("A skymap node's columns must be [ra_column, dec_column].")
        return SkyMapRegion(d["m"], level, self.column(cols[0]), self.column(cols[1]))

    def _ids(self, d: dict, depth: int) -> Selection:
        deltas = self.list_of(d["d"], "identifier list")
        if len(deltas) > _MAX_IDS or not all(isinstance(v, int) and not isinstance(v, bool) for v in deltas):
            raise SelectionError("An identifier list must hold whole numbers.")
        values = np.cumsum(np.asarray(deltas, dtype="int64")) if deltas else ()
        return Ids(self.column(d["c"]), tuple(int(v) for v in values))

    def _compound(self, d: dict, depth: int, cls: type[_Compound]) -> Selection:
        terms = self.list_of(d["a"], f"'{cls.kind}' term list")
        return cls(*(self.node(t, depth + 1) for t in terms))

    def _and(self, d: dict, depth: int) -> Selection:
        return self._compound(d, depth, And)

    def _or(self, d: dict, depth: int) -> Selection:
        return self._compound(d, depth, Or)

    def _not(self, d: dict, depth: int) -> Selection:
        return Not(self.node(d["a"], depth + 1))


def from_json(data: Any, allowed_columns: Iterable[str] | None = None) -> Selection:
    """Rebuild a selection from :meth:`Selection.to_json` output (a dict or JSON text).

    Validates every node: unknown node types, unexpected fields, non-numeric bounds,
    and -- when ``allowed_columns`` is given -- columns outside that set raise
    :class:`SelectionError` (a ``ValueError``) with one sentence. Nothing is evaluated.
    """
    if isinstance(data, str | bytes):
        try:
            data = json.loads(data)
        except ValueError:
            raise SelectionError("The selection text is not valid JSON.") from None
    return _Decoder(allowed_columns).node(data)


def from_url(text: str, allowed_columns: Iterable[str] | None = None) -> Selection:
    """Rebuild a selection from :meth:`Selection.to_url` text (validated like from_json)."""
    if not isinstance(text, str) or not re.fullmatch(r"[A-Za-z0-9_-]+", text or ""):
        raise SelectionError("The selection in the link is not valid URL-safe base64 text.")
    try:
        packed = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        inflater = zlib.decompressobj()
        raw = inflater.decompress(packed, _MAX_URL_BYTES)
    except (ValueError, zlib.error):
        raise SelectionError("The selection in the link is damaged and cannot be read.") from None
    if inflater.unconsumed_tail:
        raise SelectionError("The selection in the link is too large.")
    try:
        data = json.loads(raw.decode("utf-8"))
    except ValueError:
        raise SelectionError("The selection in the link is damaged and cannot be read.") from None
    return from_json(data, allowed_columns)
