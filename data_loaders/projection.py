"""All-sky map projections (Hammer-Aitoff, Aitoff, Mollweide) and their inverses, in numpy.

Datashader's canvas is Cartesian, so sky positions are projected once per process and
stored as float32 columns. Conventions follow FITS WCS (Calabretta & Greisen 2002):
outputs are in degrees of the projection plane; longitude increases to the *left*
(x is negated), as astronomers draw the sky. ``hammer`` is WCS ``AIT``, ``mollweide``
is WCS ``MOL``; ``aitoff`` is the true Aitoff projection (no WCS code).
"""

from __future__ import annotations

import numpy as np

PROJECTIONS = ("hammer", "aitoff", "mollweide")
PROJECTION_LABELS = {"hammer": "Hammer-Aitoff", "aitoff": "Aitoff", "mollweide": "Mollweide"}
R2D = 180.0 / np.pi
D2R = np.pi / 180.0


def wrap_longitude(lon_deg, lon0: float = 0.0):
    """Longitude minus the central longitude, wrapped to [-180, 180) degrees."""
    return (np.asarray(lon_deg, dtype=np.float64) - lon0 + 180.0) % 360.0 - 180.0


def forward(lon_deg, lat_deg, projection: str = "hammer", lon0: float = 0.0):
    """Project sky positions (deg) to plane coordinates (deg), longitude increasing leftwards.

    Non-finite inputs give NaN outputs. Returns float64 arrays ``(x, y)``.
    """
    lam = wrap_longitude(lon_deg, lon0) * D2R
    phi = np.asarray(lat_deg, dtype=np.float64) * D2R
    with np.errstate(invalid="ignore", divide="ignore"):
        if projection == "hammer":
            gamma = R2D * np.sqrt(2.0 / (1.0 + np.cos(phi) * np.cos(lam / 2.0)))
            x = 2.0 * gamma * np.cos(phi) * np.sin(lam / 2.0)
            y = gamma * np.sin(phi)
        elif projection == "aitoff":
            x, y = (R2D * v for v in _aitoff_plane(lam, phi))
        elif projection == "mollweide":
            theta = _mollweide_theta(phi)
            x = R2D * (2.0 * np.sqrt(2.0) / np.pi) * lam * np.cos(theta)
            y = R2D * np.sqrt(2.0) * np.sin(theta)
        else:
            raise ValueError(f"Unknown projection {projection!r}; expected one of {PROJECTIONS}.")
    return -x, y


def _mollweide_theta(phi):
    """Auxiliary angle of Mollweide: solve 2t + sin 2t = pi sin(phi) by Newton steps."""
    target = np.pi * np.sin(phi)
    theta = np.arcsin(np.clip(2.0 * phi / np.pi, -1.0, 1.0))
    for _ in range(50):
        f = 2.0 * theta + np.sin(2.0 * theta) - target
        fp = 2.0 + 2.0 * np.cos(2.0 * theta)
        step = np.where(fp > 1e-12, f / np.where(fp > 1e-12, fp, 1.0), 0.0)
        theta = theta - step
        if np.nanmax(np.abs(step), initial=0.0) < 1e-14:
            break
    # At the poles Newton stalls (fp -> 0); the answer there is +-pi/2.
    return np.where(np.abs(np.abs(phi) - np.pi / 2) < 1e-12, np.sign(phi) * np.pi / 2, theta)


def inverse(x, y, projection: str = "hammer", lon0: float = 0.0):
    """Turn plane coordinates (deg, longitude increasing leftwards) back into (lon, lat) deg.

    Points outside the projected sky give NaN. Longitude is returned in [0, 360).
    """
    xr = -np.asarray(x, dtype=np.float64) * D2R
    yr = np.asarray(y, dtype=np.float64) * D2R
    with np.errstate(invalid="ignore", divide="ignore"):
        if projection == "hammer":
            inside = (xr / 4.0) ** 2 + (yr / 2.0) ** 2 <= 0.5 + 1e-12
            z = np.sqrt(np.clip(1.0 - (xr / 4.0) ** 2 - (yr / 2.0) ** 2, 0.0, None))
            lam = 2.0 * np.arctan2(z * xr, 2.0 * (2.0 * z * z - 1.0))
            phi = np.arcsin(np.clip(z * yr, -1.0, 1.0))
        elif projection == "mollweide":
            inside = (xr / (2 * np.sqrt(2))) ** 2 + (yr / np.sqrt(2)) ** 2 <= 1.0 + 1e-12
            theta = np.arcsin(np.clip(yr / np.sqrt(2.0), -1.0, 1.0))
            phi = np.arcsin(np.clip((2.0 * theta + np.sin(2.0 * theta)) / np.pi, -1.0, 1.0))
            lam = np.pi * xr / (2.0 * np.sqrt(2.0) * np.cos(theta))
        elif projection == "aitoff":
            lam, phi, inside = _aitoff_inverse(xr, yr)
        else:
            raise ValueError(f"Unknown projection {projection!r}; expected one of {PROJECTIONS}.")
        inside &= np.abs(lam) <= np.pi + 1e-9
    lon = np.where(inside, (lam * R2D + lon0) % 360.0, np.nan)
    lat = np.where(inside, phi * R2D, np.nan)
    return lon, lat


def _aitoff_plane(lam, phi):
    """Aitoff plane coordinates in radians, longitude increasing to the right."""
    alpha = np.arccos(np.clip(np.cos(phi) * np.cos(lam / 2.0), -1.0, 1.0))
    safe = np.where(alpha == 0.0, 1.0, alpha)
    sinc = np.where(alpha == 0.0, 1.0, np.sin(safe) / safe)
    return 2.0 * np.cos(phi) * np.sin(lam / 2.0) / sinc, np.sin(phi) / sinc


def _aitoff_inverse(xr, yr):
    """Aitoff has no closed-form inverse: Newton iterations started from Hammer's inverse.

    Only points inside the projected sky are iterated (outside ones never converge and cost
    the whole iteration budget); they come back as NaN.
    """
    xr, yr = np.broadcast_arrays(np.asarray(xr, dtype=np.float64), np.asarray(yr, dtype=np.float64))
    inside = (xr / np.pi) ** 2 + (yr / (np.pi / 2)) ** 2 <= 1.0 + 1e-12  # the boundary is this ellipse
    lam, phi = np.full(xr.shape, np.nan), np.full(xr.shape, np.nan)
    lam[inside], phi[inside] = _aitoff_newton(xr[inside], yr[inside])
    return lam, phi, inside


def _aitoff_newton(xr, yr):
    z = np.sqrt(np.clip(1.0 - (xr / 4.0) ** 2 - (yr / 2.0) ** 2, 0.0, None))
    lam = np.clip(2.0 * np.arctan2(z * xr, 2.0 * (2.0 * z * z - 1.0)), -np.pi, np.pi)
    phi = np.arcsin(np.clip(z * yr, -1.0, 1.0))
    h = 1e-8
    for _ in range(200):
        fx, fy = _aitoff_plane(lam, phi)
        fx_l, fy_l = _aitoff_plane(lam + h, phi)
        fx_p, fy_p = _aitoff_plane(lam, phi + h)
        a, b = (fx_l - fx) / h, (fx_p - fx) / h
        c, d = (fy_l - fy) / h, (fy_p - fy) / h
        det = a * d - b * c
        ok = np.abs(det) > 1e-14
        det = np.where(ok, det, 1.0)
        rx, ry = fx - xr, fy - yr
        # Damped steps: near the poles the Jacobian is nearly singular.
        dlam = np.clip(np.where(ok, (d * rx - b * ry) / det, 0.0), -0.2, 0.2)
        dphi = np.clip(np.where(ok, (a * ry - c * rx) / det, 0.0), -0.2, 0.2)
        lam = np.clip(lam - dlam, -np.pi, np.pi)
        phi = np.clip(phi - dphi, -np.pi / 2, np.pi / 2)
        if np.nanmax(np.abs(dlam) + np.abs(dphi), initial=0.0) < 1e-12:
            break
    return lam, phi


def outline(projection: str = "hammer", n: int = 361):
    """The boundary of the projected sky as (x, y) arrays, for drawing the map's edge."""
    lat = np.linspace(-90.0, 90.0, n)
    xl, yl = forward(np.full(n, 179.999999), lat, projection)
    xr, yr = forward(np.full(n, -179.999999), lat[::-1], projection)
    return np.concatenate([xl, xr, xl[:1]]), np.concatenate([yl, yr, yl[:1]])


def graticule(projection: str = "hammer", lon0: float = 0.0, dlon: float = 30.0, dlat: float = 30.0, n: int = 181):
    """Meridians and parallels as a list of (x, y) polylines, plus their label anchors.

    Returns ``(lines, labels)`` where ``labels`` are ``(x, y, lon_or_lat, kind)`` tuples with
    kind ``'lon'`` (placed on the equator) or ``'lat'`` (placed at the left edge).
    """
    lines = []
    lats = np.linspace(-90.0, 90.0, n)
    for lon in np.arange(-180.0, 180.0 + 1e-9, dlon):
        lon_w = np.clip(lon, -179.999999, 179.999999)
        x, y = forward(np.full(n, lon_w + lon0), lats, projection, lon0)
        lines.append((x, y))
    lons = np.linspace(-179.999999, 179.999999, 2 * n)
    for lat in np.arange(-90.0 + dlat, 90.0 - 1e-9, dlat):
        x, y = forward(lons + lon0, np.full(lons.size, lat), projection, lon0)
        lines.append((x, y))
    labels = []
    for lon in np.arange(-180.0 + dlon, 180.0 - 1e-9, dlon):
        x, y = forward(np.array([lon + lon0]), np.array([0.0]), projection, lon0)
        labels.append((float(x[0]), float(y[0]), float((lon + lon0) % 360.0), "lon"))
    for lat in np.arange(-90.0 + dlat, 90.0 - 1e-9, dlat):
        x, y = forward(np.array([lon0 + 179.9]), np.array([lat]), projection, lon0)
        labels.append((float(x[0]), float(y[0]), float(lat), "lat"))
    return lines, labels


def separation_deg(lon, lat, lon0, lat0) -> np.ndarray:
    """Great-circle distance (deg) between (lon, lat) and (lon0, lat0), in degrees, broadcast like numpy
    (scalars or arrays on either side; NaN stays NaN).

    astropy's Vincenty formula on plain arrays: exact at every angle, no SkyCoord per call. The one
    angular distance of the project (coverage, alerts, the demo's pipeline and the views use it).
    """
    from astropy.coordinates import angular_separation

    a, b, a0, b0 = (np.asarray(v, dtype=np.float64) * D2R for v in (lon, lat, lon0, lat0))
    return np.degrees(angular_separation(a, b, a0, b0))


def within(lon, lat, lon0: float, lat0: float, radius_deg: float) -> np.ndarray:
    """Whether each (lon, lat) lies within ``radius_deg`` of (lon0, lat0) (deg); NaN positions do not.

    Only rows in the cone's latitude band are measured: a small cone over a million rows
    measures a few hundred.
    """
    lon, lat = np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)
    out = np.zeros(lon.shape, dtype=bool)
    cand = np.flatnonzero(np.abs(lat - lat0) <= radius_deg)
    out[cand] = separation_deg(lon[cand], lat[cand], lon0, lat0) <= radius_deg
    return out


def plane_scale(x: float, y: float, projection: str = "hammer", step: float = 1e-3) -> tuple[float, float]:
    """Sky degrees per plane degree at the plane point (x, y), along x and along y (NaN outside the sky).

    An all-sky projection stretches the sky unequally: at high latitude far from the central
    meridian a plane degree spans several degrees of sky. Scale bars and tap tolerances use this.
    """
    xs = np.array([x, x + step, x])
    ys = np.array([y, y, y + step])
    lon, lat = inverse(xs, ys, projection)
    sep = separation_deg(lon[1:], lat[1:], float(lon[0]), float(lat[0])) / step
    return float(sep[0]), float(sep[1])
