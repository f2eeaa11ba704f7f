"""The game's answer categories and how they map to the classifier's classes.

Volunteers choose among plain-language families; each maps to one *primary* machine class
(used for the consensus probabilities) and is counted correct for every class it covers
(an X-ray binary in another galaxy is right as "X-ray binary" and as "Galaxy").
"""

from __future__ import annotations

from dataclasses import dataclass

from data_loaders.schema import CLASS_NAMES

DONT_KNOW = "dont_know"


@dataclass(frozen=True)
class Category:
    """One answer button of the game."""

    key: str
    label: str
    #: Machine class (``schema.CLASS_NAMES``) a vote for this category adds weight to; None for "I don't know".
    primary: str | None
    #: Machine classes for which this answer counts as right on a known ("gold") source.
    covers: tuple[str, ...]
    #: One plain-language sentence for the tutorial and feedback.
    blurb: str
    #: The clue that gives it away, used in gentle feedback ("here's the clue").
    clue: str


CATEGORIES: tuple[Category, ...] = (
    Category(
        "agn",
        "Active galaxy (AGN)",
        "AGN",
        ("AGN", "bk_AGN"),
        "A giant black hole in the heart of a far-away galaxy, swallowing gas and glowing in X-rays.",
        "AGN are found all over the sky, away from the Milky Way too, with a hard (blue-ish) spectrum "
        "and often a faint optical counterpart.",
    ),
    Category(
        "star",
        "Star",
        "star",
        ("star",),
        "A nearby star with a hot, active outer layer (its corona), like a very angry Sun.",
        "Stars are soft (most X-rays at low energy) and have a bright optical counterpart.",
    ),
    Category(
        "xrb",
        "X-ray binary",
        "gal_xrb",
        ("gal_xrb", "ext_xrb"),
        "A black hole or neutron star stealing gas from a companion star; very bright and very variable.",
        "X-ray binaries sit close to the Milky Way's disc, are hard and change a lot over time.",
    ),
    Category(
        "cv",
        "Cataclysmic variable",
        "CV",
        ("CV",),
        "A white dwarf pulling gas off a partner star; it flickers and sometimes erupts.",
        "Cataclysmic variables are variable, fairly hard, and have a modest optical counterpart.",
    ),
    Category(
        "galaxy",
        "Galaxy",
        "ext_xrb",
        ("ext_xrb",),
        "A nearby galaxy whose X-rays come from its own population of X-ray binaries.",
        "These sources lie in nearby galaxies such as M31 or the Magellanic Clouds.",
    ),
    Category(
        "cluster",
        "Cluster of galaxies",
        "extended",
        ("extended",),
        "Hundreds of galaxies bathed in gas at tens of millions of degrees: a fuzzy X-ray cloud.",
        "Clusters look fuzzy (extended), not like a sharp point, and their X-rays are soft.",
    ),
    Category(
        DONT_KNOW,
        "I don't know",
        None,
        (),
        "Not sure? That is a perfectly good answer: it helps astronomers find the hard cases.",
        "",
    ),
)
_BY_KEY = {c.key: c for c in CATEGORIES}
assert all(c.primary is None or c.primary in CLASS_NAMES for c in CATEGORIES)


def category(key: str) -> Category:
    """The category called ``key``; ValueError naming the allowed keys otherwise."""
    try:
        return _BY_KEY[key]
    except KeyError:
        raise ValueError(f"Unknown answer {key!r}; expected one of {', '.join(_BY_KEY)}.") from None


def category_of_class(class_name: str) -> Category:
    """The category whose primary class is ``class_name`` (the blazar family falls under AGN)."""
    for c in CATEGORIES:
        if c.primary == class_name:
            return c
    for c in CATEGORIES:
        if class_name in c.covers:
            return c
    raise ValueError(f"Unknown class {class_name!r}; expected one of {', '.join(CLASS_NAMES)}.")


def is_correct(key: str, true_class: str) -> bool | None:
    """Whether answer ``key`` is right for a source of ``true_class``; None for "I don't know" (not scored)."""
    cat = category(key)
    if cat.key == DONT_KNOW:
        return None
    return true_class in cat.covers
