"""Untrusted text made inert: the one way user, URL and file text reaches a Markdown or HTML pane.

Text is stored verbatim and shown verbatim. ``inert`` returns a fragment that both an HTML
pane and a Markdown pane (``pn.pane.Markdown``, ``pn.pane.Alert``) display as exactly the
characters given, never as markup: every ASCII character other than a letter, a digit or a
space becomes a numeric character reference, which HTML decodes to the character and which
Markdown treats as literal text (so ``<img onerror=...>``, ``[x](javascript:...)``, ``*``,
``#``, ``:emoji:`` and ``www.`` links all stay text). The fragment is also safe inside a quoted
attribute value. Line breaks, tabs and runs of spaces are kept (``white-space: pre-wrap``).

The only changes to the characters shown, all documented in README and SECURITY.md:

- invalid UTF-8 (undecodable bytes, lone surrogates) is shown as U+FFFD, one per bad unit;
- control characters other than tab, line feed and carriage return, which a page cannot
  show, are shown as U+FFFD;
- text longer than ``limit`` characters is cut and ends with a visible "…".
"""

from __future__ import annotations

import re

#: Longest text shown in full, in characters; longer text ends with ELLIPSIS.
MAX_CHARS = 2000
ELLIPSIS = "…"

_SURROGATE_OR_CONTROL = re.compile("[\ud800-\udfff\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# Every ASCII character that is neither alphanumeric nor a plain space: HTML and Markdown markup
# (and Markdown's autolinks, emoji shortcodes, typographic replacements) are all built from these.
_MARKUP = re.compile(r"[\x21-\x2f\x3a-\x40\x5b-\x60\x7b-\x7e\t\n\r]")
_NEEDS_PRE = re.compile(r"[\t\n\r]|  |^ | $")


def readable(text: object, limit: int = MAX_CHARS) -> str:
    """``text`` as a ``str`` with only the documented changes (U+FFFD, shortening)."""
    if text is None:
        return ""
    if isinstance(text, (bytes, bytearray, memoryview)):
        text = bytes(text).decode("utf-8", "replace")
    text = _SURROGATE_OR_CONTROL.sub("\ufffd", str(text))
    if len(text) > limit:
        text = text[: max(limit - 1, 0)] + ELLIPSIS
    return text


def inert(text: object, limit: int = MAX_CHARS) -> str:
    """An HTML/Markdown fragment that shows ``text`` as plain characters (see the module doc)."""
    shown = readable(text, limit)
    fragment = _MARKUP.sub(lambda m: f"&#{ord(m.group())};", shown)
    if _NEEDS_PRE.search(shown):
        # Unquoted attribute value: the fragment stays free of quotes, so it is harmless in an attribute too.
        return f"<span style=white-space:pre-wrap>{fragment}</span>"
    return fragment
