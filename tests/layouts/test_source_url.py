"""The Source page's URL: OBS_IDs stay 10-character strings both ways, links select their observation."""

from __future__ import annotations

from urllib.parse import parse_qsl

import pytest
from panel.io.location import Location

from app.views.source import SourceState
from data_loaders.catalogue import Catalogue
from layouts.source import UrlSync, create_page


@pytest.fixture(scope="module")
def catalogue(demo_data_dir):
    return Catalogue(demo_data_dir / "releases" / "DEMO")


def _two_sources(cat):
    """Two sources with several detections; the first one's observations listed oldest first."""
    counts = cat.detections.groupby("SRCID").size()
    a, b = (int(s) for s in counts[counts >= 2].index[:2])
    return a, b


def _query(location) -> dict[str, str]:
    return dict(parse_qsl(location.search.lstrip("?")))


def test_obs_ids_keep_their_leading_zeros_when_another_source_is_shown(catalogue):
    a, b = _two_sources(catalogue)
    state = SourceState(catalogue, srcid=a)
    obs = state.obs_id
    assert obs.startswith("00") and len(obs) == 10
    location = Location(search=f"?release=DEMO&srcid={a}&obs={obs}")
    UrlSync(state, location)
    assert _query(location) == {"release": "DEMO", "srcid": str(a), "obs": obs, "band": "8"}
    state.srcid = b
    query = _query(location)
    assert query["srcid"] == str(b) and query["obs"] == state.obs_id and query["obs"].startswith("00")
    state.band = 6  # any other change writes the query again: the OBS_ID stays as it is
    assert _query(location)["obs"] == state.obs_id and _query(location)["band"] == "6"
    assert "obs=00" in location.search


def test_a_link_selects_its_observation(catalogue):
    a, b = _two_sources(catalogue)
    det = catalogue.detections
    obs_a = sorted(det.loc[det["SRCID"] == a, "OBS_ID"].astype(str))
    default = SourceState(catalogue, srcid=a).obs_id
    wanted = next(o for o in obs_a if o != default)
    # Opening the page: the values of the URL, as the page script reads them.
    _, view = create_page(catalogue, srcid=str(a), obs=wanted)
    assert view.state.obs_id == wanted
    # The query as the browser sends it, then a link to another source and observation of it.
    location = Location(search=f"?srcid={a}&obs={wanted}")
    UrlSync(view.state, location)
    assert view.state.obs_id == wanted and _query(location)["obs"] == wanted
    obs_b = sorted(det.loc[det["SRCID"] == b, "OBS_ID"].astype(str))
    location.search = f"?srcid={b}&obs={obs_b[-1]}&band=7"
    assert (view.state.srcid, view.state.obs_id, view.state.band) == (b, obs_b[-1], 7)


def test_url_values_the_state_cannot_take_are_ignored(catalogue):
    a, _ = _two_sources(catalogue)
    state = SourceState(catalogue, srcid=a)
    obs = state.obs_id
    location = Location(search=f"?srcid=abc&obs={obs}&band=99&theme=dark")
    UrlSync(state, location)
    assert (state.srcid, state.obs_id, state.band) == (a, obs, 8)
    assert _query(location) == {"srcid": str(a), "obs": obs, "band": "8", "theme": "dark"}


def test_alert_links_mark_their_epochs_on_the_long_term_lightcurve(catalogue):
    from layouts.source import parse_epochs

    assert parse_epochs("58000.5,abc,inf,,58100") == [58000.5, 58100.0]
    assert parse_epochs("") == [] and len(parse_epochs(",".join(["1"] * 50))) == 20
    a, _ = _two_sources(catalogue)
    _, view = create_page(catalogue, srcid=str(a), epochs="58000.5,nan,58100")
    assert view.state.highlight_epochs == [58000.5, 58100.0]
