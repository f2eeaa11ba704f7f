"""Broken or foreign product files give one readable ProductError sentence, never a raw traceback."""

from __future__ import annotations

import gzip

import numpy as np
import pytest
from astropy.io import fits

from data_loaders.products import (
    ProductError,
    read_arf,
    read_lightcurve,
    read_spectrum,
    write_detection_products,
)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("archive")
    paths = write_detection_products(
        root,
        obs_id="0886010101",
        src_num=12,
        ra=1.0,
        dec=2.0,
        rate=0.3,
        exposure=20_000,
        mjd_start=58000.0,
        cameras=("PN",),
    )
    return {p.name[13:23]: p for p in paths}  # e.g. "X000SRCTSR"


def _single_sentence(message: str) -> None:
    assert message.endswith(".")
    assert "Traceback" not in message
    assert "\n" not in message


def test_truncated_ftz(files, tmp_path):
    whole = files["X000SRCTSR"].read_bytes()
    cut = tmp_path / "P0886010101PNX000SRCTSR800C.FTZ"
    cut.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(ProductError) as info:
        read_lightcurve(cut)
    message = str(info.value)
    assert message.startswith("P0886010101PNX000SRCTSR800C.FTZ is truncated")
    _single_sentence(message)
    assert info.value.path == cut


def test_corrupt_gzip(files, tmp_path):
    data = bytearray(files["S003SRSPEC"].read_bytes())
    data[-6] ^= 0xFF  # damage the CRC/size trailer
    bad = tmp_path / "bad.FTZ"
    bad.write_bytes(bytes(data))
    with pytest.raises(ProductError, match=r"bad\.FTZ is a corrupt gzip file"):
        read_spectrum(bad)


def test_truncated_uncompressed_fits(files, tmp_path):
    raw = gzip.decompress(files["X000SRCTSR"].read_bytes())
    cut = tmp_path / "cut.fits"
    cut.write_bytes(raw[:4000])
    with pytest.raises(ProductError, match="cut.fits is truncated: 4000 bytes of FITS"):
        read_lightcurve(cut)


def test_lightcurve_given_to_the_spectrum_reader(files):
    with pytest.raises(ProductError) as info:
        read_spectrum(files["X000SRCTSR"])
    assert str(info.value) == ("P0886010101PNX000SRCTSR800C.FTZ is a lightcurve, not a spectrum.")


def test_spectrum_given_to_the_lightcurve_reader_and_arf_readers(files):
    with pytest.raises(ProductError, match="SRSPEC000C.FTZ is a spectrum, not a lightcurve."):
        read_lightcurve(files["S003SRSPEC"])
    with pytest.raises(ProductError, match="SRCARF000C.FTZ is an effective area"):
        read_spectrum(files["S003SRCARF"])
    with pytest.raises(ProductError, match="is a spectrum, not an effective area"):
        read_arf(files["S003BGSPEC"])
    with pytest.raises(ProductError, match="is a lightcurve, not a background spectrum"):
        read_spectrum(files["S003SRSPEC"], background=files["X000SRCTSR"])


def test_missing_columns_are_listed(tmp_path):
    hdu = fits.BinTableHDU.from_columns(
        [
            fits.Column("TIME", "D", array=[1.0, 2.0]),
            fits.Column("RATE", "E", array=[1.0, 2.0]),
            fits.Column("BACKV", "E", array=[1.0, 2.0]),
        ],
        name="RATE",
    )
    path = tmp_path / "thin.fits"
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(path)
    with pytest.raises(ProductError) as info:
        read_lightcurve(path)
    assert str(info.value) == "thin.fits is missing the RATE columns ERROR, FRACEXP, BACKE."


def test_non_fits_bytes(tmp_path):
    path = tmp_path / "P0886010101PNX000SRCTSR800C.FTZ"
    path.write_bytes(b"<html><body>Not found</body></html>\n")
    with pytest.raises(ProductError) as info:
        read_lightcurve(path)
    assert "is not a FITS file" in str(info.value)
    _single_sentence(str(info.value))
    gzipped = tmp_path / "text.FTZ"
    gzipped.write_bytes(gzip.compress(b"hello " * 1000, mtime=0))
    with pytest.raises(ProductError, match="text.FTZ is not a FITS file"):
        read_arf(gzipped)


def test_empty_table(tmp_path):
    hdu = fits.BinTableHDU.from_columns(
        [
            fits.Column("CHANNEL", "I", array=np.array([], dtype=np.int16)),
            fits.Column("COUNTS", "J", array=np.array([], dtype=np.int32)),
        ],
        name="SPECTRUM",
    )
    hdu.header["EXPOSURE"] = 100.0
    path = tmp_path / "empty.fits"
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(path)
    with pytest.raises(ProductError) as info:
        read_spectrum(path)
    assert str(info.value) == "empty.fits has an empty SPECTRUM table (no rows)."


def test_other_faults(tmp_path):
    with pytest.raises(ProductError, match=r"nothing.FTZ does not exist \(looked in"):
        read_lightcurve(tmp_path / "nothing.FTZ")
    empty = tmp_path / "zero.FTZ"
    empty.write_bytes(b"")
    with pytest.raises(ProductError, match=r"zero.FTZ is empty \(0 bytes\)."):
        read_lightcurve(empty)
    image = tmp_path / "image.fits"
    fits.HDUList([fits.PrimaryHDU(np.zeros((4, 4)))]).writeto(image)
    with pytest.raises(ProductError, match="image.fits is not a lightcurve: it has no RATE"):
        read_lightcurve(image)
    no_exposure = fits.BinTableHDU.from_columns(
        [
            fits.Column("CHANNEL", "I", array=[0, 1]),
            fits.Column("COUNTS", "J", array=[1, 2]),
        ],
        name="SPECTRUM",
    )
    path = tmp_path / "noexp.fits"
    fits.HDUList([fits.PrimaryHDU(), no_exposure]).writeto(path)
    with pytest.raises(ProductError, match="noexp.fits has no positive EXPOSURE"):
        read_spectrum(path)


def test_product_error_is_a_value_error_with_reason(tmp_path):
    path = tmp_path / "x.fits"
    path.write_bytes(b"junk")
    with pytest.raises(ValueError) as info:
        read_lightcurve(path)
    assert info.value.reason == str(info.value)
