"""The detection a synthetic product is written for: its values, random streams, regions and headers."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from astropy.io import fits
from astropy.time import Time

from data_loaders.products.lightcurve import MJDREF_XMM
from data_loaders.products.synthetic_model import CAMERAS

ORIGIN = "XMM Explorer synthetic demo data"
#: Sky pixel size of EPIC images, arcsec; BACKSCAL and region radii are in these units.
SKY_PIXEL_ARCSEC = 0.05
_PRODUCT_STREAM = {"lightcurve": 1, "spectrum": 2, "background": 3, "geometry": 4, "source": 5}


@dataclass(frozen=True)
class SyntheticDetection:
    """Values of one catalogue detection that its products are drawn from.

    ``rate`` is the pn 0.2-12 keV count rate (count/s; MOS get their own fraction of it),
    ``exposure`` the on-time (s), ``nh`` the absorbing column in 1e22 cm⁻².
    """

    obs_id: str
    src_num: int
    ra: float
    dec: float
    rate: float
    exposure: float
    mjd_start: float
    variable: bool = False
    fvar: float = 0.0
    photon_index: float = 1.9
    nh: float = 0.03
    seed: int = 0

    def rng(self, camera: str, product: str) -> np.random.Generator:
        """An independent, reproducible random stream per (detection, camera, product)."""
        camera_index = list(CAMERAS).index(camera) if camera in CAMERAS else 9
        key = [int(self.seed), int(self.obs_id), int(self.src_num), camera_index, _PRODUCT_STREAM[product]]
        return np.random.default_rng(key)

    @cached_property
    def geometry(self) -> dict[str, float]:
        """Source and background circles in sky pixels (shared by every camera, as in the PPS)."""
        rng = self.rng("PN", "geometry")
        src_r_arcsec = float(np.clip(15.0 + 6.0 * math.log10(max(self.rate, 1e-3) / 1e-3), 15, 60))
        bkg_r_arcsec = float(rng.uniform(2.0, 3.0) * src_r_arcsec + 30.0)
        offset = rng.uniform(0, 12 * 60 / SKY_PIXEL_ARCSEC, 2) * rng.choice([-1, 1], 2)
        angle = rng.uniform(0, 2 * math.pi)
        away = (src_r_arcsec + bkg_r_arcsec + 20.0) / SKY_PIXEL_ARCSEC
        x, y = 25921.0 + offset[0], 25921.0 + offset[1]
        return {
            "x": round(float(x), 2),
            "y": round(float(y), 2),
            "r": round(src_r_arcsec / SKY_PIXEL_ARCSEC, 2),
            "bx": round(float(x + away * math.cos(angle)), 2),
            "by": round(float(y + away * math.sin(angle)), 2),
            "br": round(bkg_r_arcsec / SKY_PIXEL_ARCSEC, 2),
        }

    @property
    def backscal(self) -> float:
        """Source-region area in sky pixels², as BACKSCAL."""
        return round(math.pi * self.geometry["r"] ** 2, 1)

    @property
    def backscal_background(self) -> float:
        return round(math.pi * self.geometry["br"] ** 2, 1)

    def tstart(self, camera: str) -> float:
        """Mission time (s) when ``camera`` starts: MOS first, pn a little later, as usual."""
        delay = 0.0 if camera != "PN" else 1800.0
        return round((self.mjd_start - MJDREF_XMM) * 86400.0 + delay, 3)

    def exposure_of(self, camera: str) -> float:
        return round(self.exposure if camera == "PN" else self.exposure * 1.05 + 1800.0, 1)

    def common_cards(self, camera: str) -> list[tuple[str, object, str]]:
        """Keywords every HDU of a product carries (no file-creation date: bytes stay stable)."""
        tstart = self.tstart(camera)
        tstop = tstart + self.exposure_of(camera)
        mjd = (MJDREF_XMM + tstart / 86400.0, MJDREF_XMM + tstop / 86400.0)
        date_obs, date_end = Time(list(mjd), format="mjd", scale="tt").utc.isot
        return [
            ("TELESCOP", "XMM", "mission name"),
            ("INSTRUME", CAMERAS[camera].instrume, "instrument"),
            ("FILTER", CAMERAS[camera].filter, "filter"),
            ("OBS_ID", self.obs_id, "observation identifier"),
            ("SRCNUM", int(self.src_num), "source number in the observation"),
            ("SRC_RA", float(self.ra), "[deg] source right ascension (ICRS)"),
            ("SRC_DEC", float(self.dec), "[deg] source declination (ICRS)"),
            ("DATE-OBS", date_obs[:19], "start of the exposure (UTC)"),
            ("DATE-END", date_end[:19], "end of the exposure (UTC)"),
            ("ORIGIN", ORIGIN, "not real data"),
        ]

    def primary_hdu(self, camera: str) -> fits.PrimaryHDU:
        hdu = fits.PrimaryHDU()
        for key, value, comment in self.common_cards(camera):
            hdu.header[key] = (value, comment)
        return hdu

    @cached_property
    def _regions(self) -> dict[tuple[str, str], fits.BinTableHDU]:
        return {}

    def region_hdu(self, extname: str, which: str) -> fits.BinTableHDU:
        """A REGION-style table (SHAPE, X, Y, R, ROTANG, COMPONENT) for the source or background circle.

        Built once per detection and shared by its files (astropy tables are slow to build;
        writing an HDU does not change it).
        """
        key = (extname, which)
        if key not in self._regions:
            self._regions[key] = self._region_hdu(extname, which)
        return self._regions[key]

    def _region_hdu(self, extname: str, which: str) -> fits.BinTableHDU:
        g = self.geometry
        x, y, r = (g["x"], g["y"], g["r"]) if which == "source" else (g["bx"], g["by"], g["br"])
        shapes, xs, ys, rs = ["CIRCLE"], [x], [y], [r]
        if which == "background":
            shapes.append("!CIRCLE")  # the source is cut out of the background circle if it overlaps
            xs.append(g["x"])
            ys.append(g["y"])
            rs.append(g["r"] * 1.5)
        hdu = fits.BinTableHDU.from_columns(
            [
                fits.Column("SHAPE", "16A", array=np.array(shapes)),
                fits.Column("X", "D", unit="pixel", array=np.array(xs)),
                fits.Column("Y", "D", unit="pixel", array=np.array(ys)),
                fits.Column("R", "D", unit="pixel", array=np.array(rs)),
                fits.Column("ROTANG", "D", unit="deg", array=np.zeros(len(xs))),
                fits.Column("COMPONENT", "J", array=np.arange(1, len(xs) + 1)),
            ],
            name=extname,
        )
        hdu.header["HDUCLASS"] = "ASC"
        hdu.header["HDUCLAS1"] = "REGION"
        hdu.header["MTYPE1"] = "pos"
        hdu.header["MFORM1"] = "X,Y"
        return hdu
