"""What a browser shows for a pane's HTML: tags dropped, character references decoded."""

from __future__ import annotations

import html
import re


def shown(markup: str | None) -> str:
    """The text of ``markup`` as a reader sees it (``app.text.inert`` output reads as the original)."""
    return html.unescape(re.sub(r"<[^>]*>", "", markup or ""))
