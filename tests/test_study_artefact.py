"""The shipped-results artefact: export a store as text, import it back exactly, verify by re-training."""

from __future__ import annotations

import hashlib
import json
import math
import shutil
import sqlite3
import statistics
from pathlib import Path

import pandas as pd
import pytest

from snnlab.study import ResultsStore, TrialResult, TrialSpec, run_trial
from snnlab.study.artefact import (
    EPOCHS_FILE,
    MANIFEST_FILE,
    TRIALS_FILE,
    ArtefactError,
    export_results,
    import_results,
    read_artefact,
    verify_results,
    verify_summary,
)
from snnlab.study.spec import SPEC_VERSION

BASE = TrialSpec(dataset="digits", sizes=(16,), T=4, epochs=1, train_subset=200, test_subset=100, device="cpu")
SPECS = (
    BASE,
    BASE.replace(seed=1),
    BASE.replace(method="standard", p=0.2, epochs=2, val_fraction=0.2, train_eval_size=50),
)


@pytest.fixture(scope="module")
def trained() -> list[TrialResult]:
    """Three real trials on digits: two seeds of the base network and one with dropout and validation."""
    return [run_trial(spec) for spec in SPECS]


@pytest.fixture(scope="module")
def artefact(trained, tmp_path_factory) -> Path:
    """An artefact of the three trials (and the store it came from, next to it)."""
    folder = tmp_path_factory.mktemp("artefact")
    store = ResultsStore(folder / "store.sqlite")
    for result in trained:
        store.put(result)
    export_results(store, folder / "out", profile="smoke")
    return folder / "out"


def fake(spec: TrialSpec, rows: list[dict], final: dict, *, seconds: float = 0.5) -> TrialResult:
    history = pd.DataFrame(rows) if rows else pd.DataFrame(columns=["epoch", "train_loss", "train_acc", "test_loss",
                                                                     "test_acc", "seconds"])
    return TrialResult(spec=spec, history=history, final=final, seconds=seconds, device="cpu", started_at=10.0,
                       finished_at=10.5, env={"snnlab": "0.1.0", "torch": "x"})


def data_bytes(folder: Path) -> dict[str, bytes]:
    return {name: (folder / name).read_bytes() for name in (TRIALS_FILE, EPOCHS_FILE)}


def sorted_frame(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values("key", kind="stable").reset_index(drop=True)


def test_export_then_import_gives_back_the_trials_exactly(trained, tmp_path) -> None:
    source = ResultsStore(tmp_path / "source.sqlite")
    for result in trained:
        source.put(result)
    inf_row = {"epoch": 1, "train_loss": math.inf, "train_acc": 0.1, "test_loss": 9.0, "test_acc": 0.1,
               "seconds": 0.25, "rate_hidden1": 0.0}
    diverged = fake(BASE.replace(seed=7), [inf_row], {**inf_row, "diverged": 1.0})
    nothing = fake(BASE.replace(seed=8), [], {"diverged": 1.0})  # no epoch finished
    old = fake(BASE.replace(seed=9), [{**inf_row, "train_loss": 1.0}], {"diverged": 0.0})
    for result in (diverged, nothing, old):
        source.put(result)
    with sqlite3.connect(source.path) as conn:  # as if an earlier spec version had stored it
        conn.execute("UPDATE trials SET key = ? WHERE key = ?", ("0" * 64, old.spec.key))
        conn.execute("UPDATE epochs SET key = ? WHERE key = ?", ("0" * 64, old.spec.key))

    manifest = export_results(source, tmp_path / "art", profile="smoke", command="snnlab sweep --config x.yaml",
                              wall_seconds=12.5)
    exported = [*SPECS, diverged.spec, nothing.spec]
    keys = sorted(s.key for s in exported)
    data = json.loads((tmp_path / "art" / MANIFEST_FILE).read_text())
    assert data == manifest.data and manifest.trials == 5 and manifest.profile == "smoke"
    assert (data["trials"], data["epoch_rows"], data["stale_trials_left_out"], data["missing_trials"]) == (5, 5, 1, 0)
    assert data["spec_version"] == SPEC_VERSION and data["command"] == "snnlab sweep --config x.yaml"
    assert data["wall_seconds"] == 12.5 and data["profile"]["definition"]["seeds"] == 1
    assert data["trained_with"]["device_used"] == {"cpu": 5} and data["environment"]["torch"]
    assert data["git_commit"] is None or len(data["git_commit"]) == 40
    for name, entry in data["files"].items():
        raw = (tmp_path / "art" / name).read_bytes()
        assert entry == {"sha256": hashlib.sha256(raw).hexdigest(), "bytes": len(raw)}
    lines = (tmp_path / "art" / TRIALS_FILE).read_text().splitlines()
    assert [json.loads(line)["key"] for line in lines] == keys
    epochs = pd.read_csv(tmp_path / "art" / EPOCHS_FILE)
    assert list(epochs.columns[:7]) == ["key", "epoch", "train_loss", "train_acc", "test_loss", "test_acc", "seconds"]
    assert {"rate_hidden1", "val_acc", "train_acc_eval"} <= set(epochs.columns)

    again = export_results(source, tmp_path / "again", profile="smoke", command="snnlab sweep --config x.yaml",
                           wall_seconds=12.5)
    assert data_bytes(tmp_path / "again") == data_bytes(tmp_path / "art")
    assert {**again.data, "created": None} == {**manifest.data, "created": None}

    target = ResultsStore(tmp_path / "target.sqlite")
    report = import_results(tmp_path / "art", target)
    assert (report.trials, report.imported, report.skipped) == (5, 5, 0)
    want = source.frame()
    want = sorted_frame(want[want["key"].isin(keys)])
    pd.testing.assert_frame_equal(sorted_frame(target.frame()), want)
    want_history = source.history()
    pd.testing.assert_frame_equal(target.history(), want_history[want_history["key"].isin(keys)].reset_index(drop=True))
    for spec in exported:
        got, stored = target.get(spec), source.get(spec)
        assert (got.final, got.seconds, got.device, got.env, got.started_at) == (
            stored.final, stored.seconds, stored.device, stored.env, stored.started_at)
        pd.testing.assert_frame_equal(got.history[sorted(got.history.columns)],
                                      stored.history[sorted(stored.history.columns)])
    assert target.get(diverged.spec).final["train_loss"] == math.inf
    export_results(target, tmp_path / "back", profile="smoke")
    assert data_bytes(tmp_path / "back") == data_bytes(tmp_path / "art")  # the import lost nothing

    assert import_results(tmp_path / "art", target).summary().startswith("5 trial(s)")
    report = import_results(tmp_path / "art", target)
    assert (report.imported, report.skipped) == (0, 5) and len(target) == 5


def test_a_trial_already_in_the_store_is_left_as_it_is(artefact, tmp_path) -> None:
    store = ResultsStore(tmp_path / "r.sqlite")
    mine = fake(SPECS[0], [], {"diverged": 0.0, "test_acc": 0.5}, seconds=99.0)
    store.put(mine)
    report = import_results(artefact, store)
    assert (report.imported, report.skipped) == (2, 1)
    assert store.get(SPECS[0]).seconds == 99.0 and store.get(SPECS[0]).final["test_acc"] == 0.5
    assert store.has(SPECS[1]) and store.has(SPECS[2])


def test_export_selects_specs_or_filters_and_counts_what_is_missing(artefact, tmp_path) -> None:
    store = ResultsStore(artefact.parent / "store.sqlite")
    absent = BASE.replace(seed=42)
    manifest = export_results(store, tmp_path / "some", specs=[SPECS[0], absent])
    assert (manifest.trials, manifest.data["missing_trials"], manifest.profile) == (1, 1, None)
    assert export_results(store, tmp_path / "dropout", specs={"method": "standard"}).trials == 1
    with pytest.raises(ValueError, match="nothing to export"):
        export_results(store, tmp_path / "none", specs={"method": "temporal"})
    with pytest.raises(ValueError, match="profile='huge'"):
        export_results(store, tmp_path / "x", profile="huge")
    with pytest.raises(ValueError, match="wall_seconds=-1"):
        export_results(store, tmp_path / "x", wall_seconds=-1)
    with pytest.raises(TypeError, match="out_dir"):
        export_results(store, 3)
    with pytest.raises(TypeError, match=r"specs\[0\]"):
        export_results(store, tmp_path / "x", specs=["digits"])
    assert not (tmp_path / "none").exists() and not (tmp_path / "x").exists()


def test_import_refuses_a_changed_file_naming_it(artefact, tmp_path) -> None:
    copy = Path(shutil.copytree(artefact, tmp_path / "copy"))
    text = (copy / EPOCHS_FILE).read_text()
    (copy / EPOCHS_FILE).write_text(text.replace(",1,", ",2,", 1))
    store = ResultsStore(tmp_path / "r.sqlite")
    with pytest.raises(ArtefactError, match=f"{EPOCHS_FILE} does not match the manifest"):
        import_results(copy, store)
    assert len(store) == 0  # checked before anything is written
    (copy / TRIALS_FILE).unlink()
    with pytest.raises(FileNotFoundError, match=TRIALS_FILE):
        import_results(copy, store)
    with pytest.raises(FileNotFoundError, match="not a results artefact"):
        import_results(tmp_path, store)


def _rewrite_manifest(folder: Path, **changes) -> None:
    path = folder / MANIFEST_FILE
    data = json.loads(path.read_text())
    data.update(changes)
    path.write_text(json.dumps(data))


def test_import_refuses_another_spec_version_or_a_foreign_key(artefact, tmp_path) -> None:
    store = ResultsStore(tmp_path / "r.sqlite")
    old = Path(shutil.copytree(artefact, tmp_path / "old"))
    _rewrite_manifest(old, spec_version=SPEC_VERSION - 1)
    with pytest.raises(ArtefactError, match=f"TrialSpec version {SPEC_VERSION - 1}, this snnlab by version {SPEC_VERSION}"):
        import_results(old, store)
    future = Path(shutil.copytree(artefact, tmp_path / "future"))
    _rewrite_manifest(future, format_version=99)
    with pytest.raises(ArtefactError, match="format_version 99"):
        import_results(future, store)

    edited = Path(shutil.copytree(artefact, tmp_path / "edited"))
    lines = (edited / TRIALS_FILE).read_text().splitlines(keepends=True)
    record = json.loads(lines[0])
    record["spec"]["seed"] = 5  # a different spec under the old key
    lines[0] = json.dumps(record) + "\n"
    raw = "".join(lines).encode()
    (edited / TRIALS_FILE).write_bytes(raw)
    manifest = json.loads((edited / MANIFEST_FILE).read_text())
    manifest["files"][TRIALS_FILE]["sha256"] = hashlib.sha256(raw).hexdigest()
    _rewrite_manifest(edited, files=manifest["files"])
    with pytest.raises(ArtefactError, match=f"{TRIALS_FILE} line 1: key {record['key'][:12]} is not the key"):
        import_results(edited, store)
    assert len(store) == 0


def test_verify_retrains_a_sample_identically_on_the_same_machine(artefact, trained) -> None:
    frame = verify_results(artefact, sample=3, seed=0, device="cpu")
    assert sorted(frame["key"]) == sorted(s.key for s in SPECS)
    stored = {r.spec.key: r.final["test_acc"] for r in trained}
    assert frame["stored_test_acc"].tolist() == [stored[k] for k in frame["key"]]
    assert frame["retrained_test_acc"].tolist() == frame["stored_test_acc"].tolist()  # same seed, same CPU
    assert (frame["difference"] == 0.0).all() and (frame["retrained_device"] == "cpu").all()
    assert frame["within_spread"].dtype == "boolean"
    by_key = frame.set_index("key")
    spread = statistics.stdev([stored[SPECS[0].key], stored[SPECS[1].key]])
    for spec in SPECS[:2]:  # the two seeds of the base network
        row = by_key.loc[spec.key]
        assert row["seeds"] == 2 and row["seed_spread"] == pytest.approx(spread) and bool(row["within_spread"])
    lone = by_key.loc[SPECS[2].key]  # one seed only: no yardstick
    assert lone["seeds"] == 1 and math.isnan(lone["seed_spread"]) and pd.isna(lone["within_spread"])
    summary = verify_summary(frame)
    assert summary.startswith("2 of 2 re-trained trial(s) landed within the stored seed-to-seed spread")
    assert "1 could not be judged" in summary


def test_verify_rejects_bad_arguments(artefact) -> None:
    with pytest.raises(ValueError, match="sample=4 is more than the 3 trial"):
        verify_results(artefact, sample=4)
    with pytest.raises(ValueError, match="sample=0"):
        verify_results(artefact, sample=0)
    with pytest.raises(ValueError, match="device='tpu'"):
        verify_results(artefact, sample=1, device="tpu")


def test_read_artefact_gives_the_trials_in_key_order(artefact) -> None:
    art = read_artefact(artefact)
    assert [s.key for s in art.specs()] == sorted(s.key for s in SPECS)
    standard = next(t for t in art.trials if t["key"] == SPECS[2].key)
    assert [row["epoch"] for row in art.epochs[standard["key"]]] == [1, 2]
    assert "val_acc" not in art.epochs[SPECS[0].key][0]  # a metric a trial never measured stays out


def test_shipped_results_are_found_by_profile(tmp_path, monkeypatch) -> None:
    from snnlab.study.artefact import MANIFEST_FILE, RESULTS_ENV, shipped_results

    (tmp_path / "paper").mkdir()
    assert shipped_results("paper", tmp_path) is None  # a folder without a manifest is not an artefact
    (tmp_path / "paper" / MANIFEST_FILE).write_text("{}")
    assert shipped_results("paper", tmp_path) == tmp_path / "paper"
    assert shipped_results("quick", tmp_path) is None
    monkeypatch.setenv(RESULTS_ENV, str(tmp_path))
    assert shipped_results("paper") == tmp_path / "paper"
