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
  version ``v`` to ``v + 1`` and runs automatically when a store is opened;
- a store is marked as snnlab's (``PRAGMA application_id``, since v4). Opening checks the path
  first, read-only: a directory, a path under a regular file, an unwritable location, a file that is
  not SQLite, an SQLite database that is not a snnlab store (or of a newer schema) raise
  ``StoreError`` (a ValueError naming the path) and nothing is written to it. A snnlab store of an
  earlier schema (v1-v3, before the marker) is recognised by its tables and migrated;
- claims (v4): before a trial is trained, ``claim`` writes a ``running`` row with an owner
  (``host:pid:token``) and a heartbeat; another process skips a trial claimed by a live owner and takes
  over a stale claim (heartbeat older than ``claim_timeout`` seconds, or an owner process on this host
  that no longer exists). ``put`` never overwrites a finished trial;
- a result that cannot be written (disk full, the file gone bad) is kept as JSON in a side file next to
  the store (or in the temporary folder) and ``ResultNotSaved`` says where (``load_result_file``).
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import tempfile
import time
import uuid
import warnings
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import pandas as pd

from snnlab.study.spec import TrialSpec, normalize_field, spec_fields
from snnlab.validation import check_float

DEFAULT_STORE = Path("runs") / "results.sqlite"
SCHEMA_VERSION = 4
# ``PRAGMA application_id`` of a snnlab store (since schema v4): b"SNNL" as a signed 32-bit integer.
APPLICATION_ID = int.from_bytes(b"SNNL", "big", signed=True)
DEFAULT_CLAIM_TIMEOUT = 300.0  # seconds without a heartbeat after which a claim is stale
_SQLITE_HEADER = b"SQLite format 3\x00"

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


def _migrate_3_to_4(conn: sqlite3.Connection) -> None:
    """v4: claims (the owner of a ``running`` row and its heartbeat) and the snnlab application id."""
    conn.execute("ALTER TABLE trials ADD COLUMN owner TEXT")
    conn.execute("ALTER TABLE trials ADD COLUMN heartbeat REAL")
    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")


MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {
    0: _migrate_0_to_1, 1: _migrate_1_to_2, 2: _migrate_2_to_3, 3: _migrate_3_to_4,
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


class StoreError(ValueError):
    """A path that cannot be (or is not) a snnlab results store; the message names the path and why."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"cannot use {path} as a results store: {reason}")
        self.path = path


class ResultNotSaved(OSError):
    """A finished result could not be written to the store; ``saved_to`` is the JSON file that keeps it
    (``load_result_file``), None when even that failed (then ``result`` is the only copy)."""

    def __init__(self, result: TrialResult, store: Path, error: BaseException, saved_to: Path | None) -> None:
        where = (f"it is kept in {saved_to} (load it with snnlab.study.store.load_result_file and put it into a store)"
                 if saved_to is not None else "keeping it in a side file failed too; it is only in this exception")
        super().__init__(f"the result of trial {result.spec.label()} (key {result.spec.key[:12]}) could not be "
                         f"written to {store} ({type(error).__name__}: {error}); {where}")
        self.result = result
        self.saved_to = saved_to


def new_owner() -> str:
    """A claim owner for this process: ``host:pid:token`` (the token tells two runs of one process apart)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


def _owner_gone(owner: str) -> bool:
    """Whether ``owner`` is a process of this host that no longer exists (its claim can be taken at once)."""
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit() or os.name != "posix":
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except OSError:  # e.g. PermissionError: it exists, owned by someone else
        return False
    return False


class ResultsStore:
    """Trials and per-epoch histories in SQLite (default ``runs/results.sqlite``).

    Open one per process; every method opens a short-lived connection, so a store object
    is cheap, picklable and safe to use from a notebook while a sweep writes.

    Opening validates the path before anything is written (``StoreError``, see the module
    docstring). ``timeout``: seconds to wait for a lock; ``claim_timeout``: seconds without a
    heartbeat after which another process may take over a trial's claim.
    """

    def __init__(self, path: str | os.PathLike[str] = DEFAULT_STORE, *, timeout: float = 60.0,
                 claim_timeout: float = DEFAULT_CLAIM_TIMEOUT) -> None:
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"path must be a file path (str or os.PathLike), got {type(path).__name__} ({path!r})")
        self.path = Path(path).expanduser()
        self.timeout = check_float("timeout", timeout, low=0.0)
        self.claim_timeout = check_float("claim_timeout", claim_timeout, low=0.0, low_inclusive=False)
        self.check()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self._connect() as conn:
                conn.execute("PRAGMA journal_mode=WAL")
                migrate(conn)
        except sqlite3.Error as error:
            raise StoreError(self.path, f"{type(error).__name__}: {error}") from error
        except OSError as error:
            raise StoreError(self.path, f"{type(error).__name__}: {error}") from error

    def __repr__(self) -> str:
        return f"ResultsStore({str(self.path)!r})"

    def check(self) -> None:
        """Validate the path without writing to it: StoreError when it cannot be a snnlab store.

        Refused: a directory, a path under a regular file, an unwritable file or folder, a file that
        is not an SQLite database, an SQLite database that is not a snnlab store, a snnlab store of a
        newer schema. A missing file (in a folder that can be created) or an empty database is fine.
        """
        path = self.path
        if path.is_dir():
            raise StoreError(path, "it is a directory; give a file path such as runs/results.sqlite")
        ancestor = path.parent
        while not ancestor.exists() and ancestor != ancestor.parent:
            ancestor = ancestor.parent
        if not ancestor.is_dir():
            raise StoreError(path, f"{ancestor} is a regular file, not a folder")
        if not path.exists():
            if not os.access(ancestor, os.W_OK | os.X_OK):
                raise StoreError(path, f"the folder {ancestor} is not writable")
            return
        if not path.is_file():
            raise StoreError(path, "it is not a regular file")
        if not os.access(path, os.R_OK | os.W_OK) or not os.access(path.parent, os.W_OK | os.X_OK):
            raise StoreError(path, "the file or its folder is not writable (the store needs both)")
        with path.open("rb") as handle:
            header = handle.read(100)
        if not header:
            return  # an empty file: a new database
        if not header.startswith(_SQLITE_HEADER):
            raise StoreError(path, "the file is not an SQLite database")
        # a WAL database with no -wal file holds everything in the main file: read it as immutable, so
        # that not even -wal/-shm files are created; otherwise a read-only connection
        wal_idle = len(header) > 18 and header[18] == 2 and not Path(f"{path}-wal").exists()
        self._check_database("immutable=1" if wal_idle else "mode=ro")

    def _check_database(self, mode: str) -> None:
        """Read-only look at an existing SQLite file: is it a snnlab store this version understands?"""
        path = self.path
        try:
            conn = sqlite3.connect(f"{path.resolve().as_uri()}?{mode}", uri=True, timeout=self.timeout)
            try:
                app_id = int(conn.execute("PRAGMA application_id").fetchone()[0])
                tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
                version = schema_version(conn) if app_id == APPLICATION_ID or "schema_version" in tables else 0
                trial_columns = {row[1] for row in conn.execute("PRAGMA table_info(trials)")}
            finally:
                conn.close()
        except sqlite3.Error as error:
            raise StoreError(path, f"it cannot be read as an SQLite database ({type(error).__name__}: {error})") from error
        if app_id not in (0, APPLICATION_ID):
            raise StoreError(path, f"it is an SQLite database of another application (application_id {app_id}); "
                                   "it was not modified")
        legacy = (app_id == 0 and {"schema_version", "trials", "epochs"} <= tables
                  and {"key", "spec_json", "status", "final_json"} <= trial_columns and version >= 1)
        if app_id == 0 and tables and not legacy:
            raise StoreError(path, f"it is an SQLite database that is not a snnlab results store (tables: "
                                   f"{', '.join(sorted(tables))}); it was not modified")
        if version > SCHEMA_VERSION:
            raise StoreError(path, f"the results database has schema version {version}, newer than this snnlab "
                                   f"understands ({SCHEMA_VERSION}); upgrade snnlab or use another --store path")

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        conn = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None)
        try:
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("PRAGMA synchronous=NORMAL")
            yield conn
        finally:
            conn.close()

    # ------------------------------------------------------------------ claims
    def claim(self, spec: TrialSpec, owner: str) -> bool:
        """Claim ``spec`` for ``owner`` (``new_owner()``) before training it; returns whether it is now ``owner``'s.

        False when the trial is finished or claimed by another live owner. A claim whose heartbeat is
        older than ``claim_timeout`` seconds, or whose owner process on this host is gone, is taken over.
        """
        if not isinstance(spec, TrialSpec):
            raise TypeError(f"spec must be a TrialSpec, got {type(spec).__name__}")
        if not isinstance(owner, str) or not owner:
            raise TypeError(f"owner must be a non-empty str (see new_owner()), got {owner!r}")
        now = time.time()
        with self._connect() as conn, _transaction(conn):
            row = conn.execute("SELECT status, owner, heartbeat FROM trials WHERE key = ?", (spec.key,)).fetchone()
            if row is not None:
                status, holder, beat = row
                if status == "done":
                    return False
                live = beat is not None and now - float(beat) <= self.claim_timeout and not _owner_gone(holder or "")
                if holder != owner and holder and live:
                    return False
                conn.execute("UPDATE trials SET status = 'running', owner = ?, heartbeat = ?, started_at = ? "
                             "WHERE key = ?", (owner, now, now, spec.key))
                return True
            row_values = {"key": spec.key, "spec_json": spec.to_json(),
                          **{name: getattr(spec, name) for name in SPEC_COLUMNS},
                          "status": "running", "started_at": now, "owner": owner, "heartbeat": now}
            _insert_trial(conn, row_values)
        return True

    def heartbeat(self, specs: Iterable[TrialSpec], owner: str) -> int:
        """Refresh the heartbeat of ``owner``'s running claims on ``specs``; returns how many it refreshed."""
        keys = [s.key for s in specs]
        if not keys:
            return 0
        marks = ", ".join("?" for _ in keys)
        with self._connect() as conn, _transaction(conn):
            cur = conn.execute(f"UPDATE trials SET heartbeat = ? WHERE owner = ? AND status = 'running' "
                               f"AND key IN ({marks})", (time.time(), owner, *keys))
        return cur.rowcount

    def release(self, spec: TrialSpec, owner: str) -> bool:
        """Give up ``owner``'s running claim on ``spec`` (a failed trial); a finished trial is never touched."""
        _check_spec(spec)
        with self._connect() as conn, _transaction(conn):
            cur = conn.execute("DELETE FROM trials WHERE key = ? AND owner = ? AND status = 'running'",
                               (spec.key, owner))
        return cur.rowcount > 0

    def running(self) -> pd.DataFrame:
        """The trials claimed and not finished: ``key``, ``owner``, ``heartbeat`` (Unix time), ``started_at``."""
        with self._connect() as conn:
            rows = conn.execute("SELECT key, owner, heartbeat, started_at FROM trials WHERE status = 'running' "
                                "ORDER BY rowid").fetchall()
        return pd.DataFrame(rows, columns=["key", "owner", "heartbeat", "started_at"])

    # ------------------------------------------------------------------ writing
    def put(self, result: TrialResult, *, owner: str | None = None) -> bool:
        """Write a finished trial and all its epochs in one transaction; returns whether it was written.

        A trial already finished in the store is never overwritten (returns False; ``delete`` it first
        to replace it); a running claim (anyone's) is replaced by the result. ``owner`` is recorded as
        who trained it. When the write fails (disk full, the file gone bad) the result is kept as JSON
        next to the store (or in the temporary folder) and ``ResultNotSaved`` says where; an
        ``sqlite3.IntegrityError`` (a malformed history, e.g. an epoch twice) is raised as is.
        """
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
            "owner": owner,
            "heartbeat": None,
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
        try:
            return self._write(row, epoch_rows)
        except sqlite3.IntegrityError:
            raise
        except (sqlite3.Error, OSError) as error:
            raise ResultNotSaved(result, self.path, error, keep_result(result, self.path)) from error

    def _write(self, row: dict[str, Any], epoch_rows: list[tuple[Any, ...]]) -> bool:
        """The transaction of ``put``: False (nothing written) when the trial is already finished."""
        with self._connect() as conn, _transaction(conn):
            status = conn.execute("SELECT status FROM trials WHERE key = ?", (row["key"],)).fetchone()
            if status is not None and status[0] == "done":
                return False
            conn.execute("DELETE FROM epochs WHERE key = ?", (row["key"],))
            conn.execute("DELETE FROM trials WHERE key = ?", (row["key"],))
            _insert_trial(conn, row)
            conn.executemany(
                f"INSERT INTO epochs (key, epoch, {', '.join(EPOCH_COLUMNS)}, extra_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                epoch_rows,
            )
        return True

    def delete(self, spec: TrialSpec) -> bool:
        """Remove a trial (finished or claimed) and its epochs; returns whether it was there."""
        _check_spec(spec)
        with self._connect() as conn, _transaction(conn):
            cur = conn.execute("DELETE FROM trials WHERE key = ?", (spec.key,))
            conn.execute("DELETE FROM epochs WHERE key = ?", (spec.key,))
        return cur.rowcount > 0

    # ------------------------------------------------------------------ reading
    def has(self, spec: TrialSpec) -> bool:
        """Whether ``spec`` has a finished trial in the store."""
        _check_spec(spec)
        with self._connect() as conn:
            row = conn.execute("SELECT 1 FROM trials WHERE key = ? AND status = 'done'", (spec.key,)).fetchone()
        return row is not None

    def keys(self) -> set[str]:
        """Keys of every finished trial (one query; what ``run_trials`` uses to skip work)."""
        with self._connect() as conn:
            return {k for (k,) in conn.execute("SELECT key FROM trials WHERE status = 'done'")}

    def get(self, spec: TrialSpec) -> TrialResult:
        """The stored result of ``spec``; KeyError naming the trial when it is not there."""
        _check_spec(spec)
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
        refused: list[str] = []
        for key, spec_json, seconds, started, finished, device_used, final_json, env_json in rows:
            try:
                spec = TrialSpec.from_stored(spec_json)
            except (ValueError, TypeError) as error:  # stored by an earlier version that accepted it
                refused.append(f"{key[:12]}: {error}")
                continue
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
        if refused:
            warnings.warn(f"{len(refused)} finished trial(s) in {self.path} have specs this version refuses and are "
                          f"left out (their rows stay in the store); first: {refused[0]}", RuntimeWarning, stacklevel=2)
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


def _check_spec(spec: Any) -> None:
    """TypeError naming ``spec`` when it is not a ``TrialSpec``."""
    if not isinstance(spec, TrialSpec):
        raise TypeError(f"spec must be a TrialSpec, got {type(spec).__name__} ({spec!r})")


def _insert_trial(conn: sqlite3.Connection, row: dict[str, Any]) -> None:
    """INSERT one ``trials`` row (column names quoted: "select" is an SQL keyword)."""
    columns = ", ".join(f'"{name}"' for name in row)
    marks = ", ".join("?" for _ in row)
    conn.execute(f"INSERT INTO trials ({columns}) VALUES ({marks})", tuple(row.values()))


# ---------------------------------------------------------------------- results kept outside the store
def result_to_dict(result: TrialResult) -> dict[str, Any]:
    """A ``TrialResult`` as a JSON-able dict (``result_from_dict`` reads it back)."""
    return {
        "spec": result.spec.to_dict(),
        "history": _jsonable(result.history.to_dict(orient="records")),
        "history_columns": [str(c) for c in result.history.columns],
        "final": _jsonable(dict(result.final)),
        "seconds": result.seconds, "device": result.device, "started_at": result.started_at,
        "finished_at": result.finished_at, "env": _jsonable(result.env),
    }


def result_from_dict(data: dict[str, Any]) -> TrialResult:
    """Inverse of ``result_to_dict``."""
    history = pd.DataFrame.from_records(data["history"], columns=data.get("history_columns"))
    return TrialResult(spec=TrialSpec.from_dict(data["spec"]), history=history,
                       final=dict(data["final"]), seconds=float(data["seconds"]), device=str(data["device"]),
                       started_at=float(data["started_at"]), finished_at=float(data["finished_at"]),
                       env=dict(data["env"]))


def load_result_file(path: str | os.PathLike[str]) -> TrialResult:
    """A result kept by ``ResultNotSaved`` (``keep_result``), ready for ``ResultsStore.put``."""
    return result_from_dict(json.loads(Path(path).read_text(encoding="utf-8")))


def keep_result(result: TrialResult, store: Path) -> Path | None:
    """Write ``result`` as JSON next to ``store`` (``<store>.<key12>.<time>.unsaved.json``), else into the
    temporary folder; returns the file, or None when both failed."""
    text = json.dumps(result_to_dict(result), sort_keys=True)
    name = f"{store.name}.{result.spec.key[:12]}.{time.strftime('%Y%m%d-%H%M%S')}.{os.getpid()}.unsaved.json"
    for folder in (store.parent, Path(tempfile.gettempdir())):
        target = folder / name
        try:
            target.write_text(text, encoding="utf-8")
        except OSError:
            try:  # a partly written file (disk full) is no copy of the result
                target.unlink(missing_ok=True)
            except OSError:
                pass
            continue
        return target
    return None


# ---------------------------------------------------------------------- filters
def _check_filter(name: str, value: Any) -> None:
    """TypeError/ValueError naming the filter when ``value`` can never be the value of spec field ``name``."""
    kind = next(str(f.type) for f in fields(TrialSpec) if f.name == name)
    optional = "None" in kind
    if value is None:
        if not optional:
            raise TypeError(f"filter {name}=None can never match: {name} is never None (type {kind})")
        return
    what = f"filter {name}={value!r} ({type(value).__name__})"
    if kind.startswith("str"):
        if not isinstance(value, str):
            raise TypeError(f"{what} must be a str")
    elif kind.startswith("int"):
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{what} must be an integer")
    elif kind.startswith("float"):
        check_float(f"filter {name}", value)
    elif kind.startswith("tuple[int"):
        if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)) or \
                any(isinstance(v, bool) or not isinstance(v, int) for v in value):
            raise TypeError(f"{what} must be a tuple of integers (hidden sizes), or a list of such tuples")


def _accepted(name: str, wanted: Any) -> list[Any]:
    """The normalised values a filter accepts: one value, or any of a list of values (each checked)."""
    if name not in spec_fields():
        normalize_field(name, wanted)  # raises the unknown-field error
    if name.endswith("_options"):
        many = isinstance(wanted, list) and all(isinstance(w, dict) for w in wanted)
    elif name == "sizes":
        many = isinstance(wanted, list) and all(isinstance(w, (list, tuple)) for w in wanted)
    else:
        many = isinstance(wanted, (list, tuple, set, frozenset))
    values = list(wanted) if many else [wanted]
    if many and not values:
        raise ValueError(f"filter {name}={wanted!r} lists no values; give at least one")
    for value in values:
        _check_filter(name, value)
    return [normalize_field(name, w) for w in values]


def _matches(spec: TrialSpec, accepted: dict[str, list[Any]]) -> bool:
    """Whether ``spec`` satisfies every filter (``accepted``: field -> accepted values)."""
    return all(getattr(spec, name) in values for name, values in accepted.items())
