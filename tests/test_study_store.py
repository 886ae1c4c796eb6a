"""ResultsStore: round trips, tidy frames and filters, atomic writes, WAL, schema migrations, path and
foreign-database checks, claims, results kept when the store cannot take them."""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import time
from pathlib import Path

import pandas as pd
import pytest

from snnlab.study import ResultsStore, TrialResult, TrialSpec
from snnlab.study import store as store_module
from snnlab.study.store import (
    APPLICATION_ID,
    SCHEMA_VERSION,
    ResultNotSaved,
    StoreError,
    load_result_file,
    migrate,
    new_owner,
    schema_version,
)


def fake_result(spec: TrialSpec, *, seconds: float = 1.5) -> TrialResult:
    """A deterministic result shaped like run_trial's (one row per epoch, a rate column)."""
    rows = [
        {"epoch": e, "train_loss": 1.0 / e + spec.p, "train_acc": 0.5 + 0.01 * e, "test_loss": 1.2 / e,
         "test_acc": 0.4 + 0.01 * e + 0.001 * spec.seed, "seconds": 0.1, "rate_hidden1": 0.2 + 0.01 * e}
        for e in range(1, spec.epochs + 1)
    ]
    history = pd.DataFrame(rows)
    final = {**rows[-1], "diverged": 0.0}
    return TrialResult(spec=spec, history=history, final=final, seconds=seconds, device="cpu",
                       started_at=100.0, finished_at=101.5, env={"snnlab": "0.1.0", "torch": "x"})


def test_round_trip_of_specs_results_and_histories(tmp_path) -> None:
    store = ResultsStore(tmp_path / "sub" / "r.sqlite")
    specs = [TrialSpec(method=m, p=p, seed=s, epochs=3, sizes=(32,), neuron_options={"beta": 0.9})
             for m, p in (("standard", 0.2), ("temporal", 0.5)) for s in (0, 1)]
    for spec in specs:
        assert not store.has(spec)
        store.put(fake_result(spec))
    assert len(store) == 4 and all(store.has(s) for s in specs)

    got = store.get(specs[1])
    want = fake_result(specs[1])
    assert got.spec == specs[1] and got.final == want.final and got.seconds == want.seconds
    assert got.device == "cpu" and got.env["torch"] == "x"
    pd.testing.assert_frame_equal(got.history[want.history.columns], want.history, check_dtype=False)

    frame = store.frame()
    assert len(frame) == 4 and frame["key"].is_unique
    assert {"dataset", "method", "p", "seed", "sizes", "test_acc", "rate_hidden1", "device_used"} <= set(frame.columns)
    assert frame.loc[frame["key"] == specs[3].key, "test_acc"].item() == pytest.approx(0.4 + 0.03 + 0.001)
    assert store.frame(method="temporal")["seed"].tolist() == [0, 1]
    assert len(store.frame(method=["standard", "temporal"], seed=1)) == 2
    assert len(store.frame(sizes=[32])) == 4 and len(store.frame(sizes=(64,))) == 0
    assert len(store.frame(neuron_options={"beta": 0.9})) == 4
    assert len(store.frame(p=0.2)) == 2

    hist = store.history(method="standard")
    assert len(hist) == 2 * 3
    assert list(hist.groupby("key")["epoch"].apply(list)) == [[1, 2, 3], [1, 2, 3]]
    assert {"train_loss", "test_acc", "rate_hidden1", "method", "seed"} <= set(hist.columns)

    with pytest.raises(ValueError, match="colour"):
        store.frame(colour="red")
    with pytest.raises(KeyError, match="not in"):
        store.get(TrialSpec(seed=99))
    assert store.frame(seed=42).empty and store.history(seed=42).empty


@pytest.mark.parametrize(
    ("filters", "named"),
    [({"p": "abc"}, "filter p"), ({"p": [0.2, "x"]}, "filter p"), ({"p": float("nan")}, "filter p"),
     ({"seed": 1.5}, "filter seed"), ({"seed": True}, "filter seed"), ({"method": 3}, "filter method"),
     ({"sizes": "32"}, "filter sizes"), ({"sizes": [32.5]}, "filter sizes"), ({"epochs": None}, "filter epochs"),
     ({"method": []}, "filter method"), ({"colour": "red"}, "colour"), ({"neuron_options": 3}, "neuron_options")],
)
def test_a_filter_that_can_never_match_is_an_error_naming_it(tmp_path, filters, named) -> None:
    store = ResultsStore(tmp_path / "r.sqlite")
    store.put(fake_result(TrialSpec(method="standard", p=0.2, epochs=1)))
    with pytest.raises((TypeError, ValueError), match=named):
        store.frame(**filters)
    with pytest.raises((TypeError, ValueError), match=named):
        store.history(**filters)
    # the right types still filter (an int for a float field, None for an optional one, tuples for sizes)
    assert len(store.frame(p=[0, 0.2], train_subset=None, sizes=[(128,), [64]], select=None)) == 0
    assert len(store.frame(p=[0, 0.2], train_subset=None, sizes=[(128,), [64]])) == 1


def test_put_never_overwrites_a_finished_trial(tmp_path) -> None:
    store = ResultsStore(tmp_path / "r.sqlite")
    spec = TrialSpec(epochs=4)
    assert store.put(fake_result(spec, seconds=1.0), owner="me") is True
    assert store.put(fake_result(spec, seconds=2.0)) is False  # kept as it was
    assert len(store) == 1 and store.get(spec).seconds == 1.0
    assert len(store.history()) == 4
    with sqlite3.connect(store.path) as conn:
        assert conn.execute("SELECT status, owner FROM trials").fetchall() == [("done", "me")]
    assert store.delete(spec) and store.put(fake_result(spec, seconds=2.0))  # replacing is explicit
    assert store.get(spec).seconds == 2.0 and len(store.history()) == 4


def test_a_trial_is_written_completely_or_not_at_all(tmp_path) -> None:
    store = ResultsStore(tmp_path / "r.sqlite")
    spec = TrialSpec(epochs=3)
    bad = fake_result(spec)
    broken = TrialResult(spec=spec, history=pd.concat([bad.history, bad.history.iloc[:1]]),  # epoch 1 twice
                         final=bad.final, seconds=1.0, device="cpu")
    with pytest.raises(sqlite3.IntegrityError):
        store.put(broken)
    assert not store.has(spec) and len(store) == 0 and store.history().empty
    with sqlite3.connect(store.path) as conn:
        assert conn.execute("SELECT COUNT(*) FROM epochs").fetchone()[0] == 0


def test_wal_mode_and_schema_version(tmp_path) -> None:
    store = ResultsStore(tmp_path / "r.sqlite")
    with sqlite3.connect(store.path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert schema_version(conn) == SCHEMA_VERSION
    assert store.integrity_check() == "ok"


def test_migrates_a_version_1_database(tmp_path) -> None:
    path = tmp_path / "old.sqlite"
    spec = TrialSpec(method="standard", p=0.3, epochs=2)
    conn = sqlite3.connect(path, isolation_level=None)
    assert migrate(conn, target=1) == 1
    cols = {row[1] for row in conn.execute("PRAGMA table_info(trials)")}
    assert "device_used" not in cols  # really the v1 layout
    conn.execute(
        "INSERT INTO trials (key, spec_json, dataset, method, p, seed, epochs, status, seconds, test_acc, final_json) "
        "VALUES (?, ?, 'digits', 'standard', 0.3, 0, 2, 'done', 3.0, 0.9, ?)",
        (spec.key, spec.to_json(), json.dumps({"test_acc": 0.9})),
    )
    conn.executemany("INSERT INTO epochs (key, epoch, train_loss, test_acc) VALUES (?, ?, ?, ?)",
                     [(spec.key, 1, 1.0, 0.8), (spec.key, 2, 0.5, 0.9)])
    conn.close()

    store = ResultsStore(path)  # migrates to the current version on open
    with sqlite3.connect(path) as conn:
        assert schema_version(conn) == SCHEMA_VERSION
        assert "device_used" in {row[1] for row in conn.execute("PRAGMA table_info(trials)")}
    assert store.has(spec)
    frame = store.frame()
    assert frame["test_acc"].tolist() == [0.9] and frame["device_used"].isna().all()
    assert store.history()["epoch"].tolist() == [1, 2]
    store.put(fake_result(spec.replace(seed=1)))  # and the migrated store takes new trials
    assert len(store) == 2


def test_migrates_a_version_0_database_and_refuses_a_newer_one(tmp_path) -> None:
    path = tmp_path / "v0.sqlite"
    sqlite3.connect(path).close()  # an empty SQLite file: version 0
    store = ResultsStore(path)
    assert len(store) == 0
    with sqlite3.connect(path) as conn:
        assert schema_version(conn) == SCHEMA_VERSION
        conn.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION + 1,))
    with pytest.raises(ValueError, match="newer"):
        ResultsStore(path)


def tuned_result(spec: TrialSpec) -> TrialResult:
    """A result shaped like a trial with validation and eval-mode training metrics (best epoch 2 of 3)."""
    rows = [
        {"epoch": e, "train_loss": 1.0 / e, "train_acc": 0.5 + 0.1 * e, "test_loss": 1.2 / e, "test_acc": 0.4 + 0.1 * e,
         "train_loss_eval": 0.9 / e, "train_acc_eval": 0.6 + 0.1 * e, "val_loss": 1.1 / e,
         "val_acc": (0.5, 0.8, 0.7)[e - 1], "seconds": 0.1, "rate_hidden1": 0.2}
        for e in range(1, 4)
    ]
    gap = rows[1]["train_acc_eval"] - rows[1]["test_acc"]
    final = {**rows[1], "diverged": 0.0, "best_epoch": 2, "epochs_trained": 3, "gap_eval": gap}
    return TrialResult(spec=spec, history=pd.DataFrame(rows), final=final, seconds=1.0, device="cpu")


def test_tuning_fields_and_metrics_are_stored_as_columns(tmp_path) -> None:
    store = ResultsStore(tmp_path / "r.sqlite")
    tuned = TrialSpec(method="standard", p=0.2, epochs=3, val_fraction=0.1, train_eval_size=500)
    plain = TrialSpec(method="standard", p=0.2, epochs=3)
    store.put(tuned_result(tuned))
    store.put(fake_result(plain))
    frame = store.frame().set_index("key")
    cols = list(frame.columns)
    assert cols.index("test_acc") < cols.index("train_acc_eval") < cols.index("gap_eval") < cols.index("val_acc") \
        < cols.index("best_epoch") < cols.index("seconds")
    row = frame.loc[tuned.key]
    assert (row["val_fraction"], row["select"], row["train_eval_size"]) == (0.1, "best_val", 500)
    assert (row["best_epoch"], row["val_acc"], row["test_acc"]) == (2, 0.8, pytest.approx(0.6))
    assert row["gap_eval"] == pytest.approx(0.2)
    assert pd.isna(frame.loc[plain.key, "val_acc"]) and frame.loc[plain.key, "select"] == "last"
    assert len(store.frame(select="best_val")) == 1 and len(store.frame(val_fraction=0.1)) == 1
    with sqlite3.connect(store.path) as conn:
        got = conn.execute('SELECT val_fraction, "select", train_eval_size, val_acc, best_epoch, gap_eval, '
                           "train_acc_eval FROM trials WHERE key = ?", (tuned.key,)).fetchone()
    assert got[:5] == (0.1, "best_val", 500, 0.8, 2) and got[5] == pytest.approx(0.2) and got[6] == pytest.approx(0.8)
    hist = store.history(val_fraction=0.1)
    assert hist["val_acc"].tolist() == [0.5, 0.8, 0.7] and "train_acc_eval" in hist.columns


def test_migrates_a_version_2_database_and_reads_reference_networks_as_they_ran(tmp_path) -> None:
    path = tmp_path / "v2.sqlite"
    old = TrialSpec(model="delayed_snn", epochs=2).to_dict()
    old.update(neuron="lif", encoding="direct")  # what spec v3 recorded for the paper's network
    for name in ("val_fraction", "select", "train_eval_size"):
        del old[name]
    conn = sqlite3.connect(path, isolation_level=None)
    assert migrate(conn, target=2) == 2
    conn.execute(
        "INSERT INTO trials (key, spec_json, dataset, model, neuron, encoding, seed, epochs, status, test_acc, "
        "final_json) VALUES ('oldkey', ?, 'digits', 'delayed_snn', 'lif', 'direct', 0, 2, 'done', 0.7, ?)",
        (json.dumps(old, sort_keys=True), json.dumps({"test_acc": 0.7})),
    )
    conn.close()
    store = ResultsStore(path)
    with sqlite3.connect(path) as conn:
        assert schema_version(conn) == SCHEMA_VERSION == 4
        assert {"val_fraction", "select", "val_acc", "gap_eval"} <= {r[1] for r in conn.execute("PRAGMA table_info(trials)")}
    frame = store.frame()
    assert frame[["key", "neuron", "encoding", "select"]].values.tolist() == [["oldkey", "first_spike", "latency", "last"]]
    assert len(store.frame(neuron="first_spike")) == 1


# ---------------------------------------------------------------------- paths and foreign databases
def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file of ``folder`` (recursively) and its bytes: what opening a store must not change."""
    return {str(f.relative_to(folder)): f.read_bytes() for f in sorted(folder.rglob("*")) if f.is_file()}


def test_bad_store_paths_are_refused_naming_the_path(tmp_path, monkeypatch) -> None:
    folder = tmp_path / "folder"
    folder.mkdir()
    garbage = tmp_path / "garbage.sqlite"
    garbage.write_bytes(b"this is not a database\n" * 100)
    regular = tmp_path / "file.txt"
    regular.write_text("x")
    before = snapshot(tmp_path)
    for path, reason in ((folder, "is a directory"), (garbage, "not an SQLite database"),
                         (regular / "r.sqlite", "is a regular file"), (regular / "sub" / "r.sqlite", "is a regular file")):
        with pytest.raises(StoreError, match="is a directory|not an SQLite|is a regular file") as info:
            ResultsStore(path)
        assert str(path) in str(info.value) and reason in str(info.value) and info.value.path == path
        assert isinstance(info.value, ValueError)
    assert snapshot(tmp_path) == before
    # a truncated database (a valid header, then garbage) is refused as well
    broken = tmp_path / "broken.sqlite"
    ResultsStore(broken).put(fake_result(TrialSpec(epochs=1)))
    broken.write_bytes(broken.read_bytes()[:100] + b"\xff" * 50)
    for extra in ("-wal", "-shm"):
        Path(f"{broken}{extra}").unlink(missing_ok=True)
    with pytest.raises(StoreError, match="broken.sqlite"):
        ResultsStore(broken)
    # unwritable: a read-only folder or file (simulated: the tests may run as root, who can write anywhere)
    monkeypatch.setattr(store_module.os, "access", lambda *args, **kwargs: False)
    with pytest.raises(StoreError, match=r"new\.sqlite.*not writable"):
        ResultsStore(tmp_path / "sub" / "new.sqlite")
    with pytest.raises(StoreError, match="not writable"):
        ResultsStore(broken)
    assert not (tmp_path / "sub").exists()


def test_foreign_databases_are_refused_and_left_untouched(tmp_path) -> None:
    unrelated = tmp_path / "notes.sqlite"
    with sqlite3.connect(unrelated) as conn:
        conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)")
        conn.execute("INSERT INTO notes (text) VALUES ('hello')")
    own_trials = tmp_path / "lab.sqlite"
    with sqlite3.connect(own_trials) as conn:  # someone else's "trials" table (and even a schema_version)
        conn.execute("CREATE TABLE trials (key TEXT PRIMARY KEY, patient TEXT, status TEXT)")
        conn.execute("CREATE TABLE schema_version (version INTEGER)")
        conn.execute("INSERT INTO schema_version VALUES (1)")
    other_app = tmp_path / "app.sqlite"
    with sqlite3.connect(other_app) as conn:
        conn.execute("PRAGMA application_id = 1234")
        conn.execute("CREATE TABLE t (x)")
    before = snapshot(tmp_path)
    for path, reason in ((unrelated, "not a snnlab results store"), (own_trials, "not a snnlab results store"),
                         (other_app, "another application")):
        with pytest.raises(StoreError, match=reason) as info:
            ResultsStore(path)
        assert str(path) in str(info.value) and "not modified" in str(info.value)
    assert snapshot(tmp_path) == before  # no new tables, no WAL switch, no -wal/-shm files


def test_a_newer_store_is_refused_without_writing(tmp_path) -> None:
    path = tmp_path / "new.sqlite"
    ResultsStore(path)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION + 1,))
    conn.close()  # the last connection: checkpointed, -wal and -shm removed
    before = snapshot(tmp_path)
    with pytest.raises(StoreError, match=f"schema version {SCHEMA_VERSION + 1}, newer"):
        ResultsStore(path)
    assert snapshot(tmp_path) == before


def test_a_version_3_store_is_migrated_and_marked(tmp_path) -> None:
    path = tmp_path / "v3.sqlite"
    spec = TrialSpec(epochs=1)
    conn = sqlite3.connect(path, isolation_level=None)
    assert migrate(conn, target=3) == 3
    assert conn.execute("PRAGMA application_id").fetchone()[0] == 0  # earlier stores carry no marker
    conn.close()
    store = ResultsStore(path)
    with sqlite3.connect(path) as conn:
        assert schema_version(conn) == SCHEMA_VERSION == 4
        assert conn.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
        assert {"owner", "heartbeat"} <= {r[1] for r in conn.execute("PRAGMA table_info(trials)")}
    store.put(fake_result(spec))
    assert store.has(spec) and ResultsStore(path).has(spec)


# ---------------------------------------------------------------------- claims
def test_claims_skip_live_owners_and_take_over_stale_ones(tmp_path) -> None:
    store = ResultsStore(tmp_path / "r.sqlite", claim_timeout=60.0)
    spec, other = TrialSpec(epochs=1), TrialSpec(epochs=1, seed=1)
    me, them = new_owner(), new_owner()
    assert me != them and me.split(":")[1] == str(os.getpid())
    assert store.claim(spec, me) and store.claim(spec, me)  # claiming again is fine
    assert not store.claim(spec, them)  # a live owner keeps it
    assert not store.has(spec) and len(store) == 0 and store.frame().empty  # a claim is not a result
    assert store.running()["owner"].tolist() == [me]
    # stale: no heartbeat for longer than claim_timeout
    with sqlite3.connect(store.path) as conn:
        conn.execute("UPDATE trials SET heartbeat = ? WHERE key = ?", (time.time() - 61, spec.key))
    assert store.claim(spec, them) and not store.claim(spec, me)
    assert store.heartbeat([spec, other], them) == 1 and store.heartbeat([spec], me) == 0
    # an owner process of this host that no longer exists: taken over at once
    gone = f"{socket.gethostname()}:{2**22 + 12345}:dead"
    assert store.claim(other, gone) and store.claim(other, me)
    assert not store.release(other, them) and store.release(other, me) and store.running()["key"].tolist() == [spec.key]
    # a finished trial is never claimed, whatever happened to its claim
    assert store.put(fake_result(spec)) and not store.claim(spec, me) and not store.claim(spec, them)
    assert store.running().empty and not store.release(spec, them) and store.has(spec)
    with pytest.raises(TypeError, match="owner"):
        store.claim(other, "")
    with pytest.raises(ValueError, match="claim_timeout"):
        ResultsStore(tmp_path / "r.sqlite", claim_timeout=0)


# ---------------------------------------------------------------------- results the store cannot take
def test_a_result_the_store_cannot_take_is_kept_in_a_side_file(tmp_path, monkeypatch) -> None:
    store = ResultsStore(tmp_path / "r.sqlite")
    spec = TrialSpec(method="standard", p=0.2, epochs=3)
    result = fake_result(spec)

    def disk_full(*args, **kwargs):
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(ResultsStore, "_write", disk_full)
    with pytest.raises(ResultNotSaved, match="disk is full") as info:
        store.put(result)
    error = info.value
    assert isinstance(error, OSError) and error.saved_to is not None and error.saved_to.parent == tmp_path
    assert str(error.saved_to) in str(error) and "r.sqlite" in str(error) and error.result is result
    monkeypatch.undo()
    assert not store.has(spec)
    kept = load_result_file(error.saved_to)
    assert kept.spec == spec and kept.final == json.loads(json.dumps(result.final))
    pd.testing.assert_frame_equal(kept.history, result.history, check_dtype=False)
    assert store.put(kept) and store.get(spec).final["test_acc"] == result.final["test_acc"]
    # next to the store impossible: into the temporary folder
    spare = tmp_path / "tmp"
    spare.mkdir()
    monkeypatch.setattr(store_module.tempfile, "gettempdir", lambda: str(spare))
    saved = store_module.keep_result(result, tmp_path / "missing" / "r.sqlite")
    assert saved is not None and saved.parent == spare and load_result_file(saved).spec == spec


def test_a_stored_spec_this_version_refuses_is_left_out_with_a_warning(tmp_path) -> None:
    """An earlier version accepted specs that are refused now: the frame leaves them out (one warning)
    instead of failing, and their rows stay in the store."""
    import json
    import sqlite3

    from snnlab.study import ResultsStore, TrialSpec, run_trial

    store = ResultsStore(tmp_path / "s.sqlite")
    spec = TrialSpec(dataset="digits", sizes=(16,), T=2, epochs=1, train_subset=100, test_subset=50, device="cpu")
    store.put(run_trial(spec))
    with sqlite3.connect(store.path) as conn:  # as an earlier version would have stored it
        data = json.loads(conn.execute("SELECT spec_json FROM trials").fetchone()[0])
        data.update(model="spiking_cnn", sizes=[32])  # too short for a CNN: refused today
        conn.execute("UPDATE trials SET spec_json = ?", (json.dumps(data),))
    with pytest.warns(RuntimeWarning, match="1 finished trial"):
        frame = store.frame()
    assert frame.empty and len(store) == 1
