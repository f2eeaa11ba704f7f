"""Published spectral-fit catalogues joined to a release, per source or per detection.

The layout is that of the XMM2ATHENA spectral-fit catalogues of 4XMM-DR11 detections and
4XMM-DR11s sources (Viitanen et al. 2025, A&A 704, A16; CDS J/A+A/704/A16), as far as it could be
read offline: the CDS ReadMe's abstract was found but not its byte-by-byte column list, so the
column names below are our assumption, chosen after the 4XMM identifiers and the quantities the
paper fits (absorbed power law and absorbed blackbody: N_H, Γ, kT, a fit statistic):

* an identifier: ``SRCID`` (one row per source and model) or ``DETID`` (per detection; its SRCID is
  taken from the release);
* ``MODEL`` (text, e.g. ``PL``, ``BB``; without it ``PL`` where there is a ``GAMMA``, else ``BB``);
* parameters with their 90%/68% bounds as the catalogue gives them: ``NH``, ``NH_LO``, ``NH_HI``
  (10²² cm⁻²), ``GAMMA``, ``GAMMA_LO``, ``GAMMA_HI``, ``KT``, ``KT_LO``, ``KT_HI`` (keV); at least one;
* the fit statistic ``STAT`` (also read as ``CSTAT``, ``WSTAT``, ``CHI2``) and ``DOF`` (optional).

FITS (first table) or CSV, names in any case. Kept as ``spectral_fits.parquet`` in the release.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from data_loaders import schema
from data_loaders.errors import XmmExplorerError

SPECTRAL_FITS_FILE = "spectral_fits.parquet"
PARAMETERS = {"NH": "1e22 cm-2", "GAMMA": "", "KT": "keV"}
STAT_ALIASES = ("STAT", "CSTAT", "WSTAT", "CHI2")
COLUMNS = ("SRCID", "DETID", "MODEL", *(f"{p}{s}" for p in PARAMETERS for s in ("", "_LO", "_HI")), "STAT", "DOF")


class SpectralFitsError(XmmExplorerError):
    """A published fit table cannot be read or joined; one sentence."""


def read_fits_table(path: Path | str) -> pd.DataFrame:
    """A published spectral-fit table (FITS or CSV) as a frame of :data:`COLUMNS` (DETID -1 when per source)."""
    path = Path(path)
    try:
        if path.suffix.lower() in (".csv", ".txt"):
            frame = pd.read_csv(path)
        else:
            from astropy.table import Table

            table = Table.read(path, format="fits")
            frame = table[[c for c in table.colnames if table[c].ndim == 1]].to_pandas()
    except (OSError, ValueError, TypeError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise SpectralFitsError(
            f"{path.name} is not a readable FITS or CSV spectral-fit table ({type(exc).__name__})."
        ) from None
    frame.columns = [str(c).strip().upper() for c in frame.columns]
    params = [p for p in PARAMETERS if p in frame]
    if not params:
        raise SpectralFitsError(
            f"{path.name} is not a spectral-fit table: it has none of the parameter columns NH, GAMMA, KT."
        )
    stat = next((c for c in STAT_ALIASES if c in frame), None)
    ident = next((c for c in ("SRCID", "DETID") if c in frame), None)
    missing = ([] if ident else ["SRCID or DETID"]) + ([] if stat else ["STAT (or CSTAT, WSTAT, CHI2)"])
    if missing:
        raise SpectralFitsError(f"{path.name} is a fit table without {' and '.join(missing)}.")
    out = pd.DataFrame(index=frame.index)
    for ident_col in ("SRCID", "DETID"):
        values = pd.to_numeric(frame[ident_col], errors="coerce") if ident_col in frame else np.nan
        out[ident_col] = pd.Series(values, index=frame.index).fillna(-1).astype(np.int64)
    if "MODEL" in frame:
        out["MODEL"] = frame["MODEL"].astype(str).str.strip()
    else:
        out["MODEL"] = np.where(pd.to_numeric(frame.get("GAMMA"), errors="coerce").notna(), "PL", "BB")
    for p in PARAMETERS:
        for s in ("", "_LO", "_HI"):
            c = f"{p}{s}"
            out[c] = pd.to_numeric(frame[c], errors="coerce").astype(np.float64) if c in frame else np.nan
    out["STAT"] = pd.to_numeric(frame[stat], errors="coerce").astype(np.float64)
    out["DOF"] = pd.to_numeric(frame["DOF"], errors="coerce").astype(np.float64) if "DOF" in frame else np.nan
    return out[list(COLUMNS)]


def join_fits(table: pd.DataFrame, srcids: np.ndarray, detections: pd.DataFrame | None) -> pd.DataFrame:
    """The rows of ``table`` that name a release source (by SRCID) or detection (DETID -> its SRCID)."""
    by_det = table["SRCID"].lt(0) & table["DETID"].ge(0)
    out = table.copy()
    if by_det.any() and detections is not None:
        srcid_of = detections.drop_duplicates("DETID").set_index("DETID")["SRCID"]
        out.loc[by_det, "SRCID"] = srcid_of.reindex(out.loc[by_det, "DETID"]).fillna(-1).to_numpy(np.int64)
    out = out[out["SRCID"].isin(srcids)]
    return out.sort_values(["SRCID", "DETID", "MODEL"], kind="stable").reset_index(drop=True)


def attach_spectral_fits(release_dir: Path, path: Path) -> pd.DataFrame:
    """Read, join and write ``spectral_fits.parquet``; returns the joined rows."""
    import pyarrow.parquet as pq

    from data_loaders.ingest import record_added_table

    release_dir = Path(release_dir)
    table = read_fits_table(path)
    srcids = pd.read_parquet(release_dir / schema.SOURCES_FILE, columns=["SRCID"])["SRCID"].to_numpy(np.int64)
    detections = None
    if (table["SRCID"] < 0).any():
        det_dir = release_dir / schema.DETECTIONS_DIR
        if "DETID" in pq.read_schema(next(iter(sorted(det_dir.glob("*.parquet"))))).names:
            detections = pd.read_parquet(det_dir, columns=["DETID", "SRCID"])
    joined = join_fits(table, srcids, detections)
    if joined.empty:
        raise SpectralFitsError(
            f"No row of {Path(path).name} matches a source or detection of release {release_dir.name}."
        )
    tmp = release_dir / (SPECTRAL_FITS_FILE + ".tmp")
    joined.to_parquet(tmp, index=False)
    tmp.replace(release_dir / SPECTRAL_FITS_FILE)
    record_added_table(release_dir, "spectral_fits")
    return joined


def write_fits_table(frame: pd.DataFrame, path: Path) -> Path:
    """Write a fit table in the layout read above: FITS with units, or CSV (by the suffix)."""
    path = Path(path)
    if path.suffix.lower() == ".csv":
        frame.to_csv(path, index=False)
        return path
    from astropy.table import Table

    table = Table.from_pandas(frame)
    for p, unit in PARAMETERS.items():
        for s in ("", "_LO", "_HI"):
            if unit and f"{p}{s}" in table.colnames:
                table[f"{p}{s}"].unit = unit
    table.write(path, format="fits", overwrite=True)
    return path


def demo_fits(sources: pd.DataFrame, seed: int = 42, fraction: float = 0.2) -> pd.DataFrame:
    """A synthetic published table: PL fits (by SRCID) near the five-band fit of a ``fraction`` of the sources."""
    rng = np.random.default_rng(seed)
    pool = sources[np.isfinite(sources.get("PL_GAMMA", pd.Series(np.nan, index=sources.index)).astype(float))]
    pick = pool.sample(frac=fraction, random_state=rng.integers(2**31))
    n = len(pick)
    gamma = pick["PL_GAMMA"].to_numpy(np.float64) + rng.normal(0, 0.1, n)
    nh = np.clip(pick["PL_NH"].to_numpy(np.float64) * rng.lognormal(0, 0.2, n), 1e-4, None)
    dg = rng.uniform(0.05, 0.3, n)
    return pd.DataFrame(
        {"SRCID": pick["SRCID"].to_numpy(np.int64), "MODEL": "PL", "NH": nh, "NH_LO": nh * 0.6, "NH_HI": nh * 1.5,
         "GAMMA": gamma, "GAMMA_LO": gamma - dg, "GAMMA_HI": gamma + dg, "STAT": rng.uniform(20, 200, n),
         "DOF": rng.integers(20, 200, n)}
    )  # fmt: skip
