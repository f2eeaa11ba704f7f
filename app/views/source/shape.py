"""The spectral-shape panel from catalogue values: five band fluxes as F_E and HR1..HR4."""

from __future__ import annotations

import numpy as np
import panel as pn

from app.plots.sed import band_sed, hardness_ratios
from app.text import inert
from app.views.source.figures import HardnessFigure, SedFigure, held, show
from app.views.source.format import empty, html_pane
from app.views.source.state import SourceState
from data_loaders import capabilities, photoz
from data_loaders.om import om_sed


class BandShape(pn.viewable.Viewer):
    """Band flux density and hardness ratios of the selected detection or of the source (SC_ values)."""

    def __init__(self, state: SourceState, **params):
        super().__init__(**params)
        self.state = state
        self.level = pn.widgets.RadioButtonGroup.from_param(state.param.sed_level, label="", width=200)
        self.sed_figure, self.hr_figure = SedFigure(), HardnessFigure()
        self.sed = pn.pane.Bokeh(self.sed_figure.figure, sizing_mode="stretch_width", min_height=260, min_width=300)
        self.hr = pn.pane.Bokeh(self.hr_figure.figure, width=230, height=260)
        self.note = html_pane("", margin=(0, 10))
        self.redshift = html_pane("", margin=(0, 10))
        state.param.watch(self._update, ["obs_id", "detections", "sed_level"])
        self._update()

    def _values(self):
        st = self.state
        if st.sed_level == "source" or st.detection is None:
            row = st.source_row
            return row, "SC_EP", "SC_", "source means (SC_)"
        row = st.detection
        return row, "EP", "EP_", f"detection in {row['OBS_ID']}"

    def _redshift(self) -> str:
        """The photometric redshift and luminosity line, or why there is none."""
        caps = self.state.catalogue.capabilities
        if not caps.has(capabilities.PHOTOZ):
            return empty(caps.reason(capabilities.PHOTOZ))
        table = self.state.catalogue.photoz
        hit = table[table["SRCID"].to_numpy() == self.state.srcid] if table is not None else None
        if hit is None or hit.empty:
            return empty("No photometric redshift for this source.")
        return f"<small>{inert(photoz.summary(hit.iloc[0]))}</small>"

    @held
    def _update(self, *_):
        self.redshift.object = self._redshift()
        row, flux_prefix, hr_prefix, what = self._values()
        if row is None:
            show(self.sed, False)
            show(self.hr, False)
            self.note.object = empty("No source selected.")
            return
        sed = band_sed(row, flux_prefix)
        om = self._om()
        self.sed_figure.update(sed, om)
        self.hr_figure.update(hardness_ratios(row, hr_prefix))
        show(self.sed, True)
        show(self.hr, True)
        missing = int((~(sed["density"] > 0)).sum())
        extra = f"; {missing:d} band(s) without a positive flux are not drawn" if missing else ""
        if flux_prefix == "SC_EP" and not np.isfinite(sed["flux_err"]).any():
            extra += "; this release has no errors on source-level band fluxes"
        if om is not None and len(om):
            assert self._om_row is not None  # set by self._om() whenever it returns points
            extra += (
                f"; diamonds: XMM-OM counterpart ({', '.join(om['filter'])}) "
                f"{float(self._om_row['OM_SEP']):.1f}″ "
                "away, F_E from its AB magnitudes at each filter's effective wavelength"
            )
        elif not self.state.catalogue.capabilities.has(capabilities.OM):
            extra += "; " + self.state.catalogue.capabilities.reason(capabilities.OM).rstrip(".")
        else:
            extra += "; no XMM-OM counterpart within the position errors"
        self.note.object = (
            f"<small>{inert(what)}: F_E = band flux / band width (erg/cm²/s/keV), bands 1–5 "
            f"(0.2–0.5–1–2–4.5–12 keV){inert(extra)}.</small>"
        )

    def _om(self):
        """The OM magnitudes of the shown source as ``om_sed`` points (None without an OM table or match)."""
        self._om_row = None
        table = self.state.catalogue.om
        if table is None or self.state.srcid is None:
            return None
        hit = table[table["SRCID"].to_numpy() == self.state.srcid]
        if hit.empty:
            return None
        self._om_row = hit.iloc[0]
        return om_sed(self._om_row)

    def __panel__(self):
        return pn.Column(
            pn.Row(pn.pane.Markdown("### Band fluxes and hardness", margin=(0, 10)), pn.layout.HSpacer(), self.level),
            pn.Row(self.sed, self.hr),
            self.note,
            self.redshift,
            sizing_mode="stretch_width",
        )
