"""Panels of the selected observation's products (EPIC lightcurve, spectrum), read in a worker thread."""

from __future__ import annotations

import logging
from functools import partial

import numpy as np
import panel as pn

from app import config
from app.off_loop import in_background
from app.plots.lightcurve import CAMERA_STYLE
from app.plots.spectrum import spectrum_points
from app.text import inert
from app.views.source.figures import LightcurveFigure, SpectrumFigure, held, show
from app.views.source.format import empty, html_pane, number, plus_minus
from app.views.source.spectral_fit import SpectralFitFigure, five_band_offer, parameters_html
from app.views.source.state import GROUPINGS, REBIN_FACTORS, SourceState
from app.views.when_seen import in_session
from data_loaders.products import ProductError, ProductStore, ProductUnavailable
from data_loaders.spectral.ppsfit import MODEL_TITLES, fit_detection

log = logging.getLogger(__name__)


def not_available(reason: str) -> str:
    return empty(f"not available: {reason}")


#: What a statistic the pipeline could not compute (absent, or its -1 sentinel) is shown as.
NOT_COMPUTED = "not computed"


def computed(value, fmt: str, error=None) -> str:
    """``value`` (± ``error``) formatted, or "not computed" when it is NaN (the readers' not computed)."""
    text = plus_minus(value, error, fmt) if error is not None else number(value, fmt)
    return NOT_COMPUTED if text == "—" else text


def start_text(curves) -> str:
    """When the earliest lightcurve starts, in UTC, with the files' own time scale beside it.

    XMM lightcurve times are TT (TIMESYS), 69 s ahead of UTC since 2017: converted with astropy.
    """
    start = min((lc.start for lc in curves), key=lambda t: t.tt.mjd)
    utc = start.utc.iso[:19]
    own = start.iso[11:19] if start.scale != "utc" else ""
    return f"start {utc} UTC" + (f" ({own} {start.scale.upper()} in the file)" if own else "")


class ProductPanel(pn.viewable.Viewer):
    """Reads a product of ``state``'s selected detection (threaded when served) and shows it.

    Subclasses give ``flag`` (catalogue column saying the product exists), ``read(store, obs, num)``
    and ``render(result)``; display parameters in ``display_params`` only re-render.
    """

    flag = "TSERIES"
    what = "product"
    display_params: tuple[str, ...] = ()

    def __init__(self, state: SourceState, store: ProductStore | None, **params):
        super().__init__(**params)
        self.state, self.store = state, store
        self.status = html_pane("", margin=(0, 10))
        self._key = None
        self._result = None
        state.param.watch(self._reload, ["obs_id", "detections"])
        if self.display_params:
            state.param.watch(self._redisplay, list(self.display_params))

    # -- loading --------------------------------------------------------------------------
    def _wanted(self):
        """(obs_id, src_num) of the selected detection, or a reason string."""
        row = self.state.detection
        if row is None:
            return "select an observation in the long-term lightcurve or the detections table"
        if self.flag in row and not bool(row[self.flag]):
            return f"the catalogue lists no {self.what} for detection {row['OBS_ID']} ({self.flag} = F)"
        if self.store is None:
            return "this release has no products directory or archive URL"
        return (str(row["OBS_ID"]).strip(), int(row["SRC_NUM"]))

    @held
    def _reload(self, *_):
        wanted = self._wanted()
        if isinstance(wanted, str):
            self._key, self._result = None, None
            self.show_missing(wanted)
            return
        if wanted == self._key and self._result is not None:
            return
        self._key = wanted
        self.off_loop(
            partial(self._safe_read, wanted), partial(self._finish, wanted), f"loading the {self.what} of {wanted[0]}…"
        )

    def off_loop(self, work, then, status: str) -> None:
        """Run ``work()`` off the event loop when served (``app.off_loop.in_background``), then ``then(result)`` on it.

        Unserved (tests, notebooks without a server session) both run here, in order.
        """
        if self.state.threaded and in_session():
            self.status.object = empty(status)
            in_background(work, then)
        else:
            then(work())

    def _safe_read(self, key):
        try:
            return self.read(self.store, *key)
        except Exception as err:  # one broken product must never break the page
            log.exception("reading the %s of %s/%s failed", self.what, *key)
            return ProductUnavailable(f"reading the {self.what} failed ({type(err).__name__}: {err})")

    @held
    def _finish(self, key, result):
        if key != self._key:  # the user moved on while we were reading
            return
        self._result = result
        self._redisplay()

    @held
    def _redisplay(self, *_):
        if self._result is None:
            return
        if isinstance(self._result, ProductUnavailable):
            self.show_missing(self._result.reason)
            return
        try:
            self.render(self._result)
        except (ProductError, ValueError) as err:
            log.warning("showing the %s failed: %s", self.what, err)
            self.show_missing(str(err))

    # -- for subclasses -------------------------------------------------------------------
    #: The ProductStore method that reads this panel's products per camera ('lightcurves', 'spectra').
    store_method = ""

    def read(self, store, obs_id, src_num):
        """Every camera's product, or one ProductUnavailable naming each camera's reason."""
        per_camera = getattr(store, self.store_method)(obs_id, src_num)
        good, reasons = _usable(per_camera)
        if not good:
            return ProductUnavailable("; ".join(reasons))
        return per_camera

    def render(self, result) -> None:
        raise NotImplementedError

    def show_missing(self, reason: str) -> None:
        raise NotImplementedError


def _usable(per_camera: dict) -> tuple[dict, list[str]]:
    good = {c: v for c, v in per_camera.items() if not isinstance(v, ProductUnavailable)}
    # Reasons are joined with "; ": a reader's full stop would read ".;".
    reasons = [
        f"{CAMERA_STYLE[c][0]}: {v.reason.rstrip('.')}"
        for c, v in per_camera.items()
        if isinstance(v, ProductUnavailable)
    ]
    return good, reasons


class ObservationLightcurve(ProductPanel):
    """The EPIC lightcurves (SRCTSR) of the selected detection, rebinned, with variability statistics."""

    flag = "TSERIES"
    store_method = "lightcurves"
    what = "EPIC lightcurve"
    display_params = ("rebin",)

    def __init__(self, state, store, **params):
        super().__init__(state, store, **params)
        self.rebin = pn.widgets.Select.from_param(
            state.param.rebin, label="Rebin ×", options=list(REBIN_FACTORS), width=90
        )
        self.figure = LightcurveFigure()
        self.plot = pn.pane.Bokeh(self.figure.figure, sizing_mode="stretch_width", min_height=340, min_width=320)
        show(self.plot, False)
        self.stats = html_pane("")
        self._reload()

    def render(self, curves):
        good, reasons = _usable(curves)
        factor = int(self.state.rebin)
        self.figure.update({c: lc.rebin(factor) for c, lc in good.items()})
        show(self.plot, True)
        first = next(iter(good.values()))
        note = f"Observation {inert(first.obs_id)}, {inert(start_text(good.values()))}; bins of " + ", ".join(
            f"{inert(CAMERA_STYLE[c][0])} {lc.timedel * factor:g} s" for c, lc in good.items()
        )
        if reasons:
            note += "<br>" + "<br>".join(inert(f"not available: {r}") for r in reasons)
        self.status.object = f"<small>{note}</small>"
        self.stats.object = self._stats_html(good)

    def _stats_html(self, good) -> str:
        """Variability statistics: the catalogue's EPIC values and each lightcurve header's, one row each."""
        row = self.state.detection
        rows: list[tuple[str, ...]] = []
        if row is not None:
            flag = "variable" if bool(row.get("VAR_FLAG", False)) else "not variable"
            rows.append(
                (
                    "catalogue (EP_)",
                    "—",
                    number(row.get("EP_CHI2PROB"), "{:.3g}"),
                    plus_minus(row.get("EP_FVAR"), row.get("EP_FVAR_ERR"), "{:.3f}"),
                    flag,
                )
            )
        for camera, lc in good.items():
            name = CAMERA_STYLE[camera][0]
            if not lc.statistics:  # a merged (X000) file without its exposures' files
                rows.append((f"{name} {lc.expid}".strip(), *["not in the file"] * 3, ""))
            for stats in lc.statistics:
                rows.append(
                    (
                        " ".join(filter(None, (name, stats.expid))),
                        computed(stats.avrate, "{:.4g}"),
                        computed(stats.chi2prob, "{:.3g}"),
                        computed(stats.fvar, "{:.3f}", stats.fvarerr),
                        "",
                    )
                )
        head = "".join(f"<th>{h}</th>" for h in ("", "AVRATE (count/s)", "χ² probability", "F_var", "VAR_FLAG"))
        body = "".join("<tr>" + "".join(f"<td>{inert(v)}</td>" for v in r) + "</tr>" for r in rows)
        return (
            f"<table class='xmm-table'><tr>{head}</tr>{body}</table>"
            "<small>In-observation variability: variable when the χ² probability of constancy ≤ 1e-5; "
            "the camera rows are the header values of each exposure's (S/U) lightcurve, 'not computed' "
            "where the pipeline could not compute them (it writes F_var = -1).</small>"
        )

    def show_missing(self, reason):
        show(self.plot, False)
        self.stats.object = ""
        self.status.object = not_available(reason)

    def __panel__(self):
        return pn.Column(
            pn.Row(
                pn.pane.Markdown("### EPIC lightcurve of the observation", margin=(0, 10)),
                pn.layout.HSpacer(),
                self.rebin,
            ),
            self.plot,
            self.stats,
            self.status,
            sizing_mode="stretch_width",
        )


class ObservationSpectrum(ProductPanel):
    """The EPIC spectra (SRSPEC with BGSPEC and SRCARF) of the selected detection, per camera."""

    flag = "SPECTRA"
    store_method = "spectra"
    what = "EPIC spectrum"
    display_params = ("min_counts", "effective_area")

    def __init__(self, state, store, **params):
        super().__init__(state, store, **params)
        self.grouping = pn.widgets.Select.from_param(
            state.param.min_counts,
            label="Min counts/bin",
            options={{-1: "auto", 0: "none"}.get(g, str(g)): g for g in GROUPINGS},
            width=120,
        )
        self.arf = pn.widgets.Checkbox.from_param(
            state.param.effective_area, label="photons/cm² (ARF)", margin=(28, 10, 0, 10)
        )
        self.figure = SpectrumFigure()
        self.plot = pn.pane.Bokeh(self.figure.figure, sizing_mode="stretch_width", min_height=340)
        show(self.plot, False)
        self.model = pn.widgets.Select(
            label="Model", options={title: name for name, title in MODEL_TITLES.items()}, width=190
        )
        self.fit_button = pn.widgets.Button(label="Fit spectrum", color="primary", margin=(24, 10, 0, 10))
        self.fit_button.on_click(self._fit)
        self.fit_view = pn.Column(sizing_mode="stretch_width")
        self.fit_figure: SpectralFitFigure | None = None
        self._fitted_key = None
        self._reload()

    def _fit(self, *_):
        wanted = self._wanted()
        if isinstance(wanted, str):
            self.fit_view[:] = [html_pane(not_available(wanted))]
            return
        model = self.model.value
        work = partial(self._safe_fit, wanted, model)
        self.off_loop(work, partial(self._show_fit, (wanted, model)), f"fitting the spectra of {wanted[0]}…")

    def _safe_fit(self, key: tuple[str, int], model: str):
        try:
            return fit_detection(self.store, *key, config.responses_dir(), model)
        except Exception as err:  # a failing fit must never break the page
            log.exception("fitting the spectra of %s/%s failed", *key)
            return ProductUnavailable(f"the fit failed ({type(err).__name__}: {err})"), []

    @held
    def _show_fit(self, key, outcome):
        if key[0] != self._key:  # the user moved on while we were fitting
            return
        self.status.object = ""
        self._fitted_key = key[0]
        fitted, notes = outcome
        if isinstance(fitted, ProductUnavailable):
            reason = fitted.reason
            if "canned response" in reason:
                reason = (
                    "No canned response (RMF) for these spectra, so no spectral fit "
                    f"({reason}). " + five_band_offer(self.state.detection)
                )
            self.fit_view[:] = [html_pane(f"<small>{inert(reason)}</small>")]
            return
        if self.fit_figure is None:
            self.fit_figure = SpectralFitFigure()
        self.fit_figure.update(fitted)
        self.fit_view[:] = [
            pn.pane.Bokeh(self.fit_figure.layout, sizing_mode="stretch_width"),
            html_pane(parameters_html(fitted, notes)),
        ]

    def render(self, spectra):
        if self.fit_view.objects and self._fitted_key != self._key:
            self.fit_view[:] = []
        good, reasons = _usable(spectra)
        wants_area = bool(self.state.effective_area)
        if wants_area:
            no_area = [c for c, s in good.items() if s.effective_area is None]
            reasons += [f"{CAMERA_STYLE[c][0]}: no effective area (ARF), left out" for c in no_area]
            good = {c: s for c, s in good.items() if s.effective_area is not None}
            if not good:
                self.show_missing("no camera has an effective area (ARF) for this detection")
                return
        frames = {c: spectrum_points(s, int(self.state.min_counts), wants_area) for c, s in good.items()}
        self.figure.update(frames, wants_area)
        show(self.plot, True)
        parts = [
            inert(
                f"{CAMERA_STYLE[c][0]} {number(np.nansum(s.counts), '{:.0f}')} counts "
                f"in {number(s.exposure, '{:.0f}')} s"
            )
            for c, s in good.items()
        ]
        note = (
            "Net = source − scaled background; energies from "
            + inert(next(iter(good.values())).energy_source)
            + "; "
            + "; ".join(parts)
        )
        if reasons:
            note += "<br>" + "<br>".join(inert(f"not available: {r}") for r in reasons)
        self.status.object = f"<small>{note}</small>"

    def show_missing(self, reason):
        show(self.plot, False)
        self.status.object = not_available(reason)

    def __panel__(self):
        return pn.Column(
            pn.Row(pn.pane.Markdown("### EPIC spectrum", margin=(0, 10)), pn.layout.HSpacer(), self.grouping, self.arf),
            self.plot,
            self.status,
            pn.Row(
                pn.pane.Markdown("#### Spectral fit", margin=(0, 10)), pn.layout.HSpacer(), self.model, self.fit_button
            ),
            self.fit_view,
            sizing_mode="stretch_width",
        )
