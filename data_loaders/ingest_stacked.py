"""Ingest a stacked catalogue (4XMM-DRns, 5XMM: summary + observation rows) into a release.

The release has the same files as a per-detection one (``release.json`` with
``kind = 'stacked'``), so ``Catalogue`` loads it unchanged:

* ``detections.parquet``: one row per (source, observation), upper-limit rows included and
  marked by ``UPPER_LIMIT``; every column of the file plus the per-detection aliases of
  :data:`stacked_schema.DETECTION_ALIASES`, ``DETID``, ``N_DETECTIONS`` and
  ``SC_EP_8_FLUX``; HEALPix-ordered like ``ingest``.
* ``sources.parquet``: one row per SRCID with the Explore page's ``SC_*`` names
  (mapping in :data:`stacked_schema.SOURCE_MAPPING`).
* ``longterm.parquet``: ``schema.LONGTERM_COLUMNS``: every observation row as an XMM point,
  fluxes and 3-sigma upper limits, so the Source view and the alert task see the limits.
* ``observations.parquet`` (when given or found beside the file) for coverage and limits.
"""

from __future__ import annotations

import datetime as dt
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import astropy.units as u
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from astropy.coordinates import SkyCoord
from astropy.io import fits

from data_loaders import schema, stacked_schema
from data_loaders.catalogue_kind import SUMMARY_COLUMNS, CatalogueKind, recognise
from data_loaders.errors import IngestError
from data_loaders.ingest import (
    HPX_COLUMN,
    HPX_NSIDE,
    INGEST_VERSION,
    ROW_GROUP_SIZE,
    IngestReport,
    _arrow_column,
    _copy_added_table,
    _hpx_order,
    check_added_table,
    find_added,
    install_release,
    release_name,
    releases_dir,
    write_release_meta,
)
from data_loaders.ingest_checks import check_columns, duplicate_sentence, duplicated, open_fits_table

XMM_BAND = "0.2-12.0"
VARIABLE_PROB = 1e-5


@dataclass
class StackedIngestReport(IngestReport):
    """An ingest report that also counts upper limits and summary rows."""

    n_upper_limits: int = 0
    n_summary_rows: int = 0

    def summary(self) -> str:
        head = (
            f"Stacked release {self.name}: {self.n_detections:,} observation rows "
            f"({self.n_detections - self.n_upper_limits:,} detections, {self.n_upper_limits:,} upper limits) "
            f"of {self.n_sources:,} sources, {self.n_summary_rows:,} summary rows -> {self.path}"
        )
        rest = super().summary().split("\n")[1:]
        return "\n".join([head, *rest])


def is_stacked_file(path: Path) -> bool:
    """True if ``path`` is a FITS table recognised as a stacked catalogue (:mod:`catalogue_kind`)."""
    try:
        hdul, hdu = open_fits_table(path)
    except IngestError:
        return False
    with hdul:
        try:
            return recognise(hdu, hdul[0].header, Path(path).name).stacked
        except IngestError:
            return False


def read_stacked(fits_path: Path) -> tuple[pd.DataFrame, dict[str, str], fits.Header]:
    """Every row and column of a stacked FITS file (nulls kept), the FITS units, the header.

    IngestError (one sentence) for a file that is not a complete stacked catalogue or whose
    first-class columns have the wrong type or unit.
    """
    fits_path = Path(fits_path)
    hdul, hdu = open_fits_table(fits_path)
    with hdul:
        kind = recognise(hdu, hdul[0].header, fits_path.name)
        if not kind.stacked:
            raise IngestError(f"{fits_path.name} is a {kind.label}, not a stacked catalogue.")
        check_columns(hdu, stacked_schema.STACKED_BY_NAME, fits_path.name)
        arrays = {c.name: _arrow_column(c, hdu.data.field(c.name), c.null) for c in hdu.columns}
        units = {c.name: str(c.unit) for c in hdu.columns if c.unit}
        header = hdu.header.copy()
        for key in ("CATALOG", "SYNTHETC"):  # some files keep these in the primary header only
            if key not in header and key in hdul[0].header:
                header[key] = hdul[0].header[key]
    frame = pa.table(arrays).to_pandas()
    return frame, units, header


def _split(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(summary rows, observation rows): summary rows have no OBS_ID or a non-null N_CONTRIB / N_OBS."""
    summary = frame["OBS_ID"].isna()
    for col in SUMMARY_COLUMNS:
        if col in frame:
            summary |= frame[col].notna()
    obs = frame.loc[~summary].copy()
    if "UPPER_LIMIT" in obs:
        obs["UPPER_LIMIT"] = obs["UPPER_LIMIT"].fillna(False).astype(bool)
    else:
        obs["UPPER_LIMIT"] = False
    return frame.loc[summary].drop_duplicates("SRCID"), obs


def _detids(obs: pd.DataFrame) -> np.ndarray:
    """The file's own DETID where every observation row has one, else
    DETID_BASE + OBS_ID * 1e5 + rank of SRCID within its observation."""
    if "DETID" in obs and obs["DETID"].notna().all():
        return obs["DETID"].to_numpy(np.int64)
    obs_num = pd.to_numeric(obs["OBS_ID"], errors="coerce").fillna(0).to_numpy(np.int64)
    rank = obs.groupby("OBS_ID", sort=False)["SRCID"].rank(method="first").fillna(0).to_numpy(np.int64)
    return stacked_schema.DETID_BASE + obs_num * 10**5 + rank


def _f64(series: pd.Series) -> np.ndarray:
    return pd.to_numeric(series, errors="coerce").to_numpy(np.float64, na_value=np.nan)


def derive_sources(summary: pd.DataFrame, obs: pd.DataFrame) -> pd.DataFrame:
    """One row per SRCID with the per-detection catalogue's SC_* names (see SOURCE_MAPPING)."""
    stack_cols = [c for c in obs.columns if c not in ("OBS_ID", "UPPER_LIMIT")]
    base = summary if len(summary) else obs.drop_duplicates("SRCID")[stack_cols]
    base = pd.concat([base, obs.loc[~obs.SRCID.isin(base.SRCID), stack_cols].drop_duplicates("SRCID")])
    base = base.set_index("SRCID").sort_index()
    det = obs.loc[~obs["UPPER_LIMIT"]]
    out = pd.DataFrame(index=base.index)
    out["IAUNAME"] = base.get("IAUNAME", pd.NA)
    out["SC_RA"], out["SC_DEC"] = _f64(base["RA"]), _f64(base["DEC"])
    poserr = base["POSERR"] if "POSERR" in base else base.get("RADEC_ERR")
    out["SC_POSERR"] = _f64(poserr) if poserr is not None else np.nan
    ml = base["STACK_DET_ML"] if "STACK_DET_ML" in base else base.get("EP_DET_ML")
    out["SC_DET_ML"] = _f64(ml) if ml is not None else np.nan
    # Fluxes: the combined fit of the summary row; without one, the error-weighted mean of detections.
    for band, col in [(b, f"EP_{b}_FLUX") for b in schema.BASIC_BANDS] + [(8, "EP_FLUX")]:
        if col not in obs:
            continue
        if len(summary):
            f, e = _f64(base[col]), _f64(base[f"{col}_ERR"])
        else:
            with np.errstate(divide="ignore"):
                w = 1.0 / _f64(det[f"{col}_ERR"]) ** 2
            w = np.where(np.isfinite(w) & np.isfinite(_f64(det[col])), w, 0.0)
            t = pd.DataFrame({"w": w, "wf": w * np.nan_to_num(_f64(det[col]))}).groupby(det.SRCID.to_numpy()).sum()
            t = t.reindex(out.index)
            with np.errstate(divide="ignore", invalid="ignore"):
                f = np.where(t.w > 0, t.wf / t.w, np.nan)
                e = np.where(t.w > 0, 1 / np.sqrt(t.w), np.nan)
        out[f"SC_EP_{band}_FLUX"], out[f"SC_EP_{band}_FLUX_ERR"] = f, e
    flux = pd.Series(_f64(det["EP_FLUX"]), index=det.index)
    ok = flux.notna()
    g = flux[ok].groupby(det.SRCID[ok])
    for name, idx in (("FMIN", g.idxmin()), ("FMAX", g.idxmax())):
        rows = det.loc[idx.to_numpy()]
        out[f"SC_EP_8_{name}"] = pd.Series(_f64(rows["EP_FLUX"]), index=rows.SRCID.to_numpy())
        out[f"SC_EP_8_{name}_ERR"] = pd.Series(_f64(rows["EP_FLUX_ERR"]), index=rows.SRCID.to_numpy())
    for i in range(1, 5):
        if f"EP_HR{i}" in base:
            out[f"SC_HR{i}"], out[f"SC_HR{i}_ERR"] = _f64(base[f"EP_HR{i}"]), _f64(base[f"EP_HR{i}_ERR"])
    if "EXTENT" in base:
        out["SC_EXTENT"] = _f64(base["EXTENT"])
    if "SUM_FLAG" in obs:
        flags = pd.concat([summary[["SRCID", "SUM_FLAG"]], obs[["SRCID", "SUM_FLAG"]]])
        out["SC_SUM_FLAG"] = flags.groupby("SRCID")["SUM_FLAG"].max().reindex(out.index).astype("Int16")
    if "VAR_PROB" in base:
        vp = _f64(base["VAR_PROB"])
        out["SC_CHI2PROB"] = vp
        out["SC_VAR_FLAG"] = np.nan_to_num(vp, nan=1.0) <= VARIABLE_PROB
        out["VAR_PROB"] = vp
    for col in ("FRATIO", "STACK_DET_ML"):
        if col in base:
            out[col] = _f64(base[col])
    n_det = det.groupby("SRCID").size().reindex(out.index, fill_value=0)
    n_ul = obs.loc[obs["UPPER_LIMIT"]].groupby("SRCID").size().reindex(out.index, fill_value=0)
    n_rows = obs.groupby("SRCID").size().reindex(out.index, fill_value=0)
    out["N_DETECTIONS"] = n_det.to_numpy(np.int32)
    out["N_UPPER_LIMITS"] = n_ul.to_numpy(np.int32)
    n_contrib = base["N_CONTRIB"] if "N_CONTRIB" in base and len(summary) else None
    out["N_CONTRIB"] = (
        pd.array(n_contrib.to_numpy(), dtype="Int32").fillna(n_rows.to_numpy())
        if n_contrib is not None
        else n_rows.to_numpy(np.int32)
    )
    if "N_OBS" in base and len(summary):
        out["N_OBS"] = pd.array(base["N_OBS"].to_numpy(), dtype="Int32")
    if "MJD_START" in det:
        mjd = pd.Series(_f64(det["MJD_START"]), index=det.index).groupby(det.SRCID)
        out["MJD_FIRST"], out["MJD_LAST"] = mjd.min(), mjd.max()
    ra, dec = out["SC_RA"].to_numpy(), out["SC_DEC"].to_numpy()
    hpx, _, bad = _hpx_order(ra, dec)
    gal = SkyCoord(np.where(bad, 0, ra) * u.deg, np.where(bad, 0, dec) * u.deg).galactic
    out["LII"], out["BII"] = np.where(bad, np.nan, gal.l.deg), np.where(bad, np.nan, gal.b.deg)
    out[HPX_COLUMN] = hpx
    return out.reset_index()


def derive_longterm(obs: pd.DataFrame) -> pd.DataFrame:
    """Every observation row as a long-term XMM point (schema.LONGTERM_COLUMNS, 0.2-12 keV)."""
    ul = obs["UPPER_LIMIT"].to_numpy(bool)
    start, stop = _f64(obs["MJD_START"]), _f64(obs["MJD_STOP"]) if "MJD_STOP" in obs else None
    mjd = start if stop is None else np.where(np.isfinite(stop), 0.5 * (start + stop), start)
    ul_flux = _f64(obs["EP_FLUX_UL"]) if "EP_FLUX_UL" in obs else np.full(len(obs), np.nan)
    frame = pd.DataFrame(
        {
            "SRCID": obs["SRCID"].to_numpy(np.int64),
            "MISSION": pd.array(np.full(len(obs), "XMM"), dtype="str"),
            "OBS_ID": pd.array(obs["OBS_ID"].to_numpy(), dtype="str"),
            "MJD": mjd,
            "FLUX": np.where(ul, ul_flux, _f64(obs["EP_FLUX"])).astype(np.float32),
            "FLUX_ERR": np.where(ul, np.nan, _f64(obs["EP_FLUX_ERR"])).astype(np.float32),
            "UPPER_LIMIT": ul,
            "BAND": pd.array(np.full(len(obs), XMM_BAND), dtype="str"),
        }
    )
    return frame.sort_values(["SRCID", "MJD"], kind="stable").reset_index(drop=True)


def _with_metadata(table: pa.Table, fits_units: dict[str, str]) -> pa.Table:
    fields = []
    for f in table.schema:
        unit = fits_units.get(f.name) or stacked_schema.unit_of(f.name) or schema.unit_of(f.name)
        desc = stacked_schema.describe(f.name) or schema.describe(f.name)
        if f.name == HPX_COLUMN:
            desc = f"HEALPix nested index, nside {HPX_NSIDE} (-1: no valid position)"
        meta = {k: v for k, v in ((b"unit", unit), (b"description", desc)) if v}
        fields.append(f.with_metadata({k: str(v).encode() for k, v in meta.items()}))
    return table.cast(pa.schema(fields, metadata={b"xmm_explorer_ingest": str(INGEST_VERSION).encode()}))


def _detections_table(obs: pd.DataFrame, sources: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    det = obs.copy()
    for stacked, alias in stacked_schema.DETECTION_ALIASES.items():
        if stacked in det and alias not in det:
            det[alias] = det[stacked]
    detid = _detids(det)
    det = det.drop(columns=["DETID"], errors="ignore")
    det.insert(0, "DETID", detid)
    by_src = sources.set_index("SRCID")
    for col in ("N_DETECTIONS", "SC_EP_8_FLUX", "SC_RA", "SC_DEC"):
        if col in by_src:
            det[col] = by_src[col].reindex(det["SRCID"].to_numpy()).to_numpy()
    hpx, order, bad = _hpx_order(_f64(det["RA"]), _f64(det["DEC"]))
    det[HPX_COLUMN] = hpx
    return det.iloc[order].reset_index(drop=True), int(bad.sum())


def _dates_from_observations(obs: pd.DataFrame, observations: Path | None) -> list[str]:
    """Fill MJD_START/MJD_STOP of observation rows from the observation table when the file has none."""
    if "MJD_START" in obs:
        return []
    if observations is not None:
        table = pd.read_parquet(observations, columns=None)
        if {"OBS_ID", "MJD_START"} <= set(table.columns):
            by_obs = table.drop_duplicates("OBS_ID").set_index("OBS_ID")
            for col in ("MJD_START", "MJD_STOP"):
                if col in by_obs:
                    obs[col] = by_obs[col].reindex(obs["OBS_ID"].astype(str).to_numpy()).to_numpy(np.float64)
            return [f"MJD_START/MJD_STOP taken from {Path(observations).name} by OBS_ID (the file has none)."]
    return [
        "The file has no MJD_START and no observation table was given: its XMM points have no date, "
        "so the long-term lightcurve shows only the other missions' points (if any)."
    ]


def ingest_stacked(
    fits_path: Path,
    data_dir: Path,
    name: str | None = None,
    *,
    title: str | None = None,
    added: dict[str, Path] | None = None,
    products: Path | None = None,
    observations: Path | None = None,
    synthetic: bool | None = None,
    drop_duplicates: bool = False,
    kind: CatalogueKind | None = None,
    progress: bool = False,
) -> StackedIngestReport:
    """Ingest a stacked FITS catalogue as release ``name`` under ``data_dir/releases``.

    Takes the options of :func:`data_loaders.ingest.ingest`: ``added`` tables (a given
    long-term table is merged with the file's own XMM points), ``products``, ``observations``
    (OBS_ID, RA_PNT, DEC_PNT, MJD_START, ONTIMEs...; ``<stem without _cat>_observations.parquet``
    beside the file is found automatically). An observation row repeating (SRCID, OBS_ID) is
    refused unless ``drop_duplicates``.
    """
    from data_loaders import release_swap
    from data_loaders.coverage import attach_observations

    del progress  # one pass over memory-mapped columns; nothing long enough to show
    t0 = time.perf_counter()
    fits_path = Path(fits_path)
    root = releases_dir(data_dir)
    release_swap.clean_stale(root)
    frame, fits_units, header = read_stacked(fits_path)
    if kind is None:
        hdul, hdu = open_fits_table(fits_path)
        with hdul:
            kind = recognise(hdu, hdul[0].header, fits_path.name)
    if synthetic is None:
        synthetic = bool(header.get("SYNTHETC", False))
    name = release_name(name, header, fits_path)
    added = find_added(fits_path, added)
    for table_kind, path in added.items():
        check_added_table(table_kind, path)
    if observations is None:
        candidate = fits_path.with_name(f"{fits_path.stem.removesuffix('_cat')}_observations.parquet")
        observations = candidate if candidate.exists() else None
    summary, obs = _split(frame)
    if obs.empty:
        raise IngestError(f"{fits_path.name} has no observation rows (every row has N_CONTRIB or N_OBS set).")
    notes = []
    key = obs["SRCID"].astype(str).to_numpy() + ":" + obs["OBS_ID"].astype(str).to_numpy()
    repeat = duplicated(key)
    if repeat.any() and not drop_duplicates:
        raise IngestError(duplicate_sentence(fits_path.name, "SRCID and OBS_ID", key, repeat))
    if repeat.any():
        obs = obs.loc[~repeat].copy()
        notes.append(f"{int(repeat.sum()):,} observation rows repeating a (SRCID, OBS_ID) dropped (first kept).")
    notes += _dates_from_observations(obs, observations)
    sources = derive_sources(summary, obs)
    det, n_bad = _detections_table(obs, sources)
    longterm = derive_longterm(obs) if "MJD_START" in obs else None
    if "longterm" in added:
        given = pd.read_parquet(added.pop("longterm"))
        longterm = given if longterm is None else pd.concat([longterm, given], ignore_index=True)
        longterm = longterm.sort_values(["SRCID", "MJD"], kind="stable").reset_index(drop=True)

    tmp = release_swap.build_dir(root, name)
    try:
        (tmp / schema.DETECTIONS_DIR).mkdir()
        det_table = _with_metadata(pa.Table.from_pandas(det, preserve_index=False), fits_units)
        pq.write_table(
            det_table, tmp / schema.DETECTIONS_DIR / "part-0.parquet", compression="zstd", row_group_size=ROW_GROUP_SIZE
        )
        src_table = _with_metadata(pa.Table.from_pandas(sources, preserve_index=False), {})
        pq.write_table(src_table, tmp / schema.SOURCES_FILE, compression="zstd", row_group_size=ROW_GROUP_SIZE)
        tables = []
        if longterm is not None:
            lt_table = _with_metadata(pa.Table.from_pandas(longterm, preserve_index=False), {})
            pq.write_table(lt_table, tmp / schema.LONGTERM_FILE, compression="zstd")
            tables.append("longterm")
        for table_kind, path in added.items():
            _copy_added_table(table_kind, path, tmp)
            tables.append(table_kind)
        if observations is not None:
            attach_observations(tmp, observations)
            tables.append("observations")
        n_ul = int(obs["UPPER_LIMIT"].sum())
        from data_loaders.spectral.columns import add_fit_columns

        band_fit = add_fit_columns(tmp)  # derived columns: the five-band power-law fit (PL_*)
        meta = {
            "name": name,
            "title": title or str(header.get("CATALOG", f"4XMM-{name}")),
            "synthetic": synthetic,
            "kind": "stacked",
            "kind_label": kind.label,
            "source_file": str(fits_path.resolve()),
            "ingested": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "ingest_version": INGEST_VERSION,
            "n_detections": len(det),
            "n_measurements": len(det) - n_ul,
            "n_upper_limits": n_ul,
            "n_summary_rows": len(summary),
            "n_sources": len(sources),
            "n_bad_coordinates": n_bad,
            "n_duplicates_dropped": int(repeat.sum()),
            "n_columns": len(frame.columns),
            "healpix_nside": HPX_NSIDE,
            "added_tables": sorted(tables),
            "products": str(Path(products).resolve()) if products else None,
            "notes": notes,
            "band_fit": band_fit,
        }
        write_release_meta(tmp, meta)
        final = root / name
        install_release(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return StackedIngestReport(
        name=name,
        path=final,
        n_detections=len(det),
        n_sources=len(sources),
        n_columns=len(frame.columns),
        n_bad_coordinates=n_bad,
        added_tables=sorted(tables),
        seconds=time.perf_counter() - t0,
        kind_label=kind.label,
        notes=notes,
        n_upper_limits=n_ul,
        n_summary_rows=len(summary),
    )
