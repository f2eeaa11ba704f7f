"""Selection masks against direct numpy/pandas/astropy computation; JSON/URL; dask."""

from __future__ import annotations

import base64
import json
import zlib

import astropy.units as u
import numpy as np
import pandas as pd
import pytest
from astropy.coordinates import SkyCoord

from app.selection import (
    All,
    And,
    Box,
    Cone,
    Ids,
    In,
    IsTrue,
    Lasso,
    Not,
    Or,
    Range,
    SelectionError,
    from_json,
    from_url,
)

N = 4000


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(42)
    flux = 10 ** rng.uniform(-16, -11, N)
    flux[rng.random(N) < 0.1] = np.nan
    hr = rng.uniform(-1, 1, N)
    hr[rng.random(N) < 0.05] = np.nan
    var = pd.array(rng.random(N) < 0.2, dtype="boolean")
    var[rng.random(N) < 0.05] = pd.NA
    return pd.DataFrame(
        {
            "SRCID": 201_000_000_000_000 + rng.integers(0, 500, N),
            "RA": rng.uniform(8, 13, N),
            "DEC": rng.uniform(39, 43, N),
            "EP_8_FLUX": flux.astype("float32"),
            "EP_HR1": rng.uniform(-1, 1, N),
            "EP_HR2": hr,
            "SUM_FLAG": pd.array(rng.integers(0, 5, N), dtype="Int16"),
            "VAR_FLAG": var,
            "OBS_ID": rng.choice(["0123456789", "0200000101", "0300000201"], N),
        }
    )


def test_range_inclusive_open_and_nan(frame):
    flux = frame["EP_8_FLUX"].to_numpy(dtype="float64")
    mask = Range("EP_8_FLUX", 1e-14, 1e-12).evaluate(frame)
    expected = (flux >= 1e-14) & (flux <= 1e-12)
    assert mask.dtype == bool and np.array_equal(mask, expected)
    assert not mask[np.isnan(flux)].any()
    lo_only = Range("EP_8_FLUX", lo=1e-14).evaluate(frame)
    assert np.array_equal(lo_only, flux >= 1e-14)
    hi_only = Range("EP_HR2", hi=0.5, hi_open=True).evaluate(frame)
    assert np.array_equal(hi_only, frame["EP_HR2"].to_numpy() < 0.5)
    assert np.array_equal(Range("EP_8_FLUX").evaluate(frame), ~np.isnan(flux))
    # Inclusive bounds keep an exact value; an open bound drops it.
    exact = pd.DataFrame({"X": [1.0, 2.0, 3.0]})
    assert Range("X", 1.0, 3.0).evaluate(exact).tolist() == [True, True, True]
    assert Range("X", 1.0, 3.0, True, True).evaluate(exact).tolist() == [False, True, False]
    assert Range("X", -np.inf, np.inf) == Range("X")


def test_in_istrue_ids(frame):
    flags = frame["SUM_FLAG"]
    assert np.array_equal(In("SUM_FLAG", (0, 1)).evaluate(frame), flags.isin([0, 1]).to_numpy(dtype=bool))
    assert np.array_equal(In("OBS_ID", "0123456789").evaluate(frame), (frame["OBS_ID"] == "0123456789").to_numpy())
    var = frame["VAR_FLAG"]
    assert np.array_equal(IsTrue("VAR_FLAG").evaluate(frame), var.fillna(False).to_numpy(dtype=bool))
    ids = frame["SRCID"].unique()[:7]
    sel = Ids("SRCID", list(reversed(ids.tolist())) + [int(ids[0])])
    assert sel.values == tuple(sorted(int(i) for i in ids))
    assert np.array_equal(sel.evaluate(frame), frame["SRCID"].isin(ids).to_numpy())


def test_box_orders_corners(frame):
    sel = Box("RA", "DEC", 11.0, 9.0, 42.0, 40.0)
    ra, dec = frame["RA"].to_numpy(), frame["DEC"].to_numpy()
    expected = (ra >= 9) & (ra <= 11) & (dec >= 40) & (dec <= 42)
    assert (sel.x0, sel.x1, sel.y0, sel.y1) == (9.0, 11.0, 40.0, 42.0)
    assert np.array_equal(sel.evaluate(frame), expected)


def test_lasso_concave_polygon():
    # A "U": the notch x in (1, 2), y > 1 is outside although inside the bounding box.
    u_shape = [(0, 0), (3, 0), (3, 3), (2, 3), (2, 1), (1, 1), (1, 3), (0, 3)]
    pts = pd.DataFrame(
        {"x": [0.5, 1.5, 1.5, 2.5, 1.5, 3.5, -0.1, np.nan], "y": [2.5, 2.0, 0.5, 2.5, 2.9, 1.0, 1.0, 1.0]}
    )
    expected = [True, False, True, True, False, False, False, False]
    assert Lasso("x", "y", u_shape).evaluate(pts).tolist() == expected


def test_lasso_matches_grid_count():
    rng = np.random.default_rng(1)
    pts = pd.DataFrame({"x": rng.uniform(-2, 2, 20000), "y": rng.uniform(-2, 2, 20000)})
    # Star with 5 points: concave; compare to the analytic triangle-fan area fraction.
    angles = np.radians(np.arange(10) * 36 + 90)
    radii = np.where(np.arange(10) % 2 == 0, 1.5, 0.6)
    star = list(zip(radii * np.cos(angles), radii * np.sin(angles), strict=True))
    xs, ys = np.array(star).T
    area = 0.5 * abs(np.dot(xs, np.roll(ys, 1)) - np.dot(ys, np.roll(xs, 1)))
    frac = Lasso("x", "y", star).evaluate(pts).mean()
    assert frac == pytest.approx(area / 16, abs=0.01)


def test_cone_matches_astropy_separation(frame):
    centre = SkyCoord(10.6847 * u.deg, 41.269 * u.deg)
    sep = centre.separation(SkyCoord(frame["RA"].to_numpy() * u.deg, frame["DEC"].to_numpy() * u.deg)).deg
    for radius in (0.01, 0.5, 2.0):
        mask = Cone(10.6847, 41.269, radius).evaluate(frame)
        clear = np.abs(sep - radius) > 1e-9
        assert np.array_equal(mask[clear], (sep <= radius)[clear])
    assert Cone(10.6847, 41.269, 0.5).evaluate(frame).sum() > 10


def test_cone_across_ra_zero_and_pole():
    pts = pd.DataFrame({"RA": [359.99, 0.01, 180.0, 10.0], "DEC": [0.0, 0.0, 89.95, 89.95]})
    assert Cone(0.0, 0.0, 0.02).evaluate(pts).tolist() == [True, True, False, False]
    assert Cone(0.0, 90.0, 0.06).evaluate(pts).tolist() == [False, False, True, True]


def test_combinations_and_de_morgan(frame):
    a = Range("EP_8_FLUX", 1e-14, None)
    b = Range("EP_HR2", 0.2, None)
    c = IsTrue("VAR_FLAG")
    ma, mb, mc = a.evaluate(frame), b.evaluate(frame), c.evaluate(frame)
    assert np.array_equal((a & b & c).evaluate(frame), ma & mb & mc)
    assert np.array_equal((a | b).evaluate(frame), ma | mb)
    assert np.array_equal((~(a & b)).evaluate(frame), (~a | ~b).evaluate(frame))
    assert np.array_equal((~(a | b)).evaluate(frame), (~a & ~b).evaluate(frame))
    assert np.array_equal(((a | b) & ~c).evaluate(frame), (ma | mb) & ~mc)
    # NOT is the complement: rows with NaN flux are in ~a.
    nan_rows = np.isnan(frame["EP_8_FLUX"].to_numpy(dtype="float64"))
    assert (~a).evaluate(frame)[nan_rows].all()
    assert ~~a == a
    assert (a & b & c) == And(a, b, c) and (a | b | c) == Or(a, b, c)
    assert All().evaluate(frame).all() and len(All().evaluate(frame)) == N


def test_columns_lists_what_is_read():
    sel = (Range("EP_8_FLUX", 1e-14) & Cone(1, 2, 0.1)) | ~Lasso("EP_HR1", "EP_HR2", [(0, 0), (1, 0), (0, 1)])
    assert sel.columns() == ("DEC", "EP_8_FLUX", "EP_HR1", "EP_HR2", "RA")


def test_missing_column_is_a_sentence(frame):
    with pytest.raises(SelectionError, match="column 'NOPE'"):
        Range("NOPE", 1).evaluate(frame)


def test_describe():
    sel = Range("EP_8_FLUX", 1e-14, None) & Cone(10.68, 41.27, 0.5)
    assert sel.describe() == "EP_8_FLUX in [1e-14, ∞) AND cone(10.68°, +41.27°, 0.5°)"
    text = (~(IsTrue("VAR_FLAG") | In("SUM_FLAG", (0, 1)))).describe()
    assert text == "NOT (VAR_FLAG OR SUM_FLAG in {0, 1})"
    assert Ids("SRCID", range(10)).describe() == "SRCID in a list of 10 identifiers"
    assert Cone(1, -2, 30 / 3600).describe() == "cone(1°, -2°, 30″)"


def _all_nodes():
    return Or(
        And(
            Range("EP_8_FLUX", 1.234567890123e-14, None, lo_open=True),
            Cone(10.6847, 41.269, 0.5),
            In("OBS_ID", ("0123456789", "0200000101")),
        ),
        Not(IsTrue("VAR_FLAG")),
        Box("RA", "DEC", 1.5, 2.5, -3.0, 3.0),
        Lasso("EP_HR1", "EP_HR2", [(0.1, 0.2), (0.3, 0.4), (0.5, -0.1)]),
        Ids("SRCID", [201000000000123, 201000000000007, 201000000099999]),
        All(),
    )


def test_json_and_url_round_trip_exactly():
    sel = _all_nodes()
    assert from_json(sel.to_json()) == sel
    assert from_json(json.dumps(sel.to_json())) == sel
    url = sel.to_url()
    assert set(url) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert from_url(url) == sel
    assert from_url(url).to_json() == sel.to_json()


def test_ids_url_is_compact():
    ids = Ids("SRCID", 201_000_000_000_000 + np.arange(0, 20000, 7))
    assert len(ids.to_url()) < 1500  # ~2,900 15-digit IDs
    assert from_url(ids.to_url()) == ids


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"t": "eval", "c": "RA"}, "not a known selection type"),
        ({"t": "range", "c": "RA", "lo": "__import__('os')"}, "must be a number"),
        ({"t": "range", "c": "RA); DROP TABLE", "lo": 1}, "not a valid column name"),
        ({"t": "range", "c": "RA", "lo": 1, "code": "x"}, "unexpected fields"),
        ({"t": "and", "a": "not a list"}, "must be a list"),
        ({"t": "in", "c": "RA", "v": [{"x": 1}]}, "numbers, text"),
        ({"t": "box", "x": "RA", "y": "DEC", "b": [1, 2, 3]}, "4 bounds"),
        ({"t": "cone", "p": [1, 95, 1]}, "outside"),
        ({"t": "lasso", "x": "a", "y": "b", "v": [[0, 0], [1, 1]]}, "at least 3"),
        (["t", "range"], "must be an object"),
        ({"t": "range"}, "lacks the field"),
    ],
)
def test_from_json_rejects(payload, message):
    with pytest.raises(SelectionError, match=message):
        from_json(payload)


def test_from_json_allowed_columns():
    sel = Range("EP_8_FLUX", 1e-14) & IsTrue("SECRET")
    with pytest.raises(ValueError, match="'SECRET'.*not one of the columns"):
        from_json(sel.to_json(), allowed_columns={"EP_8_FLUX"})
    assert from_json(sel.to_json(), allowed_columns={"EP_8_FLUX", "SECRET"}) == sel


def test_from_json_depth_and_url_damage():
    deep: dict = {"t": "all"}
    for _ in range(100):
        deep = {"t": "not", "a": deep}
    with pytest.raises(SelectionError, match="too large or too deeply nested"):
        from_json(deep)
    with pytest.raises(SelectionError, match="URL-safe"):
        from_url("abc$%")
    with pytest.raises(SelectionError, match="damaged"):
        from_url("AAAA")
    bomb = base64.urlsafe_b64encode(zlib.compress(b" " * 20_000_000)).decode().rstrip("=")
    with pytest.raises(SelectionError, match="too large"):
        from_url(bomb)


def test_dask_equals_pandas(frame):
    dd = pytest.importorskip("dask.dataframe")
    ddf = dd.from_pandas(frame, npartitions=3)
    sel = _all_nodes() & ~Range("SUM_FLAG", None, 2)
    lazy = sel.evaluate(ddf)
    assert type(lazy).__module__.startswith("dask")
    assert np.array_equal(lazy.compute().to_numpy(), sel.evaluate(frame))
    assert np.array_equal(ddf[lazy].compute()["SRCID"].to_numpy(), frame[sel.evaluate(frame)]["SRCID"].to_numpy())


def test_invalid_construction():
    with pytest.raises(SelectionError, match="empty"):
        Range("X", 2, 1)
    with pytest.raises(SelectionError, match="NaN"):
        Range("X", float("nan"))
    with pytest.raises(SelectionError, match="radius"):
        Cone(1, 2, -1)
    with pytest.raises(SelectionError, match="whole numbers"):
        Ids("SRCID", [1.5])
    with pytest.raises(TypeError):
        Range("X", 1) & "RA > 1"
