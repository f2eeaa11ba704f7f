"""Where a detection's products come from (local archive, HTTP cache, lazy synthesis), read for the app."""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from data_loaders.process_cache import ProcessCache
from data_loaders.products.errors import ProductError, ProductUnavailable
from data_loaders.products.lightcurve import Lightcurve, VariabilityStatistics, read_lightcurve
from data_loaders.products.names import (
    SPECTRUM_ORDER,
    TOTAL_BAND_ORDER,
    ProductName,
    list_products,
    product_dir,
    product_dirs,
)
from data_loaders.products.remote import RemoteArchive
from data_loaders.products.spectrum import Spectrum, read_spectrum

log = logging.getLogger(__name__)

CAMERAS = ("PN", "M1", "M2")
KINDS = ("lightcurve", "spectrum", "background", "arf")
_CAMERA_WORDS = {"PN": "pn", "M1": "MOS1", "M2": "MOS2"}


@dataclass(frozen=True)
class CameraProducts:
    """One camera's product files; each is a Path or a ProductUnavailable with the reason.

    ``exposures`` are the single-exposure (S/U) lightcurves, whose headers hold the
    variability statistics a merged (``X000``) ``lightcurve`` lacks.
    """

    camera: str
    lightcurve: Path | ProductUnavailable
    spectrum: Path | ProductUnavailable
    background: Path | ProductUnavailable
    arf: Path | ProductUnavailable
    exposures: tuple[Path | ProductUnavailable, ...] = ()


@dataclass(frozen=True)
class DetectionProducts:
    """The product files of one detection (OBS_ID, SRC_NUM) for PN, M1 and M2.

    ``origin`` is ``local``, ``http``, ``synthesized`` or ``none``; ``location`` is the
    directory or URL they were looked for in.
    """

    obs_id: str
    src_num: int
    origin: str
    location: str
    cameras: dict[str, CameraProducts]

    def __getitem__(self, camera: str) -> CameraProducts:
        return self.cameras[camera]

    @property
    def available(self) -> bool:
        return any(isinstance(getattr(c, kind), Path) for c in self.cameras.values() for kind in KINDS)


def _unavailable_everywhere(obs_id: str, src_num: int, origin: str, location: str, reason: str) -> DetectionProducts:
    missing = ProductUnavailable(reason)
    cameras = {c: CameraProducts(c, missing, missing, missing, missing) for c in CAMERAS}
    return DetectionProducts(obs_id, src_num, origin, location, cameras)


def _expid_rank(expid: str, prefer_merged: bool) -> tuple[int, str]:
    """Merged (X) first for lightcurves; scheduled (S) before unscheduled (U) exposures."""
    order = "XSU" if prefer_merged else "SUX"
    return (order.index(expid[0]), expid)


def exposure_lightcurves(names: list[ProductName], camera: str) -> list[ProductName]:
    """The single-exposure (S, then U) total-band lightcurves of ``camera``: where statistics live."""
    return sorted(
        (
            n
            for n in names
            if n.instrument == camera and n.ptype == "SRCTSR" and n.order == TOTAL_BAND_ORDER and n.expid[0] in "SU"
        ),
        key=lambda n: _expid_rank(n.expid, prefer_merged=False),
    )


def choose(names: list[ProductName], camera: str) -> dict[str, ProductName | str]:
    """Pick one lightcurve, spectrum, background and ARF of ``camera`` among ``names``.

    Values are the chosen name, or a reason string when there is none. The lightcurve is the
    merged one (``X000``, all exposures) when there is one. Background and ARF come from the
    spectrum's own exposure when it has them.
    """
    mine = [n for n in names if n.instrument == camera]
    word = _CAMERA_WORDS[camera]
    chosen: dict[str, ProductName | str] = {}
    curves = sorted(
        (n for n in mine if n.ptype == "SRCTSR" and n.order == TOTAL_BAND_ORDER),
        key=lambda n: _expid_rank(n.expid, prefer_merged=True),
    )
    chosen["lightcurve"] = curves[0] if curves else f"no {word} lightcurve for this detection"
    spectra = sorted(
        (n for n in mine if n.ptype == "SRSPEC" and n.order == SPECTRUM_ORDER),
        key=lambda n: _expid_rank(n.expid, prefer_merged=False),
    )
    chosen["spectrum"] = spectra[0] if spectra else f"no {word} spectrum for this detection"
    for kind, ptype in (("background", "BGSPEC"), ("arf", "SRCARF")):
        options = sorted((n for n in mine if n.ptype == ptype), key=lambda n: _expid_rank(n.expid, prefer_merged=False))
        if spectra:
            same = [n for n in options if n.expid == spectra[0].expid]
            options = same or options
        what = "background spectrum" if kind == "background" else "effective area (ARF)"
        chosen[kind] = options[0] if options else f"no {word} {what} for this detection"
    return chosen


class ProductStore:
    """Per-detection products from a local archive, an HTTP archive, or lazy synthesis.

    Lookup order: ``root`` (``<root>/<OBS_ID>/pps``, or ``PPS``, or flat: see ``find``); then ``base_url`` (same layout,
    fetched into ``cache_dir``, see ``remote.py`` for how names are discovered); then
    ``synthesize(obs_id, src_num)``, which must write the detection's products into
    ``root`` (the demo catalogue does this on first request). One lock per detection
    makes concurrent requests for a missing product synthesize it once; files are always
    written aside and renamed. Readers return values, not exceptions: a missing or broken
    product comes back as ``ProductUnavailable(reason)``.
    """

    def __init__(
        self,
        root: Path | None = None,
        base_url: str | None = None,
        cache_dir: Path | None = None,
        synthesize: Callable[[str, int], None] | None = None,
        *,
        timeout: float = 10.0,
    ) -> None:
        if root is None and base_url is None:
            raise ValueError("ProductStore needs a root directory, a base_url, or both")
        if synthesize is not None and root is None:
            raise ValueError("synthesize needs a root directory to write the products into")
        self.root = Path(root) if root is not None else None
        self.synthesize = synthesize
        self.remote: RemoteArchive | None = None
        if base_url is not None:
            if cache_dir is None:
                base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
                cache_dir = Path(base) / "xmm-explorer" / "products"
            self.remote = RemoteArchive(base_url, Path(cache_dir), timeout=timeout)
        self._guard = threading.Lock()
        self._detection_locks: dict[tuple[str, int], threading.Lock] = {}

    # -- locating files -------------------------------------------------------------------
    def find(self, obs_id: str, src_num: int) -> DetectionProducts:
        """Which product files exist for the detection, per camera, with reasons for the gaps.

        Locally, the first of ``<root>/<OBS_ID>/pps``, ``<OBS_ID>/PPS``, ``<OBS_ID>`` and
        ``<root>`` holding any product of the detection is used (names in any case, see
        ``names.SUFFIXES`` for the accepted suffixes).
        """
        obs_id, src_num = str(obs_id), int(src_num)
        try:
            here = self._local_dir(obs_id)
        except ValueError as err:
            return _unavailable_everywhere(obs_id, src_num, "none", "", str(err))
        if here is not None and self.root is not None:
            for directory in product_dirs(self.root, obs_id):
                local = list_products(directory, obs_id, src_num)
                if local:
                    return self._assemble(obs_id, src_num, "local", str(directory), local)
        reasons = []
        if self.remote is not None:
            names = self.remote.detection_names(obs_id, src_num)
            if isinstance(names, ProductUnavailable):
                reasons.append(names.reason)
            elif names:
                return self._assemble_remote(self.remote, obs_id, src_num, names)
            else:
                reasons.append(f"no products for {obs_id}/{src_num} at {self.remote.url(obs_id)}")
        if self.synthesize is not None and here is not None:
            local = self._synthesize(self.synthesize, obs_id, src_num, here, reasons)
            if local:
                return self._assemble(obs_id, src_num, "synthesized", str(here), local)
        if here is not None:
            where = here if here.is_dir() else f"{here} (no such directory)"
            elsewhere = f"nor in {obs_id}/PPS, {obs_id} or {self.root}"
            reasons.insert(0, f"no products for detection {obs_id}/{src_num} in {where}, {elsewhere}")
        if here is not None:
            location = str(here)
        else:
            assert self.remote is not None  # without a root, __init__ required a base_url
            location = self.remote.url(obs_id)
        return _unavailable_everywhere(obs_id, src_num, "none", location, "; ".join(reasons))

    def _local_dir(self, obs_id: str) -> Path | None:
        return product_dir(self.root, obs_id) if self.root is not None else None

    def _synthesize(
        self, synthesize: Callable[[str, int], None], obs_id: str, src_num: int, here: Path, reasons: list[str]
    ):
        with self._lock_for((obs_id, src_num)):
            local = list_products(here, obs_id, src_num)
            if local:  # another session generated them while we waited
                return local
            try:
                synthesize(obs_id, src_num)
            except Exception as err:  # a failing generator must not take the page down
                log.exception("synthesizing products of %s/%s failed", obs_id, src_num)
                reasons.append(f"generating products of {obs_id}/{src_num} failed: {err}")
                return []
            return list_products(here, obs_id, src_num)

    def _assemble(self, obs_id, src_num, origin, location, found) -> DetectionProducts:
        paths = {name: path for path, name in found}
        cameras = {}
        for camera in CAMERAS:
            chosen = choose(list(paths), camera)
            cameras[camera] = CameraProducts(
                camera,
                **{
                    kind: paths[value]
                    if isinstance(value, ProductName)
                    else ProductUnavailable(f"{value} in {location}")
                    for kind, value in chosen.items()
                },
                exposures=tuple(paths[n] for n in exposure_lightcurves(list(paths), camera)),
            )
        return DetectionProducts(obs_id, src_num, origin, location, cameras)

    def _assemble_remote(self, remote: RemoteArchive, obs_id, src_num, names) -> DetectionProducts:
        location = remote.url(obs_id)
        cameras = {}
        for camera in CAMERAS:
            chosen = choose(names, camera)
            cameras[camera] = CameraProducts(
                camera,
                **{
                    kind: remote.fetch(value)
                    if isinstance(value, ProductName)
                    else ProductUnavailable(f"{value} at {location}")
                    for kind, value in chosen.items()
                },
                exposures=tuple(remote.fetch(n) for n in exposure_lightcurves(names, camera)),
            )
        return DetectionProducts(obs_id, src_num, "http", location, cameras)

    def _lock_for(self, key: tuple[str, int]) -> threading.Lock:
        with self._guard:
            return self._detection_locks.setdefault(key, threading.Lock())

    # -- reading --------------------------------------------------------------------------
    def lightcurves(self, obs_id: str, src_num: int) -> dict[str, Lightcurve | ProductUnavailable]:
        """Each camera's lightcurve, or why it is not available.

        A lightcurve's ``statistics`` are those of the camera's single exposures (S/U files),
        one per exposure: a merged ``X000`` file carries none of its own.
        """
        found = self.find(obs_id, src_num)
        out: dict[str, Lightcurve | ProductUnavailable] = {}
        for camera, products in found.cameras.items():
            path = products.lightcurve
            if isinstance(path, ProductUnavailable):
                out[camera] = path
                continue
            exposures = [p for p in products.exposures if isinstance(p, Path)]
            out[camera] = read_cached(_lightcurve_with_exposures, path, *exposures)
        return out

    def spectra(self, obs_id: str, src_num: int) -> dict[str, Spectrum | ProductUnavailable]:
        """Each camera's spectrum with its background and ARF when present, or why not."""
        found = self.find(obs_id, src_num)
        out: dict[str, Spectrum | ProductUnavailable] = {}
        for camera, products in found.cameras.items():
            if isinstance(products.spectrum, ProductUnavailable):
                out[camera] = products.spectrum
                continue
            background = products.background if isinstance(products.background, Path) else None
            arf = products.arf if isinstance(products.arf, Path) else None
            spectrum = read_cached(read_spectrum, products.spectrum, background, arf)
            if isinstance(spectrum, ProductUnavailable) and (background or arf):
                # A broken background or ARF should not hide a good source spectrum.
                alone = read_cached(read_spectrum, products.spectrum)
                if not isinstance(alone, ProductUnavailable):
                    log.warning("read %s without background/ARF: %s", products.spectrum.name, spectrum.reason)
                    spectrum = alone
            out[camera] = spectrum
        return out


def _lightcurve_with_exposures(path: Path, *exposures: Path) -> Lightcurve:
    """``path``'s lightcurve with the statistics of the single-exposure files ``exposures``.

    A broken exposure file costs only its statistics (logged); without any, the lightcurve
    keeps its own (a single-exposure file's header).
    """
    curve = read_lightcurve(path)
    statistics: list[VariabilityStatistics] = []
    for exposure in exposures:
        if exposure == path:
            statistics += curve.statistics
            continue
        try:
            statistics += read_lightcurve(exposure).statistics
        except ProductError as err:
            log.warning("no variability statistics from %s: %s", exposure.name, err)
    if statistics and tuple(statistics) != curve.statistics:
        curve = dataclasses.replace(curve, statistics=tuple(statistics))
    return curve


def read_cached(reader, path: Path, *extra: Path | None):
    """``reader(path, *extra)`` through a small cache keyed on the files' identity (path, mtime, size).

    ``reader`` must be a module-level callable (it is part of the key); a ProductError comes back
    as ProductUnavailable. The spectral fit caches its results through this too.
    """
    try:
        stamps = tuple(_stamp(p) for p in (path, *extra))
        files = [p for p in (path, *extra) if p is not None]
        # Results hold read-only arrays, so sessions can share them safely.
        return _READS.get((reader, stamps), lambda: reader(path, *extra), paths=files)
    except ProductError as err:
        return ProductUnavailable(str(err))


def _stamp(path: Path | None) -> tuple[str, int, int] | None:
    if path is None:
        return None
    try:
        stat = path.stat()
    except OSError:
        return (str(path), -1, -1)  # the reader then says the file is missing
    return (str(path), stat.st_mtime_ns, stat.st_size)


_READS: ProcessCache = ProcessCache("product reads", max_items=256)


def spectral_fit_inputs(found: DetectionProducts, folder: Path, find_response) -> tuple[list[Path], list[str]]:
    """Flat (spectrum, background, ARF, RMF) paths of each camera that can be fitted, and why the others cannot."""
    paths: list[Path] = []
    reasons: list[str] = []
    for camera, products in found.cameras.items():
        spectrum_path, background, arf = products.spectrum, products.background, products.arf
        if not (isinstance(spectrum_path, Path) and isinstance(background, Path) and isinstance(arf, Path)):
            missing = [
                what
                for what, value in (("spectrum", spectrum_path), ("background", background), ("ARF", arf))
                if not isinstance(value, Path)
            ]
            if not isinstance(spectrum_path, ProductUnavailable):
                reasons.append(f"{camera}: no {' or '.join(missing)}")
            continue
        spectrum = read_cached(read_spectrum, spectrum_path)
        if isinstance(spectrum, ProductUnavailable):
            reasons.append(f"{camera}: {spectrum.reason}")
            continue
        response = find_response(
            folder, spectrum.respfile, spectrum.instrument, _filter_of(spectrum_path), len(spectrum.channel)
        )
        if isinstance(response, str):
            reasons.append(f"{camera}: {response}")
            continue
        paths += [spectrum_path, background, arf, response]
    return paths, reasons


def _filter_of(path: Path) -> str:
    from astropy.io import fits

    try:
        return str(fits.getheader(path, "SPECTRUM").get("FILTER", fits.getheader(path).get("FILTER", ""))).strip()
    except (OSError, KeyError):
        return ""
