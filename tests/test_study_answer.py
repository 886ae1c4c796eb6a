"""``snnlab.study.answer``: the study's answer from a store or a shipped artefact, and the README block."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from snnlab.study import notebook_config
from snnlab.study.answer import (README_END, README_START, Answer, answer_markdown, artefact_answer,
                                 paper_claim_sentences, readme_block, study_answer, write_readme_block)
from snnlab.study.artefact import export_results
from snnlab.study.campaign import train_comparison

REPO = Path(__file__).resolve().parents[1]


def test_the_readme_shows_exactly_what_the_shipped_artefact_says() -> None:
    """The README's answer block is `snnlab results answer results/paper`: rerun it after a new export."""
    block = readme_block(REPO / "README.md")
    assert block is not None, "README.md lost its answer markers"
    assert block == answer_markdown(artefact_answer(REPO / "results" / "paper"))


def test_answer_of_a_store_and_of_its_export_agree(tmp_path) -> None:
    cfg = notebook_config("smoke", device="cpu", store_path=tmp_path / "s.sqlite", data_root=tmp_path)
    empty = study_answer(cfg)
    assert empty.table.empty and empty.finished == []
    assert "0 of 1 settings finished" in answer_markdown(empty)
    train_comparison(cfg, log=lambda line: None)
    answer = study_answer(cfg)
    assert answer.finished == ["digits · 256 · spiking_mlp"]
    assert set(answer.table["condition"]) == {"standard", "temporal"} and answer.table["p"].notna().all()
    text = answer_markdown(answer)
    assert "1 of 1 settings finished" in text and "| standard (per step) | 0.3 |" in text
    export_results(cfg.store(), tmp_path / "art", profile="smoke")
    assert answer_markdown(artefact_answer(tmp_path / "art")) == text


def test_an_artefact_without_a_profile_is_refused(tmp_path) -> None:
    cfg = notebook_config("smoke", device="cpu", store_path=tmp_path / "s.sqlite", data_root=tmp_path)
    train_comparison(cfg, log=lambda line: None)
    export_results(cfg.store(), tmp_path / "art")
    with pytest.raises(ValueError, match="names no profile"):
        artefact_answer(tmp_path / "art")


def _answer(verdicts: dict[str, str], setting: str) -> Answer:
    table = pd.DataFrame({"setting": setting, "condition": list(verdicts), "label": [f"{k} label" for k in verdicts],
                          "verdict": list(verdicts.values())})
    coverage = [{"setting": setting, "stage": st, "trials": 1, "stored": 1} for st in ("learning rates", "conditions")]
    return Answer("paper", table, pd.DataFrame(), coverage, [])


def test_paper_claim_sentences_say_reproduced_partly_or_not() -> None:
    both = _answer({"standard": "hurts", "feature_alpha": "hurts", "dropconnect": "helps"}, "mnist · 1k · delayed_snn")
    assert paper_claim_sentences(both) == [
        "mnist · 1k · delayed_snn: the paper's finding that classic dropout lowers accuracy is reproduced "
        "(hurts: standard label, feature_alpha label)."]
    one = _answer({"standard": "hurts", "feature_alpha": "no difference"}, "mnist · 1k · spiking_mlp")
    assert "is partly reproduced (on spiking_mlp, not the paper's own network)" in paper_claim_sentences(one)[0]
    none = _answer({"standard": "inconclusive", "alpha": "duplicate"}, "mnist · 1k · delayed_snn")
    assert "is not reproduced (inconclusive: standard label)" in paper_claim_sentences(none)[0]


def test_write_readme_block_replaces_only_the_block(tmp_path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(f"# title\n\n{README_START}\nold\n{README_END}\n\nafter\n", encoding="utf-8")
    assert write_readme_block(readme, "new line\n")
    assert readme.read_text(encoding="utf-8") == f"# title\n\n{README_START}\nnew line\n{README_END}\n\nafter\n"
    assert not write_readme_block(readme, "new line\n")
    assert readme_block(readme) == "new line\n"
    readme.write_text("no markers\n", encoding="utf-8")
    with pytest.raises(ValueError, match="answer markers|no block between"):
        write_readme_block(readme, "x\n")
    assert readme_block(readme) is None


def test_an_export_records_the_coverage_of_its_profile(tmp_path) -> None:
    cfg = notebook_config("smoke", device="cpu", store_path=tmp_path / "s.sqlite", data_root=tmp_path)
    train_comparison(cfg, log=lambda line: None)
    manifest = export_results(cfg.store(), tmp_path / "art", profile="smoke")
    assert [(c["stage"], c["trials"], c["stored"]) for c in manifest.data["coverage"]] == [
        ("learning rates", 1, 1), ("conditions", 2, 2)]
    assert export_results(cfg.store(), tmp_path / "bare").data["coverage"] is None
