"""Checks a catalogue file must pass before ingest writes anything: readable, complete, typed, with known units.

Each failure is one sentence naming the file, the column and what was expected
(``IngestError``); a unit that is only spelled differently (``degrees`` for ``deg``) passes.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import astropy.units as u
import numpy as np
from astropy.io import fits

from data_loaders import schema
from data_loaders.errors import IngestError

#: Unit spellings seen in XMM files that astropy does not parse, mapped to what they mean.
UNIT_ALIASES = {"degrees": "deg", "cgs": "erg/cm**2/s", "cnts/s": "ct/s", "counts/s": "ct/s", "seconds": "s"}
_FLOAT, _INT, _BOOL, _TEXT = "a floating-point number", "an integer", "a FITS logical (L)", "text"


def open_fits_table(path: Path) -> tuple[fits.HDUList, fits.BinTableHDU]:
    """The largest binary table of a FITS file, memory-mapped; IngestError for a missing, foreign,
    truncated or corrupt file (one sentence, no traceback)."""
    path = Path(path)
    if not path.exists():
        raise IngestError(f"{path} does not exist.")
    try:
        with warnings.catch_warnings():
            # astropy warns (and carries on) about truncated files; the size check below says it plainly.
            warnings.simplefilter("ignore")
            hdul = fits.open(path, memmap=True, lazy_load_hdus=False)
    except (OSError, ValueError, TypeError, IndexError, fits.VerifyError) as exc:
        why = re.split(r"[,.;]\s", str(exc).strip(), maxsplit=1)[0]
        raise IngestError(f"{path.name} is not a FITS file, or is corrupt ({why}).") from exc
    tables = [h for h in hdul if isinstance(h, fits.BinTableHDU)]
    if not tables:
        hdul.close()
        raise IngestError(f"{path.name} has no binary table HDU; an XMM catalogue is a FITS binary table.")
    hdu = max(tables, key=lambda h: h.header.get("NAXIS2", 0))
    info = hdu.fileinfo()
    needed = info["datLoc"] + info["datSpan"]
    size = path.stat().st_size
    if size < needed:
        hdul.close()
        raise IngestError(
            f"{path.name} is truncated: its table of {hdu.header.get('NAXIS2', 0):,} rows needs {needed:,} bytes "
            f"but the file has {size:,}; download it again."
        )
    if hdu.header.get("NAXIS2", 0) == 0:
        hdul.close()
        raise IngestError(f"{path.name} has an empty catalogue table (0 rows).")
    return hdul, hdu


def _expected(fits_format: str) -> str:
    code = fits_format.lstrip("0123456789")[:1]
    return {"E": _FLOAT, "D": _FLOAT, "K": _INT, "J": _INT, "I": _INT, "B": _INT, "L": _BOOL, "A": _TEXT}[code]


def _actual(col: fits.Column) -> str:
    code = col.format.lstrip("0123456789")[:1].upper()
    if code in ("E", "D"):
        return _FLOAT
    if code in ("K", "J", "I", "B"):
        return _INT
    return {"L": _BOOL, "A": _TEXT}.get(code, f"FITS format {col.format}")


def _unit(text: str) -> u.UnitBase | None:
    """The unit ``text`` names (XMM spellings mapped), or None if astropy cannot read it."""
    text = UNIT_ALIASES.get(text.strip(), text.strip())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "multiple slashes" and similar: readable, only discouraged
        unit = u.Unit(text, parse_strict="silent")
    return None if isinstance(unit, u.UnrecognizedUnit) else unit


def check_columns(hdu: fits.BinTableHDU, known: dict[str, schema.Column], filename: str) -> list[str]:
    """Refuse first-class columns of the wrong type or of an incompatible unit; return notes for the report.

    An integer where a float is expected passes (it converts exactly); text where a number is
    expected, a float where an identifier is expected, or a unit of another kind (RA in
    seconds) does not. A unit with a scale (RA in rad, POSERR in deg) is refused too: the
    dashboard reads the documented unit.
    """
    notes = []
    for col in hdu.columns:
        spec = known.get(col.name)
        if spec is None:
            continue
        want, got = _expected(spec.fits_format), _actual(col)
        if want != got and not (want == _FLOAT and got == _INT):
            raise IngestError(
                f"Column {col.name} of {filename} is {got} (TFORM {col.format}); a catalogue stores it as {want}"
                f"{f' in {spec.unit}' if spec.unit else ''}."
            )
        if not (col.unit and spec.unit):
            continue
        have, expected = _unit(col.unit), _unit(spec.unit)
        if have is None or expected is None:
            notes.append(f"{col.name}: unit {col.unit!r} is not a unit astropy reads; taken as {spec.unit}.")
            continue
        try:
            factor = have.to(expected)
        except u.UnitConversionError:
            raise IngestError(
                f"Column {col.name} of {filename} is in {col.unit}, not a unit of {expected.physical_type} "
                f"like {spec.unit}."
            ) from None
        if not np.isclose(factor, 1.0, rtol=1e-9):
            raise IngestError(
                f"Column {col.name} of {filename} is in {col.unit}; the catalogue format gives it in {spec.unit} "
                f"(1 {col.unit} = {factor:g} {spec.unit}): convert the column first."
            )
    return notes


def duplicated(values: np.ndarray) -> np.ndarray:
    """Boolean mask of the rows whose value already appeared in an earlier row (first kept)."""
    values = np.asarray(values)
    order = np.argsort(values, kind="stable")
    sorted_values = values[order]
    repeat = np.zeros(values.size, dtype=bool)
    repeat[order[1:]] = sorted_values[1:] == sorted_values[:-1]
    return repeat


def duplicate_sentence(filename: str, column: str, values: np.ndarray, repeat: np.ndarray) -> str:
    examples = ", ".join(str(v) for v in np.unique(values[repeat])[:3])
    return (
        f"{filename} has {int(repeat.sum()):,} rows whose {column} repeats an earlier row (e.g. {examples}); "
        f"each {'detection' if column == 'DETID' else 'row'} must be unique: fix the file, or ingest with "
        f"--drop-duplicates to keep the first row of each."
    )
