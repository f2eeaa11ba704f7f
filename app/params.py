"""URL parameters of the pages, checked before use: a bad one gets one sentence, never a traceback or a path.

``?release=`` must name an ingested release (``../../x`` is simply not one); whatever else goes
wrong opening a release is logged for the operator and the visitor reads a sentence without
the server's file names.
"""

from __future__ import annotations

import logging
import re

import panel as pn

from app import config
from app.text import inert
from data_loaders.errors import XmmExplorerError

log = logging.getLogger("xmm_explorer.params")

#: Characters of a URL value shown back in a message (a link can hold megabytes).
SHOWN_CHARS = 40


class ParamError(ValueError):
    """A URL parameter the page cannot use; the message is one sentence for the visitor."""


def shorten(text: str, n: int = SHOWN_CHARS) -> str:
    """``text`` cut to ``n`` characters with a visible ellipsis."""
    return text if len(text) <= n else text[: n - 1] + "…"


def arg(name: str) -> str:
    """The session's URL parameter ``name`` as text ('' if absent; invalid UTF-8 becomes U+FFFD)."""
    values = pn.state.session_args.get(name) if pn.state.curdoc is not None else None
    return values[0].decode("utf-8", errors="replace") if values else ""


def dark_theme() -> bool:
    """Whether the session's page is dark: the templates' default, unless ``?theme=`` asks for light."""
    return arg("theme") not in ("default", "light")


_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def name_arg(name: str, what: str) -> str | None:
    """URL parameter ``name`` if it is a plain name (letters, digits, ``_.-``; no ``/`` or ``..``), None if absent.

    It may become part of a file path (an alerts run), so anything else is a ParamError.
    """
    raw = arg(name)
    if not raw:
        return None
    if not _NAME.fullmatch(raw) or ".." in raw:
        raise ParamError(f"“{shorten(raw)}” is not the name of {what}.")
    return raw


def release_name(raw: str | None = None) -> str | None:
    """The release a page asked for (``?release=``), checked against the ingested ones.

    None means the default release. ParamError if ``raw`` names no ingested release.
    """
    from data_loaders.ingest import list_releases

    raw = arg("release") if raw is None else raw
    names = [r["name"] for r in list_releases(config.data_dir())]
    if not names:
        raise ParamError("No catalogue is loaded on this server yet; please come back later.")
    if not raw:
        return config.default_release()
    if raw not in names:
        raise ParamError(f"There is no release “{shorten(raw)}” on this server; available: {', '.join(names)}.")
    return raw


def open_catalogue(raw: str | None = None):
    """The catalogue a page asked for; ParamError (one sentence, no path) if it cannot be opened."""
    from data_loaders.catalogue import load_catalogue

    name = release_name(raw)
    try:
        return load_catalogue(config.data_dir(), name)
    except XmmExplorerError:
        log.exception("release %r could not be opened", name)
        raise ParamError("This release cannot be opened right now; the operator has been told.") from None


def error_page(sentence: str):
    """A page saying ``sentence`` (as text) and linking back to Explore."""
    return pn.pane.HTML(
        f"<h2>XMM Explorer</h2><p id='xmm-page-error'>{inert(sentence)}</p>"
        "<p><a href='explore'>Open the Explore page</a></p>",
        margin=(10, 20),
    )
