"""What orients a reader on the zoomed sky: scale bar, graticule with labels, cone outline, colour bar ticks.

Pure functions of a view ((x0, x1), (y0, y1) in projection-plane degrees), its size in screen
pixels and the projection/frame. The sky view draws them as Bokeh glyphs and replaces their
data at each pan or zoom, as it does for the image.
"""

from __future__ import annotations

import numpy as np

from app.plots import sky as skyplot
from data_loaders import projection

#: Lengths a scale bar may show (degrees), shortest first.
SCALE_LENGTHS = tuple(
    [v / 3600 for v in (1, 2, 5, 10, 20, 30)] + [v / 60 for v in (1, 2, 5, 10, 20, 30)] + [1, 2, 5, 10, 20, 30, 60]
)
#: Graticule steps (degrees) of latitude and galactic longitude, and of right ascension (whole
#: hours, minutes and seconds of time), coarsest first.
LAT_STEPS = tuple(
    [30, 15, 10, 5, 2, 1] + [v / 60 for v in (30, 20, 10, 5, 2, 1)] + [v / 3600 for v in (30, 20, 10, 5, 2, 1)]
)
RA_STEPS = tuple(
    [30, 15, 7.5, 5, 2.5, 1.25] + [v * 15 / 3600 for v in (120, 60, 30, 20, 10, 5, 2, 1)] + [15 / 3600 * 0.5]
)
#: Lines wanted across the view (about).
GRID_LINES = 5


def angle_label(deg: float) -> str:
    """An angle as people write it: 30″, 10′, 2°."""
    arcsec = deg * 3600
    if arcsec < 59.5:
        return f"{arcsec:.0f}″"
    if arcsec < 3599.5:
        return f"{arcsec / 60:.0f}′"
    return f"{deg:.0f}°"


def scale_bar(proj: str, view, width_px: float, longest_px: float = 140) -> tuple[float, float, str]:
    """(angle in degrees, its length in screen pixels, label) of the longest round angle that fits.

    Measured along x at the centre of the view, where the projection's own scale is known
    (:func:`data_loaders.projection.plane_scale`).
    """
    (x0, x1), (y0, y1) = view
    plane_per_px = abs(x1 - x0) / max(float(width_px), 1.0)
    sx, _ = projection.plane_scale((x0 + x1) / 2, (y0 + y1) / 2, proj)
    sky_per_px = plane_per_px * (sx if np.isfinite(sx) and sx > 0 else 1.0)
    fits = [a for a in SCALE_LENGTHS if a / sky_per_px <= longest_px]
    angle = fits[-1] if fits else SCALE_LENGTHS[0]
    return angle, angle / sky_per_px, angle_label(angle)


def _step(span_deg: float, steps) -> float:
    return next((s for s in steps if span_deg / s >= GRID_LINES - 1), steps[-1])


def format_lon(lon: float, frame: str, step: float) -> str:
    """A meridian's label: RA in h m s at the step's precision (ICRS), else degrees of longitude."""
    lon = lon % 360
    if frame != "icrs":
        return f"{lon:.0f}°" if step >= 1 else f"{lon:.2f}°" if step >= 0.01 else f"{lon:.4f}°"
    seconds = round(lon / 15 * 3600, 1)
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    if step >= 15:
        return f"{h % 24:.0f}h"
    if step >= 0.25:
        return f"{h % 24:.0f}h{m:02.0f}m"
    return f"{h % 24:.0f}h{m:02.0f}m{s:04.1f}s" if step < 15 / 3600 else f"{h % 24:.0f}h{m:02.0f}m{s:02.0f}s"


def format_lat(lat: float, step: float) -> str:
    """A parallel's label in ° ′ ″ at the step's precision."""
    sign = "−" if lat < 0 else "+"
    arcsec = round(abs(lat) * 3600)
    d, rest = divmod(arcsec, 3600)
    m, s = divmod(rest, 60)
    if step >= 1:
        return f"{sign}{d}°"
    if step >= 1 / 60:
        return f"{sign}{d}°{m:02d}′"
    return f"{sign}{d}°{m:02d}′{s:02d}″"


def grid(proj: str, frame: str, view, n: int = 200):
    """The graticule inside a zoomed view: (lines, labels).

    ``lines``: (x, y) arrays (NaN between pieces); ``labels``: (x, y, text, kind) with kind 'lon'
    (on the bottom edge) or 'lat' (on the left edge), each where its line meets that edge. Empty
    when the view spans more than 90° of latitude or longitude: the all-sky graticule of
    :func:`app.plots.sky.graticule_overlay` (every 30°) labels it then.
    """
    (x0, x1), (y0, y1) = view
    xs, ys = np.meshgrid(np.linspace(x0, x1, 48), np.linspace(y0, y1, 48))
    lon, lat = projection.inverse(xs.ravel(), ys.ravel(), proj)
    ok = np.isfinite(lon)
    if not ok.any():
        return [], []
    lon, lat = lon[ok], lat[ok]
    lat_lo, lat_hi = float(lat.min()), float(lat.max())
    # Longitudes as seen from the view's centre (no wrap at 0/360).
    c_lon, _ = projection.inverse(np.array([(x0 + x1) / 2]), np.array([(y0 + y1) / 2]), proj)
    ref = float(c_lon[0]) if np.isfinite(c_lon[0]) else float(np.median(lon))
    rel = (lon - ref + 180) % 360 - 180
    lon_lo, lon_hi = ref + float(rel.min()), ref + float(rel.max())
    pole = lat_hi > 89 or lat_lo < -89
    if lat_hi - lat_lo > 90 or (lon_hi - lon_lo > 90 and not pole):
        return [], []
    lat_step = _step(lat_hi - lat_lo, LAT_STEPS)
    lon_step = _step(
        (lon_hi - lon_lo) * max(np.cos(np.radians((lat_lo + lat_hi) / 2)), 0.05),
        RA_STEPS if frame == "icrs" else LAT_STEPS,
    )
    if pole:
        lon_lo, lon_hi, lon_step = 0.0, 360.0, max(lon_step, 30.0)
    lines, labels = [], []
    lat_vals = np.arange(np.ceil(lat_lo / lat_step), np.floor(lat_hi / lat_step) + 1) * lat_step
    lon_vals = np.arange(np.ceil(lon_lo / lon_step), np.floor(lon_hi / lon_step) + 1) * lon_step
    t_lat = np.linspace(max(lat_lo - lat_step, -90), min(lat_hi + lat_step, 90), n)
    t_lon = np.linspace(lon_lo - lon_step, lon_hi + lon_step, n)
    for v in lon_vals:
        x, y = projection.forward(np.full(n, v), t_lat, proj)
        lines.append((x, y))
        hit = _edge_crossing(x, y, "y", y0, (x0, x1))
        if hit is not None:
            labels.append((hit, y0, format_lon(v, frame, lon_step), "lon"))
    for v in lat_vals:
        if abs(v) >= 90:
            continue
        x, y = projection.forward(t_lon, np.full(n, v), proj)
        lines.append((x, y))
        hit = _edge_crossing(x, y, "x", x0, (y0, y1))
        if hit is not None:
            labels.append((x0, hit, format_lat(v, lat_step), "lat"))
    return lines, labels


def _edge_crossing(x: np.ndarray, y: np.ndarray, axis: str, at: float, span) -> float | None:
    """Where a polyline crosses the line ``axis == at`` inside ``span`` of the other axis (first crossing)."""
    a, b = (y, x) if axis == "y" else (x, y)
    d = a - at
    ok = np.isfinite(d[:-1]) & np.isfinite(d[1:]) & (np.sign(d[:-1]) != np.sign(d[1:]))
    for i in np.flatnonzero(ok):
        t = d[i] / (d[i] - d[i + 1])
        v = b[i] + t * (b[i + 1] - b[i])
        if span[0] <= v <= span[1]:
            return float(v)
    return None


def cone_outline(ra: float, dec: float, radius_deg: float, proj: str, frame: str, n: int = 181):
    """The projected outline (x, y) of a cone given in ICRS degrees, in ``frame``."""
    from astropy.coordinates import offset_by

    posang = np.linspace(0, 2 * np.pi, n)
    lon, lat = offset_by(np.radians(ra), np.radians(dec), posang, np.radians(radius_deg))
    lon, lat = lon.to_value("deg"), lat.to_value("deg")
    if frame == "galactic":
        lon, lat = to_galactic(lon, lat)
    return projection.forward(lon, lat, proj)


def to_galactic(ra, dec):
    """ICRS -> galactic (l, b) in degrees, arrays."""
    import astropy.units as u
    from astropy.coordinates import SkyCoord

    g = SkyCoord(ra=np.asarray(ra) * u.deg, dec=np.asarray(dec) * u.deg, frame="icrs").galactic
    return g.l.deg, g.b.deg


def ramp_ticks(values: np.ndarray, norm: str, n: int = 5, span=None) -> list[tuple[float, float]]:
    """(position 0..1 along the colour bar, value) for ``n`` ticks of a count grid shaded by ``norm``.

    eq_hist places values by their rank among the distinct non-empty pixel values (as
    :func:`app.plots.sky.normalise` does), so its ticks come from the grid itself.
    """
    v = np.asarray(values)
    v = v[np.isfinite(v) & (v > 0)] if v.dtype.kind == "f" else v[v > 0]
    if span is not None:
        return [(t, span[0] + t * (span[1] - span[0])) for t in np.linspace(0, 1, n)]
    if v.size == 0:
        return []
    if norm == "eq_hist":
        uniq = np.unique(v)
        if uniq.size <= n:  # few distinct values (a sparse view): one tick each, where eq_hist puts it
            if uniq.size == 1:  # normalise() draws a single value at the strong end
                return [(1.0, float(uniq[0]))]
            return [(i / (uniq.size - 1), float(u)) for i, u in enumerate(uniq)]
        return [(t, float(uniq[round(t * (uniq.size - 1))])) for t in np.linspace(0, 1, n)]
    hi = float(v.max())
    if norm == "log":
        return [(t, float(np.expm1(t * np.log1p(hi)))) for t in np.linspace(0, 1, n)]
    return [(t, t * hi) for t in np.linspace(0, 1, n)]


def ramp_colours(cmap: str, n: int = 16, dark: bool = True) -> list[str]:
    """``n`` colours along the ramp palette the sky image uses on the theme (for a CSS gradient)."""
    pal = skyplot.palette("ramp", cmap, dark)
    return [pal[i] for i in np.round(np.linspace(0, len(pal) - 1, n)).astype(int)]
