"""A typed query grammar (like the IRAP XMM catalogue server's) compiled to a Selection.

Examples::

    cone('M31', '1deg') AND sc_det_ml < 100
    ep_8_flux > 1e-13 and (ep_hr2 >= 0.5 or var_flag)
    ep_8_flux > 1e-13 erg/cm2/s          # units after numbers, converted to the column's
    0.2 <= ep_hr2 <= 0.8                  # chained comparisons
    sum_flag in (0, 1)  /  obs_id = '0123456789'  /  srcid = 201234501010034
    not extended                          # aliases: extended, pointlike, variable, clean
    skymap('S200105ae', 0.9)              # inside a sky map's 90% credible region

Grammar (keywords case-insensitive; ``&&``/``&``, ``||``/``|``, ``!`` also work)::

    query      := or_expr
    or_expr    := and_expr (OR and_expr)*
    and_expr   := not_expr (AND not_expr)*
    not_expr   := NOT not_expr | primary
    primary    := '(' or_expr ')' | call | comparison | COLUMN | ALIAS
    comparison := operand (CMP operand)+ | COLUMN [NOT] IN '(' literal (',' literal)* ')'
    call       := cone '(' STRING [',' radius] ')' | cone '(' ra ',' dec ',' radius ')'
                | skymap '(' STRING [',' level] ')'   # a map of the sky-map folder, level in (0, 1)

A hand-written tokenizer and recursive-descent parser: user text is never passed to
``eval``, ``pandas.query`` or SQL. Column names are matched case-insensitively to the
real (upper-case) names; an unknown name raises :class:`QueryError` suggesting close
matches.
"""

from __future__ import annotations

import difflib
import math
import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import astropy.units as u

from app.search import Position, SearchError, parse_radius, parse_target
from app.selection import And, Cone, Ids, In, IsTrue, Not, Or, Range, Selection, SelectionError, SkyMapRegion
from data_loaders import schema
from data_loaders.catalogue import CatalogueEngine

__all__ = ["QueryError", "parse_query", "query_columns"]

_MAX_LENGTH = 4000
_MAX_DEPTH = 60
_ID_COLUMNS = ("SRCID", "DETID")


class QueryError(ValueError):
    """The query text is not valid; the message is one sentence for the user."""


@dataclass(frozen=True)
class _Tok:
    kind: str  # NUM STR IDENT CMP AND OR NOT IN LP RP COMMA TRUE FALSE END
    text: str
    pos: int
    value: Any = None
    unit: str = ""


_KEYWORDS = {"and": "AND", "or": "OR", "not": "NOT", "in": "IN", "true": "TRUE", "false": "FALSE"}
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_UNIT_WORD = re.compile(r"[ \t]*([A-Za-z][A-Za-z0-9_*/^.+\-]*)")
_CMP = ("<=", ">=", "==", "!=", "<>", "<", ">", "=")
_SYMBOLS = {"(": "LP", ")": "RP", ",": "COMMA", "&&": "AND", "||": "OR", "&": "AND", "|": "OR", "!": "NOT"}


def _tokenize(text: str) -> list[_Tok]:
    toks: list[_Tok] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
            continue
        prev = toks[-1].kind if toks else None
        op = next((c for c in _CMP if text.startswith(c, i)), None)
        if op:
            toks.append(_Tok("CMP", "!=" if op == "<>" else "==" if op == "=" else op, i))
            i += len(op)
            continue
        sym = next((s for s in ("&&", "||", "(", ")", ",", "&", "|", "!") if text.startswith(s, i)), None)
        if sym:
            toks.append(_Tok(_SYMBOLS[sym], sym, i))
            i += len(sym)
            continue
        if ch in "'\"":
            end = text.find(ch, i + 1)
            if end < 0:
                raise QueryError(f"The text starting at character {i + 1} has no closing {ch}.")
            toks.append(_Tok("STR", text[i : end + 1], i, text[i + 1 : end]))
            i = end + 1
            continue
        m = _NUMBER.match(text, i)
        signed_ok = prev not in ("NUM", "STR", "IDENT", "RP", "TRUE", "FALSE")
        if m and (ch not in "+-" or signed_ok):
            literal = m.group(0)
            value = _number(literal, i)
            i = m.end()
            words = []
            while True:
                w = _UNIT_WORD.match(text, i)
                if not w or w.group(1).lower() in _KEYWORDS:
                    break
                words.append(w.group(1))
                i = w.end()
            toks.append(_Tok("NUM", literal, m.start(), value, " ".join(words)))
            continue
        m = _IDENT.match(text, i)
        if m:
            word = m.group(0)
            toks.append(_Tok(_KEYWORDS.get(word.lower(), "IDENT"), word, i))
            i = m.end()
            continue
        raise QueryError(
            f"The character {ch!r} at position {i + 1} is not part of the query "
            "language (columns, numbers, 'text', comparisons, and/or/not, cone(), skymap())."
        )
    toks.append(_Tok("END", "", n))
    return toks


#: Longest number literal accepted, characters; whole numbers must fit the catalogue's 64-bit integers.
MAX_NUMBER_CHARS = 40
_INT64_MAX = 2**63 - 1


def _number(literal: str, i: int) -> int | float:
    """The value of a number literal at position ``i``; QueryError (one sentence) if it is too big."""
    if len(literal) > MAX_NUMBER_CHARS:
        raise QueryError(
            f"The number at position {i + 1} is {len(literal)} characters long; at most {MAX_NUMBER_CHARS} are allowed."
        )
    if re.search(r"[.eE]", literal):
        value = float(literal)
        if not math.isfinite(value):
            raise QueryError(f"The number {literal} at position {i + 1} is too large.")
        return value
    value = int(literal)
    if abs(value) > _INT64_MAX:
        raise QueryError(
            f"The whole number at position {i + 1} is too large (at most {_INT64_MAX:,} either side of zero)."
        )
    return value


def _unit(value: Any) -> u.UnitBase | None:
    if value is None or value == "":
        return None
    if isinstance(value, u.UnitBase):
        return value
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", u.UnitsWarning)
        return u.Unit(str(value))


class _Parser:
    def __init__(self, text: str, columns: Mapping[str, Any]) -> None:
        self.toks = _tokenize(text)
        self.i = 0
        self.columns = dict(columns)
        self.lookup = {name.lower(): name for name in self.columns}
        self.aliases = self._aliases()
        self.depth = 0

    # --- token helpers ---------------------------------------------------------------
    @property
    def tok(self) -> _Tok:
        return self.toks[self.i]

    def take(self, kind: str | None = None) -> _Tok:
        tok = self.tok
        if kind is not None and tok.kind != kind:
            want = {"RP": "')'", "LP": "'('", "COMMA": "','", "END": "the end of the query"}
            got = f"'{tok.text}'" if tok.text else "the end of the query"
            raise QueryError(f"Expected {want.get(kind, kind.lower())} at position {tok.pos + 1} but found {got}.")
        self.i += 1
        return tok

    # --- grammar ---------------------------------------------------------------------
    def parse(self) -> Selection:
        if self.tok.kind == "END":
            raise QueryError("The query is empty; write e.g. ep_8_flux > 1e-13 and sum_flag < 3.")
        sel = self.or_expr()
        if self.tok.kind != "END":
            raise QueryError(
                f"Unexpected '{self.tok.text}' at position {self.tok.pos + 1}; join conditions with and/or."
            )
        return sel

    def or_expr(self) -> Selection:
        terms = [self.and_expr()]
        while self.tok.kind == "OR":
            self.take()
            terms.append(self.and_expr())
        return terms[0] if len(terms) == 1 else Or(*terms)

    def and_expr(self) -> Selection:
        terms = [self.not_expr()]
        while self.tok.kind == "AND":
            self.take()
            terms.append(self.not_expr())
        return terms[0] if len(terms) == 1 else And(*terms)

    def not_expr(self) -> Selection:
        if self.tok.kind == "NOT":
            self.take()
            self._enter()
            inner = self.not_expr()
            self.depth -= 1
            return Not(inner)
        return self.primary()

    def _enter(self) -> None:
        self.depth += 1
        if self.depth > _MAX_DEPTH:
            raise QueryError("The query is nested too deeply.")

    def primary(self) -> Selection:
        tok = self.tok
        if tok.kind == "LP":
            self.take()
            self._enter()
            inner = self.or_expr()
            self.depth -= 1
            self.take("RP")
            return inner
        if tok.kind == "IDENT" and self.toks[self.i + 1].kind == "LP":
            return self.call()
        if (
            tok.kind == "IDENT"
            and self.toks[self.i + 1].kind in ("IN", "NOT")
            and (self.toks[self.i + 1].kind == "IN" or self.toks[self.i + 2].kind == "IN")
        ):
            return self.membership()
        if tok.kind in ("IDENT", "NUM", "STR", "TRUE", "FALSE") and self.toks[self.i + 1].kind == "CMP":
            return self.comparison()
        if tok.kind == "IDENT":
            self.take()
            return self.flag(tok)
        got = f"'{tok.text}'" if tok.text else "the end of the query"
        raise QueryError(f"Expected a condition at position {tok.pos + 1} but found {got}.")

    # --- pieces ----------------------------------------------------------------------
    def column(self, tok: _Tok) -> str:
        name = self.lookup.get(tok.text.lower())
        if name is None:
            candidates = list(self.columns) + list(self.aliases)
            close = difflib.get_close_matches(tok.text.upper(), [c.upper() for c in candidates], n=3, cutoff=0.6)
            hint = f"; did you mean {', '.join(close)}?" if close else "."
            raise QueryError(f"Unknown column '{tok.text}'{hint}")
        return name

    def _aliases(self) -> dict[str, Selection]:
        have = set(self.columns)
        out: dict[str, Selection] = {}
        extent = next((c for c in ("EP_EXTENT", "SC_EXTENT") if c in have), None)
        if extent:
            out["extended"] = Range(extent, 0, None, lo_open=True)
            out["pointlike"] = In(extent, (0,))
        var = next((c for c in ("VAR_FLAG", "SC_VAR_FLAG") if c in have), None)
        if var:
            out["variable"] = IsTrue(var)
        flag = next((c for c in ("SUM_FLAG", "SC_SUM_FLAG") if c in have), None)
        if flag:
            out["clean"] = Range(flag, None, 3, hi_open=True)
        return {k: v for k, v in out.items() if k not in self.lookup}

    def flag(self, tok: _Tok) -> Selection:
        alias = self.aliases.get(tok.text.lower())
        return alias if alias is not None else IsTrue(self.column(tok))

    def literal(self, column: str | None) -> Any:
        tok = self.take()
        if tok.kind == "NUM":
            return self.convert(tok, column)
        if tok.kind == "STR":
            return tok.value
        if tok.kind in ("TRUE", "FALSE"):
            return tok.kind == "TRUE"
        got = f"'{tok.text}'" if tok.text else "the end of the query"
        raise QueryError(f"Expected a number or 'text' at position {tok.pos + 1}, found {got}.")

    def convert(self, tok: _Tok, column: str | None) -> Any:
        if not tok.unit:
            return tok.value
        try:
            given = _unit(tok.unit)
        except ValueError:
            word = tok.unit.split()[0]
            if word.lower() in self.lookup or word.lower() in self.aliases:
                raise QueryError(f"Unexpected '{word}' after {tok.text}; join conditions with and/or.") from None
            raise QueryError(f"'{tok.unit}' (after {tok.text}) is not a unit astropy knows.") from None
        target = _unit(self.columns.get(column)) if column else None
        if target is None:
            raise QueryError(
                f"The column {column} has no unit, so '{tok.text} {tok.unit}' "
                "cannot be compared with it; leave the unit out."
            )
        try:
            return float((tok.value * given).to_value(target))
        except u.UnitConversionError:
            raise QueryError(f"'{tok.unit}' cannot be converted to {column}'s unit '{target}'.") from None

    def comparison(self) -> Selection:
        operands = [self.take()]
        ops: list[_Tok] = []
        while self.tok.kind == "CMP":
            ops.append(self.take())
            if self.tok.kind not in ("IDENT", "NUM", "STR", "TRUE", "FALSE"):
                got = f"'{self.tok.text}'" if self.tok.text else "the end of the query"
                raise QueryError(
                    f"Expected a column or value after '{ops[-1].text}' at position {self.tok.pos + 1}, found {got}."
                )
            operands.append(self.take())
        terms = [self.pair(a, op, b) for a, op, b in zip(operands, ops, operands[1:], strict=False)]
        return terms[0] if len(terms) == 1 else And(*terms)

    def pair(self, a: _Tok, op: _Tok, b: _Tok) -> Selection:
        flip = {"<": ">", ">": "<", "<=": ">=", ">=": "<=", "==": "==", "!=": "!="}
        if a.kind == "IDENT" and b.kind != "IDENT":
            col_tok, lit_tok, cmp = a, b, op.text
        elif b.kind == "IDENT" and a.kind != "IDENT":
            col_tok, lit_tok, cmp = b, a, flip[op.text]
        else:
            raise QueryError(f"The comparison at position {a.pos + 1} must compare one column with one value.")
        column = self.column(col_tok)
        if lit_tok.kind == "NUM":
            value: Any = self.convert(lit_tok, column)
        elif lit_tok.kind == "STR":
            value = lit_tok.value
        else:
            value = lit_tok.kind == "TRUE"
        if isinstance(value, bool):
            if cmp not in ("==", "!="):
                raise QueryError(f"{column} can only be compared with true/false using = or !=.")
            keep = value == (cmp == "==")
            return IsTrue(column) if keep else Not(IsTrue(column))
        if isinstance(value, str):
            if cmp == "==":
                return In(column, (value,))
            if cmp == "!=":
                return Not(In(column, (value,)))
            raise QueryError(f"The text '{value}' can only be compared with {column} using = or !=.")
        if cmp == "==":
            if column in _ID_COLUMNS and isinstance(value, int):
                return Ids(column, (value,))
            return In(column, (value,))
        if cmp == "!=":
            return Or(Range(column, None, value, hi_open=True), Range(column, value, None, lo_open=True))
        if cmp in ("<", "<="):
            return Range(column, None, value, hi_open=cmp == "<")
        return Range(column, value, None, lo_open=cmp == ">")

    def membership(self) -> Selection:
        column = self.column(self.take("IDENT"))
        negate = self.tok.kind == "NOT"
        if negate:
            self.take()
        self.take("IN")
        self.take("LP")
        values = [self.literal(column)]
        while self.tok.kind == "COMMA":
            self.take()
            values.append(self.literal(column))
        self.take("RP")
        if column in _ID_COLUMNS and all(isinstance(v, int) for v in values):
            sel: Selection = Ids(column, tuple(values))
        else:
            sel = In(column, tuple(values))
        return Not(sel) if negate else sel

    def call(self) -> Selection:
        name_tok = self.take("IDENT")
        if name_tok.text.lower() not in ("cone", "skymap"):
            raise QueryError(
                f"'{name_tok.text}' is not a query function; the functions are "
                "cone('name or position', 'radius'), cone(ra, dec, radius) and skymap('map name', 0.9)."
            )
        self.take("LP")
        args = [self.take()]
        while self.tok.kind == "COMMA":
            self.take()
            args.append(self.take())
        self.take("RP")
        if name_tok.text.lower() == "skymap":
            return self.skymap(args, name_tok)
        return self.cone(args, name_tok)

    def skymap(self, args: list[_Tok], at: _Tok) -> Selection:
        cols = self.sky_columns("skymap()")
        usage = "write skymap('S200105ae', 0.9): a map of the sky-map folder and a credible level"
        if not 1 <= len(args) <= 2 or args[0].kind != "STR" or (len(args) == 2 and args[1].kind != "NUM"):
            raise QueryError(f"The arguments of skymap() at position {at.pos + 1} are not understood; {usage}.")
        level = float(args[1].value) if len(args) == 2 else 0.9
        if args[1:] and args[1].unit:
            raise QueryError(f"The credible level of skymap() is a plain number; {usage}.")
        try:
            region = SkyMapRegion(args[0].value, level, *cols)
        except SelectionError as exc:
            raise QueryError(str(exc)) from None
        from app.config import skymap_dir
        from data_loaders.skymap import SkyMapError, credible_region

        try:  # read the map now (cached), so a missing or bad map is a sentence here, not at evaluation
            credible_region(skymap_dir(), region.name, region.level)
        except SkyMapError as exc:
            raise QueryError(str(exc)) from None
        return region

    def sky_columns(self, what: str) -> tuple[str, str]:
        have = set(self.columns)
        cols = next((c for c in (("RA", "DEC"), ("SC_RA", "SC_DEC")) if set(c) <= have), None)
        if cols is None:
            raise QueryError(f"{what} needs RA and DEC columns, which this table does not have.")
        return cols

    def cone(self, args: list[_Tok], at: _Tok) -> Selection:
        cols = self.sky_columns("cone()")
        usage = "write cone('M31', '1deg') or cone(10.68, 41.27, 0.5deg)"
        if any(a.kind not in ("NUM", "STR") for a in args) or not 1 <= len(args) <= 3:
            raise QueryError(f"The arguments of cone() at position {at.pos + 1} are not understood; {usage}.")
        radius: float | None = None
        if len(args) == 3:
            if args[0].kind != "NUM" or args[1].kind != "NUM":
                raise QueryError(f"cone(ra, dec, radius) takes numbers for ra and dec; {usage}.")
            ra = self.angle(args[0], "RA", allow_bare=True)
            dec = self.angle(args[1], "Dec", allow_bare=True)
            if not -90 <= dec <= 90:
                raise QueryError(f"The Dec {dec:g}° of cone() is outside [-90°, +90°].")
            radius = self.angle(args[2], "radius", allow_bare=False)
        else:
            if args[0].kind != "STR":
                raise QueryError(f"cone() with one or two arguments takes a quoted name or position first; {usage}.")
            try:
                target = parse_target(args[0].value)
            except SearchError as exc:
                raise QueryError(f"In cone(): {exc}") from None
            if not isinstance(target, Position):
                raise QueryError(f"cone() needs a position or field name, not '{args[0].value}'.")
            ra, dec, radius = target.ra, target.dec, target.radius_deg
            if len(args) == 2:
                radius = self.angle(args[1], "radius", allow_bare=False)
            if radius is None:
                raise QueryError(f"cone() needs a radius; {usage}.")
        if not 0 < radius <= 180:
            raise QueryError(f"The cone radius {radius:g}° must be in (0°, 180°].")
        return Cone(ra, dec, radius, *cols)

    def angle(self, tok: _Tok, what: str, allow_bare: bool) -> float:
        if tok.kind == "STR":
            try:
                return parse_radius(tok.value)
            except SearchError as exc:
                raise QueryError(str(exc)) from None
        if not tok.unit:
            if allow_bare:
                return float(tok.value)
            raise QueryError(f"The {what} {tok.text} needs a unit, e.g. {tok.text}arcmin.")
        try:
            return float((tok.value * _unit(tok.unit)).to_value(u.deg))
        except (ValueError, u.UnitConversionError):
            raise QueryError(f"'{tok.unit}' is not an angle unit for the {what}.") from None


def query_columns(catalogue: CatalogueEngine, level: str) -> dict[str, str | None]:
    """Columns a query may name at ``level`` (all the catalogue's but HEALPix), with their units."""
    return {c: schema.unit_of(c) for c in catalogue.columns(level) if c != "HPX"}


def parse_query(text: str, columns: Mapping[str, Any]) -> Selection:
    """Compile query text to a :class:`~app.selection.Selection`.

    ``columns`` maps each real column name to its unit (astropy unit, unit string, or
    None when dimensionless), e.g. ``{c.name: c.unit for c in schema.COLUMNS}``. Numbers
    followed by a unit are converted to the column's unit. Raises :class:`QueryError`
    (one sentence) for anything not understood.
    """
    if not isinstance(text, str):
        raise QueryError("The query must be text.")
    if len(text) > _MAX_LENGTH:
        raise QueryError(f"The query is longer than {_MAX_LENGTH} characters.")
    try:
        return _Parser(text, columns).parse()
    except RecursionError:
        raise QueryError("The query is nested too deeply.") from None
    except ValueError as exc:
        if isinstance(exc, QueryError):
            raise
        raise QueryError(str(exc)) from None
