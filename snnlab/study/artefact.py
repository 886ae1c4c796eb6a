"""The study's shipped results: a results store exported as a reviewable text artefact, and back.

``results/<profile>/`` (e.g. ``results/paper/``) is produced only by ``snnlab results export``
(``export_results``); nothing in it is written by hand. ``snnlab results import`` loads it into a
store (``import_results``) and ``snnlab results verify`` re-trains a seeded sample of its trials and
says how far each lands from its stored result (``verify_results``).

An artefact is a folder of three files:

- ``trials.jsonl``: one JSON object per line and finished trial, sorted by key: ``key``, ``spec``
  (the stored spec; its canonical JSON is the store's ``spec_json``), ``final`` (the final metrics),
  ``seconds``, ``started_at``, ``finished_at``, ``device_used`` and ``env`` (versions and host of
  the process that trained it).
- ``epochs.csv``: one row per trial and epoch, sorted by key then epoch; columns ``key``, ``epoch``,
  ``train_loss``, ``train_acc``, ``test_loss``, ``test_acc``, ``seconds``, then every other
  per-epoch metric of any trial in name order (``rate_<layer>``, ``val_acc``, ...). Every cell is a
  JSON scalar (numbers as Python's shortest round-trip repr), an empty cell a missing value, so
  ``pandas.read_csv`` reads it and the import restores every value bit for bit.
- ``manifest.json``: format and spec version, snnlab version and git commit, the exporting
  machine's versions and GPU, a summary of the environments the trials were trained in, date,
  wall time, counts, the profile's name and definition, the command that produced the results,
  and the sha256 of each data file (checked before anything is read back).

Every JSON text is written with sorted keys, so exporting the same store twice gives byte-identical
data files (the manifest differs only in its date). Non-finite values (a diverged loss) are written as
JSON's ``Infinity``, as Python's ``json`` does. Size, measured on digits trials with one hidden layer:
about 1.1 KB per trial (spec, final metrics, environment) plus 0.15 KB per epoch (0.21 KB with
validation and eval-mode training metrics), so 1.2 KB for a 1-epoch trial and 7.4 KB for a 30-epoch
trial with validation; a thousand 30-epoch trials take about 7 MB, most of it per-epoch floats
written at full precision (so that the import is exact).

Spec versions: a trial's key hashes its spec together with ``SPEC_VERSION``. Only trials of the
current version are exported (trials an earlier version stored are left out and counted), and an
artefact of another version is refused on import: the store writes a trial only under the key this
snnlab computes, and this code would not reproduce those trials.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import json
import math
import os
import random
import sqlite3
import subprocess
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from snnlab.study.spec import DEVICE_CLASSES, SPEC_VERSION, TrialSpec
from snnlab.study.store import EPOCH_COLUMNS, SCHEMA_VERSION, ResultsStore, TrialResult
from snnlab.validation import check_choice, check_int

FORMAT = "snnlab-results"
FORMAT_VERSION = 1
TRIALS_FILE = "trials.jsonl"
EPOCHS_FILE = "epochs.csv"
MANIFEST_FILE = "manifest.json"
DATA_FILES = (TRIALS_FILE, EPOCHS_FILE)
_FIXED_EPOCH_COLUMNS = ("key", "epoch", *EPOCH_COLUMNS)
TRIAL_FIELDS = ("key", "spec", "final", "seconds", "started_at", "finished_at", "device_used", "env")


class ArtefactError(ValueError):
    """An artefact that cannot be read back as it was written (a changed file, another format or spec version)."""


@dataclass(frozen=True)
class Manifest:
    """An artefact's ``manifest.json`` (``data``, as written) and the folder it describes (``path``)."""

    path: Path
    data: dict[str, Any]

    @property
    def trials(self) -> int:
        """Number of trials in the artefact."""
        return int(self.data["trials"])

    @property
    def spec_version(self) -> int:
        """The ``TrialSpec`` version the trials' keys were computed with."""
        return int(self.data["spec_version"])

    @property
    def files(self) -> dict[str, str]:
        """Data file name -> its sha256 (hex)."""
        return {name: entry["sha256"] for name, entry in self.data["files"].items()}

    @property
    def profile(self) -> str | None:
        """The name of the profile the results belong to (None when not given at export)."""
        profile = self.data.get("profile")
        return None if profile is None else str(profile["name"])


@dataclass(frozen=True)
class Artefact:
    """An artefact read back (checksums verified): its manifest, trial records (``trials.jsonl``
    lines, in key order) and per-epoch rows by key (``epochs.csv``; an empty cell is absent)."""

    manifest: Manifest
    trials: tuple[dict[str, Any], ...]
    epochs: dict[str, list[dict[str, Any]]]

    def specs(self) -> list[TrialSpec]:
        """The trials' specs, in key order."""
        return [TrialSpec.from_dict(t["spec"]) for t in self.trials]

    def result(self, trial: Mapping[str, Any]) -> TrialResult:
        """One trial record as the ``TrialResult`` the store writes (its history from ``epochs``)."""
        spec = TrialSpec.from_dict(trial["spec"])
        rows = self.epochs.get(trial["key"], [])
        history = pd.DataFrame.from_records(rows) if rows else pd.DataFrame(columns=["epoch", *EPOCH_COLUMNS])
        return TrialResult(spec=spec, history=history, final=dict(trial["final"]), seconds=trial["seconds"],
                           device=trial["device_used"] or "", started_at=trial["started_at"] or 0.0,
                           finished_at=trial["finished_at"] or 0.0, env=dict(trial["env"]))


@dataclass(frozen=True)
class ImportReport:
    """What ``import_results`` did: trials in the artefact, imported, and skipped (already in the store)."""

    path: Path
    store: Path
    trials: int
    imported: int
    skipped: int

    def summary(self) -> str:
        """One line: counts and where."""
        return (f"{self.trials} trial(s) in {self.path}: {self.imported} imported, {self.skipped} already in "
                f"{self.store} (left as they are)")


# ---------------------------------------------------------------------- export
def export_results(
    store: ResultsStore,
    out_dir: str | os.PathLike[str],
    *,
    specs: Iterable[TrialSpec] | Mapping[str, Any] | None = None,
    profile: str | None = None,
    command: str | None = None,
    wall_seconds: float | None = None,
) -> Manifest:
    """Write the finished trials of ``store`` as an artefact into ``out_dir`` (created if missing).

    ``specs``: None (every finished trial of the current spec version), the specs to export (those
    not in the store are counted in the manifest as ``missing_trials``), or a mapping of
    ``store.frame`` filters (``{"dataset": "mnist"}``). ``profile`` names the profile the results
    belong to (its definition is recorded), ``command`` the command that produced them (e.g.
    ``"snnlab run --profile paper --device cuda"``), ``wall_seconds`` how long that took. The data
    files are written first and the manifest last, each replaced atomically; other files in
    ``out_dir`` are left alone. ValueError when no trial is selected.
    """
    if not isinstance(store, ResultsStore):
        raise TypeError(f"store must be a ResultsStore, got {type(store).__name__}")
    if not isinstance(out_dir, (str, os.PathLike)):
        raise TypeError(f"out_dir must be a folder path (str or os.PathLike), got {type(out_dir).__name__} ({out_dir!r})")
    definition = _profile_definition(profile)
    if command is not None and not isinstance(command, str):
        raise TypeError(f"command must be a string or None, got {type(command).__name__} ({command!r})")
    if wall_seconds is not None:
        if isinstance(wall_seconds, bool) or not isinstance(wall_seconds, (int, float)) or not 0 <= wall_seconds < math.inf:
            raise ValueError(f"wall_seconds={wall_seconds!r} is not allowed; give a finite number of seconds >= 0 or None")
        wall_seconds = float(wall_seconds)

    wanted = _wanted_keys(store, specs)
    with _read(store) as conn:  # one read transaction: trials and their epochs from the same snapshot
        rows, stale = _current_trials(conn)
        missing = 0 if wanted is None else len(wanted - set(rows))
        if wanted is not None:
            rows = {k: v for k, v in rows.items() if k in wanted}
        epochs = _epoch_rows(conn, set(rows))
    if not rows:
        raise ValueError(f"no finished trial of spec version {SPEC_VERSION} in {store.path} matches specs={specs!r}; "
                         "nothing to export")
    keys = sorted(rows)

    out = Path(out_dir).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    trials_text = "".join(_json_line(rows[k]) for k in keys)
    epochs_text, n_epoch_rows = _epochs_csv(keys, epochs)
    files = {}
    for name, text in ((TRIALS_FILE, trials_text), (EPOCHS_FILE, epochs_text)):
        data = text.encode("utf-8")
        _write_atomic(out / name, data)
        files[name] = {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}

    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        **_code_version(),
        "environment": _export_environment(),
        "trained_with": _trained_with(rows[k] for k in keys),
        "wall_seconds": wall_seconds,
        "trial_seconds": math.fsum(float(rows[k]["seconds"] or 0.0) for k in keys),
        "trials": len(keys),
        "epoch_rows": n_epoch_rows,
        "missing_trials": missing,
        "stale_trials_left_out": len(stale if wanted is None else stale & wanted),
        "profile": definition,
        "coverage": _coverage(profile, store, set(keys), {rows[k]["spec"].get("device", "auto") for k in keys}),
        "spec_version": SPEC_VERSION,
        "store_schema": SCHEMA_VERSION,
        "command": command,
        "files": files,
    }
    text = json.dumps(manifest, sort_keys=True, indent=2, allow_nan=False) + "\n"
    _write_atomic(out / MANIFEST_FILE, text.encode("utf-8"))
    return Manifest(path=out, data=json.loads(text))


def _profile_definition(profile: str | None) -> dict[str, Any] | None:
    """``{"name", "definition"}`` of a profile (its dataclass as data), None for None."""
    if profile is None:
        return None
    from snnlab.study.profiles import get_profile

    return {"name": profile, "definition": dataclasses.asdict(get_profile(profile))}


def _coverage(profile: str | None, store: ResultsStore, keys: set[str],
              devices: set[str]) -> list[dict[str, Any]] | None:
    """Per setting and stage of ``profile``'s tuned comparison, the trials expected and exported (None
    without a profile or a comparison plan): what a reader needs to see that an artefact is partial.
    The specs are built with the device the exported specs name (``auto`` unless they all name one)."""
    if profile is None:
        return None
    import warnings

    from snnlab.study.campaign import comparison_coverage
    from snnlab.study.profiles import get_profile, notebook_config

    if get_profile(profile).comparison is None:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # "sized for a GPU": only specs are built here
        cfg = notebook_config(profile, device="auto", store_path=store.path)
    if len(devices) == 1:
        cfg = dataclasses.replace(cfg, spec_device=next(iter(devices)))
    return comparison_coverage(cfg, keys)


def _current_trials(conn: sqlite3.Connection) -> tuple[dict[str, dict[str, Any]], set[str]]:
    """The finished trials of the current spec version as artefact records by key, and the keys of the
    others (stored by an earlier spec version: their key is not what this snnlab computes)."""
    raw = conn.execute(
        "SELECT key, spec_json, seconds, started_at, finished_at, device_used, final_json, env_json "
        "FROM trials WHERE status = 'done'"
    ).fetchall()
    records: dict[str, dict[str, Any]] = {}
    stale: set[str] = set()
    for key, spec_json, seconds, started, finished, device_used, final_json, env_json in raw:
        try:
            current = TrialSpec.from_stored(spec_json).key == key
        except (ValueError, TypeError):  # a spec this snnlab no longer accepts
            current = False
        if not current:
            stale.add(key)
            continue
        records[key] = {
            "key": key, "spec": json.loads(spec_json), "final": json.loads(final_json), "seconds": seconds,
            "started_at": started, "finished_at": finished, "device_used": device_used,
            "env": json.loads(env_json or "{}"),
        }
    return records, stale


def _wanted_keys(store: ResultsStore, specs: Iterable[TrialSpec] | Mapping[str, Any] | None) -> set[str] | None:
    """The keys ``specs`` selects (None: all)."""
    if specs is None:
        return None
    if isinstance(specs, Mapping):
        return set(store.frame(**dict(specs))["key"])
    if isinstance(specs, (str, bytes)) or not isinstance(specs, Iterable):
        raise TypeError(f"specs must be None, TrialSpecs or a mapping of store.frame filters, got {specs!r}")
    keys = set()
    for i, spec in enumerate(specs):
        if not isinstance(spec, TrialSpec):
            raise TypeError(f"specs[{i}] must be a TrialSpec, got {type(spec).__name__} ({spec!r})")
        keys.add(spec.key)
    return keys


def _epoch_rows(conn: sqlite3.Connection, keys: set[str]) -> dict[str, list[dict[str, Any]]]:
    """Per key, its epoch rows (fixed columns and extras, as stored), by epoch."""
    out: dict[str, list[dict[str, Any]]] = {}
    cursor = conn.execute(f"SELECT key, epoch, {', '.join(EPOCH_COLUMNS)}, extra_json FROM epochs ORDER BY key, epoch")
    for row in cursor:
        if row[0] not in keys:
            continue
        record = dict(zip(_FIXED_EPOCH_COLUMNS, row[:-1]))
        record.update(json.loads(row[-1] or "{}"))
        out.setdefault(row[0], []).append(record)
    return out


@contextmanager
def _read(store: ResultsStore) -> Iterator[sqlite3.Connection]:
    """A short-lived connection to the store's file in one read transaction (a consistent snapshot while a
    sweep writes), for reading its tables (schema ``SCHEMA_VERSION``: the store migrates the file when opened)."""
    conn = sqlite3.connect(store.path, timeout=store.timeout, isolation_level=None)
    try:
        conn.execute("BEGIN")
        yield conn
    finally:
        conn.close()  # a read transaction: closing ends it


def _json_line(record: Mapping[str, Any]) -> str:
    """One record as a line of canonical JSON (sorted keys, no whitespace)."""
    return json.dumps(record, sort_keys=True, separators=(",", ":")) + "\n"


def _cell(value: Any) -> str:
    """A CSV cell: a JSON scalar, or empty for a missing value."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return json.dumps(value)


def _epochs_csv(keys: list[str], epochs: Mapping[str, list[dict[str, Any]]]) -> tuple[str, int]:
    """The ``epochs.csv`` text of ``keys`` (in that order) and its number of rows."""
    extras = sorted({name for k in keys for row in epochs.get(k, []) for name in row} - set(_FIXED_EPOCH_COLUMNS))
    columns = [*_FIXED_EPOCH_COLUMNS, *extras]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    n = 0
    for key in keys:
        for row in epochs.get(key, []):
            writer.writerow([key if c == "key" else _cell(row.get(c)) for c in columns])
            n += 1
    return buffer.getvalue(), n


def _write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename (never a half-written file)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _code_version() -> dict[str, Any]:
    """snnlab's version and, when it runs from a git checkout, the commit and whether files were changed."""
    import snnlab

    here = Path(snnlab.__file__).resolve().parents[1]
    commit = dirty = None
    top = _git(here, "rev-parse", "--show-toplevel")
    if top is not None and Path(top).resolve() == here:
        commit = _git(here, "rev-parse", "HEAD")
        status = _git(here, "status", "--porcelain", "--untracked-files=no")
        dirty = None if status is None else bool(status)
    return {"snnlab_version": snnlab.__version__, "git_commit": commit, "git_dirty": dirty}


def _git(cwd: Path, *args: str) -> str | None:
    """A git command's stripped output, None when git or the repository is not there."""
    try:
        done = subprocess.run(["git", "-C", str(cwd), *args], capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def _export_environment() -> dict[str, Any]:
    """Versions and host of the exporting process, with its GPU model (None without CUDA)."""
    import torch

    from snnlab.study.runner import environment

    env = environment()
    env["gpu"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return env


def _trained_with(records: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, int]]:
    """Per environment field (and ``device_used``), how many trials ran with each value; measurements
    (a float such as ``population_seconds``) are not an environment and are left out."""
    counts: dict[str, Counter[str]] = {}
    for record in records:
        fields = {**record["env"], "device_used": record["device_used"]}
        for name, value in fields.items():
            if isinstance(value, float):
                continue
            counts.setdefault(name, Counter())[str(value)] += 1
    return {name: dict(sorted(c.items())) for name, c in sorted(counts.items())}


# ---------------------------------------------------------------------- reading back
def read_manifest(path: str | os.PathLike[str]) -> Manifest:
    """The manifest of the artefact in folder ``path`` (FileNotFoundError/ArtefactError when it is not one)."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a folder path (str or os.PathLike), got {type(path).__name__} ({path!r})")
    folder = Path(path).expanduser()
    file = folder / MANIFEST_FILE
    if not file.is_file():
        raise FileNotFoundError(f"{file} does not exist: {folder} is not a results artefact "
                                "(one is written by `snnlab results export`)")
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ArtefactError(f"{file} is not valid JSON ({error})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        found = data.get("format") if isinstance(data, dict) else type(data).__name__
        raise ArtefactError(f"{file} is not an {FORMAT} manifest (its format is {found!r})")
    version = data.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ArtefactError(f"{file} has format_version {version!r}; this snnlab reads up to {FORMAT_VERSION}: "
                            "upgrade snnlab")
    for name in ("trials", "spec_version", "files"):
        if name not in data:
            raise ArtefactError(f"{file} has no {name!r} entry")
    files = data["files"]
    if not isinstance(files, dict) or sorted(files) != sorted(DATA_FILES) or not all(
            isinstance(entry, dict) and isinstance(entry.get("sha256"), str) for entry in files.values()):
        raise ArtefactError(f"{file}: 'files' must give the sha256 of exactly {', '.join(DATA_FILES)}; "
                            f"it lists {sorted(files) if isinstance(files, dict) else files!r}")
    return Manifest(path=folder, data=data)


def verify_checksums(manifest: Manifest) -> None:
    """Check every data file against the manifest's sha256; ArtefactError naming the first that differs."""
    for name in sorted(manifest.files):
        if not (manifest.path / name).is_file():
            raise FileNotFoundError(f"{manifest.path / name} is listed in {manifest.path / MANIFEST_FILE} "
                                    "but does not exist")
    for name, expected in sorted(manifest.files.items()):
        file = manifest.path / name
        actual = hashlib.sha256(file.read_bytes()).hexdigest()
        if actual != expected:
            raise ArtefactError(
                f"{file} does not match the manifest: sha256 {actual[:16]}..., expected {expected[:16]}...; "
                "it was changed after `snnlab results export` (re-export it from the store)"
            )


def read_artefact(path: str | os.PathLike[str]) -> Artefact:
    """Read the artefact in folder ``path``: manifest, checksums verified, then the trials and epochs.

    ArtefactError (a ValueError) for a changed file, another spec version (see the module docstring),
    a trial whose key is not what this snnlab computes for its spec, or epochs of an unknown trial.
    """
    manifest = read_manifest(path)
    verify_checksums(manifest)
    if manifest.spec_version != SPEC_VERSION:
        commit = manifest.data.get("git_commit") or "unknown"
        raise ArtefactError(
            f"{manifest.path}: its trials are keyed by TrialSpec version {manifest.spec_version}, this snnlab by "
            f"version {SPEC_VERSION}, whose code would not reproduce them; read it with the snnlab that wrote it "
            f"(commit {commit}) or re-run the study and export again"
        )
    trials = []
    for number, line in enumerate((manifest.path / TRIALS_FILE).read_text(encoding="utf-8").splitlines(), start=1):
        try:
            record = json.loads(line)
            key = TrialSpec.from_dict(record["spec"]).key
            missing = [n for n in TRIAL_FIELDS if n not in record]
        except (ValueError, TypeError, KeyError) as error:
            raise ArtefactError(f"{manifest.path / TRIALS_FILE} line {number}: not a trial record this snnlab can "
                                f"read ({type(error).__name__}: {error})") from None
        if missing:
            raise ArtefactError(f"{manifest.path / TRIALS_FILE} line {number}: no {', '.join(missing)}")
        if key != record["key"]:
            raise ArtefactError(
                f"{manifest.path / TRIALS_FILE} line {number}: key {record['key'][:12]} is not the key this snnlab "
                f"computes for its spec ({key[:12]}, TrialSpec version {SPEC_VERSION})"
            )
        trials.append(record)
    if len(trials) != manifest.trials:
        raise ArtefactError(f"{manifest.path / TRIALS_FILE} holds {len(trials)} trial(s), the manifest says {manifest.trials}")
    known = {t["key"] for t in trials}
    epochs: dict[str, list[dict[str, Any]]] = {}
    with open(manifest.path / EPOCHS_FILE, newline="", encoding="utf-8") as handle:
        for number, row in enumerate(csv.DictReader(handle), start=2):
            key = row.pop("key")
            if key not in known:
                raise ArtefactError(f"{manifest.path / EPOCHS_FILE} line {number}: key {key[:12]} is not a trial of "
                                    f"{TRIALS_FILE}")
            epochs.setdefault(key, []).append({c: json.loads(v) for c, v in row.items() if v != ""})
    # a metric missing in some epochs of a trial is None there; one it never measured stays out of its history
    for rows in epochs.values():
        names = {c for r in rows for c in r}
        for r in rows:
            for c in names - set(r):
                r[c] = None
    return Artefact(manifest=manifest, trials=tuple(trials), epochs=epochs)


# ---------------------------------------------------------------------- import
RESULTS_ENV = "SNNLAB_RESULTS"  # where shipped artefacts live: <root>/<profile>/ (default: the repository's results/)
_REPO_RESULTS = Path(__file__).resolve().parents[2] / "results"


def shipped_results(profile: str, root: str | os.PathLike[str] | None = None) -> Path | None:
    """The shipped artefact of ``profile`` (``<root>/<profile>/`` holding a ``manifest.json``), or None.

    ``root``: given, else ``$SNNLAB_RESULTS``, else the repository's ``results/`` (absent in an
    installed copy: None)."""
    if root is None:
        env = os.environ.get(RESULTS_ENV, "").strip()
        root = Path(env).expanduser() if env else _REPO_RESULTS
    path = Path(root) / profile
    return path if (path / MANIFEST_FILE).is_file() else None


def import_results(path: str | os.PathLike[str], store: ResultsStore) -> ImportReport:
    """Load the artefact in folder ``path`` into ``store``; returns what was imported and skipped.

    The checksums are verified and every trial checked (``read_artefact``) before anything is
    written. A trial whose key is already in the store is left as it is (counted as skipped); the
    others are written one transaction each (``store.put``), so ``store.frame()``/``history()``
    return them as they were exported (rows in key order).
    """
    if not isinstance(store, ResultsStore):
        raise TypeError(f"store must be a ResultsStore, got {type(store).__name__}")
    artefact = read_artefact(path)
    present = store.keys()
    imported = skipped = 0
    for trial in artefact.trials:
        if trial["key"] in present:
            skipped += 1
            continue
        store.put(artefact.result(trial))
        imported += 1
    return ImportReport(path=artefact.manifest.path, store=store.path, trials=len(artefact.trials),
                        imported=imported, skipped=skipped)


# ---------------------------------------------------------------------- verify
VERIFY_COLUMNS = ("key", "trial", "stored_test_acc", "retrained_test_acc", "difference", "seed_spread", "seeds",
                  "within_spread", "stored_device", "retrained_device", "seconds")


def verify_results(
    path: str | os.PathLike[str],
    *,
    sample: int,
    seed: int = 0,
    device: str = "auto",
    data_root: str | os.PathLike[str] | None = None,
    progress: bool = False,
) -> pd.DataFrame:
    """Re-train ``sample`` trials of the artefact at ``path``, chosen at random with ``seed``, and compare.

    Each chosen spec is trained again with ``run_trial`` on ``device`` (a device class: the spec's
    own device field is replaced by it; ``"auto"`` picks CUDA, then MPS, then the CPU). One row per
    trial (``VERIFY_COLUMNS``): its key, a label, the stored and re-trained test accuracy, their
    ``difference`` (re-trained - stored), the yardstick ``seed_spread`` = the standard deviation
    (ddof 1) of the stored test accuracy over the artefact's trials that differ from this one only
    in ``seed`` (itself included; ``seeds`` of them; NaN when fewer than 2), ``within_spread``
    (|difference| <= seed_spread; missing without a spread), the devices and the re-training time.
    Nothing is written anywhere.
    """
    from snnlab.study.runner import run_trial

    sample = check_int("sample", sample, minimum=1)
    seed = check_int("seed", seed, minimum=0)
    check_choice("device", device, DEVICE_CLASSES)
    artefact = read_artefact(path)
    if sample > len(artefact.trials):
        raise ValueError(f"sample={sample} is more than the {len(artefact.trials)} trial(s) of {artefact.manifest.path}; "
                         f"allowed: 1..{len(artefact.trials)}")
    specs = dict(zip((t["key"] for t in artefact.trials), artefact.specs()))
    stored = {t["key"]: _acc(t["final"]) for t in artefact.trials}
    groups: dict[str, list[float]] = {}
    for key, spec in specs.items():
        groups.setdefault(spec.replace(seed=0).key, []).append(stored[key])
    chosen = random.Random(seed).sample(sorted(specs), sample)
    devices = {t["key"]: t["device_used"] for t in artefact.trials}
    rows = []
    for key in _progress(chosen, progress):
        spec = specs[key]
        result = run_trial(spec.replace(device=device), data_root=data_root)
        accs = [a for a in groups[spec.replace(seed=0).key] if not math.isnan(a)]
        spread = float(pd.Series(accs).std(ddof=1)) if len(accs) >= 2 else math.nan
        again = _acc(result.final)
        difference = again - stored[key]
        within = pd.NA if math.isnan(spread) or math.isnan(difference) else bool(abs(difference) <= spread)
        rows.append({
            "key": key, "trial": _trial_label(spec), "stored_test_acc": stored[key], "retrained_test_acc": again,
            "difference": difference, "seed_spread": spread, "seeds": len(accs), "within_spread": within,
            "stored_device": devices[key], "retrained_device": result.device, "seconds": result.seconds,
        })
    frame = pd.DataFrame.from_records(rows, columns=list(VERIFY_COLUMNS))
    frame["within_spread"] = frame["within_spread"].astype("boolean")
    return frame


def verify_summary(frame: pd.DataFrame) -> str:
    """One line about a ``verify_results`` frame: how many re-trained trials landed within the seed spread."""
    judged = frame["within_spread"].dropna()
    inside = int(judged.sum())
    text = f"{inside} of {len(judged)} re-trained trial(s) landed within the stored seed-to-seed spread"
    unjudged = len(frame) - len(judged)
    if unjudged:
        text += f"; {unjudged} could not be judged (fewer than 2 seeds of that spec, or no test accuracy)"
    if len(frame):
        text += f"; largest |difference| {frame['difference'].abs().max():.4f}"
    return text


def _acc(final: Mapping[str, Any]) -> float:
    """The final test accuracy (NaN when no epoch finished)."""
    value = final.get("test_acc")
    return math.nan if value is None else float(value)


def _trial_label(spec: TrialSpec) -> str:
    """A short description of a trial for the verify table."""
    size = "all" if spec.train_subset is None else spec.train_subset
    return f"{spec.dataset}/{spec.model} n={size} {spec.method} p={spec.p:g} seed={spec.seed}"


def _progress(items: list[str], progress: bool) -> Iterable[str]:
    if not progress:
        return items
    from tqdm.auto import tqdm

    return tqdm(items, desc="re-training", unit="trial")


__all__ = [
    "ArtefactError",
    "Artefact",
    "DATA_FILES",
    "EPOCHS_FILE",
    "FORMAT",
    "FORMAT_VERSION",
    "ImportReport",
    "MANIFEST_FILE",
    "Manifest",
    "TRIALS_FILE",
    "TRIAL_FIELDS",
    "VERIFY_COLUMNS",
    "export_results",
    "import_results",
    "read_artefact",
    "read_manifest",
    "verify_checksums",
    "verify_results",
    "verify_summary",
]
