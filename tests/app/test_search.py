"""Go-to parsing against astropy SkyCoord values, and the typed query grammar."""

from __future__ import annotations

import astropy.units as u
import numpy as np
import pandas as pd
import pytest
from astropy.coordinates import SkyCoord

from app.query import QueryError, parse_query
from app.search import (
    FAMOUS_FIELDS,
    DetectionId,
    NamePattern,
    ObsId,
    Position,
    SearchError,
    SourceId,
    parse_radius,
    parse_target,
)
from app.selection import And, Cone, Ids, In, IsTrue, Not, Or, Range
from data_loaders import schema

M31 = SkyCoord("00h42m44.3s +41d16m09s")
COLUMNS = {c.name: c.unit for c in schema.COLUMNS}


@pytest.mark.parametrize(
    "text",
    [
        "00:42:44.3 +41:16:09",
        "00h42m44.3s +41d16m09s",
        "00 42 44.3 +41 16 09",
        "00h42m44.3s, +41d16m09s",
        "  00:42:44.3   +41:16:09  ",
    ],
)
def test_sexagesimal(text):
    pos = parse_target(text)
    assert isinstance(pos, Position) and pos.frame_in == "icrs" and pos.radius_deg is None
    assert pos.ra == pytest.approx(M31.ra.deg, abs=1e-9)
    assert pos.dec == pytest.approx(M31.dec.deg, abs=1e-9)


@pytest.mark.parametrize("text", ["10.684 41.269", "10.684, +41.269", "10.684,41.269"])
def test_decimal(text):
    assert parse_target(text) == Position(10.684, 41.269, "icrs", None)


@pytest.mark.parametrize(
    "text", ["l=121.17 b=-21.57", "gal 121.17 -21.57", "Galactic 121.17, -21.57", "L=121.17, B=-21.57"]
)
def test_galactic_converted_to_icrs(text):
    pos = parse_target(text)
    expected = SkyCoord(l=121.17 * u.deg, b=-21.57 * u.deg, frame="galactic").icrs
    assert pos.frame_in == "galactic"
    assert pos.ra == pytest.approx(expected.ra.deg, abs=1e-9)
    assert pos.dec == pytest.approx(expected.dec.deg, abs=1e-9)
    assert pos.skycoord.separation(M31).arcmin < 1


@pytest.mark.parametrize(
    ("text", "radius_deg"),
    [
        ("10.684 41.269 r=5arcmin", 5 / 60),
        ("10.684 41.269, 2'", 2 / 60),
        ('10.684 41.269 30"', 30 / 3600),
        ("10.684 41.269 0.5deg", 0.5),
        ("00:42:44.3 +41:16:09 radius=1.5 arcmin", 1.5 / 60),
        ("l=121.17 b=-21.57 r=10arcsec", 10 / 3600),
        ("M31, 1deg", 1.0),
    ],
)
def test_radius_units(text, radius_deg):
    pos = parse_target(text)
    assert pos.radius_deg == pytest.approx(radius_deg, rel=1e-12)
    assert pos.skycoord.separation(M31).arcmin < 1


def test_arcsec_in_sexagesimal_is_not_a_radius():
    pos = parse_target("00h42m44.3s +41° 16' 09\"")
    assert pos.radius_deg is None and pos.dec == pytest.approx(M31.dec.deg, abs=1e-9)


@pytest.mark.parametrize("text", ["M31", "m31", " m 31 ", "Andromeda", "Messier 31"])
def test_famous_names_offline(text):
    pos = parse_target(text)
    assert pos.name == "M31" and (pos.ra, pos.dec) == FAMOUS_FIELDS["M31"]


def test_every_famous_field_resolves():
    for name, (ra, dec) in FAMOUS_FIELDS.items():
        pos = parse_target(name.lower())
        assert (pos.ra, pos.dec) == (ra, dec), name
    assert parse_target("lockman hole r=30arcmin").name == "Lockman Hole"
    assert parse_target("Galactic Center").name == "Galactic Centre"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("srcid 201234501010034", SourceId(201234501010034)),
        ("SRCID=42", SourceId(42)),
        ("detid 101234501010034", DetectionId(101234501010034)),
        ("201234501010034", SourceId(201234501010034)),
        ("101234501010034", DetectionId(101234501010034)),
        ("0123456789", ObsId("0123456789")),
        ("obsid 0123456789", ObsId("0123456789")),
        ("4XMM J0123", NamePattern("4XMM J0123")),
        ("4xmm  j012345.6+41", NamePattern("4XMM J012345.6+41")),
        ("J 004244.3+411609", NamePattern("4XMM J004244.3+411609")),
    ],
)
def test_identifiers(text, expected):
    assert parse_target(text) == expected


def test_name_pattern_matches_spacing():
    assert NamePattern("4XMM J0042").matches("4XMM J004244.3+411609")
    assert not NamePattern("4XMM J0043").matches("4XMM J004244.3+411609")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("hello world", "'hello world' was not understood; accepted are a position"),
        ("", "Type something"),
        ("10.684 95", r"Dec 95° is outside \[-90°, \+90°\]"),
        ("00:42:44.3 +95:16:09", "declination .* outside"),
        ("400 20", r"RA 400° is outside \[0°, 360°\)"),
        ("l=10 b=100", "Galactic latitude b 100° is outside"),
        ("10 41 r=-5arcmin", "must be positive"),
        ("M31 r=5", "has no unit"),
        ("M31 r=5parsec", "not an angle unit"),
        ("12345", "ambiguous; write 'srcid 12345' or 'detid 12345'"),
        ("obsid 123", "10 digits"),
        ("Narnia", "'Narnia' was not understood"),
    ],
)
def test_errors_are_sentences(text, message):
    with pytest.raises(SearchError, match=message):
        parse_target(text)


def test_parse_radius():
    assert parse_radius("5arcmin") == pytest.approx(5 / 60)
    assert parse_radius("1 deg") == 1.0
    assert parse_radius('30"') == pytest.approx(30 / 3600)
    with pytest.raises(SearchError, match="no unit"):
        parse_radius("5")


# --- the query grammar ---------------------------------------------------------------


def _frame():
    rng = np.random.default_rng(7)
    n = 3000
    return pd.DataFrame(
        {
            "RA": rng.uniform(9, 12.5, n),
            "DEC": rng.uniform(40, 42.5, n),
            "EP_8_FLUX": 10 ** rng.uniform(-15, -11, n),
            "EP_HR2": rng.uniform(-1, 1, n),
            "SC_DET_ML": rng.uniform(0, 300, n),
            "SUM_FLAG": rng.integers(0, 5, n),
            "VAR_FLAG": rng.random(n) < 0.3,
            "EP_EXTENT": np.where(rng.random(n) < 0.2, 8.0, 0.0),
        }
    )


def test_irap_example():
    sel = parse_query("cone('M31','1deg') AND sc_det_ml<100", COLUMNS)
    ra, dec = FAMOUS_FIELDS["M31"]
    assert sel == And(Cone(ra, dec, 1.0), Range("SC_DET_ML", None, 100, hi_open=True))
    df = _frame()
    sep = (
        SkyCoord(ra * u.deg, dec * u.deg)
        .separation(SkyCoord(df["RA"].to_numpy() * u.deg, df["DEC"].to_numpy() * u.deg))
        .deg
    )
    assert np.array_equal(sel.evaluate(df), (sep <= 1.0) & (df["SC_DET_ML"] < 100).to_numpy())


def test_precedence_not_and_or():
    sel = parse_query("ep_hr2 >= 0.5 or var_flag and not sum_flag < 3", COLUMNS)
    assert sel == Or(Range("EP_HR2", 0.5), And(IsTrue("VAR_FLAG"), Not(Range("SUM_FLAG", None, 3, hi_open=True))))
    grouped = parse_query("ep_8_flux > 1e-13 and (ep_hr2 >= 0.5 or var_flag)", COLUMNS)
    df = _frame()
    expected = (df["EP_8_FLUX"] > 1e-13) & ((df["EP_HR2"] >= 0.5) | df["VAR_FLAG"])
    assert np.array_equal(grouped.evaluate(df), expected.to_numpy())
    assert parse_query("A && B || !C", {"A": None, "B": None, "C": None}) == Or(
        And(IsTrue("A"), IsTrue("B")), Not(IsTrue("C"))
    )


def test_aliases_and_membership():
    df = _frame()
    assert np.array_equal(parse_query("not extended", COLUMNS).evaluate(df), (df["EP_EXTENT"] <= 0).to_numpy())
    assert parse_query("clean", COLUMNS) == Range("SUM_FLAG", None, 3, hi_open=True)
    assert parse_query("sum_flag in (0, 1)", COLUMNS) == In("SUM_FLAG", (0, 1))
    assert parse_query("srcid in (3, 1, 2)", COLUMNS) == Ids("SRCID", (1, 2, 3))
    assert parse_query("srcid = 201234501010034", COLUMNS) == Ids("SRCID", (201234501010034,))
    assert parse_query("obs_id = '0123456789'", COLUMNS) == In("OBS_ID", ("0123456789",))
    assert parse_query("obs_id not in ('0123456789')", COLUMNS) == Not(In("OBS_ID", ("0123456789",)))
    assert parse_query("var_flag = false", COLUMNS) == Not(IsTrue("VAR_FLAG"))
    assert parse_query("0.2 <= ep_hr2 < 0.8", COLUMNS) == And(
        Range("EP_HR2", 0.2), Range("EP_HR2", None, 0.8, hi_open=True)
    )
    assert parse_query("1e-13 < EP_8_FLUX", COLUMNS) == Range("EP_8_FLUX", 1e-13, lo_open=True)
    assert parse_query("ep_hr2 != -0.5", COLUMNS) == Or(
        Range("EP_HR2", None, -0.5, hi_open=True), Range("EP_HR2", -0.5, None, lo_open=True)
    )


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("ep_8_flux > 1e-13 erg/cm2/s", 1e-13),
        ("ep_8_flux > 1e-13 erg cm-2 s-1", 1e-13),
        ("ep_8_flux > 1e-16 W/m2", 1e-13),
        ("ep_8_flux > 1e-16 mW m-2", 1e-16),
    ],
)
def test_units_converted_to_column_unit(text, value):
    sel = parse_query(text, COLUMNS)
    assert sel.column == "EP_8_FLUX" and sel.lo == pytest.approx(value, rel=1e-12)


def test_angle_units_and_cone_forms():
    assert parse_query("ep_extent > 0.1 arcmin", COLUMNS).lo == pytest.approx(6.0)
    assert parse_query("cone(10.68, 41.27, 30arcsec)", COLUMNS) == Cone(10.68, 41.27, 30 / 3600)
    assert parse_query("cone('00:42:44.3 +41:16:09 r=2arcmin')", COLUMNS).radius_deg == pytest.approx(2 / 60)
    only_sources = {"SC_RA": "deg", "SC_DEC": "deg"}
    cone = parse_query("cone('M31', 1deg)", only_sources)
    assert (cone.ra_col, cone.dec_col) == ("SC_RA", "SC_DEC")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("ep_8_flux > 1e-13 erg/s", "cannot be converted to EP_8_FLUX's unit"),
        ("sc_det_ml < 100 erg", "SC_DET_ML has no unit"),
        ("ep_8_flux > 1 furlongs", "not a unit astropy knows"),
        ("ep8flux > 3", "Unknown column 'ep8flux'; did you mean EP_8_FLUX"),
        ("sc_det_mll < 3", "did you mean SC_DET_ML"),
        ("__import__('os')", "'__import__' is not a query function"),
        ("ep_8_flux > 1; DROP TABLE sources", "character ';' at position 14"),
        ("ep_8_flux > 1e-13 and", "Expected a condition"),
        ("(ep_8_flux > 1e-13", r"Expected '\)'"),
        ("ep_8_flux > 1 ep_hr2 > 0", "Unexpected 'ep_hr2'"),
        ("", "empty"),
        ("cone('M31')", "needs a radius"),
        ("cone('srcid 5', 1deg)", "needs a position"),
        ("cone(10, 41, 5)", "needs a unit"),
        ("ep_hr2 > 'abc'", "can only be compared"),
        ("ra > dec", "one column with one value"),
        ("obs_id = 'unterminated", "no closing"),
        ("{}.__class__", "not part of the query language"),
        ("sc_ra > " + "9" * 400, "400 characters long; at most 40"),
        ("srcid == 99999999999999999999", "whole number at position 10 is too large"),
        ("srcid in (1, -99999999999999999999)", "too large"),
        ("sc_ra > 1e400", "too large"),
        ("sc_ra > 1e400 deg", "too large"),
    ],
)
def test_query_errors(text, message):
    with pytest.raises(QueryError, match=message):
        parse_query(text, COLUMNS)


def test_query_depth_limit():
    with pytest.raises(QueryError, match="nested too deeply"):
        parse_query("(" * 500 + "var_flag" + ")" * 500, COLUMNS)
    with pytest.raises(QueryError, match="longer than"):
        parse_query("var_flag and " * 1000 + "var_flag", COLUMNS)
