"""The product store of a release: lazy synthesis from the catalogue for the demo, the archive layout otherwise."""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from data_loaders import schema
from data_loaders.catalogue import Catalogue
from data_loaders.process_cache import ProcessCache
from data_loaders.products import ProductError, ProductStore, write_detection_products
from data_loaders.products.synthetic_model import CAMERAS, band_fractions, source_counts_density

log = logging.getLogger(__name__)

#: Release-meta key of an optional HTTP archive with the same ``<OBS_ID>/pps`` layout.
PRODUCTS_URL_KEY = "products_url"
#: Photon indices tried when matching a detection's HR2/HR3 (a flat grid keeps it cheap and stable).
_GAMMA_GRID = np.round(np.arange(0.0, 4.01, 0.1), 2)
_NH_DEFAULT = 0.03

_STORES: ProcessCache[ProductStore] = ProcessCache("product stores", max_items=8)


@dataclass(frozen=True)
class SynthesisInputs:
    """What a detection's synthetic products are drawn from (see ``write_detection_products``)."""

    obs_id: str
    src_num: int
    ra: float
    dec: float
    rate: float  # pn-equivalent 0.2-12 keV count/s
    exposure: float  # s
    mjd_start: float
    cameras: tuple[str, ...]
    variable: bool
    fvar: float
    photon_index: float
    seed: int
    nh: float = _NH_DEFAULT  # 1e22 cm^-2


@lru_cache(maxsize=1)
def _model_hardness() -> tuple[np.ndarray, np.ndarray]:
    """pn HR2 and HR3 of an absorbed power law for every photon index of ``_GAMMA_GRID``."""
    hr2, hr3 = [], []
    for gamma in _GAMMA_GRID:
        frac = band_fractions(lambda e, g=gamma: source_counts_density("PN", e, g, _NH_DEFAULT))
        hr2.append((frac[3] - frac[2]) / (frac[3] + frac[2]))
        hr3.append((frac[4] - frac[3]) / (frac[4] + frac[3]))
    return np.array(hr2), np.array(hr3)


def photon_index_from_hardness(hr2: float, hr3: float) -> float:
    """The grid photon index whose model HR2/HR3 best match the measured ones (1.9 if both unknown)."""
    model2, model3 = _model_hardness()
    cost = np.zeros_like(model2)
    used = False
    for measured, model in ((hr2, model2), (hr3, model3)):
        if measured is not None and np.isfinite(measured):
            cost = cost + (model - float(measured)) ** 2
            used = True
    return float(_GAMMA_GRID[int(np.argmin(cost))]) if used else 1.9


def _finite(value, default: float = np.nan) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return default
    return value if np.isfinite(value) else default


def synthesis_inputs(row, seed: int = 0) -> SynthesisInputs:
    """Turn one catalogue detection (a mapping of its columns) into synthesis inputs.

    Rate: EP_8_RATE (the EPIC sum) shared out as pn-equivalent count/s over the cameras that
    observed; without a rate, EP_8_FLUX × 1e11 count/s per erg/cm²/s (a canonical pn ECF).
    Exposure: PN_ONTIME, else the longest MOS on-time. Shape: photon index from HR2/HR3.
    """
    cameras = tuple(c for c in schema.CAMERAS if _finite(row.get(f"{c}_ONTIME"), 0.0) > 0)
    if not cameras:
        raise ProductError(f"detection {row.get('DETID')} has no camera with a positive on-time.")
    share = sum(CAMERAS[c].rate_factor for c in cameras)
    rate = _finite(row.get("EP_8_RATE"))
    if not rate >= 0:
        rate = _finite(row.get("EP_8_FLUX"), 0.0) * 1e11 * share
    exposure = max(_finite(row.get(f"{c}_ONTIME"), 0.0) for c in cameras)
    if "PN" in cameras:
        exposure = _finite(row.get("PN_ONTIME"), exposure)
    fvar = _finite(row.get("EP_FVAR"), 0.0)
    return SynthesisInputs(
        obs_id=str(row["OBS_ID"]).strip(),
        src_num=int(row["SRC_NUM"]),
        ra=_finite(row.get("RA"), 0.0),
        dec=_finite(row.get("DEC"), 0.0),
        rate=max(rate, 0.0) / share,
        exposure=exposure,
        mjd_start=_finite(row.get("MJD_START"), 51544.0),
        cameras=cameras,
        variable=bool(row.get("VAR_FLAG", False)) and fvar > 0,
        fvar=max(fvar, 0.0),
        photon_index=photon_index_from_hardness(row.get("EP_HR2"), row.get("EP_HR3")),
        seed=seed,
    )


#: Catalogue columns ``synthesis_inputs`` reads.
SYNTHESIS_COLUMNS = (
    "OBS_ID",
    "SRCID",
    "SRC_NUM",
    "RA",
    "DEC",
    "EP_8_FLUX",
    "EP_8_RATE",
    "EP_FVAR",
    "EP_HR2",
    "EP_HR3",
    "MJD_START",
    "PN_ONTIME",
    "M1_ONTIME",
    "M2_ONTIME",
    "VAR_FLAG",
    "TSERIES",
    "SPECTRA",
)


def _true_spectrum(catalogue: Catalogue, srcid) -> tuple[float, float] | None:
    """(Gamma, N_H / 1e22) the demo generator gave source ``srcid`` (its truth table), or None."""
    from data_loaders.citizen.gold import truth_path

    truth = _truth_table(truth_path(catalogue))
    if truth is None or srcid is None or not np.isfinite(_finite(srcid)) or int(srcid) not in truth.index:
        return None
    gamma, nh = truth.loc[int(srcid)]
    return (float(gamma), float(nh)) if np.isfinite(gamma) and np.isfinite(nh) else None


_TRUTH: ProcessCache[object] = ProcessCache("demo-truth-table", max_items=2)


def _truth_table(path: Path):
    """The demo's true spectra by SRCID (None without them), read once per process."""
    return _TRUTH.get(str(path), lambda: _read_truth_table(path), paths=[path])


def _read_truth_table(path: Path):
    import pandas as pd

    if not path.exists():
        return None
    try:
        frame = pd.read_parquet(path, columns=["SRCID", "TRUE_GAMMA", "TRUE_NH"])
    except (OSError, ValueError, KeyError):  # an older demo without the true spectra
        return None
    return frame.set_index("SRCID")[["TRUE_GAMMA", "TRUE_NH"]]


def _synthesizer(catalogue: Catalogue):
    """A ``synthesize(obs_id, src_num)`` callback writing the detection's products into the products root."""
    root = catalogue.products_root
    if root is None:
        raise ValueError(f"Release {catalogue.name} has no products directory to synthesize into.")
    det = catalogue.detections
    seed = int(catalogue.meta.get("seed", 0) or 0)

    def synthesize(obs_id: str, src_num: int) -> None:
        hit = np.flatnonzero((det["OBS_ID"].to_numpy() == obs_id) & (det["SRC_NUM"].to_numpy() == int(src_num)))
        if hit.size == 0:
            raise ProductError(f"no detection {obs_id}/{src_num} in release {catalogue.name}.")
        # One row, read by position with only the columns synthesis needs.
        wanted = [c for c in SYNTHESIS_COLUMNS if c in catalogue.all_columns]
        row = catalogue.read_rows(wanted, np.array([hit[0]])).iloc[0]
        if not (bool(row.get("TSERIES", True)) or bool(row.get("SPECTRA", True))):
            raise ProductError(f"the catalogue lists no products for detection {obs_id}/{src_num}.")
        inputs = synthesis_inputs(row, seed=seed)
        true = _true_spectrum(catalogue, row.get("SRCID"))
        if true is not None:  # the spectrum the demo made the source's band fluxes from
            inputs = dataclasses.replace(inputs, photon_index=true[0], nh=true[1])
        write_detection_products(
            root,
            obs_id=inputs.obs_id,
            src_num=inputs.src_num,
            ra=inputs.ra,
            dec=inputs.dec,
            rate=inputs.rate,
            exposure=inputs.exposure,
            mjd_start=inputs.mjd_start,
            cameras=inputs.cameras,
            variable=inputs.variable,
            fvar=inputs.fvar,
            photon_index=inputs.photon_index,
            nh=inputs.nh,
            seed=inputs.seed,
        )

    return synthesize


def product_store_for(catalogue: Catalogue) -> ProductStore | None:
    """The process-wide ProductStore of a release (None when it has neither products root nor URL).

    Synthetic releases synthesize a detection's products into ``products_root`` on first
    request; real ones read ``products_root`` and, when the release meta has ``products_url``,
    fetch from that HTTP archive into the user cache.
    """
    root = catalogue.products_root
    url = catalogue.meta.get(PRODUCTS_URL_KEY) or None
    if root is None and url is None:
        return None

    def open_it() -> ProductStore:
        synthesize = _synthesizer(catalogue) if catalogue.synthetic and root is not None else None
        return ProductStore(root, base_url=url, synthesize=synthesize)

    return _STORES.get(catalogue.path, open_it, paths=[catalogue.path])
