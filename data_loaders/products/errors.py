"""The two ways a product can fail: a broken file (raised) and a missing one (returned)."""

from __future__ import annotations

from dataclasses import dataclass


class ProductError(ValueError):
    """A product file that cannot be used, with one sentence naming the file and the fault.

    ``str(error)`` is meant for people (the browser shows it); ``error.path`` keeps the file.
    """

    def __init__(self, reason: str, path: object = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.path = path


@dataclass(frozen=True)
class ProductUnavailable:
    """A product that is not there (or not readable), returned instead of raised.

    A UI shows ``f"not available: {value.reason}"``. Falsy, so ``if lightcurve:`` reads well.
    """

    reason: str

    def __bool__(self) -> bool:
        return False

    def __str__(self) -> str:
        return f"not available: {self.reason}"
