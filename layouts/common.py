"""What every page shares: the template, the title with the release and its synthetic label, CSS."""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import html
import time

import panel as pn
from panel.theme.fast import Fast

from data_loaders.catalogue import Catalogue

# Panel's Fast design pulls Open Sans from Google Fonts on every page load: that leaks each
# visitor to a third party and fails on offline kiosks. Use the system font stack instead.
Fast._resources = {**Fast._resources, "font": {}}

CSS = """
.xmm-card h3 { font-weight: 600; }
table.xmm-kv { border-collapse: collapse; font-size: 0.92em; width: 100%; }
table.xmm-kv th { text-align: left; font-weight: 500; opacity: 0.75; padding: 2px 10px 2px 0; white-space: nowrap; }
table.xmm-kv td { padding: 2px 0; font-variant-numeric: tabular-nums; }
.xmm-empty { opacity: 0.7; font-style: italic; padding: 1em 0; }
.xmm-badge { background: #b45309; color: white; border-radius: 4px; padding: 1px 8px; font-size: 0.8em;
             margin-left: 10px; vertical-align: middle; }
.xmm-count { font-size: 1.05em; font-variant-numeric: tabular-nums; }
a.xmm-open { display: inline-block; margin-top: 8px; font-weight: 600; }
"""


class HistoryNavigation(pn.custom.JSComponent):
    """Back/forward: the URL holds the whole view state, so a history step reloads the page from it.

    Panel's location sync pushes a history entry per change but does not listen for popstate.
    """

    _esm = """
    export function render({ el }) {
      if (!window.__xmmHistory) {
        window.__xmmHistory = true;
        window.addEventListener('popstate', () => window.location.reload());
      }
      el.style.display = 'none';
    }
    """


NAV = [
    ("Explore", "explore"),
    ("Source", "source"),
    ("Review", "review"),
    ("Alerts", "alerts"),
    ("Classify", "classify"),
    ("Outreach", "outreach"),
]


def lazy_card(title: str, factory, **card_params) -> pn.Card:
    """A collapsed card whose contents are built the first time it is opened.

    Opening a page builds every Bokeh model it shows; panels most visitors never open
    (export, flagging) should not cost each new session their widgets.
    """
    card = pn.Card(title=title, collapsed=True, sizing_mode="stretch_width", **card_params)

    def build(event):
        if not event.new and len(card.objects) == 0:
            card.append(factory())

    card.param.watch(build, "collapsed")
    return card


def _sanitise_theme_argument() -> None:
    """Panel's templates fail with a blank page on an unknown ``?theme=``; accept 'light', ignore others."""
    args = pn.state.session_args if pn.state.curdoc is not None else None
    if not args or "theme" not in args:
        return
    value = args["theme"][0].decode(errors="replace") if args["theme"] else ""
    if value == "light":
        args["theme"] = [b"default"]
    elif value not in ("default", "dark"):
        del args["theme"]


def _libc():
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:  # pragma: no cover - not glibc
        return None


_LIBC = _libc()


#: Seconds between a session's end and the collection that frees it: the sessions that end in
#: the meantime (Bokeh expires closed tabs in batches) share one collection.
RELEASE_DELAY_S = 2.0
#: At least this many seconds between two such collections: each walks every object of the
#: process (0.85 s with 25 open pages, measured), stalling its live sessions, so visitors who
#: come and go do not cost the others a stall each.
RELEASE_INTERVAL_S = 30.0
_release_pending = False
_last_release = -float("inf")


def freeze_heap() -> None:
    """Hide every object alive now from the cyclic collector's full collections (``gc.freeze``).

    A served page holds ~50k objects, so a process with 25 open pages holds over a million, and
    every full collection (which Python runs by itself as objects accumulate) walked all of them:
    0.2-1.0 s with every session of the process stalled, measured under 50 sessions, the largest
    part of the latency tail. Pages and the catalogue live until their session ends, so they are
    frozen once built (an ``onload`` callback of every page) and after the warm-up; what an action creates
    afterwards is collected as usual. Frozen objects still die by reference counting; frozen
    cycles are collected by :func:`_release_now` when sessions end.
    """
    gc.freeze()


def _release_now() -> None:
    global _release_pending, _last_release
    _release_pending = False
    gc.unfreeze()  # the ended sessions' objects were frozen with their pages
    gc.collect()
    freeze_heap()
    trim = getattr(_LIBC, "malloc_trim", None)
    if trim is not None:
        trim(0)
    _last_release = time.monotonic()  # the interval runs from the end of this (long) collection


def release_memory(session_context) -> None:  # noqa: ARG001 - Bokeh checks the signature
    """After sessions end: collect their reference cycles and hand freed heap pages back to the OS.

    A page's models, plots and widgets form cycles that wait for the next full collection, and
    glibc keeps freed memory in its arenas; without this the server's resident memory stayed
    ~100 MB above its level before a burst of sessions long after they had all closed. A full
    collection takes a noticeable fraction of a second on a big heap and blocks every live
    session of the process, so one collection runs :data:`RELEASE_DELAY_S` after the first of a
    burst of ended sessions (not one per session), and not sooner than :data:`RELEASE_INTERVAL_S`
    after the previous one.
    """
    global _release_pending
    if _release_pending:
        return
    from tornado.ioloop import IOLoop

    _release_pending = True
    wait = max(RELEASE_DELAY_S, _last_release + RELEASE_INTERVAL_S - time.monotonic())
    IOLoop.current().call_later(wait, _release_now)


def page_title(catalogue: Catalogue, page: str) -> str:
    return f"XMM Explorer · {page} · {catalogue.title}"


def header_html(catalogue: Catalogue) -> str:
    badge = (
        "<span class='xmm-badge' title='Generated by xmm-explorer demo'>synthetic demo data</span>"
        if catalogue.synthetic
        else ""
    )
    links = " · ".join(f"<a href='{href}' style='color:inherit'>{html.escape(name)}</a>" for name, href in NAV)
    return f"<div style='font-size:0.95em'>{html.escape(catalogue.title)}{badge} &nbsp; | &nbsp; {links}</div>"


def unavailable_page(catalogue: Catalogue, page: str, need: str, why: str) -> pn.template.FastListTemplate:
    """The page in one sentence when the release lacks what it needs (:mod:`data_loaders.capabilities`)."""
    text = f"The {page} page needs {need}. {catalogue.capabilities.reason(why)}"
    return template(catalogue, page, sidebar=[], main=[pn.pane.Alert(text, alert_type="warning")])


def template(
    catalogue: Catalogue, page: str, sidebar: list, main: list, sidebar_width: int = 330
) -> pn.template.FastListTemplate:
    """The FastListTemplate every page uses (dark by default; the header toggles the light theme)."""
    pn.config.raw_css = [*pn.config.raw_css, CSS] if CSS not in pn.config.raw_css else pn.config.raw_css
    _sanitise_theme_argument()
    # One root per area, not one per item: Bokeh walks every model of the document each time a
    # root is added, which made opening a page cost ~0.4 s more CPU per session.
    tmpl = pn.template.FastListTemplate(
        title=page_title(catalogue, page),
        sidebar=[pn.Column(*sidebar, sizing_mode="stretch_width")] if len(sidebar) > 1 else sidebar,
        main=[pn.Column(*main, sizing_mode="stretch_width")] if len(main) > 1 else main,
        sidebar_width=sidebar_width,
        theme="dark",
        theme_toggle=True,
        accent="#f59e0b",
        header=[pn.pane.HTML(header_html(catalogue), margin=(12, 10)), HistoryNavigation(width=0, height=0)],
        main_layout=None,
        # No web fonts: the server may run without internet and the browser should not call out.
        font="system-ui, -apple-system, 'Segoe UI', Roboto, 'DejaVu Sans', sans-serif",
        font_url="data:text/css,",
    )
    if pn.state.curdoc is not None and pn.state.curdoc.session_context is not None:
        pn.state.on_session_destroyed(release_memory)
        pn.state.onload(freeze_heap)  # the page once built and rendered
    if not any(getattr(h, "object", "") and "xmm-user" in str(h.object) for h in tmpl.header):
        from app import auth  # the session's identity, shown on every page

        tmpl.header.append(auth.user_badge(f"/{page.lower()}"))
    return tmpl
