"""Guided tours of the outreach sky: famous fields with one plain-language caption each."""

from __future__ import annotations

from dataclasses import dataclass

from app.search import FAMOUS_FIELDS


@dataclass(frozen=True)
class Stop:
    """One stop of a tour: where to look (ICRS deg), how wide (deg) and what to say."""

    name: str
    ra: float
    dec: float
    radius: float
    caption: str


def _stop(name: str, radius: float, caption: str) -> Stop:
    ra, dec = FAMOUS_FIELDS[name]
    return Stop(name, ra, dec, radius, caption)


TOUR: tuple[Stop, ...] = (
    _stop(
        "Galactic Centre",
        6.0,
        "The heart of our Milky Way, 26,000 light years away. A black hole four million times heavier than "
        "the Sun hides here, surrounded by X-ray binaries and hot gas.",
    ),
    _stop(
        "Orion",
        4.0,
        "The Orion Nebula, a nursery where new stars are born. Young stars are restless: they flare in X-rays "
        "far more than our middle-aged Sun.",
    ),
    _stop(
        "M31",
        4.0,
        "The Andromeda Galaxy, our big neighbour 2.5 million light years away. XMM-Newton sees hundreds of its "
        "X-ray binaries, one by one.",
    ),
    _stop(
        "LMC",
        8.0,
        "The Large Magellanic Cloud, a small galaxy orbiting ours, full of exploded-star remnants and X-ray binaries.",
    ),
    _stop(
        "Lockman Hole",
        4.0,
        "A window with almost no gas from our Galaxy in the way: the deepest X-ray pictures look through it at "
        "black holes in galaxies billions of light years away.",
    ),
    _stop(
        "CDF-S",
        4.0,
        "The Chandra Deep Field South: one of the most-watched patches of sky. Nearly every dot here is a "
        "feeding supermassive black hole in a distant galaxy.",
    ),
)
