"""The Source header's one line of what is known: only the facts present, every text made inert at the pane."""

from __future__ import annotations

import pandas as pd

from app.views.source.known import SourceFacts, known_line
from app.views.source.summary import summary_html
from tests.shown import shown

EVERYTHING = SourceFacts(
    machine_class="AGN", machine_prob=0.87, citizen_class="star", citizen_votes=3, reviewer_labels=("OK",),
    gamma=1.9, gamma_lo=1.7, gamma_hi=2.15, nh=0.031, published_fit="PL Γ = 1.85 ± 0.10",
    redshift=1.234, redshift_lo=1.1, redshift_hi=1.4, log_lx=44.12,
    om_mags=(("UVW1", 19.04), ("U", 19.51)), om_class="AGN",
    counterpart=("Gaia DR3", "12345", 0.93), regions=(("S-DEMO", 0.9), ("S-DEMO-ring", 0.9)),
)  # fmt: skip


def test_a_source_with_everything_reads_in_one_line():
    line = known_line(EVERYTHING)
    assert line == (
        "Active galactic nucleus (machine, 87%); Star (citizens, 3 votes); reviewers: OK"
        " · five-band fit Γ = 1.90 (1.70–2.15), N_H = 0.031×10²² cm⁻²"
        " · published fit PL Γ = 1.85 ± 0.10"
        " · photometric z = 1.23 (1.10–1.40), log L_X = 44.1 (erg/s, 0.2–12 keV)"
        " · OM UVW1 19.0, U 19.5 AB (OM class Active galactic nucleus)"
        " · best counterpart Gaia DR3 12345 (P = 0.93)"
        " · inside the 90% region of S-DEMO, S-DEMO-ring"
    )
    assert "\n" not in line


def test_a_source_with_nothing_known_gets_no_line():
    assert known_line(SourceFacts()) == ""
    row = pd.Series({"SRCID": 7, "IAUNAME": "4XMM J000000.0+000000"})
    assert "xmm-known" not in summary_html(row, "DEMO", known="")


def test_hostile_text_in_a_counterpart_name_is_shown_as_text():
    name = "<img src=x onerror=alert(1)>[x](javascript:alert(2)) *b*"
    line = known_line(SourceFacts(counterpart=("<b>cat</b>", name, 0.5)))
    html = summary_html(pd.Series({"SRCID": 7, "IAUNAME": "n"}), "DEMO", known=line)
    assert "<img" not in html and "<b>cat" not in html and "javascript:" not in html
    assert f"best counterpart <b>cat</b> {name} (P = 0.50)" in shown(html)
