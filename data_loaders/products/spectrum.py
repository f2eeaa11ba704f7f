"""Read EPIC source/background spectra (``SRSPEC``/``BGSPEC``) into ``Spectrum``: net rates, grouping, energies."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from data_loaders.products.arf import EffectiveArea, read_arf
from data_loaders.products.errors import ProductError
from data_loaders.products.fitsfile import header_float, read_table
from data_loaders.products.lightcurve import CAMERA_OF_INSTRUME

#: PI channel width (eV) when a file lacks SPECDELT; it is 5 eV for pn and MOS alike.
DEFAULT_SPECDELT_EV = 5.0
REQUIRED = ("CHANNEL", "COUNTS")


def _readonly(array: np.ndarray) -> np.ndarray:
    array.flags.writeable = False
    return array


@dataclass(frozen=True, eq=False)
class NetSpectrum:
    """Background-subtracted spectrum per bin: ``value`` ± ``error`` in ``unit``.

    ``unit`` is ``count/s/keV``, or ``photon/cm**2/s/keV`` when corrected by the effective
    area (bins with no effective area are NaN there).
    """

    energy_lo: np.ndarray
    energy_hi: np.ndarray
    value: np.ndarray
    error: np.ndarray
    unit: str

    @property
    def energy(self) -> np.ndarray:
        """Bin centres, keV."""
        return 0.5 * (self.energy_lo + self.energy_hi)


@dataclass(frozen=True, eq=False)
class Spectrum:
    """One EPIC source spectrum with, when given, its background and effective area.

    Per bin: ``channel`` (first PI channel of the bin), ``counts`` (source-region counts),
    ``energy_lo``/``energy_hi`` (keV), ``background_counts`` (background-region counts or
    None), ``effective_area`` (cm², the ARF interpolated at the bin centre, or None).
    Scalars: ``exposure`` (s), ``backscal``/``areascal`` of source and background.
    ``energy_source`` says where the energy axis came from (SPECDELT or a response's EBOUNDS).
    """

    channel: np.ndarray
    counts: np.ndarray
    energy_lo: np.ndarray
    energy_hi: np.ndarray
    exposure: float
    backscal: float
    areascal: float
    instrument: str
    obs_id: str
    src_num: int
    respfile: str = ""
    ancrfile: str = ""
    backfile: str = ""
    energy_source: str = "SPECDELT"
    grouping: np.ndarray | None = None
    quality: np.ndarray | None = None
    background_counts: np.ndarray | None = None
    background_exposure: float = float("nan")
    background_backscal: float = float("nan")
    background_areascal: float = 1.0
    effective_area: np.ndarray | None = None
    path: Path | None = None

    @property
    def camera(self) -> str:
        return CAMERA_OF_INSTRUME.get(self.instrument, self.instrument)

    @property
    def energy(self) -> np.ndarray:
        """Bin centres, keV."""
        return 0.5 * (self.energy_lo + self.energy_hi)

    @property
    def background_scale(self) -> float:
        """Factor turning background counts into source-region counts per source exposure.

        (EXPOSURE·AREASCAL)_src / (EXPOSURE·AREASCAL)_bkg × BACKSCAL_src / BACKSCAL_bkg.
        """
        if self.background_counts is None:
            return 0.0
        return (
            (self.exposure * self.areascal)
            / (self.background_exposure * self.background_areascal)
            * self.backscal
            / self.background_backscal
        )

    def net_rate(self) -> tuple[np.ndarray, np.ndarray]:
        """Net count rate per bin (count/s) and its 1σ error, from Poisson (sqrt N) errors.

        rate = src/(EXPOSURE·AREASCAL) − bkg/(EXPOSURE_bkg·AREASCAL_bkg) × BACKSCAL_src/BACKSCAL_bkg.
        """
        live = self.exposure * self.areascal
        source = self.counts.astype(float)
        rate = source / live
        variance = source / live**2
        if self.background_counts is not None:
            per_bkg_count = self.background_scale / live
            background = self.background_counts.astype(float)
            rate = rate - background * per_bkg_count
            variance = variance + background * per_bkg_count**2
        return rate, np.sqrt(variance)

    def net_rate_per_kev(self, effective_area: bool = False) -> NetSpectrum:
        """Net rate divided by the bin width in keV; optionally by the effective area too."""
        rate, error = self.net_rate()
        width = self.energy_hi - self.energy_lo
        value, err, unit = rate / width, error / width, "count/s/keV"
        if effective_area:
            if self.effective_area is None:
                raise ProductError(
                    f"{self._label()} has no effective area loaded; pass arf= to read_spectrum.",
                    self.path,
                )
            area = np.where(self.effective_area > 0, self.effective_area, np.nan)
            value, err, unit = value / area, err / area, "photon/cm**2/s/keV"
        return NetSpectrum(self.energy_lo, self.energy_hi, value, err, unit)

    def group_min_counts(self, min_counts: int) -> Spectrum:
        """Merge adjacent bins until each holds at least ``min_counts`` source counts.

        Greedy from low to high channel; a short remainder at the top joins the last group,
        so the total counts are kept exactly. Effective area is averaged over each group.
        """
        min_counts = int(min_counts)
        if min_counts < 1:
            raise ValueError(f"min_counts must be at least 1, got {min_counts}")
        starts = group_starts(self.counts.astype(float), min_counts)
        ends = np.r_[starts[1:], len(self.counts)]
        size = ends - starts

        def summed(values: np.ndarray | None) -> np.ndarray | None:
            return None if values is None else _readonly(np.add.reduceat(values, starts))

        area = None
        if self.effective_area is not None:
            area = _readonly(np.add.reduceat(self.effective_area, starts) / size)
        return dataclasses.replace(
            self,
            channel=_readonly(self.channel[starts].copy()),
            counts=_readonly(np.add.reduceat(self.counts, starts)),
            energy_lo=_readonly(self.energy_lo[starts].copy()),
            energy_hi=_readonly(self.energy_hi[ends - 1].copy()),
            grouping=None,
            quality=None,
            background_counts=summed(self.background_counts),
            effective_area=area,
        )

    def _label(self) -> str:
        return self.path.name if self.path else f"spectrum {self.obs_id}/{self.src_num}"


def group_starts(counts: np.ndarray, min_counts: int) -> np.ndarray:
    """First index of each group holding at least ``min_counts`` (the remainder joins the last)."""
    cumulative = np.cumsum(counts)
    starts = [0]
    before = 0.0
    while True:
        end = int(np.searchsorted(cumulative, before + min_counts, side="left"))
        if end >= len(counts) - 1:
            break
        starts.append(end + 1)
        before = cumulative[end]
    if len(starts) > 1 and cumulative[-1] - cumulative[starts[-1] - 1] < min_counts:
        starts.pop()
    return np.asarray(starts, dtype=int)


def _read_spectrum_table(path: Path, what: str):
    table = read_table(path, extname="SPECTRUM", want=what, required=REQUIRED)
    exposure = header_float(table.header, "EXPOSURE")
    backscal = header_float(table.header, "BACKSCAL", 1.0)
    if not (np.isfinite(exposure) and exposure > 0):
        raise ProductError(f"{path.name} has no positive EXPOSURE keyword in SPECTRUM.", path)
    if not (np.isfinite(backscal) and backscal > 0):
        raise ProductError(f"{path.name} has a BACKSCAL that is not a positive number.", path)
    return table, exposure, backscal


def read_spectrum(
    path: str | Path,
    background: str | Path | None = None,
    arf: str | Path | EffectiveArea | None = None,
    response: str | Path | None = None,
) -> Spectrum:
    """Read a ``SRSPEC`` spectrum, with its ``BGSPEC`` background and ``SRCARF`` if given.

    The energy axis is channel × SPECDELT (eV), unless ``response`` names an existing RMF
    whose EBOUNDS then gives it. Foreign or broken files raise ProductError.
    """
    path = Path(path)
    table, exposure, backscal = _read_spectrum_table(path, "a spectrum")
    header = table.header
    channel = table.columns["CHANNEL"].astype(int)
    lo, hi, energy_source = _energies(path, header, channel, response)
    fields: dict = {}
    if background is not None:
        background = Path(background)
        btable, bexp, bscal = _read_spectrum_table(background, "a background spectrum")
        bchannel = btable.columns["CHANNEL"].astype(int)
        if not np.array_equal(bchannel, channel):
            raise ProductError(
                f"{background.name} has {len(bchannel)} channels but {path.name} has "
                f"{len(channel)}; they are not a source/background pair.",
                background,
            )
        fields.update(
            background_counts=_readonly(btable.columns["COUNTS"].astype(float)),
            background_exposure=bexp,
            background_backscal=bscal,
            background_areascal=header_float(btable.header, "AREASCAL", 1.0),
        )
    if arf is not None:
        area = arf if isinstance(arf, EffectiveArea) else read_arf(arf)
        fields["effective_area"] = _readonly(area.at(0.5 * (lo + hi)))
    instrument = str(header.get("INSTRUME", table.primary.get("INSTRUME", ""))).strip()
    return Spectrum(
        channel=_readonly(channel),
        counts=_readonly(table.columns["COUNTS"].astype(float)),
        energy_lo=_readonly(lo),
        energy_hi=_readonly(hi),
        exposure=exposure,
        backscal=backscal,
        areascal=header_float(header, "AREASCAL", 1.0),
        instrument=instrument,
        obs_id=str(header.get("OBS_ID", table.primary.get("OBS_ID", ""))).strip(),
        src_num=int(header_float(header, "SRCNUM", header_float(header, "SRC_NUM", -1))),
        respfile=str(header.get("RESPFILE", "")).strip(),
        ancrfile=str(header.get("ANCRFILE", "")).strip(),
        backfile=str(header.get("BACKFILE", "")).strip(),
        energy_source=energy_source,
        grouping=_readonly(table.columns["GROUPING"].astype(int)) if "GROUPING" in table.columns else None,
        quality=_readonly(table.columns["QUALITY"].astype(int)) if "QUALITY" in table.columns else None,
        path=path,
        **fields,
    )


def _energies(path: Path, header, channel: np.ndarray, response) -> tuple[np.ndarray, np.ndarray, str]:
    """Channel energy bounds (keV): from a response's EBOUNDS if it exists, else SPECDELT."""
    if response is not None and Path(response).is_file():
        rmf = Path(response)
        ebounds = read_table(rmf, extname="EBOUNDS", want="a response matrix", required=("CHANNEL", "E_MIN", "E_MAX"))
        lookup = {int(c): i for i, c in enumerate(ebounds.columns["CHANNEL"])}
        missing = [int(c) for c in channel if int(c) not in lookup]
        if missing:
            raise ProductError(
                f"{rmf.name} has no EBOUNDS rows for {len(missing)} channels of {path.name} (first: {missing[0]}).",
                rmf,
            )
        index = np.array([lookup[int(c)] for c in channel])
        return (
            ebounds.columns["E_MIN"].astype(float)[index],
            ebounds.columns["E_MAX"].astype(float)[index],
            f"EBOUNDS of {rmf.name}",
        )
    specdelt = header_float(header, "SPECDELT", DEFAULT_SPECDELT_EV)
    source = "SPECDELT" if "SPECDELT" in header else f"default {DEFAULT_SPECDELT_EV:g} eV channels"
    if not (np.isfinite(specdelt) and specdelt > 0):
        raise ProductError(f"{path.name} has a SPECDELT that is not a positive number.", path)
    return channel * specdelt / 1000.0, (channel + 1) * specdelt / 1000.0, source
