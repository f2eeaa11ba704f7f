"""The outreach page: a full-window sky for museum screens and kiosks, with tours and a search box."""

from __future__ import annotations

import panel as pn

from app.text import inert
from app.views.classify.outreach_sky import FLUID, OutreachSky
from data_loaders.catalogue import Catalogue

CSS = """
body { background: #020617; }
.xmm-outreach-title { color: #e2e8f0; font-size: 1.6em; font-weight: 700; }
.xmm-outreach-title .xmm-badge { font-size: 0.5em; }
.xmm-caption { color: #e2e8f0; font-size: 1.35em; line-height: 1.45; max-width: 70em; }
.xmm-outreach .bk-input { font-size: 1.1em; }
.xmm-outreach label { color: #e2e8f0; font-size: 1.1em; }
"""


def title_html(catalogue: Catalogue) -> str:
    badge = "<span class='xmm-badge'>synthetic demo data</span>" if catalogue.synthetic else ""
    return (
        f"<div class='xmm-outreach-title'>The X-ray sky · {inert(catalogue.title)} {badge} "
        "<a href='/classify' style='color:#a5b4fc; font-size:0.6em; margin-left: 16px'>Play: classify sources ▶</a>"
        "</div>"
    )


def create_page(catalogue: Catalogue) -> tuple[pn.Column, OutreachSky]:
    """The page for one session: title, sky, caption, controls; dark, full window."""
    from layouts.common import CSS as COMMON_CSS

    for css in (COMMON_CSS, CSS):
        if css not in pn.config.raw_css:
            pn.config.raw_css = [*pn.config.raw_css, css]
    sky = OutreachSky(catalogue)
    page = pn.Column(
        pn.pane.HTML(title_html(catalogue), sizing_mode="stretch_width", margin=(8, 16)),
        sky,
        sizing_mode="stretch_both",
        css_classes=["xmm-outreach"],
        styles={"background": "#020617"},
        stylesheets=[FLUID],
    )
    return page, sky
