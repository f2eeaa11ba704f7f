"""The page design: Panel's Fast design with colours that meet WCAG AA contrast in both themes.

Panel renders each component into its own shadow root, so a document-level stylesheet cannot
reach text inside them. ``app/static/theme.css`` is added to the Fast design's stylesheets, which
every component receives (one shared stylesheet model per page); the template sets
``color-scheme`` on the document, which is inherited into every shadow root, and the CSS picks
each colour with ``light-dark()``.
"""

from __future__ import annotations

from panel.theme.fast import Fast
from panel.viewable import Viewable

#: Amber identity, dark enough for white text (7.1:1) in the header of both themes.
HEADER_BACKGROUND = "#92400e"
#: Fast derives buttons, toggles and chips from this; white text on it is 5.0:1.
ACCENT = "#b45309"
#: Our stylesheet for every component: ``app/static/theme.css``, which ``xmm-explorer serve``
#: serves under ``/xmm-static/``. Relative, so that it also works behind a proxy's path prefix.
STYLESHEET = "xmm-static/theme.css"


def install() -> None:
    """Add :data:`STYLESHEET` to the Fast design's stylesheets (idempotent; the design is
    process-wide, as the template's font setting already is)."""
    sheets = Fast.modifiers[Viewable]["stylesheets"]
    if STYLESHEET not in sheets:
        Fast.modifiers[Viewable] = {**Fast.modifiers[Viewable], "stylesheets": [*sheets, STYLESHEET]}


def document_css(theme: str) -> str:
    """Document-level CSS for a page in ``theme`` ('dark' or 'default')."""
    scheme = "dark" if theme == "dark" else "light"
    return f":root {{ color-scheme: {scheme}; }}"
