"""Write synthetic lightcurves, read them back (pn merged and MOS single layouts), rebin them."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits

from data_loaders.products import Lightcurve, read_lightcurve, write_detection_products

OBS = "0886010101"
DETECTION = dict(obs_id=OBS, src_num=12, ra=150.1, dec=2.2, mjd_start=59000.25)


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    root = tmp_path_factory.mktemp("archive")
    paths = write_detection_products(root, **DETECTION, rate=0.8, exposure=80_000, variable=True, fvar=0.3, seed=1)
    steady = write_detection_products(
        root,
        obs_id=OBS,
        src_num=13,
        ra=150.2,
        dec=2.3,
        mjd_start=59000.25,
        rate=0.5,
        exposure=30_000,
        seed=1,
    )
    return {p.name: p for p in paths + steady}


def test_pn_merged_layout_reads_with_band_rates(archive):
    path = archive["P0886010101PNX000SRCTSR800C.FTZ"]
    lc = read_lightcurve(path)
    assert (lc.instrument, lc.camera, lc.obs_id, lc.src_num) == ("EPN", "PN", OBS, 12)
    assert lc.mjdref == 50814.0
    np.testing.assert_allclose(lc.mjd, 50814.0 + lc.time / 86400.0, rtol=0, atol=1e-9)
    assert lc.mjd[0] == pytest.approx(59000.25, abs=0.1)
    assert sorted(lc.band_rates) == [1, 2, 3, 4, 5] and sorted(lc.band_errors) == [1, 2, 3, 4, 5]
    assert lc.exp_id is not None and set(lc.exp_id) == {"S003", "U004"}  # 80 ks splits in two
    with fits.open(path) as hdul:
        assert "TIMEDEL" in hdul["RATE"].columns.names and "TIMEDEL" not in hdul["RATE"].header
        assert lc.timedel == hdul["RATE"].data["TIMEDEL"][0]
    assert np.all(np.diff(lc.time) == pytest.approx(lc.timedel))
    # The bands add up to the total band where there is data.
    good = ~lc.gaps
    total = sum(lc.band_rates[b][good] for b in range(1, 6))
    np.testing.assert_allclose(total, lc.rate[good], rtol=1e-4, atol=1e-4)


def test_mos_single_exposure_layout(archive):
    lc = read_lightcurve(archive["P0886010101M1S001SRCTSR800C.FTZ"])
    assert (lc.instrument, lc.camera) == ("EMOS1", "M1")
    assert lc.band_rates == {} and lc.exp_id is None
    with fits.open(archive["P0886010101M1S001SRCTSR800C.FTZ"]) as hdul:
        assert "TIMEDEL" not in hdul["RATE"].columns.names
        assert lc.timedel == hdul["RATE"].header["TIMEDEL"]
    # MOS collect about a third of the pn rate from the same source.
    pn = read_lightcurve(archive["P0886010101PNX000SRCTSR800C.FTZ"])
    assert 0.2 < np.nanmean(lc.rate) / np.nanmean(pn.rate) < 0.5


def test_gaps_are_nan_not_zero(archive):
    path = archive["P0886010101PNX000SRCTSR800C.FTZ"]
    with fits.open(path) as hdul:
        raw = hdul["RATE"].data
        zero_exposure = raw["FRACEXP"] == 0
    assert zero_exposure.any()
    lc = read_lightcurve(path)
    assert np.array_equal(lc.gaps, zero_exposure | ~np.isfinite(raw["RATE"]))
    for values in (lc.rate, lc.error, lc.background, lc.band_rates[3]):
        assert np.isnan(values[lc.gaps]).all()
        assert np.isfinite(values[~lc.gaps]).all()


def test_gap_written_as_zero_is_still_a_gap(tmp_path):
    # Some tools write RATE = 0 where FRACEXP = 0; that is no exposure, not zero flux.
    columns = [
        fits.Column("TIME", "D", unit="s", array=[100.0, 110.0, 120.0]),
        fits.Column("RATE", "E", unit="count/s", array=[1.0, 0.0, 2.0]),
        fits.Column("ERROR", "E", array=[0.1, 0.0, 0.2]),
        fits.Column("FRACEXP", "E", array=[1.0, 0.0, 1.0]),
        fits.Column("BACKV", "E", array=[0.01, 0.0, 0.01]),
        fits.Column("BACKE", "E", array=[0.001, 0.0, 0.001]),
    ]
    hdu = fits.BinTableHDU.from_columns(columns, name="RATE")
    hdu.header["TIMEDEL"] = 10.0
    path = tmp_path / "lc.fits"
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(path)
    lc = read_lightcurve(path)
    assert np.isnan(lc.rate[1]) and lc.rate[0] == 1.0
    assert lc.mjdref == 50814.0  # XMM default when the keyword is absent
    assert np.isnan(lc.fvar)


def test_header_statistics_follow_variability(archive):
    # As in the pipeline, the merged pn file has no statistics: its exposures' files have them.
    merged = read_lightcurve(archive["P0886010101PNX000SRCTSR800C.FTZ"])
    assert merged.statistics == () and np.isnan(merged.chi2prob)
    assert merged.src_ra == 150.1 and merged.src_dec == 2.2
    first = read_lightcurve(archive["P0886010101PNS003SRCTSR800C.FTZ"])
    second = read_lightcurve(archive["P0886010101PNU004SRCTSR800C.FTZ"])
    assert [first.expid, second.expid] == ["S003", "U004"]
    assert len(first) + len(second) == len(merged)  # the merged file's rows, split by exposure
    assert first.chi2prob < 1e-5 and second.chi2prob < 1e-5
    assert first.avrate == pytest.approx(np.nanmean(first.rate), rel=1e-4)
    assert first.exposure == pytest.approx(np.nansum(first.fracexp) * first.timedel, rel=1e-4)
    # MOS1 covers the whole observation: its FVAR is the source model's.
    variable = read_lightcurve(archive["P0886010101M1S001SRCTSR800C.FTZ"])
    steady = read_lightcurve(archive["P0886010101PNS003SRCTSR800D.FTZ"])
    assert variable.chi2prob < 1e-5
    assert variable.fvar == pytest.approx(0.3, abs=0.06)
    assert 0 < variable.fvarerr < 0.05
    assert steady.chi2prob > 1e-5
    assert steady.fvar < 0.05
    assert variable.statistics[0].expid == "S001" and variable.statistics[0].fvar == variable.fvar


def _lightcurve(rate, error, fracexp, timedel=10.0):
    n = len(rate)
    time = 1000.0 + (np.arange(n) + 0.5) * timedel
    return Lightcurve(
        time=time,
        mjd=50814.0 + time / 86400.0,
        rate=np.array(rate),
        error=np.array(error),
        fracexp=np.array(fracexp),
        background=np.full(n, 0.1),
        background_error=np.full(n, 0.01),
        timedel=timedel,
        instrument="EPN",
        obs_id=OBS,
        src_num=1,
        exposure=float(n * timedel),
        band_rates={1: np.array(rate) / 2},
        band_errors={1: np.array(error) / 2},
    )


def test_rebin_weights_by_exposure_and_adds_errors_in_quadrature():
    lc = _lightcurve(
        rate=[1.0, 2.0, 3.0, np.nan, 5.0],
        error=[0.1, 0.1, 0.3, np.nan, 0.5],
        fracexp=[1.0, 0.5, 1.0, 0.0, 0.8],
    )
    binned = lc.rebin(2)
    assert len(binned) == 3 and binned.timedel == 20.0
    # bin 0: counts (1*1 + 2*0.5) over exposure 1.5; error sqrt((.1*1)^2 + (.1*.5)^2)/1.5
    assert binned.rate[0] == pytest.approx(2.0 / 1.5)
    assert binned.error[0] == pytest.approx(np.hypot(0.1, 0.05) / 1.5)
    assert binned.fracexp[0] == pytest.approx(0.75)
    # bin 1 holds a gap: only the exposed bin counts
    assert binned.rate[1] == pytest.approx(3.0) and binned.error[1] == pytest.approx(0.3)
    assert binned.fracexp[1] == pytest.approx(0.5)
    # trailing partial group: a full-width bin with a smaller exposure fraction
    assert binned.rate[2] == pytest.approx(5.0) and binned.fracexp[2] == pytest.approx(0.4)
    np.testing.assert_allclose(binned.time, [1010.0, 1030.0, 1050.0])
    np.testing.assert_allclose(binned.mjd, 50814.0 + binned.time / 86400.0)
    assert binned.band_rates[1][0] == pytest.approx(1.0 / 1.5)
    assert binned.band_errors[1][0] == pytest.approx(np.hypot(0.05, 0.025) / 1.5)


def test_rebin_of_only_gaps_is_a_gap_and_factor_checked():
    lc = _lightcurve([np.nan, np.nan, 1.0, 1.0], [np.nan, np.nan, 0.1, 0.1], [0, 0, 1, 1])
    binned = lc.rebin(2)
    assert np.isnan(binned.rate[0]) and np.isnan(binned.error[0])
    assert binned.rate[1] == 1.0 and binned.error[1] == pytest.approx(np.sqrt(0.02) / 2)
    assert lc.rebin(1) is lc
    with pytest.raises(ValueError, match="positive integer"):
        lc.rebin(0)


def test_rebinned_real_lightcurve_keeps_the_mean_rate(archive):
    lc = read_lightcurve(archive["P0886010101PNX000SRCTSR800D.FTZ"])
    binned = lc.rebin(4)
    weights = np.where(lc.gaps, 0, lc.fracexp)
    mean = np.nansum(lc.rate * weights) / weights.sum()
    bweights = np.where(binned.gaps, 0, binned.fracexp)
    assert np.nansum(binned.rate * bweights) / bweights.sum() == pytest.approx(mean, rel=1e-5)
    # Errors shrink roughly as sqrt(factor) for steady exposure.
    assert np.nanmedian(binned.error) == pytest.approx(np.nanmedian(lc.error) / 2, rel=0.2)


def test_lightcurve_arrays_are_read_only(archive):
    lc = read_lightcurve(archive["P0886010101M2S002SRCTSR800C.FTZ"])
    with pytest.raises(ValueError, match="read-only"):
        lc.rate[0] = 1.0
