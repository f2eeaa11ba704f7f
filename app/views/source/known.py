"""What is known of one source, in one line a person reads: class, fit, redshift, OM, counterpart, sky maps.

:func:`source_facts` gathers the facts from the catalogue (and the flag store and sky-map folder when
given); :func:`known_line` states the ones present as plain text, to be made inert where it is shown.
Only what is known is said: a source with nothing added gets an empty line.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from app.views.source.format import number
from data_loaders import schema

log = logging.getLogger(__name__)

#: Credible levels of a sky map whose region membership the line names (smallest first).
MAP_LEVELS = (0.5, 0.9)


@dataclass
class SourceFacts:
    """The known facts of one source (None / empty where unknown)."""

    machine_class: str | None = None
    machine_prob: float = float("nan")
    citizen_class: str | None = None
    citizen_votes: int = 0
    reviewer_labels: tuple[str, ...] = ()
    gamma: float = float("nan")
    gamma_lo: float = float("nan")
    gamma_hi: float = float("nan")
    nh: float = float("nan")
    published_fit: str | None = None
    redshift: float = float("nan")
    redshift_lo: float = float("nan")
    redshift_hi: float = float("nan")
    log_lx: float = float("nan")
    om_mags: tuple[tuple[str, float], ...] = ()
    om_class: str | None = None
    counterpart: tuple[str, str, float] | None = None
    regions: tuple[tuple[str, float], ...] = field(default_factory=tuple)


def _class_label(name: str) -> str:
    return schema.CLASS_LABELS.get(name, name)


def known_line(f: SourceFacts) -> str:
    """The facts present in ``f`` as one line of plain text ('' when nothing is known)."""
    parts = []
    classes = []
    if f.machine_class:
        prob = number(f.machine_prob, "{:.0%}")
        classes.append(f"{_class_label(f.machine_class)} (machine{'' if prob == '—' else ', ' + prob})")
    if f.citizen_class:
        classes.append(
            f"{_class_label(f.citizen_class)} (citizens, {f.citizen_votes} vote{'s' * (f.citizen_votes != 1)})"
        )
    if f.reviewer_labels:
        classes.append(f"reviewers: {', '.join(f.reviewer_labels)}")
    if classes:
        parts.append("; ".join(classes))
    if np.isfinite(f.gamma):
        fit = f"Γ = {f.gamma:.2f}"
        if np.isfinite(f.gamma_lo) and np.isfinite(f.gamma_hi):
            fit += f" ({f.gamma_lo:.2f}–{f.gamma_hi:.2f})"
        if np.isfinite(f.nh):  # the fit writes 0 for a column below 1e19 cm⁻²
            fit += f", N_H = {f.nh:.2g}×10²² cm⁻²" if f.nh > 0 else ", N_H < 10¹⁹ cm⁻²"
        parts.append(f"five-band fit {fit}")
    if f.published_fit:
        parts.append(f"published fit {f.published_fit}")
    if np.isfinite(f.redshift):
        z = f"z = {f.redshift:.2f}"
        if np.isfinite(f.redshift_lo) and np.isfinite(f.redshift_hi):
            z += f" ({f.redshift_lo:.2f}–{f.redshift_hi:.2f})"
        if np.isfinite(f.log_lx):
            z += f", log L_X = {f.log_lx:.1f} (erg/s, 0.2–12 keV)"
        parts.append(f"photometric {z}")
    if f.om_mags or f.om_class:
        om = ", ".join(f"{band} {mag:.1f}" for band, mag in f.om_mags)
        text = f"OM {om} AB" if om else "OM counterpart"
        if f.om_class:
            text += f" (OM class {_class_label(f.om_class)})"
        parts.append(text)
    if f.counterpart:
        catalogue, name, match_prob = f.counterpart
        p = number(match_prob, "{:.2f}")
        parts.append(f"best counterpart {catalogue} {name}" + ("" if p == "—" else f" (P = {p})"))
    for level in MAP_LEVELS:  # the same event's map in several files is named once per level
        events = [event for event, at in f.regions if at == level]
        if events:
            parts.append(f"inside the {level:.0%} region of {', '.join(events)}")
    return " · ".join(parts)


def _first(table: pd.DataFrame | None, srcid: int) -> pd.Series | None:
    if table is None or table.empty:
        return None
    hit = table[table["SRCID"].to_numpy() == srcid]
    return None if hit.empty else hit.iloc[0]


def _float(row, name: str) -> float:
    try:
        value = float(row.get(name))
    except (TypeError, ValueError):
        return float("nan")
    return value


def source_facts(catalogue, srcid: int, store=None, skymap_folder: Path | None = None) -> SourceFacts:
    """The facts of ``srcid`` from the catalogue's columns and added tables, the store and the sky maps."""
    f = SourceFacts()
    row = catalogue.source_row(srcid)
    if row is None:
        return f
    cls = _first(catalogue.classifications, srcid)
    if cls is not None:
        probs = [_float(cls, f"PbaC{i}") for i in range(len(schema.CLASS_NAMES))]
        f.machine_class = schema.class_names([int(cls["prediction"])], missing="")[0] or None
        f.machine_prob = float(np.nanmax(probs)) if np.isfinite(probs).any() else float("nan")
    if store is not None:
        f.citizen_class, f.citizen_votes, f.reviewer_labels = _store_facts(catalogue, srcid, store)
    f.gamma, f.gamma_lo, f.gamma_hi, f.nh = (
        _float(row, c) for c in ("PL_GAMMA", "PL_GAMMA_ERR_LO", "PL_GAMMA_ERR_HI", "PL_NH")
    )
    if np.isfinite(f.gamma):
        f.gamma_lo, f.gamma_hi = f.gamma - f.gamma_lo, f.gamma + f.gamma_hi  # errors -> interval
    fits = _first(catalogue.spectral_fits, srcid)
    if fits is not None:
        g, kt = _float(fits, "GAMMA"), _float(fits, "KT")
        value = f"Γ = {g:.2f}" if np.isfinite(g) else (f"kT = {kt:.2f} keV" if np.isfinite(kt) else "")
        f.published_fit = f"{fits['MODEL']} {value}".strip()
    z = _first(catalogue.photoz, srcid)
    if z is not None:
        f.redshift, f.redshift_lo, f.redshift_hi, f.log_lx = (
            _float(z, c) for c in ("PHOTO_Z", "PHOTO_Z_LO", "PHOTO_Z_HI", "LOG_LX")
        )
    om_row = _first(catalogue.om, srcid)
    if om_row is not None:
        from data_loaders.om import FILTERS, om_columns

        mags = [(b, _float(om_row, om_columns(b)[0])) for b in FILTERS]
        f.om_mags = tuple((b, m) for b, m in mags if np.isfinite(m))
        if "OM_CLASS" in om_row.index:
            f.om_class = schema.class_names([int(om_row["OM_CLASS"])], missing="")[0] or None
    cps = _first_best(catalogue.counterparts, srcid)
    if cps is not None:
        f.counterpart = (str(cps["CATALOGUE"]), str(cps.get("CP_ID", "")), _float(cps, "MATCH_PROB"))
    if skymap_folder is not None:
        f.regions = _regions(skymap_folder, _float(row, "SC_RA"), _float(row, "SC_DEC"))
    return f


def _first_best(cps: pd.DataFrame | None, srcid: int) -> pd.Series | None:
    if cps is None or cps.empty:
        return None
    hit = cps[cps["SRCID"].to_numpy() == srcid]
    if hit.empty:
        return None
    if "MATCH_PROB" in hit:
        hit = hit.sort_values("MATCH_PROB", ascending=False, kind="stable")
    return hit.iloc[0]


def _store_facts(catalogue, srcid: int, store) -> tuple[str | None, int, tuple[str, ...]]:
    """(citizen consensus class, counted votes, reviewers' current labels); nothing when the store fails."""
    citizen, votes, labels = None, 0, ()
    try:
        from data_loaders.citizen.consensus import consensus_frame

        cons = consensus_frame(catalogue, store)
        hit = cons[cons["SRCID"].to_numpy() == srcid]
        if not hit.empty and int(hit["prediction"].iloc[0]) >= 0:
            citizen, votes = str(hit["prediction_name"].iloc[0]), int(hit["N_VOTES"].iloc[0])
        flags = store.current_flags(catalogue.name, [srcid])
        labels = tuple(sorted(set(flags["label"].astype(str)))) if len(flags) else ()
    except Exception:  # votes and flags are optional; the header must not break
        log.exception("reading votes and flags of %s failed", srcid)
    return citizen, votes, labels


def _regions(folder: Path, ra: float, dec: float) -> tuple[tuple[str, float], ...]:
    """(map name, smallest credible level of MAP_LEVELS) of each map of ``folder`` whose region holds the source."""
    from data_loaders import skymap

    if not (np.isfinite(ra) and np.isfinite(dec)):
        return ()
    out = []
    try:
        maps = skymap.list_maps(Path(folder))
    except OSError:
        return ()
    for name in maps:
        for level in MAP_LEVELS:
            try:
                moc = skymap.credible_region(Path(folder), name, level)
                import astropy.units as u

                inside = bool(moc.contains_lonlat(ra * u.deg, dec * u.deg)[0])
            except Exception:  # a bad map is the Explore page's sentence; the header only skips it
                log.exception("sky map %s could not be read", name)
                break
            if inside:
                out.append((name, level))
                break
    return tuple(out)
