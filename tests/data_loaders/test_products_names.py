"""Archive file names of per-detection products: build, parse, reject, list."""

from __future__ import annotations

import pytest

from data_loaders.products import (
    ProductError,
    ProductName,
    list_products,
    parse_product_name,
    product_dir,
    product_name,
)


def test_schema_examples_build_exactly():
    assert product_name("0886010101", "PN", "X000", "SRCTSR", 12, "8") == ("P0886010101PNX000SRCTSR800C.FTZ")
    assert product_name("0886010101", "PN", "S003", "SRSPEC", 12) == ("P0886010101PNS003SRSPEC000C.FTZ")
    assert product_name("0886010101", "M1", "U002", "BGSPEC", 4095) == ("P0886010101M1U002BGSPEC0FFF.FTZ")


@pytest.mark.parametrize(
    "name",
    [
        "P0886010101PNX000SRCTSR800C.FTZ",
        "P0886010101PNS003SRSPEC000C.FTZ",
        "P0123456789M2S002SRCARF0ABC.FTZ",
        "P0123456789EPX000SRCTSR8001.FTZ",
    ],
)
def test_parse_then_build_round_trips(name):
    parsed = parse_product_name(name)
    assert parsed.filename == name
    assert str(parsed) == name


@pytest.mark.parametrize(
    "spelling",
    [
        "P0886010101PNX000SRCTSR800C.FTZ",
        "p0886010101pnx000srctsr800c.ftz",
        "P0886010101PNX000SRCTSR800C.FIT",
        "P0886010101PNX000SRCTSR800C.fits",
        "p0886010101pnx000srctsr800c.fits.gz",
        "P0886010101PNX000SRCTSR800C.FIT.GZ",
    ],
)
def test_archive_spellings_parse_to_one_name(spelling):
    parsed = parse_product_name(spelling)
    assert parsed == ProductName("0886010101", "PN", "X000", "SRCTSR", "8", 12)
    assert parsed.found_as == spelling and parsed.archive_name == spelling
    assert parsed.filename == "P0886010101PNX000SRCTSR800C.FTZ"


def test_rgs_and_om_names_are_recognised_as_such():
    assert parse_product_name("P0123700101R1S004SRSPEC1001.FTZ").family == "RGS"
    assert parse_product_name("P0123700101OMS006TIMESR1000.FTZ").family == "OM"
    assert parse_product_name("P0123700101M2S002SRCTSR8001.FTZ").family == "EPIC"


def test_parse_gives_decimal_src_num_and_kind():
    parsed = parse_product_name("/some/dir/P0886010101PNX000SRCTSR800C.FTZ")
    assert parsed == ProductName("0886010101", "PN", "X000", "SRCTSR", "8", 12)
    assert parsed.kind == "lightcurve"
    assert parse_product_name("P0886010101PNS003SRCARF000C.FTZ").kind == "arf"
    assert parse_product_name("P0886010101PNS003EXPMAP000C.FTZ").kind is None


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("P0886010101PNX000SRCTSR800C.txt", "end in .FTZ, .FIT, .fits or .fits.gz"),
        ("P0886010101PNX000SRCTSR800C.FTZ.part", "end in .FTZ"),
        ("Q0886010101PNX000SRCTSR800C.FTZ", "start with 'P'"),
        ("P08860101PNX000SRCTSR800C.FTZ", "10-digit OBS_ID"),
        ("P0886010101MXX000SRCTSR800C.FTZ", "PN, M1, M2 or EP"),
        ("P0886010101PNA003SRCTSR800C.FTZ", "S003, U002 or X000"),
        ("P0886010101PNX000SRCTSR800G.FTZ", "3 hex digits"),
        ("P0886010101PNX000SRCTSR800C0.FTZ", "28 characters"),
    ],
)
def test_parse_rejects_foreign_names_with_a_reason(name, words):
    with pytest.raises(ProductError) as info:
        parse_product_name(name)
    message = str(info.value)
    assert name in message
    assert words in message


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("886010101", "PN", "X000", "SRCTSR", 1), "10 digits"),
        (("0886010101", "MOS1", "X000", "SRCTSR", 1), "instrument"),
        (("0886010101", "PN", "X0", "SRCTSR", 1), "exposure id"),
        (("0886010101", "PN", "X000", "SRCTSR", 4096), "3 hex digits"),
    ],
)
def test_build_rejects_bad_parts(args, words):
    with pytest.raises(ValueError, match=words):
        product_name(*args)


def test_list_products_of_one_detection(tmp_path):
    directory = product_dir(tmp_path, "0886010101")
    assert directory == tmp_path / "0886010101" / "pps"
    assert list_products(directory, "0886010101", 12) == []  # no directory yet
    directory.mkdir(parents=True)
    mine = [
        "P0886010101PNX000SRCTSR800C.FTZ",
        "P0886010101PNS003SRSPEC000C.FTZ",
        "P0886010101M1S001SRCTSR800C.FTZ",
    ]
    others = [
        "P0886010101PNX000SRCTSR800D.FTZ",  # source 13
        "P0886010102PNX000SRCTSR800C.FTZ",  # another observation
        "README.txt",
        "P0886010101PNX000SRCTSR800C.FTZ.part",
    ]
    for name in mine + others:
        (directory / name).write_bytes(b"x")
    found = list_products(directory, "0886010101", 12)
    assert [path.name for path, _ in found] == sorted(mine)
    assert all(name.src_num == 12 and name.obs_id == "0886010101" for _, name in found)
