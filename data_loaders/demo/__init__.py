"""Deterministic synthetic 4XMM-like demo data: catalogue FITS plus added-value Parquet."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from data_loaders.demo import added_value
from data_loaders.demo.catalogue import build_catalogue
from data_loaders.demo.detections import observe_enough, trim_to
from data_loaders.demo.fits_writer import write_catalogue_fits
from data_loaders.demo.planting import PLANTED_KINDS
from data_loaders.demo.sky import make_groups, make_observations
from data_loaders.schema import CLASS_NAMES

__all__ = ["DemoFiles", "DemoTables", "generate_demo", "write_catalogue_fits", "write_demo"]

OBSERVATION_COLUMNS = (
    "OBS_ID",
    "RA_PNT",
    "DEC_PNT",
    "MJD_START",
    "MJD_STOP",
    "REVOLUT",
    "PN_ONTIME",
    "M1_ONTIME",
    "M2_ONTIME",
    "FIELD_RADIUS",
    "OBS_CLASS",
    "HIGH_BACKGROUND",
    "PN_FILTER",
    "MOS_FILTER",
    "PN_SUBMODE",
)


@dataclass
class DemoTables:
    """All generated tables. ``truth`` is for tests only, never shown as an answer."""

    detections: pd.DataFrame
    classifications: pd.DataFrame
    counterparts: pd.DataFrame
    longterm: pd.DataFrame
    truth: pd.DataFrame
    observations: pd.DataFrame


@dataclass
class DemoFiles:
    """Paths written by :func:`write_demo`."""

    catalogue: Path
    classifications: Path
    counterparts: Path
    longterm: Path
    truth: Path
    observations: Path


def generate_demo(n_detections: int = 1_000_000, seed: int = 42, progress: bool = False) -> DemoTables:
    """Generate a synthetic 4XMM-DR14-like sky with exactly ``n_detections`` detections.

    Same (n_detections, seed) gives identical tables. Integer nulls in the detections use the
    schema's TNULL values (OBS_CLASS = -1), as in the FITS file.
    """
    if n_detections < 1:
        raise ValueError("n_detections must be positive")
    rng = np.random.default_rng([seed, n_detections])
    bar = tqdm(total=6, desc="demo sky", disable=not progress, file=sys.stderr, leave=False)
    n_obs = max(4, round(n_detections / 75))
    groups = make_groups(n_obs, rng)
    obs = make_observations(groups, rng)
    bar.update(1)
    src, pairs, plant = observe_enough(groups, obs, n_detections, rng)
    bar.update(1)
    pairs = trim_to(pairs, len(src), n_detections, rng)
    det = pairs.take(np.flatnonzero(pairs.detected))
    bar.update(1)
    cat, _kept = build_catalogue(det, src, obs, plant, rng)
    bar.update(1)
    src_idx = cat.pop("_SRC").to_numpy()
    srcid_of = np.full(len(src), -1, np.int64)
    srcid_of[src_idx] = cat.SRCID.to_numpy()
    first = ~cat.SRCID.duplicated()
    sources = cat.loc[
        first,
        ["SRCID", "SC_RA", "SC_DEC", "SC_POSERR", "SC_EXTENT", "SC_HR1", "SC_HR2", "SC_HR3", "SC_HR4", "SC_EP_8_FLUX"],
    ]
    sources = sources.rename(columns={"SC_RA": "RA", "SC_DEC": "DEC", "SC_POSERR": "POSERR"})
    s_idx = src_idx[first.to_numpy()]
    sources = sources.assign(
        CLASS=src.CLASS.to_numpy()[s_idx],
        FLUX=src.FLUX.to_numpy()[s_idx],
        LII=src.LII.to_numpy()[s_idx],
        BII=src.BII.to_numpy()[s_idx],
    )
    sources = sources.sort_values("SRCID", kind="stable").reset_index(drop=True)
    s_idx = s_idx[np.argsort(cat.SRCID.to_numpy()[first.to_numpy()], kind="stable")]
    cps = added_value.counterparts(sources, rng)
    classes = added_value.classifications(sources, cps, rng)
    bar.update(1)
    lt = added_value.longterm(pairs, s_idx, srcid_of, obs, sources, plant, rng, src_true=src)
    kind = plant["KIND"][s_idx]
    truth = pd.DataFrame(
        {
            "SRCID": sources.SRCID.to_numpy(),
            "TRUE_CLASS": pd.array(np.array(CLASS_NAMES)[sources.CLASS.to_numpy()], dtype="str"),
            "PLANTED": pd.array(np.array(PLANTED_KINDS)[kind], dtype="str"),
            "PLANTED_FACTOR": np.where(kind > 0, plant["FACTOR"][s_idx], 1.0).astype(np.float32),
            "PLANTED_MJD": np.where(kind > 0, plant["T0"][s_idx], np.nan),
            # The spectrum every band flux of the source was made from (absorbed power law).
            "TRUE_GAMMA": src.GAMMA.to_numpy()[s_idx].astype(np.float32),
            "TRUE_NH": (10.0 ** (src.LOGNH.to_numpy()[s_idx] - 22.0)).astype(np.float32),
        }
    )
    bar.update(1)
    bar.close()
    observations = obs[list(OBSERVATION_COLUMNS)].copy()
    return DemoTables(cat, classes, cps, lt, truth, observations)


def write_demo(out_dir, n_detections: int = 1_000_000, seed: int = 42, progress: bool = True) -> DemoFiles:
    """Generate and write 4XMM_DEMO_cat.fits plus the Parquet tables beside it."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tables = generate_demo(n_detections, seed, progress=progress)
    files = DemoFiles(
        *(
            out / f"4XMM_DEMO_{k}"
            for k in (
                "cat.fits",
                "classifications.parquet",
                "counterparts.parquet",
                "longterm.parquet",
                "truth.parquet",
                "observations.parquet",
            )
        )
    )
    steps = tqdm(total=6, desc="writing demo files", disable=not progress, file=sys.stderr, leave=False)
    write_catalogue_fits(tables.detections, files.catalogue)
    steps.update(1)
    for name in ("classifications", "counterparts", "longterm", "truth", "observations"):
        getattr(tables, name).to_parquet(getattr(files, name), index=False, row_group_size=128_000)
        steps.update(1)
    steps.close()
    return files
