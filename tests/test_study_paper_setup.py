"""snnlab.study.paper_setup: the paper's setup next to this study's, computed from the profile."""

from __future__ import annotations

from snnlab.study import notebook_config
from snnlab.study.paper_setup import NOT_STATED, PAPER_SETUP, setup_table


def test_table_rows_follow_the_paper_and_are_computed_from_the_profile(tmp_path) -> None:
    quick = setup_table(notebook_config("quick", data_root=tmp_path, store_path=tmp_path / "s.sqlite"))
    assert list(quick["aspect"]) == [a for a, _ in PAPER_SETUP]
    assert (quick["paper"] == [p for _, p in PAPER_SETUP]).all()
    row = quick.set_index("aspect")["this study"]
    assert "0.2, 0.5" in row["drop rate p"]
    assert "digits 300" in row["data"] and "digits full" in row["data"]
    assert "3 per condition" in row["seeds"]
    smoke = setup_table(notebook_config("smoke", seeds=2, data_root=tmp_path, store_path=tmp_path / "s.sqlite"))
    srow = smoke.set_index("aspect")["this study"]
    assert "2 per condition" in srow["seeds"] and "0.3" in srow["drop rate p"] and srow["data"] != row["data"]


def test_what_the_paper_does_not_state_is_marked() -> None:
    stated = dict(PAPER_SETUP)
    assert stated["optimiser and learning rate"] == NOT_STATED
    assert stated["seeds"].startswith("each experiment five times")
