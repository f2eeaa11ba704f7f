"""Photometric redshifts per X-ray source, and the rest-frame 0.2-12 keV luminosity they give.

Input (FITS table, Parquet or CSV): ``PHOTO_Z`` with its interval ``PHOTO_Z_LO``, ``PHOTO_Z_HI``
(also read as ``Z``/``ZPHOT`` and ``Z_LO``/``Z_HI``), and either ``SRCID`` (joined exactly) or
``RA``, ``DEC`` (deg; joined to the nearest unique source within ``MATCH_ARCSEC`` or 3x its
SC_POSERR, whichever is larger).

Luminosity (``LX``, erg/s; ``LOG_LX``): L = 4π D_L(z)² F (1+z)^(Γ-2), F the observed 0.2-12 keV
flux SC_EP_8_FLUX, D_L from astropy's Planck18 cosmology, and the k-correction of a power law of
photon index Γ: the source's fitted PL_GAMMA where the release has one (``LX_GAMMA_FITTED`` true),
else Γ = 1.9. The flux is the observed one: not corrected for absorption (``LX_ABSORPTION`` says
"observed"). Kept as ``photoz.parquet`` in the release directory.
"""

from __future__ import annotations

from pathlib import Path

import astropy.units as u
import numpy as np
import pandas as pd
from astropy.coordinates import SkyCoord

from data_loaders import schema
from data_loaders.errors import XmmExplorerError
from data_loaders.ingest import record_added_table

PHOTOZ_FILE = "photoz.parquet"
DEFAULT_GAMMA = 1.9
MATCH_ARCSEC = 1.5
ALIASES = {
    "PHOTO_Z": ("PHOTO_Z", "Z", "ZPHOT"),
    "PHOTO_Z_LO": ("PHOTO_Z_LO", "Z_LO"),
    "PHOTO_Z_HI": ("PHOTO_Z_HI", "Z_HI"),
}
#: Columns joined into the catalogue frames (filters, queries, colour).
FRAME_COLUMNS = ("PHOTO_Z", "LOG_LX")


class PhotozError(XmmExplorerError):
    """A redshift table cannot be read or joined; one sentence."""


def read_photoz(path: Path | str) -> pd.DataFrame:
    path = Path(path)
    try:
        if path.suffix.lower() == ".parquet":
            frame = pd.read_parquet(path)
        elif path.suffix.lower() in (".csv", ".txt"):
            frame = pd.read_csv(path)
        else:
            from astropy.table import Table

            frame = Table.read(path, format="fits").to_pandas()
    except (OSError, ValueError, TypeError, UnicodeDecodeError) as exc:
        raise PhotozError(
            f"{path.name} is not a readable FITS, Parquet or CSV redshift table ({type(exc).__name__})."
        ) from None
    frame.columns = [str(c).upper() for c in frame.columns]
    out = pd.DataFrame(index=frame.index)
    for name, options in ALIASES.items():
        found = next((c for c in options if c in frame), None)
        if found is None:
            raise PhotozError(f"{path.name} has no {name} column (also read as {' or '.join(options[1:])}).")
        out[name] = pd.to_numeric(frame[found], errors="coerce").astype(np.float64)
    if "SRCID" in frame:
        out["SRCID"] = pd.to_numeric(frame["SRCID"], errors="coerce").astype("Int64")
    elif "RA" in frame and "DEC" in frame:
        out["RA"], out["DEC"] = frame["RA"].astype(np.float64), frame["DEC"].astype(np.float64)
    else:
        raise PhotozError(f"{path.name} names no source: give a SRCID column or RA and DEC.")
    z = out["PHOTO_Z"]
    if (z < 0).any() or (out["PHOTO_Z_LO"] > z).any() or (out["PHOTO_Z_HI"] < z).any():
        raise PhotozError(f"{path.name} has redshifts below 0 or outside their PHOTO_Z_LO..PHOTO_Z_HI interval.")
    return out.loc[z.notna()].reset_index(drop=True)


def join_photoz(sources: pd.DataFrame, table: pd.DataFrame) -> pd.DataFrame:
    """One row per joined source: SRCID, PHOTO_Z, PHOTO_Z_LO, PHOTO_Z_HI."""
    cols = ["PHOTO_Z", "PHOTO_Z_LO", "PHOTO_Z_HI"]
    if "SRCID" in table:
        known = table[table["SRCID"].isin(sources["SRCID"])]
        out = known.dropna(subset=["SRCID"]).drop_duplicates("SRCID")[["SRCID", *cols]]
        return out.astype({"SRCID": np.int64}).reset_index(drop=True)
    src = SkyCoord(sources["SC_RA"].to_numpy() * u.deg, sources["SC_DEC"].to_numpy() * u.deg)
    pos = SkyCoord(table["RA"].to_numpy() * u.deg, table["DEC"].to_numpy() * u.deg)
    idx, sep, _ = pos.match_to_catalog_sky(src)
    pe = np.nan_to_num(sources.get("SC_POSERR", pd.Series(np.nan, index=sources.index)).to_numpy(np.float64), nan=1.0)
    ok = sep.to_value(u.arcsec) <= np.maximum(MATCH_ARCSEC, 3 * pe[idx])
    out = table.loc[ok, cols].assign(SRCID=sources["SRCID"].to_numpy(np.int64)[idx[ok]], _SEP=sep.arcsec[ok])
    out = out.sort_values("_SEP").drop_duplicates("SRCID").drop(columns="_SEP")
    return out[["SRCID", *cols]].sort_values("SRCID").reset_index(drop=True)


def luminosity(flux: np.ndarray, z: np.ndarray, gamma: np.ndarray) -> np.ndarray:
    """Rest-frame 0.2-12 keV luminosity (erg/s) from the observed 0.2-12 keV flux (erg/cm²/s)."""
    from astropy.cosmology import Planck18

    z = np.asarray(z, dtype=np.float64)
    dl = np.full(z.shape, np.nan)
    good = np.isfinite(z) & (z > 0)
    dl[good] = Planck18.luminosity_distance(z[good]).to_value(u.cm)
    return 4 * np.pi * dl**2 * np.asarray(flux, np.float64) * (1 + z) ** (np.asarray(gamma, np.float64) - 2)


def with_luminosity(joined: pd.DataFrame, sources: pd.DataFrame) -> pd.DataFrame:
    """Add LX, LOG_LX, LX_GAMMA, LX_GAMMA_FITTED and LX_ABSORPTION to a joined redshift table."""
    s = sources.set_index("SRCID").reindex(joined["SRCID"])
    flux = s["SC_EP_8_FLUX"].to_numpy(np.float64) if "SC_EP_8_FLUX" in s else np.full(len(joined), np.nan)
    fitted = s["PL_GAMMA"].to_numpy(np.float64) if "PL_GAMMA" in s else np.full(len(joined), np.nan)
    has_fit = np.isfinite(fitted)
    gamma = np.where(has_fit, fitted, DEFAULT_GAMMA)
    lx = luminosity(flux, joined["PHOTO_Z"].to_numpy(), gamma)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_lx = np.where(lx > 0, np.log10(lx), np.nan)
    return joined.assign(LX=lx, LOG_LX=log_lx, LX_GAMMA=gamma, LX_GAMMA_FITTED=has_fit, LX_ABSORPTION="observed")


def attach_photoz(release_dir: Path, path: Path) -> pd.DataFrame:
    """Read, join and write ``photoz.parquet``; returns the joined table."""
    release_dir = Path(release_dir)
    table = read_photoz(path)
    import pyarrow.parquet as pq

    names = set(pq.read_schema(release_dir / schema.SOURCES_FILE).names)
    wanted = [c for c in ("SRCID", "SC_RA", "SC_DEC", "SC_POSERR", "SC_EP_8_FLUX", "PL_GAMMA") if c in names]
    sources = pd.read_parquet(release_dir / schema.SOURCES_FILE, columns=wanted)
    joined = with_luminosity(join_photoz(sources, table), sources)
    if joined.empty:
        raise PhotozError(f"No row of {Path(path).name} matches a source of release {release_dir.name}.")
    tmp = release_dir / (PHOTOZ_FILE + ".tmp")
    joined.to_parquet(tmp, index=False)
    tmp.replace(release_dir / PHOTOZ_FILE)
    record_added_table(release_dir, "photoz")
    return joined


def summary(row) -> str:
    """One sentence for the Source page: z with its interval and the luminosity, saying how it was computed."""
    gamma = f"fitted Γ = {row['LX_GAMMA']:.2f}" if bool(row["LX_GAMMA_FITTED"]) else f"Γ = {DEFAULT_GAMMA} assumed"
    lx = row["LX"]
    lum = (
        f"rest-frame 0.2–12 keV luminosity {lx:.2e} erg/s (Planck18, k-corrected with {gamma}; observed flux, "
        "not absorption-corrected)"
        if np.isfinite(lx)
        else "no luminosity (no 0.2–12 keV flux)"
    )
    return f"Photometric redshift z = {row['PHOTO_Z']:.3f} ({row['PHOTO_Z_LO']:.3f}–{row['PHOTO_Z_HI']:.3f}); {lum}."


def demo_photoz(sources: pd.DataFrame, seed: int = 42, fraction: float = 0.3) -> pd.DataFrame:
    """Synthetic photometric redshifts (by SRCID) for a ``fraction`` of the sources away from the Galactic plane."""
    rng = np.random.default_rng(seed)
    b = sources["BII"].to_numpy(np.float64) if "BII" in sources else np.full(len(sources), 90.0)
    pool = sources.loc[np.abs(b) > 15]
    pick = pool.sample(frac=fraction, random_state=rng.integers(2**31))
    z = np.clip(rng.lognormal(np.log(1.0), 0.6, len(pick)), 0.02, 6)
    width = 0.1 * (1 + z) * rng.uniform(0.5, 1.5, len(pick))
    return pd.DataFrame(
        {"SRCID": pick["SRCID"].to_numpy(np.int64), "PHOTO_Z": z, "PHOTO_Z_LO": np.clip(z - width, 0, None),
         "PHOTO_Z_HI": z + width}
    )  # fmt: skip
