"""The Source view's tables: counterparts (best match highlighted) and detections (with archive links)."""

from __future__ import annotations

import pandas as pd
import panel as pn

from app.text import inert
from app.views.source import links
from app.views.source.format import empty, html_pane, link, mjd_date, number, plus_minus
from app.views.source.state import SourceState


def _table(head: list[str], rows: list[str]) -> str:
    cells = "".join(f"<th>{inert(h)}</th>" for h in head)
    return f"<div style='overflow-x:auto'><table class='xmm-table'><tr>{cells}</tr>{''.join(rows)}</table></div>"


def _interval(value, lo, hi, fmt: str = "{:.2f}") -> str:
    text = number(value, fmt)
    if text == "—" or number(lo) == "—" or number(hi) == "—":
        return text
    return f"{text} ({number(lo, fmt)}–{number(hi, fmt)})"


def fits_html(row, published: pd.DataFrame | None) -> str:
    """The five-band fit of the source (PL_*) and the published fits of it (model, N_H, Γ, kT, statistic)."""
    rows: list[tuple[str, ...]] = []
    gamma = row.get("PL_GAMMA") if row is not None else None
    if number(gamma) != "—":
        g, lo, hi = (float(row.get(c, "nan")) for c in ("PL_GAMMA", "PL_GAMMA_ERR_LO", "PL_GAMMA_ERR_HI"))
        n, nlo, nhi = (float(row.get(c, "nan")) for c in ("PL_NH", "PL_NH_ERR_LO", "PL_NH_ERR_HI"))
        stat = f"{number(row.get('PL_FIT_STAT'), '{:.1f}')} / {number(row.get('PL_FIT_DOF'), '{:.0f}')}"
        rows.append(("five-band", "PL", _interval(n, n - nlo, n + nhi, "{:.3g}"),
                     _interval(g, g - lo, g + hi), "—", stat))  # fmt: skip
    for _, fit in (published if published is not None else pd.DataFrame()).iterrows():
        what = "published" + (f", detection {int(fit['DETID'])}" if int(fit.get("DETID", -1)) >= 0 else "")
        rows.append((what, str(fit["MODEL"]), _interval(fit["NH"], fit["NH_LO"], fit["NH_HI"], "{:.3g}"),
                     _interval(fit["GAMMA"], fit["GAMMA_LO"], fit["GAMMA_HI"]),
                     _interval(fit["KT"], fit["KT_LO"], fit["KT_HI"]),
                     f"{number(fit['STAT'], '{:.1f}')} / {number(fit['DOF'], '{:.0f}')}"))  # fmt: skip
    if not rows:
        return ""
    head = ["Spectral fit", "Model", "N_H (10²² cm⁻²)", "Γ", "kT (keV)", "Stat / dof"]
    if all(r[4] == "—" for r in rows):  # no blackbody fit: no kT column
        head = ["Spectral fit", "Model", "N_H (10²² cm⁻²)", "Γ", "Stat / dof"]
        rows = [(*r[:4], r[5]) for r in rows]
    body = []
    for r in rows:
        body.append("<tr>" + "".join(f"<td>{inert(v)}</td>" for v in r) + "</tr>")
    return _table(head, body)


def counterparts_html(cps: pd.DataFrame | None) -> str:
    """Candidate counterparts sorted by MATCH_PROB (best first, highlighted); every value escaped."""
    if cps is None or cps.empty:
        return empty("No counterpart candidates in the added-value table.")
    cps = cps.sort_values("MATCH_PROB", ascending=False, kind="stable")
    rows = []
    for i, (_, cp) in enumerate(cps.iterrows()):
        values = [
            str(cp["CATALOGUE"]),
            str(cp["CP_ID"]),
            number(cp["SEPARATION"], "{:.2f}"),
            number(cp["MATCH_PROB"], "{:.2f}"),
            number(cp.get("MAG_G"), "{:.2f}"),
            number(cp.get("MAG_J"), "{:.2f}"),
            number(cp.get("MAG_W1"), "{:.2f}"),
        ]
        cls = " class='xmm-best'" if i == 0 else ""
        rows.append(f"<tr{cls}>" + "".join(f"<td>{inert(v)}</td>" for v in values) + "</tr>")
    return _table(["Catalogue", "ID", "Sep (″)", "P(match)", "G", "J", "W1"], rows)


def detections_html(det: pd.DataFrame | None, selected: str = "") -> str:
    """One row per detection: OBS_ID (XSA link), date, fluxes, HRs, flags; the selected one highlighted."""
    if det is None or det.empty:
        return empty("No detections.")
    rows = []
    for _, d in det.iterrows():
        obs = str(d["OBS_ID"])
        values = [
            mjd_date(d.get("MJD_START")),
            plus_minus(d["EP_8_FLUX"], d.get("EP_8_FLUX_ERR")),
            number(d.get("EP_6_FLUX")),
            number(d.get("EP_7_FLUX")),
            ", ".join(number(d.get(f"EP_HR{i}"), "{:+.2f}") for i in range(1, 5)),
            number(d.get("EP_8_DET_ML"), "{:.1f}"),
            number(d.get("SUM_FLAG"), "{:.0f}"),
            "yes" if bool(d.get("VAR_FLAG", False)) else "no",
            ("lc " if bool(d.get("TSERIES", False)) else "") + ("spec" if bool(d.get("SPECTRA", False)) else ""),
        ]
        cls = " class='xmm-best'" if obs == selected else ""
        rows.append(
            f"<tr{cls}><td>{link(links.xsa_observation(obs), obs)}</td>"
            + "".join(f"<td>{inert(v)}</td>" for v in values)
            + "</tr>"
        )
    head = [
        "OBS_ID (XSA)",
        "Start (UTC)",
        "F 0.2–12 keV",
        "F soft",
        "F hard",
        "HR1…HR4",
        "DET_ML",
        "SUM_FLAG",
        "VAR_FLAG",
        "products",
    ]
    return _table(head, rows) + "<small>Fluxes in erg/cm²/s (EP_8, EP_6 0.2–2 keV, EP_7 2–12 keV).</small>"


class CounterpartsTable(pn.viewable.Viewer):
    """Counterpart candidates of ``state.srcid``."""

    def __init__(self, state: SourceState, **params):
        super().__init__(**params)
        self.state = state
        self.pane = html_pane("")
        state.param.watch(self._update, ["srcid"])
        self._update()

    def _update(self, *_):
        cps = self.state.catalogue.counterparts
        if cps is not None and self.state.srcid is not None:
            cps = cps[cps["SRCID"].to_numpy() == int(self.state.srcid)]
        else:
            cps = None
        self.pane.object = counterparts_html(cps)

    def __panel__(self):
        return pn.Column(pn.pane.Markdown("### Counterparts", margin=(0, 10)), self.pane)


class DetectionsTable(pn.viewable.Viewer):
    """All detections of the source, plus a chooser of the observation shown in the product panels."""

    def __init__(self, state: SourceState, **params):
        super().__init__(**params)
        self.state = state
        self.pane = html_pane("")
        self.chooser = pn.widgets.Select(label="Observation", width=260)
        self._filling = False
        self.chooser.param.watch(self._choose, "value")
        state.param.watch(self._update, ["detections", "obs_id"])
        self._update()

    def _update(self, *_):
        det = self.state.detections
        self.pane.object = detections_html(det, self.state.obs_id)
        if det is None:
            self.chooser.options, self.chooser.value = {}, None
            return
        dates = det["MJD_START"] if "MJD_START" in det else [None] * len(det)  # undated release: "—"
        options = {f"{o} ({mjd_date(m)})": str(o) for o, m in zip(det["OBS_ID"], dates, strict=True)}
        # New options make the Select take their first value: that is not a person's choice, and taken
        # as one it replaced the observation chosen for the new source (its brightest with products).
        self._filling = True
        try:
            self.chooser.options = options
            self.chooser.value = self.state.obs_id if self.state.obs_id in options.values() else None
        finally:
            self._filling = False

    def _choose(self, event):
        if not self._filling and event.new and event.new != self.state.obs_id:
            self.state.obs_id = event.new

    def __panel__(self):
        return pn.Column(pn.pane.Markdown("### Detections", margin=(0, 10)), self.pane)
