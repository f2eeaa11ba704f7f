"""Vectorised fixed-width strings: IAU names and T/F flag strings as numpy byte arrays."""

from __future__ import annotations

import numpy as np

_ZERO = ord("0")


def _digits(values: np.ndarray, width: int) -> np.ndarray:
    """(n, width) uint8 ASCII digits of non-negative integers, zero padded."""
    out = np.empty((values.size, width), np.uint8)
    v = values.astype(np.int64)
    for k in range(width - 1, -1, -1):
        out[:, k] = _ZERO + v % 10
        v //= 10
    return out


def _lit(text: str, n: int) -> np.ndarray:
    return np.broadcast_to(np.frombuffer(text.encode(), np.uint8), (n, len(text)))


def sexagesimal_names(prefix: str, ra: np.ndarray, dec: np.ndarray) -> np.ndarray:
    """'<prefix>Jhhmmss.s+ddmmss' from degrees, truncated like the SSC (numpy 'S' array)."""
    n = ra.size
    t = np.floor((np.asarray(ra) % 360.0) / 15.0 * 36000.0 + 1e-7).astype(np.int64) % 864000
    d = np.floor(np.abs(np.asarray(dec)) * 3600.0 + 1e-7).astype(np.int64)
    sign = np.where(np.asarray(dec) < 0, ord("-"), ord("+")).astype(np.uint8)[:, None]
    parts = [
        _lit(prefix + "J", n),
        _digits(t // 36000, 2),
        _digits(t // 600 % 60, 2),
        _digits(t // 10 % 60, 2),
        _lit(".", n),
        _digits(t % 10, 1),
        sign,
        _digits(d // 3600, 2),
        _digits(d // 60 % 60, 2),
        _digits(d % 60, 2),
    ]
    mat = np.ascontiguousarray(np.concatenate(parts, axis=1))
    return mat.view(f"S{mat.shape[1]}").ravel()


def flag_strings(flags: np.ndarray) -> np.ndarray:
    """(n, 12) bool -> 'TFFF...' numpy 'S12' array."""
    mat = np.ascontiguousarray(np.where(flags, ord("T"), ord("F")).astype(np.uint8))
    return mat.view(f"S{mat.shape[1]}").ravel()


def to_str(values: np.ndarray) -> np.ndarray:
    """Numpy bytes array -> numpy unicode array (for pandas 'str' columns)."""
    return np.char.decode(values, "ascii") if values.dtype.kind == "S" else values
