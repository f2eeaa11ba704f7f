"""Small formatting of catalogue values for the Source view's HTML (every string escaped)."""

from __future__ import annotations

import numpy as np
from astropy.time import Time

from app.text import inert


def number(value, fmt: str = "{:.3g}") -> str:
    """A finite number formatted, else an em dash."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        return "—"
    return fmt.format(value) if np.isfinite(value) else "—"


def plus_minus(value, error, fmt: str = "{:.3g}") -> str:
    text = number(value, fmt)
    return text if number(error) == "—" or text == "—" else f"{text} ± {number(error, fmt)}"


def mjd_date(mjd, precision: str = "date") -> str:
    """MJD as a UTC ISO date (or date and time)."""
    try:
        mjd = float(mjd)
    except (TypeError, ValueError):
        return "—"
    if not np.isfinite(mjd):
        return "—"
    iso = Time(mjd, format="mjd", scale="utc").isot
    return iso[:10] if precision == "date" else iso[:19].replace("T", " ")


def kv_table(items: list[tuple[str, str]]) -> str:
    """A two-column key/value table; keys and values are escaped here."""
    rows = "".join(f"<tr><th>{inert(k)}</th><td>{inert(v)}</td></tr>" for k, v in items)
    return f"<table class='xmm-kv'>{rows}</table>"


def empty(text: str) -> str:
    return f"<div class='xmm-empty'>{inert(text)}</div>"


def link(url: str, text: str) -> str:
    return f"<a href='{inert(url)}' target='_blank' rel='noopener'>{inert(text)}</a>"


#: Styles of the Source view's HTML panes (they live in shadow roots, so page CSS does not reach them).
SOURCE_CSS = """
table.xmm-kv { border-collapse: collapse; font-size: 0.92em; width: 100%; }
table.xmm-kv th { text-align: left; font-weight: 500; opacity: 0.75; padding: 2px 10px 2px 0; white-space: nowrap; }
table.xmm-kv td { padding: 2px 8px 2px 0; font-variant-numeric: tabular-nums; }
table.xmm-table { border-collapse: collapse; font-size: 0.88em; width: 100%; }
table.xmm-table th { text-align: left; font-weight: 600; opacity: 0.8; padding: 3px 8px;
                     border-bottom: 1px solid rgba(128,128,128,0.5); white-space: nowrap; }
table.xmm-table td { padding: 3px 8px; font-variant-numeric: tabular-nums; white-space: nowrap;
                     border-bottom: 1px solid rgba(128,128,128,0.15); }
tr.xmm-best td { background: rgba(245, 158, 11, 0.18); font-weight: 600; }
.xmm-empty { opacity: 0.75; font-style: italic; padding: 0.6em 0; }
.xmm-badge { background: #b45309; color: white; border-radius: 4px; padding: 1px 8px; font-size: 0.6em;
             margin-left: 10px; vertical-align: middle; }
"""


def html_pane(obj: str = "", **params):
    """An HTML pane carrying the Source view's styles."""
    import panel as pn

    if "width" not in params:
        params.setdefault("sizing_mode", "stretch_width")
    return pn.pane.HTML(obj, stylesheets=[SOURCE_CSS], **params)
