"""``ResultsStore``: trials and their per-epoch history in one embedded SQLite file.

Design (docs/design.md, "The results store and the runner"):

- one row per trial in ``trials`` (key = ``TrialSpec.key``, the spec as JSON plus the spec
  fields people filter on as columns, status, timestamps, final metrics, environment) and
  one row per epoch in ``epochs`` (the fixed metric columns, the others such as ``rate_<layer>``,
  ``val_acc`` or ``train_acc_eval`` in ``extra_json``);
- a trial's final metrics are those of the epoch its spec selects (``select``): with validation,
  ``val_loss``, ``val_acc``, ``best_epoch``, ``epochs_trained``; with eval-mode training metrics,
  ``train_loss_eval``, ``train_acc_eval`` and ``gap_eval`` = ``train_acc_eval - test_acc``
  (columns since schema v3; NULL when a trial did not measure them);
- a finished trial is written in a single transaction (trial row and all its epoch rows),
  so a killed process leaves either the whole trial or nothing;
- WAL journal mode, so readers (a notebook) never block the writer (a sweep);
- ``schema_version`` records the layout; ``MIGRATIONS[v]`` upgrades a database from
  version ``v`` to ``v + 1`` and runs automatically when a store is opened.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from snnlab.study.spec import TrialSpec, normalize_field, spec_fields

DEFAULT_STORE = Path("runs") / "results.sqlite"
SCHEMA_VERSION = 3

# Spec fields mirrored as columns of ``trials`` (everything else lives in spec_json only).
SPEC_COLUMNS = (
    "dataset", "train_subset", "test_subset", "model", "neuron", "encoding", "T", "method", "p",
    "rescale", "seed", "epochs", "lr", "batch_size", "device", "val_fraction", "select", "train_eval_size",
)
METRIC_COLUMNS = ("train_loss", "train_acc", "test_loss", "test_acc")
# Final metrics of the fair-tuning fields (schema v3): NULL for a trial that did not measure them.
TUNING_COLUMNS = ("train_loss_eval", "train_acc_eval", "gap_eval", "val_loss", "val_acc", "best_epoch",
                  "epochs_trained")
_V1_SPEC_COLUMNS = SPEC_COLUMNS[:15]
EPOCH_COLUMNS = ("train_loss", "train_acc", "test_loss", "test_acc", "seconds")


@dataclass(frozen=True)
class TrialResult:
    """What one trial produced: the per-epoch history, the final metrics, and where/how long it ran.

    ``history`` has one row per epoch (``epoch``, ``train_loss``, ``train_acc``, ``test_loss``,
    ``test_acc``, ``seconds`` and ``rate_<layer>`` columns; ``train_loss_eval``, ``train_acc_eval``,
    ``val_loss``, ``val_acc`` when the spec measured them); ``final`` is ``History.final`` (the
    epoch the spec's ``select`` picked).
    ``env`` records library versions and the host (filled by ``run_trial``).
    """

    spec: TrialSpec
    history: pd.DataFrame
    final: dict[str, Any]
    seconds: float
    device: str
    started_at: float = 0.0
    finished_at: float = 0.0
    env: dict[str, Any] = field(default_factory=dict)


# ---------------------------------------------------------------------- migrations
def _migrate_0_to_1(conn: sqlite3.Connection) -> None:
    """v1: the trials table (spec, status, timings, final metrics) and the per-epoch table."""
    spec_cols = ",\n".join(
        f"    {name} {'TEXT' if name in ('dataset', 'model', 'neuron', 'encoding', 'method', 'rescale', 'device') else 'REAL' if name in ('p', 'lr') else 'INTEGER'}"
        for name in _V1_SPEC_COLUMNS
    )
    # one execute per statement: executescript() would COMMIT the migration's transaction early
    conn.execute(
        f"""
        CREATE TABLE IF NOT EXISTS trials (
            key TEXT PRIMARY KEY,
            spec_json TEXT NOT NULL,
        {spec_cols},
            status TEXT NOT NULL,
            started_at REAL,
            finished_at REAL,
            seconds REAL,
            train_loss REAL, train_acc REAL, test_loss REAL, test_acc REAL,
            final_json TEXT NOT NULL DEFAULT '{{}}'
        )"""
    )
    conn.execute(
        """
        CREATE TABLE IF NOT EXISTS epochs (
            key TEXT NOT NULL REFERENCES trials(key) ON DELETE CASCADE,
            epoch INTEGER NOT NULL,
            train_loss REAL, train_acc REAL, test_loss REAL, test_acc REAL, seconds REAL,
            extra_json TEXT NOT NULL DEFAULT '{}',
            PRIMARY KEY (key, epoch)
        )"""
    )


def _migrate_1_to_2(conn: sqlite3.Connection) -> None:
    """v2: record the environment (library versions, host) and the device a trial actually ran on;
    index the columns sweeps filter on."""
    conn.execute("ALTER TABLE trials ADD COLUMN device_used TEXT")
    conn.execute("ALTER TABLE trials ADD COLUMN env_json TEXT NOT NULL DEFAULT '{}'")
    conn.execute("CREATE INDEX IF NOT EXISTS trials_by_study ON trials (dataset, method, p, seed)")


def _migrate_2_to_3(conn: sqlite3.Connection) -> None:
    """v3: the fair-tuning spec fields (validation fraction, selection, eval-mode training subset) and
    final metrics (eval-mode training metrics, their gap to test, validation metrics, best epoch)."""
    for name, kind in (("val_fraction", "REAL"), ("select", "TEXT"), ("train_eval_size", "INTEGER"),
                       *((m, "INTEGER" if m in ("best_epoch", "epochs_trained") else "REAL") for m in TUNING_COLUMNS)):
        conn.execute(f'ALTER TABLE trials ADD COLUMN "{name}" {kind}')


MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {
    0: _migrate_0_to_1, 1: _migrate_1_to_2, 2: _migrate_2_to_3,
}


def schema_version(conn: sqlite3.Connection) -> int:
    """The schema version recorded in the database (0 for a database snnlab never initialised)."""
    has_table = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type='table' AND name='schema_version'"
    ).fetchone()
    if not has_table:
        return 0
    row = conn.execute("SELECT version FROM schema_version").fetchone()
    return 0 if row is None else int(row[0])


def migrate(conn: sqlite3.Connection, target: int = SCHEMA_VERSION) -> int:
    """Upgrade the database one version step at a time up to ``target``; returns the final version.

    Each step runs in its own transaction together with the version bump, so an interrupted
    migration leaves the database at the previous version. A database newer than this snnlab
    raises ValueError instead of being touched.
    """
    if not 0 <= target <= SCHEMA_VERSION:
        raise ValueError(f"target={target} is not a known schema version; allowed: 0..{SCHEMA_VERSION}")
    version = schema_version(conn)
    if version > SCHEMA_VERSION:
        raise ValueError(
            f"the results database has schema version {version}, newer than this snnlab understands "
            f"({SCHEMA_VERSION}); upgrade snnlab or use another --store path"
        )
    while version < target:
        with _transaction(conn):
            MIGRATIONS[version](conn)
            conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            conn.execute("DELETE FROM schema_version")
            conn.execute("INSERT INTO schema_version (version) VALUES (?)", (version + 1,))
        version += 1
    return version


@contextmanager
def _transaction(conn: sqlite3.Connection) -> Iterator[None]:
    """BEGIN IMMEDIATE ... COMMIT, rolled back on any error (the connection runs in autocommit mode)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _num(value: Any) -> float | None:
    """A metric as a float for SQLite, or None when missing/not a number."""
    if value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _jsonable(value: Any) -> Any:
    """Make numpy/torch scalars JSON-serialisable (used for final metrics and epoch extras)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "item") and callable(value.item):
        try:
            return value.item()
        except (TypeError, ValueError):
            return str(value)
    if isinstance(value, float) and value != value:  # NaN -> null keeps the JSON strict
        return None
    return value


class ResultsStore:
    """Trials and per-epoch histories in SQLite (default ``runs/results.sqlite``).

    Open one per process; every method opens a short-lived connection, so a store object
    is cheap, picklable and safe to use from a notebook while a sweep writes.
    """

    def __init__(self, path: str | os.PathLike[str] = DEFAULT_STORE, *, timeout: float = 60.0) -> None:
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"path must be a file path (str or os.PathLike), got {type(path).__name__} ({path!r})")
        self.path = Path(path).expanduser()
        self.timeout = float(timeout)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as conn:
            conn.execute("PRAGMA journal_mode=WAL")
            migrate(conn)

    def __repr__(self) -> str:
        return f"ResultsStore({str(self.path)!r})"

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        conn = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None)
        try:
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("PRAGMA synchronous=NORMAL")
            yield conn
        finally:
            conn.close()

    # ------------------------------------------------------------------ writing
    def put(self, result: TrialResult) -> None:
        """Write a finished trial and all its epochs in one transaction (replacing an earlier copy)."""
        if not isinstance(result, TrialResult):
            raise TypeError(f"result must be a TrialResult, got {type(result).__name__}")
        spec = result.spec
        final = _jsonable(dict(result.final))
        row: dict[str, Any] = {
            "key": spec.key,
            "spec_json": spec.to_json(),
            **{name: getattr(spec, name) for name in SPEC_COLUMNS},
            "status": "done",
            "started_at": result.started_at,
            "finished_at": result.finished_at,
            "seconds": result.seconds,
            **{name: _num(final.get(name)) for name in METRIC_COLUMNS + TUNING_COLUMNS},
            "final_json": json.dumps(final, sort_keys=True),
            "device_used": result.device,
            "env_json": json.dumps(_jsonable(result.env), sort_keys=True),
        }
        epoch_rows = []
        for record in result.history.to_dict(orient="records"):
            if "epoch" not in record:
                raise ValueError(f"the history of trial {spec.label()} has no 'epoch' column; columns: {list(result.history.columns)}")
            extra = {k: _jsonable(v) for k, v in record.items() if k != "epoch" and k not in EPOCH_COLUMNS}
            epoch_rows.append(
                (spec.key, int(record["epoch"]), *(_num(record.get(c)) for c in EPOCH_COLUMNS),
                 json.dumps(extra, sort_keys=True))
            )
        columns = ", ".join(f'"{name}"' for name in row)  # quoted: "select" is an SQL keyword
        marks = ", ".join("?" for _ in row)
        with self._connect() as conn, _transaction(conn):
            conn.execute("DELETE FROM epochs WHERE key = ?", (spec.key,))
            conn.execute(f"INSERT OR REPLACE INTO trials ({columns}) VALUES ({marks})", tuple(row.values()))
            conn.executemany(
                f"INSERT INTO epochs (key, epoch, {', '.join(EPOCH_COLUMNS)}, extra_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                epoch_rows,
            )

    def delete(self, spec: TrialSpec) -> bool:
        """Remove a trial and its epochs; returns whether it was there."""
        with self._connect() as conn, _transaction(conn):
            cur = conn.execute("DELETE FROM trials WHERE key = ?", (spec.key,))
            conn.execute("DELETE FROM epochs WHERE key = ?", (spec.key,))
        return cur.rowcount > 0

    # ------------------------------------------------------------------ reading
    def has(self, spec: TrialSpec) -> bool:
        """Whether ``spec`` has a finished trial in the store."""
        with self._connect() as conn:
            row = conn.execute("SELECT 1 FROM trials WHERE key = ? AND status = 'done'", (spec.key,)).fetchone()
        return row is not None

    def keys(self) -> set[str]:
        """Keys of every finished trial (one query; what ``run_trials`` uses to skip work)."""
        with self._connect() as conn:
            return {k for (k,) in conn.execute("SELECT key FROM trials WHERE status = 'done'")}

    def get(self, spec: TrialSpec) -> TrialResult:
        """The stored result of ``spec``; KeyError naming the trial when it is not there."""
        with self._connect() as conn:
            row = conn.execute(
                "SELECT seconds, device_used, started_at, finished_at, final_json, env_json FROM trials "
                "WHERE key = ? AND status = 'done'", (spec.key,)
            ).fetchone()
            if row is None:
                raise KeyError(f"trial {spec.label()} (key {spec.key[:12]}) is not in {self.path}")
            history = self._history_frame(conn, [spec.key])
        seconds, device, started, finished, final_json, env_json = row
        history = history.drop(columns=["key"]).reset_index(drop=True)
        return TrialResult(spec=spec, history=history, final=json.loads(final_json), seconds=seconds,
                           device=device or "", started_at=started or 0.0, finished_at=finished or 0.0,
                           env=json.loads(env_json or "{}"))

    def __len__(self) -> int:
        with self._connect() as conn:
            return int(conn.execute("SELECT COUNT(*) FROM trials WHERE status = 'done'").fetchone()[0])

    def frame(self, **filters: Any) -> pd.DataFrame:
        """One row per finished trial: ``key``, every spec field, final metrics, seconds, device, versions.

        The final metrics are those of the epoch the trial's ``select`` picked (see the module
        docstring for the tuning columns, present when any trial measured them). Specs written by an
        earlier spec version are read with ``TrialSpec.from_stored``.

        ``filters`` are spec fields: ``store.frame(dataset="digits", method=["none", "temporal"])``;
        a list (or tuple of values for scalar fields) means "any of these".
        """
        accepted = {name: _accepted(name, wanted) for name, wanted in filters.items()}
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT key, spec_json, seconds, started_at, finished_at, device_used, final_json, env_json "
                "FROM trials WHERE status = 'done' ORDER BY rowid"
            ).fetchall()
        records = []
        for key, spec_json, seconds, started, finished, device_used, final_json, env_json in rows:
            spec = TrialSpec.from_stored(spec_json)
            if not _matches(spec, accepted):
                continue
            env = json.loads(env_json or "{}")
            record: dict[str, Any] = {"key": key}
            record.update({name: getattr(spec, name) for name in spec_fields()})
            record.update(json.loads(final_json))
            record.update({
                "seconds": seconds, "started_at": started, "finished_at": finished, "device_used": device_used,
                "snnlab_version": env.get("snnlab"), "torch_version": env.get("torch"),
            })
            records.append(record)
        columns = ["key", *spec_fields(), *METRIC_COLUMNS, "seconds", "started_at", "finished_at", "device_used",
                   "snnlab_version", "torch_version"]
        frame = pd.DataFrame.from_records(records)
        if frame.empty:
            return pd.DataFrame(columns=columns)
        at = columns.index("seconds")  # the tuning metrics measured by any trial follow the test metrics
        columns[at:at] = [c for c in TUNING_COLUMNS if c in frame.columns]
        ordered = [c for c in columns if c in frame.columns]
        return frame[ordered + [c for c in frame.columns if c not in ordered]]

    def history(self, **filters: Any) -> pd.DataFrame:
        """One row per (trial, epoch): ``key``, every spec field, ``epoch`` and the epoch's metrics.

        Same ``filters`` as ``frame``.
        """
        trials = self.frame(**filters)
        if trials.empty:
            return pd.DataFrame(columns=["key", *spec_fields(), "epoch", *EPOCH_COLUMNS])
        with self._connect() as conn:
            epochs = self._history_frame(conn, list(trials["key"]))
        spec_part = trials[["key", *spec_fields()]]
        return spec_part.merge(epochs, on="key", how="inner").sort_values(["key", "epoch"], kind="stable").reset_index(drop=True)

    @staticmethod
    def _history_frame(conn: sqlite3.Connection, keys: list[str]) -> pd.DataFrame:
        records = []
        for chunk_start in range(0, len(keys), 500):
            chunk = keys[chunk_start:chunk_start + 500]
            marks = ", ".join("?" for _ in chunk)
            for row in conn.execute(
                f"SELECT key, epoch, {', '.join(EPOCH_COLUMNS)}, extra_json FROM epochs "
                f"WHERE key IN ({marks}) ORDER BY key, epoch", chunk
            ):
                record = dict(zip(("key", "epoch", *EPOCH_COLUMNS), row[:-1]))
                record.update(json.loads(row[-1]))
                records.append(record)
        if not records:
            return pd.DataFrame(columns=["key", "epoch", *EPOCH_COLUMNS])
        return pd.DataFrame.from_records(records)

    def integrity_check(self) -> str:
        """SQLite's own integrity check ("ok" when the file is sound)."""
        with self._connect() as conn:
            return str(conn.execute("PRAGMA integrity_check").fetchone()[0])


def _accepted(name: str, wanted: Any) -> list[Any]:
    """The normalised values a filter accepts: one value, or any of a list of values."""
    if name.endswith("_options"):
        many = isinstance(wanted, list) and all(isinstance(w, dict) for w in wanted)
    elif name == "sizes":
        many = isinstance(wanted, list) and all(isinstance(w, (list, tuple)) for w in wanted)
    else:
        many = isinstance(wanted, (list, tuple, set, frozenset))
    return [normalize_field(name, w) for w in wanted] if many else [normalize_field(name, wanted)]


def _matches(spec: TrialSpec, accepted: dict[str, list[Any]]) -> bool:
    """Whether ``spec`` satisfies every filter (``accepted``: field -> accepted values)."""
    return all(getattr(spec, name) in values for name, values in accepted.items())
