"""The package's import structure: no module imports a higher layer; models and blocks never
branch on a dropout method's class or flags; dropout never reaches into a model."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "snnlab"

# Lowest first. A module may import its own package and any lower layer, never a higher one.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("validation", "device", "generators", "native"),
    ("functional", "encoding", "recording"),
    ("neurons",),
    ("dropout",),
    ("blocks",),
    ("models",),
)
TOP = len(LAYERS)  # everything else (data, train, analysis, plots, widgets, study, cli, ...)


def _top_name(module: str) -> str:
    return module.split(".")[1] if module.startswith("snnlab.") and module.count(".") >= 1 else ""


def _layer(name: str) -> int:
    for i, names in enumerate(LAYERS):
        if name in names:
            return i
    return TOP


def _modules() -> list[Path]:
    return sorted(p for p in PKG.rglob("*.py") if "__pycache__" not in p.parts)


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append(node.module)
        elif isinstance(node, ast.Import):
            out.extend(a.name for a in node.names)
    return [m for m in out if m.startswith("snnlab.")]


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PKG)))
def test_no_module_imports_a_higher_layer(path: Path) -> None:
    rel = path.relative_to(PKG)
    own = rel.parts[0].removesuffix(".py")
    level = _layer(own)
    for module in _imports(path):
        target = _top_name(module)
        if target == own:
            continue
        assert _layer(target) < level or (level == TOP and _layer(target) == TOP), (
            f"snnlab/{rel} (layer {level}) imports {module} (layer {_layer(target)})"
        )


FLAG = re.compile(r"\b(acts_on|needs_weight|needs_membrane|membrane_summary|probability_map|family|mask_weight)\b")


@pytest.mark.parametrize("path", sorted((PKG / "models").glob("*.py")) + sorted((PKG / "blocks").glob("*.py")),
                         ids=lambda p: str(p.relative_to(PKG)))
def test_models_and_blocks_never_branch_on_a_dropout_method(path: Path) -> None:
    src = path.read_text()
    assert "hasattr(" not in src, f"{path.name}: a hasattr protocol"
    assert not re.search(r"isinstance\([^)]*(Dropout|DropConnect)", src), f"{path.name}: branches on a method's class"
    assert not FLAG.search(src), f"{path.name}: reads a method's flag ({FLAG.search(src).group(0)})"
    # The only thing a block reads of its method is what the method declared it needs.
    if path.name == "block.py":
        assert src.count("self.dropout.membrane") == 1


def test_dropout_never_reaches_into_a_model() -> None:
    for path in sorted((PKG / "dropout").glob("*.py")):
        for module in _imports(path):
            assert _top_name(module) not in ("models", "blocks", "train", "study"), f"{path.name} imports {module}"
