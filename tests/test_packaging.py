"""The conda environment installs the same pinned set as pyproject.toml."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

tomllib = pytest.importorskip("tomllib", reason="tomllib is in the standard library from Python 3.11")

REPO = Path(__file__).resolve().parents[1]


# Extras the conda environment leaves out on purpose: the benchmark peers (snnTorch, SpikingJelly)
# are only compared against, and SpikingJelly pulls in torchaudio, tensorboard and matplotlib.
NOT_IN_CONDA_ENV = ("bench", "browser")  # benchmark peers; the browser test's Playwright


def test_environment_yml_matches_pyproject():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    wanted = set(project["dependencies"])
    for name, extra in project["optional-dependencies"].items():
        if name not in NOT_IN_CONDA_ENV:
            wanted |= set(extra)
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    assert set(pip_section) - {"-e .[dev,cluster]"} == wanted
    assert "-e .[dev,cluster]" in pip_section
    assert "torch==2.14.1" in wanted and "torchvision==0.29.1" in wanted


def test_kernel_source_ships_with_the_package():
    """The fused dropout kernel is compiled from its C source at run time: a wheel must carry it."""
    data = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    for package, source in (("snnlab.dropout", "keep_affine.c"), ("snnlab.neurons", "lif.c")):
        assert "csrc/*.c" in data[package]
        assert (REPO / package.replace(".", "/") / "csrc" / source).is_file()
