"""Per-detection source products (lightcurves, spectra, effective areas) in the XMM archive layout."""

from data_loaders.products.arf import EffectiveArea, read_arf
from data_loaders.products.errors import ProductError, ProductUnavailable
from data_loaders.products.lightcurve import Lightcurve, read_lightcurve
from data_loaders.products.names import (
    ProductName,
    list_products,
    parse_product_name,
    product_dir,
    product_name,
)
from data_loaders.products.spectrum import NetSpectrum, Spectrum, read_spectrum
from data_loaders.products.store import CameraProducts, DetectionProducts, ProductStore
from data_loaders.products.synthetic import write_detection_products

__all__ = [
    "CameraProducts",
    "DetectionProducts",
    "EffectiveArea",
    "Lightcurve",
    "NetSpectrum",
    "ProductError",
    "ProductName",
    "ProductStore",
    "ProductUnavailable",
    "Spectrum",
    "list_products",
    "parse_product_name",
    "product_dir",
    "product_name",
    "read_arf",
    "read_lightcurve",
    "read_spectrum",
    "write_detection_products",
]
