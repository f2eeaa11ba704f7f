"""Build a panel the first time it scrolls into view, not when the page opens.

A page's below-the-fold panels cost each new session their Bokeh models (server CPU to build them,
browser time to lay them out and draw) before anyone has scrolled to them. ``when_seen`` holds a
placeholder of the panel's height instead; an ``IntersectionObserver`` in the browser says when it
first becomes visible, and only then is the panel made (issue 18 item 8: a new Source tab).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import panel as pn
from panel.custom import JSComponent


class SeenProbe(JSComponent):
    """An empty box that sends one message the first time any of it is visible in the browser."""

    _esm = """
export function render({ model, el }) {
  const probe = document.createElement('div');
  probe.className = 'xmm-when-seen';
  probe.style.cssText = 'width:100%;height:100%';
  let sent = false;
  const observer = new IntersectionObserver((entries) => {
    if (sent || !entries.some((e) => e.isIntersecting)) return;
    sent = true;
    observer.disconnect();
    model.send_msg('seen');
  }, { rootMargin: '200px 0px' });
  observer.observe(probe);
  model.on('remove', () => observer.disconnect());
  return probe;
}
"""

    def __init__(self, on_seen: Callable[[], None], **params):
        super().__init__(**params)
        self._on_seen = on_seen

    def _handle_msg(self, msg: Any) -> None:
        self._on_seen()


def in_session() -> bool:
    """True while a browser session's page is being built or served (not in scripts and tests)."""
    doc = pn.state.curdoc
    return doc is not None and doc.session_context is not None


def when_seen(factory: Callable[[], Any], height: int) -> pn.Column:
    """A column holding ``factory()``'s panel, made once the column is first seen in the browser.

    ``height``: the placeholder's height in pixels (about the panel's, so the page does not jump).
    Outside a browser session (scripts, tests, exports) the panel is made at once.
    """
    holder = pn.Column(sizing_mode="stretch_width")

    def build() -> None:
        if holder.objects and isinstance(holder.objects[0], SeenProbe):
            holder.objects = [factory()]

    if in_session():
        holder.append(SeenProbe(build, height=height, sizing_mode="stretch_width", margin=0))
    else:
        holder.append(factory())
    return holder
