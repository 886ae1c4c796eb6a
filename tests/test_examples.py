"""examples/: every sweep config is valid, the digits sweep really trains, and the GPU script's commands exist."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from snnlab.cli import EXIT_INCOMPLETE, build_parser
from snnlab.study.runner import run_trials
from snnlab.study.spec import TrialSpec
from snnlab.study.store import ResultsStore
from snnlab.study.sweep import load_sweep, summary_table

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
CONFIGS = sorted(EXAMPLES.glob("*.yaml")) + sorted(EXAMPLES.glob("*.yml"))
DIGITS = EXAMPLES / "sweep_digits.yaml"
GPU_SCRIPT = EXAMPLES / "paper_on_gpu.sh"


def test_the_examples_are_there():
    assert DIGITS in CONFIGS and GPU_SCRIPT.is_file()


@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: p.name)
def test_every_example_config_loads_into_valid_specs(config: Path):
    specs = load_sweep(config)
    assert specs and all(isinstance(s, TrialSpec) for s in specs)
    for spec in specs:
        spec.validate()  # again, explicitly: every trial could be built
    assert len({s.key for s in specs}) == len(specs), "a config must not list one trial twice"


def test_the_digits_example_is_the_grid_its_comments_describe():
    specs = load_sweep(DIGITS)
    assert {s.dataset for s in specs} == {"digits"} and {s.device for s in specs} == {"cpu"}
    conditions = sorted({(s.method, s.p) for s in specs})
    assert conditions == [("none", 0.0), ("standard", 0.1), ("standard", 0.3), ("temporal", 0.1), ("temporal", 0.3)]
    assert sorted({s.seed for s in specs}) == [0, 1] and len(specs) == 10


@pytest.mark.slow
def test_the_digits_example_trains_into_a_store(tmp_path: Path):
    """The sweep the README points to runs end to end (about 15 s on 2 CPU cores) and learns something."""
    specs = load_sweep(DIGITS)
    store = ResultsStore(tmp_path / "digits.sqlite")
    report = run_trials(specs, store, executor="local", progress=False)
    assert report.ok and report.trained == len(specs) and not report.failed
    frame = report.frame()
    assert len(frame) == len(specs)
    assert frame["test_acc"].between(0.0, 1.0).all()
    assert frame["test_acc"].min() > 0.3  # ten classes: chance is 0.1
    table = summary_table(frame)
    assert set(table["method"]) == {"none", "standard", "temporal"} and (table["n"] == 2).all()
    # resumable: a second run reuses every trial
    again = run_trials(specs, store, executor="local", progress=False)
    assert again.trained == 0 and again.reused == len(specs)


# --- the GPU script, with a stand-in for snnlab that records its arguments -----------------------------

FAKE_SNNLAB = """#!{python}
import json, os, sys
with open(os.environ["FAKE_LOG"], "a", encoding="utf-8") as log:
    log.write(json.dumps(sys.argv[1:]) + "\\n")
sys.exit(int(os.environ.get("FAKE_TRIALS_RC", "0")) if sys.argv[1:2] == ["trials"] else 0)
"""


def _run_gpu_script(tmp_path: Path, *args: str, trials_rc: int = 0, store_exists: bool = False):
    fake = tmp_path / "snnlab"
    fake.write_text(FAKE_SNNLAB.format(python=sys.executable))
    fake.chmod(0o755)
    log = tmp_path / "calls.jsonl"
    store = tmp_path / "paper.sqlite"
    if store_exists:
        store.write_bytes(b"")
    env = {**os.environ, "SNNLAB": str(fake), "FAKE_LOG": str(log), "FAKE_TRIALS_RC": str(trials_rc)}
    done = subprocess.run(["bash", str(GPU_SCRIPT), str(store), *args], env=env, capture_output=True, text=True,
                          timeout=60, check=False)
    calls = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    return done, calls, store


def _value(argv: list[str], flag: str) -> str:
    return argv[argv.index(flag) + 1]


def test_the_gpu_script_runs_the_lease_steps_in_order_with_valid_arguments(tmp_path: Path):
    done, calls, store = _run_gpu_script(tmp_path, "mnist · 1k", "delayed_snn")
    assert done.returncode == 0, done.stderr
    assert [c[:2] for c in calls] == [["results", "import"], ["trials", "--profile"], ["results", "export"],
                                      ["results", "answer"]]
    parser = build_parser()
    for argv in calls:
        parser.parse_args(argv)  # every flag exists (argparse exits with status 2 otherwise)
    imported, trials, export, answer = calls
    assert imported[2] == "results/paper" and _value(imported, "--store") == str(store)
    assert [_value(trials, f) for f in ("--profile", "--device", "--workers")] == ["paper", "cuda", "8"]
    assert (_value(trials, "--time-limit"), _value(trials, "--start-limit")) == ("540", "405")
    assert [trials[i + 1] for i, a in enumerate(trials) if a == "--setting"] == ["mnist · 1k", "delayed_snn"]
    assert _value(trials, "--store") == str(store)
    assert export[2] == "results/paper" and _value(export, "--profile") == "paper"
    recorded = shlex.split(_value(export, "--command").split(" (")[0])
    assert recorded[:2] == ["snnlab", "trials"] and "--store" not in recorded  # no machine-specific path
    assert [recorded[i + 1] for i, a in enumerate(recorded) if a == "--setting"] == ["mnist · 1k", "delayed_snn"]
    assert answer == ["results", "answer", "results/paper", "--readme", "README.md"]


def test_the_gpu_script_goes_on_from_an_existing_store_and_exports_after_the_time_limit(tmp_path: Path):
    done, calls, _ = _run_gpu_script(tmp_path, trials_rc=EXIT_INCOMPLETE, store_exists=True)
    assert done.returncode == EXIT_INCOMPLETE
    assert [c[:2] for c in calls] == [["trials", "--profile"], ["results", "export"], ["results", "answer"]]
    assert _value(calls[0], "--setting") == "mnist · 1k"  # the default setting
    assert "next lease" in done.stdout


def test_the_gpu_script_exports_nothing_when_training_fails(tmp_path: Path):
    done, calls, _ = _run_gpu_script(tmp_path, trials_rc=1, store_exists=True)
    assert done.returncode == 1 and "nothing exported" in done.stderr
    assert [c[0] for c in calls] == ["trials"]
