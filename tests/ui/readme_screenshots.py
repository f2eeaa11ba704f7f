"""The README's screenshots: ``python -m tests.ui.readme_screenshots DATA [OUT [NAME ...]]``.

Serves DATA (a generated demo: ``xmm-explorer --data-dir DATA demo --detections 20000``) on
loopback and saves each page in headless Chromium, in both themes and at a tablet width, to OUT
(default ``docs/screenshots``); with NAMEs, only those shots. Not collected by pytest: it asserts
nothing, it records what a person then looks at.
"""

from __future__ import annotations

import sys
from pathlib import Path

from data_loaders.catalogue import Catalogue
from tests.ui.serving import browser, serve_app, wait_idle

DESKTOP = {"width": 1400, "height": 900}
TABLET = {"width": 1024, "height": 768}


def _brightest(data_dir: Path) -> tuple[int, float, float]:
    release = next(p for p in sorted((data_dir / "releases").iterdir()) if p.is_dir())
    sources = Catalogue(release).sources
    row = sources.loc[sources["SC_EP_8_FLUX"].idxmax()]
    return int(row["SRCID"]), float(row["SC_RA"]), float(row["SC_DEC"])


def main(data_dir: Path, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    srcid, ra, dec = _brightest(data_dir)
    shots = [
        ("explore", "explore?theme=light", DESKTOP),
        ("explore-dark", "explore?theme=dark", DESKTOP),
        ("explore-query", "explore?theme=dark", DESKTOP),
        ("explore-tablet", "explore?theme=light", TABLET),
        ("source", f"source?theme=dark&srcid={srcid}", DESKTOP),
        ("source-tablet", f"source?theme=light&srcid={srcid}", TABLET),
        ("alerts", "alerts?theme=light", DESKTOP),
        ("review", "review?theme=dark", DESKTOP),
        ("classify", "classify?theme=light", DESKTOP),
        ("outreach", "outreach?theme=dark", DESKTOP),
    ]
    shots = [x for x in shots if x[0] in sys.argv[3:]] or shots
    with serve_app(data_dir) as base, browser() as b:
        for name, path, viewport in shots:
            page = b.new_page(viewport=viewport)
            page.goto(f"{base}/{path}")
            wait_idle(page, timeout=90_000)
            if name == "explore-query":  # typed as a person would: the sky zooms to the answer
                box = page.get_by_placeholder("sc_det_ml > 100")
                box.fill(f"cone({ra:.4f}, {dec:.4f}, 0.5deg) and sc_det_ml > 10")
                box.press("Enter")
                wait_idle(page, timeout=90_000)
            page.wait_for_timeout(2500)  # the sky's second aggregation at the plot's real size
            wait_idle(page, timeout=90_000)
            page.screenshot(path=str(out / f"{name}.png"))
            print(f"{name}: {out / f'{name}.png'}")
            page.close()


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]) if len(sys.argv) > 2 else Path("docs/screenshots"))
