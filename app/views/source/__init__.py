"""The Source view: everything about one source (lightcurves, spectrum, SED, class, counterparts, detections)."""

from app.views.source.state import SourceState, resolve_source
from app.views.source.view import SourceView

__all__ = ["SourceState", "SourceView", "resolve_source"]
