"""The Explore page's source card: key values of the tapped/searched source and a link to its page."""

from __future__ import annotations

import numpy as np
import panel as pn

from app.state import ExploreState
from app.text import inert
from data_loaders import schema


def fmt(value, pattern: str = "{:.3g}") -> str:
    """``value`` formatted with ``pattern``, "—" for missing or non-finite numbers, escaped text otherwise."""
    try:
        if value is None or (isinstance(value, float) and not np.isfinite(value)):
            return "—"
        return pattern.format(value)
    except (TypeError, ValueError):
        return inert(str(value))


def source_card_html(row, release: str) -> str:
    """HTML of the card for one unique-source row (every value escaped)."""
    if row is None:
        return "<div class='xmm-empty'>Tap a source on the sky, click a table row or search for one.</div>"
    srcid = int(row["SRCID"])
    cls = int(row.get("CLASS", -1))
    cls_txt = (
        f"{schema.CLASS_LABELS[schema.CLASS_NAMES[cls]]} ({fmt(row.get('CLASS_PROB'), '{:.0%}')})"
        if cls >= 0
        else "not classified"
    )
    flag = int(row["SC_SUM_FLAG"]) if np.isfinite(row.get("SC_SUM_FLAG", np.nan)) else None
    items = [
        ("SRCID", str(srcid)),
        (
            "RA, Dec",
            f"{fmt(row['SC_RA'], '{:.5f}')}°, {fmt(row['SC_DEC'], '{:+.5f}')}° ± {fmt(row['SC_POSERR'], '{:.2f}')}″",
        ),
        ("l, b", f"{fmt(row['LII'], '{:.3f}')}°, {fmt(row['BII'], '{:+.3f}')}°"),
        ("Flux 0.2–12 keV", f"{fmt(row['SC_EP_8_FLUX'])} erg/cm²/s"),
        ("HR1…HR4", ", ".join(fmt(row[f"SC_HR{i}"], "{:+.2f}") for i in range(1, 5))),
        ("Detections", f"{int(row['N_DETECTIONS'])}"),
        ("Extent", f"{fmt(row['SC_EXTENT'], '{:.1f}')}″"),
        ("Quality", f"SC_SUM_FLAG {flag} ({schema.SUM_FLAG_MEANING.get(flag, '?')})" if flag is not None else "—"),
        ("Variable", "yes" if bool(row.get("SC_VAR_FLAG", False)) else "no"),
        ("Class", cls_txt),
    ]
    rows = "".join(f"<tr><th>{inert(k)}</th><td>{inert(v)}</td></tr>" for k, v in items)
    name = inert(str(row["IAUNAME"]))
    link = f"source?release={inert(release)}&srcid={srcid}"
    return (
        f"<div class='xmm-card'><h3 style='margin:2px 0 6px 0'>{name}</h3><table class='xmm-kv'>{rows}</table>"
        f"<a class='xmm-open' href='{link}' target='_blank'>Open the full source page →</a></div>"
    )


class SourceCard(pn.viewable.Viewer):
    """Key values of ``state.srcid``."""

    def __init__(self, state: ExploreState, **params):
        super().__init__(**params)
        self.state = state
        self.pane = pn.pane.HTML(sizing_mode="stretch_width", min_height=300)
        state.param.watch(self._update, ["srcid"])
        self._update()

    def _update(self, *_):
        st = self.state
        row = st.catalogue.source_row(st.srcid) if st.srcid is not None else None
        self.pane.object = source_card_html(row, st.catalogue.name)

    def __panel__(self):
        return self.pane
