"""XMM-OM serendipitous UV source lists (SUSS layout): read, match with the X-ray sources, keep as an added-value table.

The reader takes the columns of the XMM-OM Serendipitous Ultraviolet Source Survey (XMM-SUSS)
source table: ``RA``, ``DEC`` (deg), ``POSERR`` (arcsec) and, per filter F of UVW2, UVM2, UVW1, U,
B, V, ``F_AB_MAG`` and ``F_AB_MAG_ERR`` (AB mag) and ``F_QUALITY_FLAG`` (integer bit flags, 0 =
good); ``SRCNUM`` and ``IAUNAME`` are kept when present, and a ``CLASS`` column where the list
has one (names of ``schema.CLASS_NAMES`` or their codes 0..6; it becomes ``OM_CLASS``, decoded by
``schema.class_names`` like the X-ray classes). At least one filter's magnitude must be there.
FITS (first table extension) or Parquet.

Matching: each X-ray source (unique-source position and SC_POSERR) takes the nearest OM source
within ``NSIGMA`` times the combined position error ``sqrt(SC_POSERR² + POSERR²)`` (astropy
``search_around_sky``). The matched magnitudes go to ``om.parquet`` in the release directory
(``SRCID``, ``OM_SRCNUM``, ``OM_SEP`` arcsec, ``OM_<F>_AB_MAG`` / ``_ERR`` / ``_QUALITY_FLAG``).
"""

from __future__ import annotations

from pathlib import Path

import astropy.units as u
import numpy as np
import pandas as pd
from astropy.coordinates import SkyCoord, search_around_sky
from astropy.io import fits
from astropy.table import Table

from data_loaders import schema
from data_loaders.errors import XmmExplorerError
from data_loaders.ingest import record_added_table

OM_FILE = "om.parquet"
FILTERS = ("UVW2", "UVM2", "UVW1", "U", "B", "V")
#: Effective wavelengths of the OM filters, Angstrom (XMM-Newton Users Handbook, OM filters).
WAVELENGTH_A = {"UVW2": 2120.0, "UVM2": 2310.0, "UVW1": 2910.0, "U": 3440.0, "B": 4500.0, "V": 5430.0}
NSIGMA = 3.0
#: Position error used when a value is missing (arcsec).
FALLBACK_POSERR = 1.5
HC_KEV_A = 12.398419843320026  # h c in keV Angstrom
#: F_E (erg/cm²/s/keV) per f_nu (erg/cm²/s/Hz): dnu/dE = 1/h = 2.418e17 Hz/keV.
HZ_PER_KEV = 2.417989242e17


class OmError(XmmExplorerError):
    """An OM source list cannot be read or matched; one sentence."""


def mag_columns(f: str) -> tuple[str, str, str]:
    return f"{f}_AB_MAG", f"{f}_AB_MAG_ERR", f"{f}_QUALITY_FLAG"


def om_columns(f: str) -> tuple[str, str, str]:
    """Names in om.parquet (and in the catalogue frames) of filter ``f``'s magnitude, error, flag."""
    return tuple(f"OM_{c}" for c in mag_columns(f))  # type: ignore[return-value]


def read_om(path: Path | str) -> pd.DataFrame:
    """An OM source list in the SUSS layout (FITS or Parquet) as a frame of the known columns."""
    path = Path(path)
    try:
        if path.suffix.lower() == ".parquet":
            frame = pd.read_parquet(path)
        else:
            with fits.open(path, memmap=False) as hdul:
                hdu = next((h for h in hdul[1:] if isinstance(h, fits.BinTableHDU)), None)
                if hdu is None:
                    raise OmError(f"{path.name} has no table extension; an OM source list is a FITS table.")
                table = Table(hdu.data)
                frame = table[[c for c in table.colnames if table[c].ndim == 1]].to_pandas()
    except OmError:
        raise
    except (OSError, ValueError, TypeError) as exc:
        raise OmError(f"{path.name} is not a readable FITS or Parquet OM source list ({type(exc).__name__}).") from None
    frame.columns = [str(c).upper() for c in frame.columns]
    missing = [c for c in ("RA", "DEC", "POSERR") if c not in frame]
    have = [f for f in FILTERS if mag_columns(f)[0] in frame]
    if missing or not have:
        need = ", ".join(missing + ([] if have else ["a <filter>_AB_MAG column (UVW2, UVM2, UVW1, U, B or V)"]))
        raise OmError(f"{path.name} is not an XMM-OM (SUSS) source list: it lacks {need}.")
    out = pd.DataFrame({c: frame[c].to_numpy(np.float64) for c in ("RA", "DEC", "POSERR")})
    out["SRCNUM"] = frame["SRCNUM"].to_numpy(np.int64) if "SRCNUM" in frame else np.arange(1, len(frame) + 1)
    if "CLASS" in frame:
        out["CLASS"] = schema.class_code(frame["CLASS"])
    for f in have:
        mag, err, flag = mag_columns(f)
        out[mag] = frame[mag].to_numpy(np.float64)
        out[err] = frame[err].to_numpy(np.float64) if err in frame else np.nan
        out[flag] = frame[flag].fillna(0).to_numpy(np.int32) if flag in frame else 0
    bad = ~(np.isfinite(out.RA) & np.isfinite(out.DEC) & (out.DEC.abs() <= 90))
    if bad.all():
        raise OmError(f"{path.name} has no row with a valid RA/DEC position.")
    return out.loc[~bad].reset_index(drop=True)


def match_om(sources: pd.DataFrame, om: pd.DataFrame, nsigma: float = NSIGMA) -> pd.DataFrame:
    """The nearest OM source of each X-ray source within ``nsigma`` combined position errors."""
    ra = sources["SC_RA"].to_numpy(np.float64)
    dec = sources["SC_DEC"].to_numpy(np.float64)
    ok = np.isfinite(ra) & np.isfinite(dec)
    idx_x = np.flatnonzero(ok)
    xpe = sources["SC_POSERR"].to_numpy(np.float64) if "SC_POSERR" in sources else np.full(len(sources), np.nan)
    xpe = np.nan_to_num(xpe, nan=FALLBACK_POSERR)
    ope = np.nan_to_num(om["POSERR"].to_numpy(np.float64), nan=FALLBACK_POSERR)
    xs = SkyCoord(ra[ok] * u.deg, dec[ok] * u.deg)
    os_ = SkyCoord(om["RA"].to_numpy() * u.deg, om["DEC"].to_numpy() * u.deg)
    reach = nsigma * np.sqrt(np.nanmax(xpe[ok], initial=0) ** 2 + ope.max() ** 2)
    i, j, sep, _ = search_around_sky(xs, os_, reach * u.arcsec)  # i into xs, j into the OM list
    ix = idx_x[i]
    sep = sep.to_value(u.arcsec)
    keep = sep <= nsigma * np.hypot(xpe[ix], ope[j])
    pairs = pd.DataFrame({"x": ix[keep], "o": j[keep], "sep": sep[keep]}).sort_values(["x", "sep"], kind="stable")
    best = pairs.drop_duplicates("x")
    out = pd.DataFrame(
        {
            "SRCID": sources["SRCID"].to_numpy(np.int64)[best.x],
            "OM_SRCNUM": om["SRCNUM"].to_numpy(np.int64)[best.o],
            "OM_SEP": best.sep.to_numpy(np.float32),
        }
    )
    if "CLASS" in om:
        out["OM_CLASS"] = om["CLASS"].to_numpy(np.int8)[best.o]
    for f in FILTERS:
        if mag_columns(f)[0] in om:
            for src, dst in zip(mag_columns(f), om_columns(f), strict=True):
                if src in om:
                    out[dst] = om[src].to_numpy()[best.o]
    return out.sort_values("SRCID").reset_index(drop=True)


def attach_om(release_dir: Path, path: Path) -> pd.DataFrame:
    """Read an OM list, match it with the release's sources and write ``om.parquet``; returns the matches."""
    release_dir = Path(release_dir)
    om = read_om(path)
    sources = pd.read_parquet(release_dir / schema.SOURCES_FILE, columns=["SRCID", "SC_RA", "SC_DEC", "SC_POSERR"])
    matched = match_om(sources, om)
    tmp = release_dir / (OM_FILE + ".tmp")
    matched.to_parquet(tmp, index=False)
    tmp.replace(release_dir / OM_FILE)
    record_added_table(release_dir, "om")
    return matched


def om_sed(row) -> pd.DataFrame:
    """A source's OM magnitudes as flux density points for the SED plot.

    Columns ``filter``, ``energy`` (keV, hc/λ_eff), ``density`` and ``density_err`` (F_E in
    erg/cm²/s/keV from the AB magnitude: f_ν = 10^(-0.4 (m + 48.6)) erg/cm²/s/Hz), ``flag``.
    Filters without a finite magnitude are left out.
    """
    rows = []
    for f in FILTERS:
        mag_c, err_c, flag_c = om_columns(f)
        mag = _number(row.get(mag_c))
        if not np.isfinite(mag):
            continue
        err = _number(row.get(err_c))
        dens = 10 ** (-0.4 * (mag + 48.6)) * HZ_PER_KEV
        flag = _number(row.get(flag_c))
        sigma = dens * np.log(10) * 0.4 * err
        rows.append((f, HC_KEV_A / WAVELENGTH_A[f], dens, sigma, int(flag) if np.isfinite(flag) else 0))
    return pd.DataFrame(rows, columns=["filter", "energy", "density", "density_err", "flag"])


def _number(value) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return float("nan")
    return value if np.isfinite(value) else float("nan")


# --- the demo's OM list -----------------------------------------------------------------------------
def demo_om(sources: pd.DataFrame, seed: int = 42, fraction: float = 0.4) -> pd.DataFrame:
    """A synthetic SUSS-layout OM list: counterparts of a ``fraction`` of the X-ray sources plus field stars.

    Counterparts sit within the position errors (Gaussian, 1σ = the errors in quadrature / √2 per
    axis), with magnitudes from the X-ray flux (optical-to-X-ray ratio scattered by 1 mag) and a
    bluer-to-redder colour; some filters are missing, as OM observations use a subset of filters.
    """
    rng = np.random.default_rng(seed)
    ok = np.isfinite(sources["SC_RA"].to_numpy(np.float64)) & np.isfinite(sources["SC_DEC"].to_numpy(np.float64))
    pick = sources.loc[ok].sample(frac=fraction, random_state=rng.integers(2**31))
    n = len(pick)
    om_pe = rng.uniform(0.3, 1.2, n)
    sigma = np.hypot(np.nan_to_num(pick["SC_POSERR"].to_numpy(np.float64), nan=1.5), om_pe) / np.sqrt(2)
    pa = rng.uniform(0, 360, n) * u.deg
    offset = np.hypot(rng.normal(0, sigma), rng.normal(0, sigma)) * u.arcsec
    centre = SkyCoord(pick["SC_RA"].to_numpy() * u.deg, pick["SC_DEC"].to_numpy() * u.deg)
    pos = centre.directional_offset_by(pa, offset)
    flux = np.clip(np.nan_to_num(pick["SC_EP_8_FLUX"].to_numpy(np.float64), nan=1e-14), 1e-17, None)
    v = np.clip(-2.5 * np.log10(flux) - 13.5 + rng.normal(0, 1.0, n), 12, 23.5)
    colour = rng.normal(0.3, 0.4, n)  # per filter step towards the UV: positive = redder
    frame = pd.DataFrame({"SRCNUM": np.arange(1, n + 1), "RA": pos.ra.deg, "DEC": pos.dec.deg, "POSERR": om_pe})
    # An optical class, as lists classified from their UV/optical colours carry one (some rows none).
    frame["CLASS"] = rng.choice(["AGN", "star", "CV", ""], n, p=[0.45, 0.35, 0.05, 0.15])
    steps = {"V": 0, "B": 1, "U": 2, "UVW1": 3, "UVM2": 4, "UVW2": 5}
    for f in FILTERS:
        mag = v + colour * steps[f] + rng.normal(0, 0.05, n)
        observed = rng.random(n) < (0.9 if f in ("UVW1", "U", "V") else 0.6)
        err = np.clip(0.02 * 10 ** (0.2 * (mag - 18)), 0.01, 0.5)
        frame[f"{f}_AB_MAG"] = np.where(observed, mag, np.nan)
        frame[f"{f}_AB_MAG_ERR"] = np.where(observed, err, np.nan)
        frame[f"{f}_QUALITY_FLAG"] = np.where(observed & (rng.random(n) < 0.05), 4, 0).astype(np.int32)
    return frame


def write_om_fits(frame: pd.DataFrame, path: Path) -> Path:
    """Write an OM list as a SUSS-layout FITS table with units."""
    units = {"RA": "deg", "DEC": "deg", "POSERR": "arcsec"}
    for f in FILTERS:
        units[f"{f}_AB_MAG"] = units[f"{f}_AB_MAG_ERR"] = "mag"
    table = Table.from_pandas(frame)
    for c, unit in units.items():
        if c in table.colnames:
            table[c].unit = unit
    table.meta["EXTNAME"] = "SRCLIST"
    table.write(path, format="fits", overwrite=True)
    return Path(path)
