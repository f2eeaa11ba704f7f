"""What a catalogue can and cannot do, declared once and read by the pages.

A page never asks which engine or which kind of release it runs on; it asks
``catalogue.capabilities`` whether a feature is there and, when it is not, shows the
one sentence the catalogue gave as the reason. The same mechanism covers what a release
lacks (a column group such as the classifications) and what an engine cannot do at scale
(a full sort of 10^8 rows).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

#: Engine features a page may ask about.
DEEP_PAGES = "deep_pages"  # any page of the table in any sort order (else only the first pages: top-k)


@dataclass(frozen=True)
class Capabilities:
    """The features a catalogue lacks, each with one sentence saying why (every other one is there)."""

    missing: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "missing", MappingProxyType(dict(self.missing)))

    def __contains__(self, feature: str) -> bool:
        return feature not in self.missing

    def __iter__(self) -> Iterator[str]:
        return iter(self.missing)

    def why_not(self, feature: str) -> str:
        """The sentence explaining why ``feature`` is missing ('' if it is there)."""
        return self.missing.get(feature, "")

    def without(self, **reasons: str) -> Capabilities:
        """These capabilities minus the features named, each with its reason."""
        return Capabilities({**self.missing, **reasons})


EVERYTHING = Capabilities()
