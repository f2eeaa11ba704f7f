"""Open one product table safely (every failure becomes a ProductError) and write .FTZ files."""

from __future__ import annotations

import gzip
import io
import os
import tempfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy.io import fits

from data_loaders.products.errors import ProductError
from data_loaders.products.names import parse_product_name

#: Products are a few kB to a few MB; refuse anything absurdly large before decompressing it.
MAX_BYTES = 512 * 1024 * 1024
_FITS_BLOCK = 2880
_GZIP_MAGIC = b"\x1f\x8b"

#: What each product HDU is, to say "this is a spectrum, not a lightcurve".
HDU_KINDS = {
    "RATE": "a lightcurve",
    "SPECTRUM": "a spectrum",
    "SPECRESP": "an effective area (ARF)",
    "MATRIX": "a response matrix",
    "EBOUNDS": "a response matrix",
    "EVENTS": "an event list",
}


#: INSTRUME values (upper case, by prefix) of the XMM instruments whose products are not drawn.
OTHER_INSTRUMENTS = {"RGS": "RGS", "OM": "OM"}
#: The plural of each product noun, for "draws EPIC spectra only".
_PLURALS = {
    "spectrum": "spectra",
    "background spectrum": "background spectra",
    "effective area (ARF)": "effective areas (ARFs)",
    "response matrix": "response matrices",
}


@dataclass(frozen=True)
class ProductTable:
    """One binary table read out of a product file, detached from the file."""

    path: Path
    header: fits.Header
    primary: fits.Header
    columns: dict[str, np.ndarray]
    units: dict[str, str]
    extnames: tuple[str, ...]

    def __len__(self) -> int:
        return len(next(iter(self.columns.values()))) if self.columns else 0


def _raw_fits_bytes(path: Path) -> bytes:
    """The uncompressed FITS bytes of ``path``, checked for gzip damage and truncation."""
    label = path.name
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise ProductError(f"{label} is {size} bytes, more than a product can be.", path)
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ProductError(f"{label} does not exist (looked in {path.parent}).", path) from None
    except IsADirectoryError:
        raise ProductError(f"{label} is a directory, not a FITS file.", path) from None
    except OSError as err:
        raise ProductError(f"{label} could not be read: {err.strerror or err}.", path) from None
    if not raw:
        raise ProductError(f"{label} is empty (0 bytes).", path)
    if raw[:2] == _GZIP_MAGIC:
        try:
            raw = gzip.decompress(raw)
        except EOFError:
            raise ProductError(f"{label} is truncated: the gzip stream ends before its end marker.", path) from None
        except (OSError, zlib.error) as err:
            raise ProductError(f"{label} is a corrupt gzip file ({err}).", path) from None
    if not raw.startswith(b"SIMPLE  ="):
        raise ProductError(f"{label} is not a FITS file (it does not start with a SIMPLE card).", path)
    if len(raw) % _FITS_BLOCK:
        raise ProductError(
            f"{label} is truncated: {len(raw)} bytes of FITS is not a whole number of {_FITS_BLOCK}-byte blocks.",
            path,
        )
    return raw


def read_table(path: str | Path, *, extname: str, want: str, required: Sequence[str]) -> ProductTable:
    """Read HDU ``extname`` of a product and check it has ``required`` columns and rows.

    ``want`` says what the caller expected in words ("a lightcurve"), for the error sentence.
    """
    path = Path(path)
    label = path.name
    raw = _raw_fits_bytes(path)
    try:
        with fits.open(io.BytesIO(raw), memmap=False, lazy_load_hdus=False) as hdul:
            extnames = tuple(str(hdu.name).upper() for hdu in hdul)
            _refuse_other_instruments(path, hdul, extnames, want)
            if extname not in extnames:
                found = [HDU_KINDS[name] for name in extnames if name in HDU_KINDS]
                if found:
                    raise ProductError(f"{label} is {found[0]}, not {want}.", path)
                raise ProductError(
                    f"{label} is not {want}: it has no {extname} extension (found {', '.join(extnames)}).",
                    path,
                )
            hdu = hdul[extname]
            if not isinstance(hdu, fits.BinTableHDU):
                raise ProductError(f"{label}: the {extname} extension is not a binary table.", path)
            names = [c.upper() for c in hdu.columns.names]
            missing = [c for c in required if c not in names]
            if missing:
                raise ProductError(
                    f"{label} is missing the {extname} column{'s' if len(missing) > 1 else ''} {', '.join(missing)}.",
                    path,
                )
            data = hdu.data
            if data is None or len(data) == 0:
                raise ProductError(f"{label} has an empty {extname} table (no rows).", path)
            columns = {}
            units = {}
            for col in hdu.columns:
                columns[col.name.upper()] = _native(np.asarray(data[col.name]))
                units[col.name.upper()] = col.unit or ""
            return ProductTable(
                path=path,
                header=hdu.header.copy(),
                primary=hdul[0].header.copy(),
                columns=columns,
                units=units,
                extnames=extnames,
            )
    except ProductError:
        raise
    except Exception as err:  # astropy raises many types for damaged files; say it once.
        raise ProductError(f"{label} could not be read as FITS: {err}.", path) from None


def _instrument_family(path: Path, hdul: fits.HDUList) -> tuple[str, str] | None:
    """(``RGS``/``OM``, the evidence) when the file belongs to a non-EPIC instrument, else None.

    INSTRUME in any HDU decides (RGS1, RGS2, OM); a file without it is judged by its PPS name
    (instrument R1, R2, RG or OM).
    """
    for hdu in hdul:
        instrume = str(hdu.header.get("INSTRUME", "")).strip().upper()
        if instrume:
            family = next((f for prefix, f in OTHER_INSTRUMENTS.items() if instrume.startswith(prefix)), None)
            return (family, f"INSTRUME = {instrume!r}") if family else None
    try:
        name = parse_product_name(path.name)
    except ProductError:
        return None
    return None if name.family == "EPIC" else (name.family, f"instrument {name.instrument} in its name")


def _refuse_other_instruments(path: Path, hdul: fits.HDUList, extnames: tuple[str, ...], want: str) -> None:
    """RGS and OM products share names and extension names with EPIC ones; say so and refuse them."""
    found = _instrument_family(path, hdul)
    if found is None:
        return
    family, evidence = found
    kinds = [HDU_KINDS[name] for name in extnames if name in HDU_KINDS]
    noun = (kinds[0] if kinds else want).split(" ", 1)[1]
    wanted = want.split(" ", 1)[1]
    article = "an" if family[0] in "AEIOUR" else "a"  # "an RGS", "an OM"
    raise ProductError(
        f"{path.name} is {article} {family} {noun} ({evidence}); "
        f"the Source view draws EPIC {_PLURALS.get(wanted, wanted + 's')} only (pn, MOS1, MOS2).",
        path,
    )


def _native(values: np.ndarray) -> np.ndarray:
    """A detached, native-endian copy; floats become float64 with every NaN a quiet one.

    Pipeline files may hold *signalling* NaN bit patterns in gap bins (e.g. ``7FBFFFFF``);
    numpy warns "invalid value encountered in cast" whenever such a value is converted, so
    convert once, here, with that warning off: the result is an ordinary NaN.
    """
    if values.dtype.kind == "f":
        with np.errstate(invalid="ignore"):
            return values.astype(np.float64)
    return np.array(values)


def header_float(header: fits.Header, key: str, default: float = float("nan")) -> float:
    """A numeric keyword as float, ``default`` when absent or not a number."""
    value = header.get(key)
    try:
        return float(value) if value is not None else default
    except (TypeError, ValueError):
        return default


def write_ftz(hdul: fits.HDUList, path: Path) -> Path:
    """Write ``hdul`` as gzip-compressed FITS with reproducible bytes, atomically.

    The file is written beside its target and renamed into place, so a reader (or another
    writer of the same bytes) never sees half a file.
    """
    buffer = io.BytesIO()
    hdul.writeto(buffer, output_verify="exception", checksum=False)
    payload = gzip.compress(buffer.getvalue(), compresslevel=6, mtime=0)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
