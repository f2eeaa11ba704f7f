"""The five-band fit of any table file (FITS, CSV, Parquet): its rows plus the ``PL_*`` columns."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from astropy.table import MaskedColumn, Table

from data_loaders import schema
from data_loaders.spectral.bandfit import fit_band_fluxes
from data_loaders.spectral.columns import BandFitError, band_names

FORMATS = {".fits": "fits", ".fit": "fits", ".fits.gz": "fits", ".csv": "ascii.csv", ".parquet": "parquet"}


def _format(path: Path) -> str:
    name = path.name.lower()
    for suffix, fmt in FORMATS.items():
        if name.endswith(suffix):
            return fmt
    raise BandFitError(f"{path.name}: unknown table format; use a .fits, .csv or .parquet file.")


def _floats(column) -> np.ndarray:
    if isinstance(column, MaskedColumn):
        return np.asarray(column.astype(np.float64).filled(np.nan))
    try:
        return np.asarray(column, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise BandFitError(f"Column {column.name} holds {column.dtype} values, not numbers.") from exc


def fit_table_file(src: Path, dest: Path) -> tuple[int, str, dict[int, int]]:
    """Fit every row of ``src`` and write its rows plus ``PL_*`` to ``dest`` (format from the suffix).

    Returns the number of rows, the naming used ('EP_' or 'SC_EP_') and the count of each fit flag.
    """
    src, dest = Path(src), Path(dest)
    fmt_in, fmt_out = _format(src), _format(dest)
    if not src.exists():
        raise BandFitError(f"{src} does not exist.")
    try:
        table = Table.read(src, format=fmt_in)
    except Exception as exc:  # astropy raises many kinds for a bad file; one sentence for all
        raise BandFitError(f"{src.name} could not be read as {fmt_in.replace('ascii.', '').upper()} ({exc}).") from exc
    names = band_names(table.colnames)
    if names is None:
        raise BandFitError(
            f"{src.name} has no complete set of five band fluxes with errors "
            "(EP_1_FLUX..EP_5_FLUX and their _ERR, or SC_EP_1_FLUX..SC_EP_5_FLUX and their _ERR)."
        )
    flux = np.column_stack([_floats(table[c]) for c in names[0]])
    err = np.column_stack([_floats(table[c]) for c in names[1]])
    fitted = fit_band_fluxes(flux, err).columns()
    for col in schema.BANDFIT_COLUMNS:
        table[col.name] = fitted[col.name]
        table[col.name].unit = col.unit
        table[col.name].description = col.description
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        table.write(dest, format=fmt_out, overwrite=True)
    except OSError as exc:
        raise BandFitError(f"{dest} could not be written ({exc.strerror or exc}).") from exc
    flags = np.bincount(fitted["PL_FIT_FLAG"].astype(np.int64), minlength=4)
    return len(table), "SC_EP_" if names[0][0].startswith("SC_") else "EP_", dict(enumerate(flags.tolist()))
