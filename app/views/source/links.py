"""Links out to the archives for a source or an observation (opened by the user's browser; the server fetches nothing).

- XMM-Newton Science Archive (XSA): the observation page, ``https://nxsa.esac.esa.int/nxsa-web/#obsid=<OBS_ID>``.
- XMM SSC catalogue server (IRAP): the source page, ``https://xmm-catalog.irap.omp.eu/source/<SRCID>``
  (4XMM SRCIDs only; the server's own IDs are release-independent).
- XCatDB (Strasbourg): the 4XMM database's home, ``https://xcatdb.unistra.fr/4xmmdr14/`` (it has no stable
  per-source URL, so the link opens its search page).
- ESASky at the position, XMM-Newton EPIC colour HiPS: ``https://sky.esa.int/esasky/?target=<ra> <dec>&...``.
- SIMBAD coordinate query within 10″: ``https://simbad.cds.unistra.fr/simbad/sim-coo?Coord=<ra> <dec>&...``.
Every query value goes through ``urllib.parse`` quoting.
"""

from __future__ import annotations

from urllib.parse import quote, urlencode

XSA_OBSERVATION = "https://nxsa.esac.esa.int/nxsa-web/#obsid={obs_id}"
IRAP_SOURCE = "https://xmm-catalog.irap.omp.eu/source/{srcid}"
XCATDB = "https://xcatdb.unistra.fr/4xmmdr14/"
ESASKY = "https://sky.esa.int/esasky/"
SIMBAD_COORDINATES = "https://simbad.cds.unistra.fr/simbad/sim-coo"


def xsa_observation(obs_id: str) -> str:
    return XSA_OBSERVATION.format(obs_id=quote(str(obs_id).strip(), safe=""))


def irap_source(srcid: int) -> str:
    return IRAP_SOURCE.format(srcid=int(srcid))


def esasky(ra: float, dec: float, fov_deg: float = 0.1) -> str:
    query = {
        "target": f"{ra:.6f} {dec:+.6f}",
        "hips": "XMM-Newton EPIC color",
        "fov": f"{fov_deg:g}",
        "cooframe": "J2000",
        "sci": "true",
    }
    return f"{ESASKY}?{urlencode(query)}"


def simbad(ra: float, dec: float, radius_arcsec: float = 10.0) -> str:
    query = {
        "Coord": f"{ra:.6f} {dec:+.6f}",
        "CooFrame": "ICRS",
        "Radius": f"{radius_arcsec:g}",
        "Radius.unit": "arcsec",
        "submit": "submit query",
    }
    return f"{SIMBAD_COORDINATES}?{urlencode(query)}"


def source_links(srcid: int, ra: float, dec: float) -> list[tuple[str, str]]:
    """(label, URL) of the links out for a source at (ra, dec) in degrees."""
    return [
        ("XMM SSC catalogue server (IRAP)", irap_source(srcid)),
        ("XCatDB (Strasbourg)", XCATDB),
        ("ESASky", esasky(ra, dec)),
        ("SIMBAD (10″)", simbad(ra, dec)),
    ]
