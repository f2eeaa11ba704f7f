"""EPIC redistribution matrices (RMF, OGIP ``MATRIX`` + ``EBOUNDS``): read any, write the demo's canned ones.

PPS products carry no RMF: a spectrum's ``RESPFILE`` keyword names the SSC canned response
it goes with (e.g. ``epn_e3_ff20_sdY9.rmf``), which an operator installs in a folder of canned
responses. :func:`read_rmf` reads the OGIP layout (CAL/GEN/92-002: ``N_GRP``, ``F_CHAN``,
``N_CHAN`` scalar or variable-length, ``MATRIX`` variable-length) into a sparse matrix;
:func:`canned_rmf_hdul` writes the demo's own canned responses, a Gaussian redistribution
whose width follows a Fano-limited silicon detector with read-out noise
(sigma^2 = noise^2 + F w E, F = 0.12, w = 3.65 eV), which gives FWHM about 85 eV at 1 keV
and 140 eV at 6 keV, close to the EPIC values in the XMM-Newton Users Handbook.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from astropy.io import fits
from scipy import sparse

from data_loaders.products.errors import ProductError
from data_loaders.products.fitsfile import read_table

#: Energy grid (keV) of the canned matrices: 0.15-15 keV in 10 eV bins, as the ARFs.
CANNED_EDGES_KEV = np.round(np.arange(0.15, 15.0 + 1e-9, 0.01), 5)
_FANO_EV = 0.12 * 3.65  # Fano factor x energy per electron-hole pair in silicon (eV)
_READ_NOISE_EV = {"EPN": 30.0, "EMOS1": 25.0, "EMOS2": 25.0}
_TRUNCATE_SIGMA = 5.0


@dataclass(frozen=True, eq=False)
class Response:
    """A redistribution matrix: ``matrix[i, j]`` = probability that a photon of energy bin i lands in channel j.

    ``energy_lo``/``energy_hi``: the photon-energy bins (keV); ``channel``, ``e_min``, ``e_max``:
    the EBOUNDS rows; ``first_channel``: the channel number of column 0 (TLMIN of F_CHAN).
    """

    energy_lo: np.ndarray
    energy_hi: np.ndarray
    matrix: sparse.csr_matrix
    channel: np.ndarray
    e_min: np.ndarray
    e_max: np.ndarray
    first_channel: int
    instrument: str
    filter: str
    path: Path | None = None

    @property
    def energy(self) -> np.ndarray:
        return 0.5 * (self.energy_lo + self.energy_hi)

    @property
    def detchans(self) -> int:
        return self.matrix.shape[1]


def _as_rows(values, n: int) -> list[np.ndarray]:
    """A scalar or variable-length column as one integer array per row."""
    return [np.atleast_1d(np.asarray(values[i], dtype=np.int64)) for i in range(n)]


def read_rmf(path: str | Path) -> Response:
    """Read an RMF (or RSP) file; foreign or broken files raise ProductError in one sentence."""
    path = Path(path)
    required = ("ENERG_LO", "ENERG_HI", "N_GRP", "F_CHAN", "N_CHAN", "MATRIX")
    table = read_table(path, extname="MATRIX", want="a response matrix", required=required)
    ebounds = read_table(path, extname="EBOUNDS", want="a response matrix", required=("CHANNEL", "E_MIN", "E_MAX"))
    header = table.header
    detchans = int(header.get("DETCHANS", len(ebounds)))
    first = int(header.get(f"TLMIN{_column_number(table, 'F_CHAN')}", 1))  # OGIP: channels start at 1 unless TLMIN
    cols = table.columns
    n = len(table)
    f_chan, n_chan = _as_rows(cols["F_CHAN"], n), _as_rows(cols["N_CHAN"], n)
    rows, columns, values = [], [], []
    try:
        for i in range(n):
            flat = np.asarray(cols["MATRIX"][i], dtype=np.float64).ravel()
            start = 0
            for fc, nc in zip(f_chan[i][: int(cols["N_GRP"][i])], n_chan[i], strict=False):
                chans = np.arange(fc - first, fc - first + nc)
                rows.append(np.full(nc, i))
                columns.append(chans)
                values.append(flat[start : start + nc])
                start += nc
        matrix = sparse.csr_matrix(
            (np.concatenate(values), (np.concatenate(rows), np.concatenate(columns))), shape=(n, detchans)
        )
    except (ValueError, IndexError) as err:
        raise ProductError(f"{path.name}: its MATRIX rows do not match N_GRP/F_CHAN/N_CHAN ({err}).", path) from None
    primary = table.primary
    return Response(
        energy_lo=cols["ENERG_LO"].astype(float),
        energy_hi=cols["ENERG_HI"].astype(float),
        matrix=matrix,
        channel=ebounds.columns["CHANNEL"].astype(int),
        e_min=ebounds.columns["E_MIN"].astype(float),
        e_max=ebounds.columns["E_MAX"].astype(float),
        first_channel=first,
        instrument=str(header.get("INSTRUME", primary.get("INSTRUME", ""))).strip(),
        filter=str(header.get("FILTER", primary.get("FILTER", ""))).strip(),
        path=path,
    )


def _column_number(table, name: str) -> int:
    return list(table.columns).index(name) + 1


def gaussian_matrix(instrume: str, detchans: int, specdelt_ev: float = 5.0) -> tuple[np.ndarray, sparse.csr_matrix]:
    """The canned redistribution of ``instrume``: energy edges (keV) and a (n_energy, detchans) sparse matrix.

    Channel j covers [j, j+1) x ``specdelt_ev``; each energy bin spreads as a Gaussian of the
    Fano-limited width (module docstring), truncated at 5 sigma and normalised to 1 over the
    channels it reaches (no loss below the first channel at these energies).
    """
    edges = CANNED_EDGES_KEV
    energy = 0.5 * (edges[:-1] + edges[1:]) * 1e3  # eV
    sigma = np.sqrt(_READ_NOISE_EV.get(instrume, 30.0) ** 2 + _FANO_EV * energy)
    lo = np.floor((energy - _TRUNCATE_SIGMA * sigma) / specdelt_ev).astype(int).clip(0, detchans - 1)
    hi = np.ceil((energy + _TRUNCATE_SIGMA * sigma) / specdelt_ev).astype(int).clip(0, detchans - 1)
    rows, cols, vals = [], [], []
    for i in range(energy.size):
        chans = np.arange(lo[i], hi[i] + 1)
        centre = (chans + 0.5) * specdelt_ev
        weight = np.exp(-0.5 * ((centre - energy[i]) / sigma[i]) ** 2)
        rows.append(np.full(chans.size, i))
        cols.append(chans)
        vals.append(weight / weight.sum())
    matrix = sparse.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(energy.size, detchans)
    )
    return edges, matrix


@lru_cache(maxsize=4)
def canned_matrix(instrume: str, detchans: int, specdelt_ev: float = 5.0) -> tuple[np.ndarray, sparse.csr_matrix]:
    """:func:`gaussian_matrix`, built once per process (the demo draws every spectrum through it)."""
    return gaussian_matrix(instrume, detchans, specdelt_ev)


def write_canned_responses(folder: str | Path) -> list[Path]:
    """Write the demo's canned RMFs (one per camera, named as the demo spectra's RESPFILE) into ``folder``.

    Files already there are kept (the same inputs give the same matrix); each is written aside and renamed.
    """
    from data_loaders.products.synthetic_model import CAMERAS

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for model in CAMERAS.values():
        path = folder / model.respfile
        if not path.exists():
            tmp = folder / f".{model.respfile}.part"
            canned_rmf_hdul(model.instrume, model.filter, model.nchannels).writeto(tmp, overwrite=True)
            tmp.replace(path)
        out.append(path)
    return out


def canned_rmf_hdul(instrume: str, filter_name: str, detchans: int, specdelt_ev: float = 5.0) -> fits.HDUList:
    """An OGIP RMF (MATRIX + EBOUNDS) of the demo's canned response, with the keywords real RMFs carry."""
    edges, matrix = canned_matrix(instrume, detchans, specdelt_ev)
    csr = matrix.tocsr()
    n = csr.shape[0]
    f_chan = np.empty(n, dtype=np.int32)
    n_chan = np.empty(n, dtype=np.int32)
    rows = []
    for i in range(n):
        start, stop = csr.indptr[i], csr.indptr[i + 1]
        chans = csr.indices[start:stop]
        f_chan[i], n_chan[i] = chans.min(), chans.max() - chans.min() + 1
        dense = np.zeros(n_chan[i], dtype=np.float32)
        dense[chans - chans.min()] = csr.data[start:stop]
        rows.append(dense)
    columns = [
        fits.Column("ENERG_LO", "E", unit="keV", array=edges[:-1]),
        fits.Column("ENERG_HI", "E", unit="keV", array=edges[1:]),
        fits.Column("N_GRP", "I", array=np.ones(n, dtype=np.int16)),
        fits.Column("F_CHAN", "J", array=f_chan),
        fits.Column("N_CHAN", "J", array=n_chan),
        fits.Column("MATRIX", "PE()", array=np.array(rows, dtype=object)),
    ]
    mat = fits.BinTableHDU.from_columns(columns, name="MATRIX")
    channel = np.arange(detchans, dtype=np.int32)
    ebounds = fits.BinTableHDU.from_columns(
        [
            fits.Column("CHANNEL", "J", array=channel),
            fits.Column("E_MIN", "E", unit="keV", array=channel * specdelt_ev / 1e3),
            fits.Column("E_MAX", "E", unit="keV", array=(channel + 1) * specdelt_ev / 1e3),
        ],
        name="EBOUNDS",
    )
    common = [
        ("TELESCOP", "XMM", "mission name"),
        ("INSTRUME", instrume, "instrument"),
        ("FILTER", filter_name, "filter"),
        ("CHANTYPE", "PI", "channels are energy-corrected (PI)"),
        ("DETCHANS", detchans, "total number of detector channels"),
        ("HDUCLASS", "OGIP", "format conforms to OGIP standard"),
        ("HDUCLAS1", "RESPONSE", "dataset relates to spectral response"),
        ("ORIGIN", "XMM Explorer synthetic demo data", "not a calibration product"),
    ]
    for hdu, extra in (
        (
            mat,
            [
                ("HDUCLAS2", "RSP_MATRIX", ""),
                ("HDUCLAS3", "REDIST", "no effective area in it"),
                ("HDUVERS", "1.3.0", ""),
            ],
        ),
        (ebounds, [("HDUCLAS2", "EBOUNDS", ""), ("HDUVERS", "1.2.0", "")]),
    ):
        for key, value, comment in common + extra:
            hdu.header[key] = (value, comment)
    mat.header["TLMIN4"] = (0, "first channel")
    mat.header["TLMAX4"] = (detchans - 1, "last channel")
    mat.header["LO_THRES"] = (0.0, "matrix elements below this were dropped")
    primary = fits.PrimaryHDU()
    for key, value, comment in common[:3]:
        primary.header[key] = (value, comment)
    return fits.HDUList([primary, mat, ebounds])


#: File names a folder of canned responses is searched for (any case; gzip allowed).
RESPONSE_SUFFIXES = (".rmf", ".rsp", ".rmf.gz", ".rsp.gz", ".ftz")


def _response_index(folder: Path) -> list[tuple[Path, str, str, int]]:
    """(path, INSTRUME, FILTER, DETCHANS) of every response in ``folder`` (read from the MATRIX headers)."""
    out = []
    for path in sorted(folder.iterdir()) if folder.is_dir() else []:
        if not path.name.lower().endswith(RESPONSE_SUFFIXES) or path.name.startswith("."):
            continue
        try:
            header = fits.getheader(path, "MATRIX")
        except (OSError, KeyError, IndexError):
            continue
        out.append(
            (
                path,
                str(header.get("INSTRUME", "")).strip().upper(),
                str(header.get("FILTER", "")).strip().upper(),
                int(header.get("DETCHANS", -1)),
            )
        )
    return out


def find_response(folder: str | Path, respfile: str, instrume: str, filter_name: str, nchannels: int) -> Path | str:
    """The canned response of a spectrum in ``folder``, or one sentence saying why there is none.

    First the file the spectrum's ``RESPFILE`` names (the SSC's canned-response names encode
    instrument, mode, pattern and position), then a response of the same instrument and number
    of channels, with the same filter if there is one.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return f"no folder of canned responses at {folder}"
    wanted = Path(respfile).name.lower()
    index = _response_index(folder)
    for path, *_ in index:
        if wanted and path.name.lower() == wanted:
            return path
    same = [row for row in index if row[1] == instrume.upper() and row[3] == nchannels]
    same.sort(key=lambda row: row[2] != filter_name.upper())
    if same:
        return same[0][0]
    return f"no canned response for {instrume} ({respfile or 'no RESPFILE'}, {nchannels} channels) in {folder}"
