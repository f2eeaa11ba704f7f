"""Capabilities: column groups derived from a release's columns, recorded at ingest, declared by engines."""

import json

from data_loaders import capabilities, schema
from data_loaders.capabilities import Capabilities, from_columns, of_release
from data_loaders.catalogue import Catalogue

FULL_DET = {c for g in capabilities.GROUPS.values() for c in g.detections}
FULL_SRC = {c for g in capabilities.GROUPS.values() for c in g.sources}
FULL_TABLES = {g.table: set(g.table_columns) for g in capabilities.GROUPS.values() if g.table}


def test_every_group_present_when_all_columns_are():
    caps = from_columns(FULL_DET, FULL_SRC, FULL_TABLES)
    assert caps.absent == {}
    assert all(caps.has(name) for name in capabilities.GROUPS)


def test_missing_columns_name_the_columns_in_one_sentence():
    caps = from_columns(FULL_DET - {"EP_HR2", "EP_HR3"}, FULL_SRC, FULL_TABLES)
    assert not caps.has(capabilities.HARDNESS)
    assert caps.reason(capabilities.HARDNESS) == (
        "No hardness-ratio diagram: this release has no EP_HR2, EP_HR3 columns."
    )
    assert caps.has(capabilities.SOURCE_HARDNESS) and caps.reason(capabilities.SOURCE_HARDNESS) == ""


def test_partial_classification_table_is_absent_with_its_columns_named():
    tables = dict(FULL_TABLES, **{schema.CLASSIFICATIONS_FILE: {"SRCID", "PbaC0", "PbaC1", "prediction"}})
    caps = from_columns(FULL_DET, FULL_SRC, tables)
    reason = caps.reason(capabilities.CLASSIFICATIONS)
    assert reason.startswith("No classification: its classifications table has no PbaC2, PbaC3")
    no_table = from_columns(FULL_DET, FULL_SRC, {})
    assert no_table.reason(capabilities.COUNTERPARTS) == (
        "No counterparts list: this release has no counterparts table."
    )


def test_engine_declarations_combine_with_release_groups():
    release = from_columns(FULL_DET - {"EP_EXTENT"}, FULL_SRC, FULL_TABLES)
    engine = Capabilities().without("sort_all_rows", "Sorting every row is not possible on Dask.")
    caps = release | engine
    assert not caps.has("sort_all_rows") and not caps.has(capabilities.EXTENT)
    assert caps.first_reason(capabilities.HARDNESS, "sort_all_rows") == "Sorting every row is not possible on Dask."
    assert release.has("sort_all_rows")  # immutable: the release's own object is unchanged
    assert Capabilities.from_meta(json.loads(json.dumps(caps.to_meta()))) == caps


def test_ingest_records_groups_and_old_releases_derive_them(demo_data_dir):
    path = demo_data_dir / "releases" / "DEMO"
    meta = json.loads((path / schema.RELEASE_META_FILE).read_text())
    assert capabilities.HARDNESS in meta["capabilities"]["present"]
    # observations.parquet is attached after ingest (attach_observations): found on disk.
    assert capabilities.OBSERVATIONS in meta["capabilities"]["absent"]
    assert of_release(path).has(capabilities.OBSERVATIONS)
    # A release.json written before capabilities were recorded: the same answer from the Parquet schemas.
    assert of_release(path) == of_release(path, {k: v for k, v in meta.items() if k != "capabilities"})
    assert Catalogue(path).capabilities == of_release(path)
