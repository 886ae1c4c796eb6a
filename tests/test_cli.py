"""The ``snnlab`` CLI: sweep configs validated before training, run (papermill) over notebooks, results."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from snnlab.cli import main
from snnlab.study import ResultsStore

REPO = Path(__file__).resolve().parents[1]

TINY_BASE = """
base:
  dataset: digits
  train_subset: 150
  test_subset: 60
  sizes: [16]
  T: 3
  epochs: 1
  batch_size: 50
  device: cpu
"""


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("config", "names"),
    [
        ("base: {dataset: digits}\ngird: {seed: [0]}\n", "gird"),
        ("base: {dataset: digits, colour: red}\n", "base.colour"),
        ("base: {method: standard}\ngrid: {p: [0.2, 1.0]}\n", "p=1.0"),
        ("base: {method: standard, p: 0.2}\ngrid: {seed: []}\n", "grid.seed is empty"),
        ("base: {method: standard, p: 0.2}\ngrid: {seed: 3}\n", "grid.seed must be a list"),
        ("base: {epochs: ten}\n", "epochs"),
        ("base: {dataset: digits}\ngrid: {wobble: [1]}\n", "grid.wobble"),
        ("base: {dataset: digits}\ngrid: []\n", "grid is an empty list"),
    ],
)
def test_bad_sweep_configs_fail_before_training_naming_the_key(tmp_path, capsys, config: str, names: str) -> None:
    cfg = write(tmp_path / "sweep.yaml", config)
    store = tmp_path / "r.sqlite"
    code = main(["sweep", "--config", str(cfg), "--store", str(store)])
    err = capsys.readouterr().err
    assert code == 2
    assert names in err and "sweep.yaml" in err
    assert not store.exists()  # nothing was opened, let alone trained


def test_sweep_runs_resumes_and_results_lists_the_trials(tmp_path, capsys) -> None:
    cfg = write(tmp_path / "sweep.yaml", TINY_BASE + """
grid:
  - {method: [none], p: [0.0]}
  - {method: [standard], p: [0.3], seed: [0, 1]}
""")
    store = tmp_path / "r.sqlite"
    assert main(["sweep", "--config", str(cfg), "--store", str(store)]) == 0
    out = capsys.readouterr().out
    assert "3 trial(s): 3 trained, 0 reused" in out
    assert "test_acc_mean" in out and "standard" in out
    frame = ResultsStore(store).frame()
    assert sorted(frame["method"]) == ["none", "standard", "standard"]

    assert main(["sweep", "--config", str(cfg), "--store", str(store)]) == 0
    assert "0 trained, 3 reused" in capsys.readouterr().out

    assert main(["results", "--store", str(store)]) == 0
    out = capsys.readouterr().out
    assert "3 trial(s)" in out and "standard" in out and frame["key"][0][:12] in out


def test_python_dash_m_snnlab_is_the_cli(tmp_path) -> None:
    done = subprocess.run([sys.executable, "-m", "snnlab", "results", "--store", str(tmp_path / "none.sqlite")],
                          capture_output=True, text=True, check=True)
    assert "no results store" in done.stdout
    bad = subprocess.run([sys.executable, "-m", "snnlab", "run", "--profile", "huge"], capture_output=True, text=True)
    assert bad.returncode == 2 and "huge" in bad.stderr


PARAMETERS = """profile = "quick"
dataset = None
device = "auto"
seed = 0
seeds = None
epochs = None
data_root = None
store_path = "../runs/results.sqlite"
"""


def make_notebook(path: Path, body: str) -> None:
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell(PARAMETERS)
    params.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_markdown_cell(f"# {path.stem}"), params, nbformat.v4.new_code_cell(body)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


RECORD = """import json, os, sys
seen = dict(profile=profile, dataset=dataset, device=device, seed=seed, seeds=seeds, epochs=epochs,
            data_root=data_root, store_path=store_path, python=sys.executable,
            plotly=os.environ.get("PLOTLY_RENDERER"))
json.dump(seen, open("seen_{name}.json", "w"))
print("ran {name} with", profile)
"""


def test_run_executes_notebooks_with_injected_parameters(tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.delenv("PLOTLY_RENDERER", raising=False)
    nbdir = tmp_path / "notebooks"
    nbdir.mkdir()
    make_notebook(nbdir / "01_first.ipynb", RECORD.format(name="01"))
    make_notebook(nbdir / "02_second.ipynb", RECORD.format(name="02"))
    (nbdir / "notes.ipynb").write_text("{}")  # not NN_*: ignored
    out = tmp_path / "runs" / "smoke-test"
    store = tmp_path / "r.sqlite"
    code = main(["run", "--profile", "smoke", "--notebooks-dir", str(nbdir), "--out", str(out), "--store", str(store),
                 "--device", "cpu", "--seeds", "2"])
    printed = capsys.readouterr().out
    assert code == 0, printed
    for name in ("01", "02"):
        seen = json.loads((nbdir / f"seen_{name}.json").read_text())  # written in cwd = the notebooks folder
        assert seen["profile"] == "smoke" and seen["device"] == "cpu" and seen["seeds"] == 2
        assert seen["store_path"] == str(store.resolve()) and seen["epochs"] is None
        assert Path(seen["python"]).resolve() == Path(sys.executable).resolve()  # this interpreter's kernel
        assert seen["plotly"] == "plotly_mimetype+notebook"  # figures survive the HTML export
    for stem in ("01_first", "02_second"):
        executed = nbformat.read(out / f"{stem}.ipynb", as_version=4)
        assert any("injected-parameters" in c.metadata.get("tags", []) for c in executed.cells)
        assert f"ran {stem[:2]} with smoke" in (out / f"{stem}.html").read_text()
    index = (out / "index.html").read_text()
    assert 'href="01_first.html"' in index and 'href="02_second.html"' in index
    assert f"index: {out / 'index.html'}" in printed
    assert "done  01_first.ipynb" in printed and "done  02_second.ipynb" in printed
    assert not (out / "notes.ipynb").exists()
    assert "IPKernelApp" in (out / "kernel-stderr.log").read_text()  # the kernels' own stderr, off the terminal
    assert not list(out.glob(".*"))  # no partial or temporary files left


def test_a_failing_notebook_is_reported_with_its_error(tmp_path, capsys) -> None:
    nbdir = tmp_path / "notebooks"
    nbdir.mkdir()
    make_notebook(nbdir / "01_ok.ipynb", "x = 1")
    make_notebook(nbdir / "02_broken.ipynb", "raise ValueError('the widget broke: 42')")
    make_notebook(nbdir / "03_after.ipynb", "y = 2")
    out = tmp_path / "out"
    args = ["run", "--profile", "smoke", "--notebooks-dir", str(nbdir), "--out", str(out),
            "--store", str(tmp_path / "r.sqlite"), "--device", "cpu"]
    assert main(args) == 1
    captured = capsys.readouterr()
    assert "failed  02_broken.ipynb" in captured.out and "ValueError: the widget broke: 42" in captured.out
    assert "02_broken.ipynb" in captured.err
    assert "1 notebook(s) not run" in captured.out and not (out / "03_after.ipynb").exists()
    index = (out / "index.html").read_text()
    assert "failed" in index and "the widget broke: 42" in index

    assert main([*args, "--keep-going", "--only", "02,3"]) == 1
    captured = capsys.readouterr()
    assert "failed  02_broken.ipynb" in captured.out and "done  03_after.ipynb" in captured.out
    assert "01_ok" not in captured.out


def test_run_rejects_unknown_notebook_numbers(tmp_path, capsys) -> None:
    nbdir = tmp_path / "nb"
    nbdir.mkdir()
    make_notebook(nbdir / "01_a.ipynb", "pass")
    assert main(["run", "--notebooks-dir", str(nbdir), "--only", "07", "--out", str(tmp_path / "o"),
                 "--device", "cpu", "--store", str(tmp_path / "r.sqlite")]) == 2
    assert "07" in capsys.readouterr().err


@pytest.mark.slow
def test_smoke_profile_over_the_real_notebooks(tmp_path, capsys) -> None:
    notebooks = sorted((REPO / "notebooks").glob("[0-9]*_*.ipynb"))
    if not notebooks:
        pytest.skip("notebooks/ holds no NN_*.ipynb yet")
    out = tmp_path / "run"
    code = main(["run", "--profile", "smoke", "--notebooks-dir", str(REPO / "notebooks"), "--out", str(out),
                 "--store", str(tmp_path / "r.sqlite"), "--device", "cpu", "--keep-going"])
    printed = capsys.readouterr().out
    assert code == 0, printed
    for nb in notebooks:
        assert (out / nb.name).is_file() and (out / nb.with_suffix(".html").name).is_file()
    assert (out / "index.html").is_file()


def test_bench_dropout_passes_its_options_and_prints_the_table(capsys, monkeypatch) -> None:
    import pandas as pd

    from snnlab import bench

    calls = []

    def fake_bench(**options):  # only the CLI wiring: the real benchmark takes tens of seconds
        calls.append(options)
        return pd.DataFrame({"method": ["none"], "ms_per_step": [1.0], "ratio_to_none": [1.0]})

    monkeypatch.setattr(bench, "bench_dropout", fake_bench)
    monkeypatch.setattr(bench, "format_bench", lambda df: "TABLE " + ",".join(df["method"]))
    assert main(["bench", "dropout", "--device", "cpu", "--steps", "3"]) == 0
    assert main(["bench", "dropout", "--device", "cpu", "--threads", "1", "--clock", "process"]) == 0
    assert main(["bench", "dropout", "--device", "cpu", "--rounds", "2", "--method", "standard,temporal",
                 "--hidden", "32", "-T", "4", "--batch-size", "8", "--p", "0.2", "--warmup", "0"]) == 0
    assert calls == [{"device": "cpu", "clock": "wall", "steps": 3}, {"device": "cpu", "clock": "process", "threads": 1},
                     {"device": "cpu", "clock": "wall", "steps": 2, "methods": ("standard", "temporal"),
                      "sizes": (784, 32, 10), "T": 4, "batch_size": 8, "p": 0.2, "warmup": 0}]
    assert "TABLE none" in capsys.readouterr().out


BENCH_TINY = ["--device", "cpu", "--threads", "1", "--rounds", "1", "--warmup", "0"]
MODEL_TINY = ["--hidden", "32", "-T", "4", "--batch-size", "8"]


def test_bench_delayed_runs_at_tiny_size_and_refuses_model_flags(tmp_path, capsys) -> None:
    assert main(["bench", "delayed", *BENCH_TINY, "--hidden", "16", "-T", "4", "--batch-size", "4",
                 "--json", str(tmp_path / "d.json")]) == 0
    printed = capsys.readouterr().out
    assert "weight-first" in printed and "gather" in printed and (tmp_path / "d.json").exists()
    assert main(["bench", "delayed", *BENCH_TINY, "--method", "standard"]) == 2
    assert "--method does not apply to `bench delayed`" in capsys.readouterr().err


def test_bench_dropout_runs_at_tiny_size_and_writes_json(tmp_path, capsys) -> None:
    out = tmp_path / "dropout.json"
    assert main(["bench", "dropout", *BENCH_TINY, *MODEL_TINY, "--method", "standard", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "x none" in printed and "standard" in printed and f"wrote {out}" in printed
    payload = json.loads(out.read_text())
    assert [r["method"] for r in payload["rows"]] == ["none", "none (spikes written)", "standard"]
    assert payload["meta"]["threads"] == 1


def test_bench_lif_runs_with_workloads_and_impls(tmp_path, capsys) -> None:
    out = tmp_path / "lif.json"
    assert main(["bench", "lif", *BENCH_TINY, "--workloads", "3x4x5,2x2x3", "--impls", "loop,kernel",
                 "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "T=3 B=4 N=5" in printed and "T=2 B=2 N=3" in printed and "x plain" in printed
    payload = json.loads(out.read_text())
    assert [r["impl"] for r in payload["rows"]] == ["plain", "loop", "kernel"] * 2


def test_bench_step_runs_at_tiny_size(tmp_path, capsys) -> None:
    out = tmp_path / "step.json"
    assert main(["bench", "step", *BENCH_TINY, *MODEL_TINY, "--backend", "loop,auto", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "x floor" in printed and "step loop" in printed and "step auto" in printed and "per-step floor" in printed
    payload = json.loads(out.read_text())
    assert payload["config"]["sizes"] == [784, 32, 10] and len(payload["rows"]) == 4


def test_bench_population_runs_at_tiny_size(tmp_path, capsys) -> None:
    out = tmp_path / "pop.json"
    assert main(["bench", "population", *BENCH_TINY, *MODEL_TINY, "--ks", "1,2", "--method", "standard",
                 "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "x standalone" in printed and "population" in printed
    assert [r["K"] for r in json.loads(out.read_text())["rows"]] == [1, 1, 2]


@pytest.mark.parametrize(
    ("argv", "names"),
    [
        (["bench", "lif", "--hidden", "32"], "--hidden does not apply to `bench lif`"),
        (["bench", "step", "--workloads", "3x4x5"], "--workloads does not apply to `bench step`"),
        (["bench", "lif", "--workloads", "3x4"], "--workloads='3x4'"),
        (["bench", "lif", "--impls", "gpu", "--workloads", "1x1x1"], "impls='gpu'"),
        (["bench", "step", "--backend", "gpu"], "backends='gpu'"),
        (["bench", "population", "--backend", "loop,auto"], "takes one LIF backend"),
        (["bench", "population", "--ks", "1,x"], "--ks='1,x'"),
        (["bench", "step", "--method", "gaussian"], "method='gaussian'"),
        (["bench", "step", "--rounds", "0"], "rounds=0"),
        (["bench", "dropout", "--device", "tpu"], "device='tpu'"),
    ],
)
def test_bench_rejects_bad_flags_in_one_line(capsys, argv, names) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert names in err and err.startswith("snnlab bench: error: ") and err.count("\n") == 1


def test_train_runs_one_trial_and_stores_it(tmp_path, capsys) -> None:
    store = tmp_path / "r.sqlite"
    code = main(["train", "--hidden", "16", "-T", "3", "--epochs", "2", "--train-subset", "150",
                 "--test-subset", "60", "--device", "cpu", "--store", str(store)])
    out = capsys.readouterr().out
    assert code == 0
    assert "final test accuracy" in out and "rate_hidden1" in out
    frame = ResultsStore(store).frame()
    assert len(frame) == 1 and int(frame.epochs.iloc[0]) == 2


def test_train_with_validation_reports_and_stores_the_selected_epoch(tmp_path, capsys) -> None:
    store = tmp_path / "r.sqlite"
    code = main(["train", "--hidden", "16", "-T", "3", "--epochs", "2", "--train-subset", "150", "--test-subset", "60",
                 "--device", "cpu", "--val-fraction", "0.2", "--train-eval-size", "50", "--store", str(store)])
    out = capsys.readouterr().out
    assert code == 0
    assert "val_acc" in out and "train_acc_eval" in out and "(best_val)" in out and "validation" in out
    row = ResultsStore(store).frame().iloc[0]
    assert (row["val_fraction"], row["select"], row["train_eval_size"]) == (0.2, "best_val", 50)
    assert row["epoch"] == row["best_epoch"]


@pytest.mark.parametrize(
    ("argv", "names"),
    [
        (["train", "--hidden", "8x"], "--hidden"),
        (["train", "--p", "1.5", "--method", "standard"], "p=1.5"),
        (["train", "--dataset", "imagenet"], "imagenet"),
        (["train", "--val-fraction", "1.5"], "val_fraction=1.5; allowed: a fraction in (0, 1)"),
        (["train", "--select", "best_val"], "select='best_val' needs a validation set"),
        (["train", "--select", "best_test", "--val-fraction", "0.1"], "select='best_test'"),
        (["train", "--train-eval-size", "0"], "train_eval_size=0"),
        (["train", "--model", "delayed_snn", "--neuron", "lif"], "neuron='lif' is not what model='delayed_snn' uses"),
    ],
)
def test_train_rejects_bad_flags_naming_them(capsys, argv, names) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert names in err and "Traceback" not in err


def test_sweep_tuning_flags_are_validated_before_the_store_opens(tmp_path, capsys) -> None:
    cfg = write(tmp_path / "sweep.yaml", TINY_BASE + "grid: {seed: [0, 1]}\n")
    store = tmp_path / "r.sqlite"
    assert main(["sweep", "--config", str(cfg), "--store", str(store), "--val-fraction", "0"]) == 2
    err = capsys.readouterr().err
    assert "val_fraction=0.0; allowed: a fraction in (0, 1)" in err and "Traceback" not in err
    assert not store.exists()
    assert main(["sweep", "--config", str(cfg), "--store", str(store), "--val-fraction", "0.2", "--select", "last"]) == 0
    frame = ResultsStore(store).frame()
    assert frame["val_fraction"].tolist() == [0.2, 0.2] and frame["select"].tolist() == ["last", "last"]
    assert frame["val_acc"].notna().all()


def test_output_into_a_closed_pipe_ends_quietly(tmp_path) -> None:
    """`snnlab … | head`: the reader goes away; the CLI stops with 141 (SIGPIPE's code), no traceback."""
    script = (
        "import sys\n"
        "from snnlab import cli\n"
        "def flood(args):\n"
        "    for _ in range(100_000):\n"
        "        print('x' * 100)\n"
        "    return 0\n"
        "cli.COMMANDS['results'] = flood\n"
        f"sys.exit(cli.main(['results', '--store', {str(tmp_path / 'r.sqlite')!r}]))\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.read(10)
    proc.stdout.close()  # like `head -c 10`
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 141
    assert b"Traceback" not in err and b"BrokenPipeError" not in err


def test_train_help_lists_the_registered_dropout_methods(capsys) -> None:
    """The method list of ``snnlab train --help`` is read from the registry when the parser is built."""
    import re

    from snnlab.dropout import available

    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--help"])
    assert exit_info.value.code == 0
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps the help text
    assert re.search(r"--method METHOD dropout method \(registry key\): " + re.escape(" | ".join(available())), text)


def _tiny_store(path: Path) -> ResultsStore:
    """Two seeds of a tiny digits trial, trained for real (about a second)."""
    from snnlab.study import TrialSpec, run_trials

    base = TrialSpec(dataset="digits", sizes=(16,), T=4, epochs=1, train_subset=200, test_subset=100, device="cpu")
    store = ResultsStore(path)
    run_trials([base, base.replace(seed=1)], store, progress=False)
    return store


def test_results_export_import_and_verify(tmp_path, capsys) -> None:
    source = _tiny_store(tmp_path / "source.sqlite")
    out = tmp_path / "results" / "smoke"
    assert main(["results", "export", str(out), "--store", str(source.path), "--profile", "smoke",
                 "--command", "snnlab sweep --config tiny.yaml", "--wall-seconds", "3"]) == 0
    printed = capsys.readouterr().out
    assert f"exported 2 trial(s) (2 epoch rows) from {source.path} to {out}" in printed
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["profile"]["name"] == "smoke" and manifest["command"] == "snnlab sweep --config tiny.yaml"
    assert manifest["wall_seconds"] == 3.0

    target = tmp_path / "target.sqlite"
    assert main(["results", "import", str(out), "--store", str(target)]) == 0
    assert f"2 trial(s) in {out}: 2 imported, 0 already in {target}" in capsys.readouterr().out
    assert main(["results", "--store", str(target), "import", str(out)]) == 0  # --store before the action
    assert "0 imported, 2 already in" in capsys.readouterr().out
    assert sorted(ResultsStore(target).frame()["key"]) == sorted(source.frame()["key"])
    for argv in (["results", "--store", str(target)], ["results", "list", "--store", str(target)]):
        assert main(argv) == 0  # listing stays the default
        assert f"2 trial(s) in {target}" in capsys.readouterr().out

    assert main(["results", "verify", str(out), "--sample", "2", "--device", "cpu"]) == 0
    printed = capsys.readouterr().out
    assert "retrained_test_acc" in printed and printed.count(" yes ") == 2
    assert "2 of 2 re-trained trial(s) landed within the stored seed-to-seed spread" in printed


def test_results_actions_fail_in_one_line(tmp_path, capsys) -> None:
    missing = tmp_path / "none.sqlite"
    cases = [
        (["results", "export", str(tmp_path / "out"), "--store", str(missing)], "no results store at"),
        (["results", "import", str(tmp_path), "--store", str(missing)], "not a results artefact"),
        (["results", "verify", str(tmp_path), "--sample", "1"], "not a results artefact"),
    ]
    for argv, names in cases:
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert names in err and err.startswith("snnlab results: error: ") and err.count("\n") == 1
    assert not missing.exists()

    store = _tiny_store(tmp_path / "r.sqlite")
    out = tmp_path / "art"
    assert main(["results", "export", str(out), "--store", str(store.path)]) == 0
    assert main(["results", "verify", str(out), "--sample", "0"]) == 2
    assert "sample=0" in capsys.readouterr().err
    (out / "trials.jsonl").write_text((out / "trials.jsonl").read_text().replace('"seed":1', '"seed":2'))
    assert main(["results", "import", str(out), "--store", str(missing)]) == 2
    err = capsys.readouterr().err
    assert "trials.jsonl does not match the manifest" in err and "Traceback" not in err and err.count("\n") == 1


# --- no tracebacks: every failure is one line naming the argument or file, status 2 (--debug: the traceback) ---

TRAIN_TINY = ["train", "--hidden", "8", "-T", "2", "--epochs", "1", "--train-subset", "50", "--test-subset", "20",
              "--device", "cpu"]


def one_line_error(capsys, command: str) -> str:
    """The captured stderr's error line, checked to be the one line of ``command`` at the end, without a traceback
    (progress bars, redrawn with carriage returns, may come first)."""
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.endswith("\n"), err
    last = err[:-1].split("\n")[-1].split("\r")[-1] + "\n"
    assert last.startswith(f"snnlab {command}: error: ") and err.count("snnlab ") == 1, err
    return last


def bad_store_paths(tmp_path: Path) -> list[tuple[Path, str]]:
    """(store path, expected words): a folder, a file that is not SQLite, a path under a regular file."""
    folder = tmp_path / "a-folder"
    folder.mkdir()
    garbage = write(tmp_path / "garbage.sqlite", "this is not a database\n" * 50)
    regular = write(tmp_path / "regular-file", "x")
    return [(folder, "is a folder"), (garbage, "is not a results store"), (regular / "r.sqlite", "is a file, not a folder")]


def test_unusable_store_paths_fail_in_one_line_before_anything_runs(tmp_path, capsys, monkeypatch) -> None:
    import snnlab.study.runner as runner

    def no_training(*args, **kwargs):
        raise AssertionError("trained before the store was checked")

    monkeypatch.setattr(runner, "run_trial", no_training)
    monkeypatch.setattr(runner, "run_trials", no_training)
    cfg = write(tmp_path / "sweep.yaml", TINY_BASE)
    nbdir = tmp_path / "nb"
    nbdir.mkdir()
    make_notebook(nbdir / "01_a.ipynb", "pass")
    for store, words in bad_store_paths(tmp_path):
        garbage_before = (tmp_path / "garbage.sqlite").read_text()
        for argv in ([*TRAIN_TINY, "--store", str(store)], ["sweep", "--config", str(cfg), "--store", str(store)],
                     ["results", "--store", str(store)], ["results", "export", str(tmp_path / "x"), "--store", str(store)],
                     ["run", "--notebooks-dir", str(nbdir), "--out", str(tmp_path / "o"), "--device", "cpu",
                      "--store", str(store)]):
            if argv[0] == "results" and words == "is a file, not a folder":
                continue  # a store that cannot exist is simply absent for `results`
            assert main(argv) == 2, argv
            err = one_line_error(capsys, argv[0])
            assert f"--store {store}" in err and words in err
        assert (tmp_path / "garbage.sqlite").read_text() == garbage_before  # never written to
    assert not (tmp_path / "o").exists()  # `run` checked the store before creating its output folder


def test_run_out_under_a_regular_file_fails_in_one_line(tmp_path, capsys) -> None:
    nbdir = tmp_path / "nb"
    nbdir.mkdir()
    make_notebook(nbdir / "01_a.ipynb", "pass")
    regular = write(tmp_path / "regular-file", "x")
    for out, words in ((regular / "out", "cannot create the folder"), (regular, "is a file, not a folder")):
        assert main(["run", "--notebooks-dir", str(nbdir), "--out", str(out), "--device", "cpu",
                     "--store", str(tmp_path / "r.sqlite")]) == 2
        err = one_line_error(capsys, "run")
        assert f"--out {out}" in err and words in err
    assert regular.read_text() == "x"


def test_a_truncated_mnist_file_fails_in_one_line_naming_the_data(tmp_path, capsys) -> None:
    import gzip

    raw = tmp_path / "data" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                 "t10k-labels-idx1-ubyte"):
        whole = gzip.compress(bytes(range(256)) * 64)
        (raw / f"{name}.gz").write_bytes(whole[: len(whole) // 2])  # cut off mid-stream
    assert main([*TRAIN_TINY, "--dataset", "mnist", "--data-root", str(tmp_path / "data")]) == 2
    err = one_line_error(capsys, "train")
    assert str(tmp_path / "data") in err


def test_a_non_image_jpg_fails_in_one_line_naming_the_data(tmp_path, capsys) -> None:
    from PIL import Image

    images = tmp_path / "data" / "CIFAR-10-images"
    for split in ("train", "test"):
        for cls in ("airplane", "automobile"):
            (images / split / cls).mkdir(parents=True)
            for i in range(3):
                Image.new("RGB", (32, 32), (i * 40, 0, 0)).save(images / split / cls / f"{i}.png")
    write(images / "train" / "airplane" / "notes.jpg", "not an image")
    assert main([*TRAIN_TINY, "--dataset", "cifar10", "--model", "mlp", "--train-subset", "4", "--test-subset", "4",
                 "--data-root", str(tmp_path / "data")]) == 2
    err = one_line_error(capsys, "train")
    assert str(tmp_path / "data") in err


def _wrong_dtypes() -> None:
    import torch

    torch.zeros(2, 3, dtype=torch.int64) @ torch.zeros(3, 2)


def _empty_batch() -> None:
    import torch

    torch.stack([])


def _labels_out_of_range() -> None:
    import torch

    torch.nn.functional.cross_entropy(torch.zeros(2, 10), torch.tensor([0, 12]))


@pytest.mark.parametrize(("raise_it", "kind"), [(_wrong_dtypes, "RuntimeError"), (_empty_batch, "RuntimeError"),
                                                (_labels_out_of_range, "IndexError")])
def test_raw_torch_errors_are_one_line_with_their_type_and_debug_shows_the_traceback(
        tmp_path, capsys, monkeypatch, raise_it, kind: str) -> None:
    import snnlab.study.runner as runner

    monkeypatch.setattr(runner, "run_trial", lambda *args, **kwargs: raise_it())
    assert main([*TRAIN_TINY, "--data-root", str(tmp_path)]) == 2
    err = one_line_error(capsys, "train")
    assert f"error: {kind}: " in err and f"data root {tmp_path}" in err and "--debug shows the traceback" in err
    for argv in (["--debug", *TRAIN_TINY], [*TRAIN_TINY, "--debug"]):  # before or after the subcommand
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.startswith("Traceback") and f"\n{kind}: " in err and "raise_it()" in err


def test_ctrl_c_exits_130_quietly(tmp_path, capsys, monkeypatch) -> None:
    import snnlab.study.runner as runner

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(runner, "run_trial", interrupted)
    assert main(TRAIN_TINY) == 130
    assert capsys.readouterr().err == "snnlab train: interrupted\n"


def test_ray_options_are_checked_before_the_store_opens(tmp_path, capsys, monkeypatch) -> None:
    """Also without Ray installed (hidden here): the check does not need it."""
    monkeypatch.setitem(sys.modules, "ray", None)
    cfg = write(tmp_path / "sweep.yaml", TINY_BASE)
    store = tmp_path / "r.sqlite"
    cases = [(["--num-cpus", "0"], "--num-cpus=0"), (["--ray-timeout", "0"], "--ray-timeout=0"),
             (["--address", " "], "--address=' '")]
    for flags, words in cases:
        assert main(["sweep", "--config", str(cfg), "--store", str(store), "--executor", "ray", *flags]) == 2
        assert words in one_line_error(capsys, "sweep")
    assert not store.exists()
    assert main(["sweep", "--config", str(cfg), "--store", str(store), "--executor", "ray"]) == 2
    assert "pip install 'snnlab[cluster]'" in one_line_error(capsys, "sweep")


def test_an_unreachable_ray_address_times_out_with_a_clear_error(tmp_path, capsys, monkeypatch) -> None:
    import threading
    import types

    release = threading.Event()

    def init(address=None, **kwargs):
        release.wait(30)  # like a cluster that never answers

    monkeypatch.setitem(sys.modules, "ray", types.SimpleNamespace(is_initialized=lambda: False, init=init,
                                                                   shutdown=lambda: None))
    cfg = write(tmp_path / "sweep.yaml", TINY_BASE)
    try:
        assert main(["sweep", "--config", str(cfg), "--store", str(tmp_path / "r.sqlite"), "--executor", "ray",
                     "--address", "10.9.8.7:6379", "--ray-timeout", "0.3"]) == 2
    finally:
        release.set()
    err = one_line_error(capsys, "sweep")
    assert "address='10.9.8.7:6379': no Ray cluster answered within 0.3 s" in err


def test_ctrl_c_during_run_marks_the_notebook_and_writes_the_index(tmp_path, capsys, monkeypatch) -> None:
    import types

    def execute_notebook(source, target, **kwargs):
        make_notebook(Path(target), "x = 1")
        if "02_" in source:
            raise KeyboardInterrupt

    monkeypatch.setitem(sys.modules, "papermill", types.SimpleNamespace(execute_notebook=execute_notebook))
    nbdir = tmp_path / "nb"
    nbdir.mkdir()
    for name in ("01_a", "02_b", "03_c"):
        make_notebook(nbdir / f"{name}.ipynb", "pass")
    out = tmp_path / "out"
    assert main(["run", "--notebooks-dir", str(nbdir), "--out", str(out), "--device", "cpu",
                 "--store", str(tmp_path / "r.sqlite"), "--keep-going"]) == 130
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err and captured.err.count("\n") == 1
    assert "interrupted in 02_b.ipynb (1 notebook(s) not run)" in captured.err
    assert "interrupted  02_b.ipynb" in captured.out
    index = (out / "index.html").read_text()
    assert "class='interrupted'" in index and "01_a.html" in index and "02_b.html" in index and "03_c" not in index
    assert nbformat.read(out / "02_b.ipynb", as_version=4).metadata["snnlab"]["status"] == "interrupted"
    assert not (out / "03_c.ipynb").exists()


def test_ctrl_c_on_a_real_run_exits_130_without_a_traceback(tmp_path) -> None:
    """SIGINT to `snnlab run` while a cell runs: status 130, no ZMQ/asyncio traceback, what ran is written."""
    import os
    import signal
    import time

    nbdir = tmp_path / "nb"
    nbdir.mkdir()
    make_notebook(nbdir / "01_a.ipynb", "x = 1")
    make_notebook(nbdir / "02_sleep.ipynb", "import time\ntime.sleep(120)")
    make_notebook(nbdir / "03_c.ipynb", "y = 2")
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-m", "snnlab", "run", "--profile", "smoke", "--notebooks-dir", str(nbdir), "--out", str(out),
         "--device", "cpu", "--store", str(tmp_path / "r.sqlite")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # as a terminal's foreground job
    try:
        deadline = time.monotonic() + 90
        while not (out / ".02_sleep.partial.ipynb").exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(3)  # the kernel starts and the cell runs
        os.killpg(proc.pid, signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, stderr.decode()
    assert b"Traceback" not in stderr and b"ZMQError" not in stderr, stderr.decode()
    assert b"interrupted in 02_sleep.ipynb" in stderr and b"done  01_a.ipynb" in stdout
    assert nbformat.read(out / "02_sleep.ipynb", as_version=4).metadata["snnlab"]["status"] == "interrupted"
    index = (out / "index.html").read_text()
    assert "class='interrupted'" in index and "01_a.html" in index and "03_c" not in index


def test_trials_trains_the_profile_comparison_and_resumes(tmp_path, capsys) -> None:
    store = tmp_path / "s.sqlite"
    args = ["trials", "--profile", "smoke", "--device", "cpu", "--store", str(store), "--data-root", str(tmp_path)]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "learning rates: 1 trials, 0 already stored, 1 trained now" in out and "every trial is in the store" in out
    assert main(args) == 0
    assert "conditions: 2 trials, 2 already stored, 0 trained now" in capsys.readouterr().out


def test_trials_names_a_bad_option(tmp_path, capsys) -> None:
    store = tmp_path / "s.sqlite"
    assert main(["trials", "--profile", "smoke", "--device", "cpu", "--store", str(store), "--workers", "0"]) == 2
    assert "workers" in capsys.readouterr().err
    assert main(["trials", "--profile", "smoke", "--device", "cpu", "--store", str(store), "--setting", "cifar"]) == 2
    assert "matches no setting" in capsys.readouterr().err


def test_results_answer_prints_the_shipped_answer_and_writes_a_readme_block(tmp_path, capsys) -> None:
    repo = Path(__file__).resolve().parents[1]
    readme = tmp_path / "README.md"
    readme.write_text("<!-- answer:start (written by `snnlab results answer`; do not edit) -->\n<!-- answer:end -->\n",
                      encoding="utf-8")
    assert main(["results", "answer", str(repo / "results" / "paper"), "--readme", str(readme)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Profile `paper`:") and "answer block rewritten" in out
    assert "| DropConnect |" in readme.read_text(encoding="utf-8")
    assert main(["results", "answer", str(tmp_path / "nothing")]) == 2
    assert "nothing" in capsys.readouterr().err
