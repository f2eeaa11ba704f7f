"""The source's header card: name, position, key values, quality and the links out."""

from __future__ import annotations

import numpy as np
import pandas as pd
import panel as pn

from app.config import skymap_dir
from app.text import inert
from app.views.source import links
from app.views.source.format import html_pane, kv_table, link, mjd_date, number, plus_minus
from app.views.source.known import known_line, source_facts
from app.views.source.state import SourceState
from app.views.source.tables import fits_html
from data_loaders import schema

#: Columns the card reads; a release without some of them (data_loaders.capabilities) shows "—" there.
_CARD_COLUMNS = (
    "SC_RA", "SC_DEC", "SC_POSERR", "LII", "BII", "SC_EP_8_FLUX", "N_DETECTIONS", "MJD_FIRST", "MJD_LAST",
    "SC_DET_ML", "SC_EXTENT", "IAUNAME",
)  # fmt: skip


def _name(row) -> str:
    name = row.get("IAUNAME")
    return str(name) if isinstance(name, str) and name else f"SRCID {int(row['SRCID'])}"


def summary_html(row, release: str, synthetic: bool = False, known: str = "", published=None) -> str:
    """HTML card of one unique-source row (None -> a hint); ``known``: the line of what is known of it;
    ``published``: the published spectral fits of the source, tabled with its five-band fit."""
    if row is None:
        return "<div class='xmm-empty'>No source selected.</div>"
    srcid = int(row["SRCID"])
    row = row.reindex(row.index.union(list(_CARD_COLUMNS)))  # columns the release lacks read as null
    flag = row.get("SC_SUM_FLAG", np.nan)
    flag = np.nan if flag is None or flag is pd.NA else flag
    flag_txt = f"{int(flag)} ({schema.SUM_FLAG_MEANING.get(int(flag), '?')})" if np.isfinite(flag) else "—"
    items = [
        ("SRCID", f"{srcid} ({release})"),
        (
            "RA, Dec (ICRS)",
            f"{number(row['SC_RA'], '{:.5f}')}°, {number(row['SC_DEC'], '{:+.5f}')}° "
            f"± {number(row['SC_POSERR'], '{:.2f}')}″",
        ),
        ("l, b", f"{number(row['LII'], '{:.3f}')}°, {number(row['BII'], '{:+.3f}')}°"),
        ("Flux 0.2–12 keV", f"{plus_minus(row['SC_EP_8_FLUX'], row.get('SC_EP_8_FLUX_ERR'))} erg/cm²/s"),
        ("Flux range", f"{number(row.get('SC_EP_8_FMIN'))} … {number(row.get('SC_EP_8_FMAX'))} erg/cm²/s"),
        (
            "Detections",
            f"{number(row['N_DETECTIONS'], '{:.0f}')}, {mjd_date(row['MJD_FIRST'])} … {mjd_date(row['MJD_LAST'])}",
        ),
        ("Detection likelihood", number(row["SC_DET_ML"], "{:.1f}")),
        ("Extent", f"{number(row['SC_EXTENT'], '{:.1f}')}″"),
        ("Quality", f"SC_SUM_FLAG {flag_txt}"),
        (
            "Variable",
            f"{'yes' if bool(row.get('SC_VAR_FLAG', False)) else 'no'} "
            f"(lowest χ² probability {number(row.get('SC_CHI2PROB'), '{:.2g}')})",
        )
        if "VAR_PROB" not in row.index
        else (
            "Variable between observations",
            f"{'yes' if bool(row.get('SC_VAR_FLAG', False)) else 'no'} "
            f"(probability of a constant flux {number(row.get('VAR_PROB'), '{:.2g}')}, "
            f"max/min flux ratio {number(row.get('FRATIO'), '{:.3g}')})",
        ),
    ]
    outs = " · ".join(link(url, label) for label, url in links.source_links(srcid, row["SC_RA"], row["SC_DEC"]))
    badge = " <span class='xmm-badge'>synthetic demo data</span>" if synthetic else ""
    return (
        f"<div class='xmm-card'><h2 style='margin:2px 0 8px 0'>{inert(_name(row))}{badge}</h2>"
        + (f"<p class='xmm-known' style='margin:0 0 8px 0'>{inert(known)}</p>" if known else "")
        + f"{kv_table(items)}{fits_html(row, published)}<div style='margin-top:8px'>Links out: {outs}</div></div>"
    )


def _published(table: pd.DataFrame | None, srcid: int) -> pd.DataFrame | None:
    return None if table is None else table[table["SRCID"].to_numpy() == srcid]


class SourceSummary(pn.viewable.Viewer):
    """Header card of ``state.srcid``, opening with the line of what is known of it (:mod:`.known`)."""

    def __init__(self, state: SourceState, store=None, **params):
        super().__init__(**params)
        self.state, self.store = state, store
        self.pane = html_pane(min_height=260)
        state.param.watch(self._update, ["srcid"])
        self._update()

    def _update(self, *_):
        st = self.state
        known = (
            "" if st.srcid is None else known_line(source_facts(st.catalogue, int(st.srcid), self.store, skymap_dir()))
        )
        row = st.source_row
        fits = None if row is None or st.srcid is None else _published(st.catalogue.spectral_fits, int(st.srcid))
        self.pane.object = summary_html(row, st.release, st.catalogue.synthetic, known, fits)

    def __panel__(self):
        return self.pane
