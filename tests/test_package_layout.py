"""The project's layout rule: every source module has its test module, ``tests/test_<pkg>_<mod>.py`` for
``snnlab/<pkg>/<mod>.py`` and ``tests/test_<mod>.py`` for a top-level ``snnlab/<mod>.py``."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PKG = REPO / "snnlab"
TESTS = REPO / "tests"
EXCEPTED = {"__init__.py", "__main__.py"}


def _sources() -> list[Path]:
    return sorted(p for p in PKG.rglob("*.py") if p.name not in EXCEPTED and "__pycache__" not in p.parts)


def expected_test(source: Path) -> Path:
    parts = source.relative_to(PKG).with_suffix("").parts
    return TESTS / f"test_{'_'.join(parts)}.py"


def test_the_rule_names() -> None:
    assert expected_test(PKG / "recording.py") == TESTS / "test_recording.py"
    assert expected_test(PKG / "study" / "sweep.py") == TESTS / "test_study_sweep.py"
    assert len(_sources()) > 10


@pytest.mark.parametrize("source", _sources(), ids=lambda p: str(p.relative_to(PKG)))
def test_every_source_module_has_its_test_module(source: Path) -> None:
    test = expected_test(source)
    assert test.is_file(), f"{source.relative_to(REPO)} has no test module: {test.relative_to(REPO)} is missing"
