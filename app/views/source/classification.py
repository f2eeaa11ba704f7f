"""The classification panel: machine class probabilities, then citizen and reviewer verdicts (flags)."""

from __future__ import annotations

import logging

import panel as pn

from app.plots.classification import class_probabilities
from app.text import inert
from app.views.source.figures import ClassificationFigure, ConsensusFigure, held, show
from app.views.source.format import empty, html_pane, number
from app.views.source.state import SourceState
from data_loaders import schema

log = logging.getLogger(__name__)


def flags_html(history) -> str:
    """Reviewer flags/comments of a source (a ``flag_history`` frame), newest first, escaped."""
    if history is None or len(history) == 0:
        return empty("no flags")
    rows = []
    for _, ev in history.iloc[::-1].iterrows():
        cells = [
            str(ev.get("time", ""))[:16],
            ev.get("user", ""),
            ev.get("action", ""),
            ev.get("label", ""),
            ev.get("comment", ""),
        ]
        rows.append("<tr>" + "".join(f"<td>{inert('' if c is None else str(c))}</td>" for c in cells) + "</tr>")
    head = "".join(f"<th>{h}</th>" for h in ("time", "who", "action", "flag", "comment"))
    return f"<table class='xmm-kv'><tr>{head}</tr>{''.join(rows)}</table>"


class SourceClassification(pn.viewable.Viewer):
    """PbaC0..6 bars of the source with ClMargin; flags from the store when one is given."""

    def __init__(self, state: SourceState, store=None, **params):
        super().__init__(**params)
        self.state, self.store = state, store
        self.figure = ClassificationFigure()
        self.plot = pn.pane.Bokeh(self.figure.figure, sizing_mode="stretch_width", min_height=240)
        show(self.plot, False)
        # Machine and citizen bars side by side, built on the first source with citizen votes.
        self.consensus_figure: ConsensusFigure | None = None
        self.consensus_plot = pn.pane.Bokeh(None)
        self.note = html_pane("", margin=(0, 10))
        self.citizens = html_pane(empty("Citizen classifications: none yet."))
        self.flags = html_pane("")
        state.param.watch(self._update, ["srcid"])
        self._update()

    @held
    def _update(self, *_):
        st = self.state
        cls = st.catalogue.classifications
        row = None
        if cls is not None and st.srcid is not None:
            hit = cls[cls["SRCID"].to_numpy() == int(st.srcid)]
            row = None if hit.empty else hit.iloc[0]
        if row is None:
            show(self.plot, False)
            self.note.object = empty("not classified")
        else:
            probs = class_probabilities(row)
            best = probs[probs["best"]].iloc[0]
            self.figure.update(probs)
            show(self.plot, True)
            outlier = " · outside the training set" if bool(row.get("outlier", False)) else ""
            self.note.object = (
                f"<b>{inert(schema.CLASS_LABELS[best['class']])}</b> ({inert(number(best['probability'], '{:.0%}'))})"
                f" · ClMargin {inert(number(row.get('ClMargin'), '{:.2f}'))} · {int(row.get('N_missing', 0))} missing "
                f"input(s){outlier}<br><small>Machine classifier (XMM2ATHENA method); probabilities PbaC0–6.</small>"
            )
        self.flags.object = self._flags()
        consensus = self._consensus()
        if consensus is None:
            self.citizens.object = empty("Citizen classifications: none yet.")
            show(self.consensus_plot, False)
            return
        cons_probs = [float(consensus[f"PbaC{i}"]) for i in range(len(schema.CLASS_NAMES))]
        name = schema.CLASS_LABELS.get(str(consensus["prediction_name"]), str(consensus["prediction_name"]))
        self.citizens.object = (
            f"<b>Citizen scientists:</b> {inert(name)} · {int(consensus['N_VOTES'])} counted vote(s), "
            f"{inert(number(consensus['AGREEMENT'], '{:.0%}'))} agree (level-2 volunteers of the Classify game)"
        )
        machine = [float(row[f"PbaC{i}"]) for i in range(len(schema.CLASS_NAMES))] if row is not None else None
        bars = {"machine": machine, "citizens": cons_probs} if machine is not None else {"citizens": cons_probs}
        if self.consensus_figure is None:
            self.consensus_figure = ConsensusFigure()
            self.consensus_plot.object = self.consensus_figure.figure
        self.consensus_figure.update(bars)
        show(self.plot, False)
        show(self.consensus_plot, True)

    def _consensus(self):
        """This source's row of the citizen-science consensus (None without votes or a store)."""
        st = self.state
        if self.store is None or st.srcid is None:
            return None
        try:
            from data_loaders.citizen.consensus import consensus_frame

            cons = consensus_frame(st.catalogue, self.store)
        except Exception:  # votes are optional; the page must not break
            log.exception("reading the citizen consensus failed")
            return None
        hit = cons[cons["SRCID"].to_numpy() == int(st.srcid)]
        return None if hit.empty or int(hit["prediction"].iloc[0]) < 0 else hit.iloc[0]

    def _flags(self) -> str:
        st = self.state
        if self.store is None or st.srcid is None:
            return empty("no flags (no review database connected)")
        try:
            return flags_html(self.store.flag_history(st.release, int(st.srcid)))
        except Exception as err:  # the database being down must not break the page
            log.exception("reading flags of %s failed", st.srcid)
            return empty(f"flags not available: {type(err).__name__}")

    def __panel__(self):
        return pn.Column(
            pn.pane.Markdown("### Classification", margin=(0, 10)),
            self.plot,
            self.consensus_plot,
            self.note,
            pn.pane.Markdown("#### Reviewer flags and comments", margin=(6, 10, 0, 10)),
            self.flags,
            self.citizens,
            sizing_mode="stretch_width",
        )
