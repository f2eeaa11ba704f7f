"""Stable, release-run-independent alert identifiers: a 64-bit mix of SRCID, DETID, type and preset."""

from __future__ import annotations

import zlib

import numpy as np

_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _mix(x: np.ndarray | np.uint64) -> np.ndarray:
    """splitmix64 finaliser (wrapping uint64 arithmetic)."""
    x = x ^ (x >> np.uint64(30))
    x = x * _M1
    x = x ^ (x >> np.uint64(27))
    x = x * _M2
    return np.asarray(x ^ (x >> np.uint64(31)))


def text_code(text: str) -> int:
    """A fixed 32-bit code for a short label (CRC-32, identical on every platform and run)."""
    return zlib.crc32(text.encode("utf-8"))


def alert_ids(srcid: np.ndarray, detid: np.ndarray, alert_type: str, preset: str) -> np.ndarray:
    """16-hex-digit ALERT_ID strings (dtype ``<U16``), one per (SRCID, DETID) for one type and preset."""
    with np.errstate(over="ignore"):
        h = _mix(np.uint64(text_code(f"{alert_type}|{preset}")) * _GOLDEN)
        h = _mix(h ^ np.asarray(srcid, dtype=np.int64).view(np.uint64))
        h = _mix(h ^ (np.asarray(detid, dtype=np.int64).view(np.uint64) * _GOLDEN))
    h = np.atleast_1d(h).astype(np.uint64)
    shifts = np.arange(60, -1, -4, dtype=np.uint64)
    nibbles = ((h[:, None] >> shifts[None, :]) & np.uint64(0xF)).astype(np.intp)
    chars = np.ascontiguousarray(_HEX[nibbles])
    return chars.view("S16").ravel().astype("U16")
