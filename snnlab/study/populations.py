"""Populations in the runner: which pending trials train together, how many at once, and training them.

Trials whose specs differ only in ``seed``, ``p`` and numeric method options form one group;
a group is cut into populations of at most K members (``population_size``: from the device's
free memory on CUDA, a fixed default on CPU, ``max_population`` caps it). ``train_population``
builds each member exactly as ``run_trial`` does (the same data, validation split included), stacks
them (``PopulationModel``), trains them with ``fit_population`` (validation, selection and eval-mode
training metrics as the specs ask) and returns one ``TrialResult`` per member, the population's size and
wall time recorded in its provenance (``env``).

With a checkpoint folder (the runner's: ``<store>.checkpoints`` next to the results store) a
population writes its training state there after every epoch (``snnlab.checkpoints``) and a run
started again after a kill goes on from the last finished epoch: ``checkpointed_groups`` gives
back the populations that have a checkpoint, so they are formed again with the same members even
when the population size would now be another. The runner removes a checkpoint once every
member's result is in the store.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Sequence
from pathlib import Path

from snnlab.study.spec import TrialSpec
from snnlab.study.store import TrialResult
from snnlab.validation import check_int

DEFAULT_CPU_POPULATION = 4  # 2 cores: MNIST MLPs 1.2x per member at K=4, digits-sized ones 2x or more (bench population)
MAX_POPULATION = 64


def group_key(spec: TrialSpec) -> str:
    """What members of one population share: the spec with seed, p and numeric method options blanked."""
    options = tuple((k, v) for k, v in spec.method_options if not isinstance(v, (int, float)) or isinstance(v, bool))
    return spec.replace(seed=0, p=0.0, method_options=options).key


def group_specs(specs: Sequence[TrialSpec], max_population: int) -> list[list[TrialSpec]]:
    """``specs`` in populations of at most ``max_population`` members, in first-seen order of their groups."""
    max_population = check_int("max_population", max_population, minimum=1)
    groups: dict[str, list[TrialSpec]] = {}
    for spec in specs:
        groups.setdefault(group_key(spec), []).append(spec)
    return [members[i:i + max_population] for members in groups.values() for i in range(0, len(members), max_population)]


def checkpoint_path(directory: str | os.PathLike[str], specs: Sequence[TrialSpec]) -> Path:
    """The checkpoint file of the population of ``specs`` in ``directory`` (named by its members' keys)."""
    digest = hashlib.sha256("\n".join(s.key for s in specs).encode()).hexdigest()[:24]
    return Path(directory) / f"population-{digest}.pt"


def _members_file(path: Path) -> Path:
    return path.with_suffix(".json")


def remove_checkpoint(directory: str | os.PathLike[str], specs: Sequence[TrialSpec]) -> None:
    """Remove the population's checkpoint and its members file (once its results are stored)."""
    path = checkpoint_path(directory, specs)
    path.unlink(missing_ok=True)
    _members_file(path).unlink(missing_ok=True)


def checkpointed_groups(directory: str | os.PathLike[str] | None, specs: Sequence[TrialSpec]) -> list[list[TrialSpec]]:
    """The populations among ``specs`` that have a checkpoint in ``directory`` (all their members pending), in
    the members' order; a members file that cannot be read is skipped."""
    if directory is None or not Path(directory).is_dir():
        return []
    by_key = {s.key: s for s in specs}
    groups = []
    for members_file in sorted(Path(directory).glob("population-*.json")):
        try:
            keys = json.loads(members_file.read_text())["keys"]
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if isinstance(keys, list) and keys and all(k in by_key for k in keys):
            groups.append([by_key.pop(k) for k in keys])
    return groups


def population_size(spec: TrialSpec, *, max_population: int | None = None, data_root: str | None = None) -> int:
    """How many members of ``spec``'s kind to train at once on its device.

    CUDA: one training step of one member is measured (peak memory) and K is what 70% of the free
    memory holds, at most ``max_population`` (default 64). CPU and others: ``max_population`` or 4.
    """
    from snnlab.device import resolve_device

    cap = MAX_POPULATION if max_population is None else check_int("max_population", max_population, minimum=1)
    device = resolve_device(spec.device)
    if device.type != "cuda":
        return min(cap, DEFAULT_CPU_POPULATION) if max_population is None else cap
    import torch

    per_member = _peak_bytes_of_one_member(spec, device, data_root)
    free, _ = torch.cuda.mem_get_info(device)
    return max(1, min(cap, int(0.7 * free // max(per_member, 1))))


def _peak_bytes_of_one_member(spec: TrialSpec, device, data_root: str | None) -> int:
    import torch
    import torch.nn.functional as F

    from snnlab.study.runner import build_trial_model, load_trial_data

    train = load_trial_data(spec, data_root=data_root, device=device).train
    torch.cuda.synchronize(device)
    torch.cuda.reset_peak_memory_stats(device)
    base = torch.cuda.memory_allocated(device)
    torch.manual_seed(spec.seed)
    model = build_trial_model(spec, train.input_shape, train.n_classes).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=spec.lr)
    xb, yb = train.x[: spec.batch_size], train.y[: spec.batch_size]
    F.cross_entropy(model(xb), yb).backward()
    opt.step()
    torch.cuda.synchronize(device)
    peak = torch.cuda.max_memory_allocated(device) - base
    del model, opt
    torch.cuda.empty_cache()
    return int(peak)


def train_population(specs: Sequence[TrialSpec], *, data_root: str | os.PathLike[str] | None = None,
                     progress: bool = False, checkpoints: str | os.PathLike[str] | None = None) -> list[TrialResult]:
    """Train ``specs`` (one group) as one population; one ``TrialResult`` per spec, in order.

    ``checkpoints``: a folder for the population's per-epoch checkpoint (``checkpoint_path``); a
    checkpoint left there by a killed run of the same members is continued from."""
    import torch

    from snnlab.device import resolve_device
    from snnlab.models.population import PopulationModel
    from snnlab.population import fit_population
    from snnlab.study.runner import build_trial_model, environment, load_trial_data

    specs = list(specs)
    if not specs:
        raise ValueError("train_population needs at least one spec")
    keys = {group_key(s) for s in specs}
    if len(keys) != 1:
        raise ValueError("the specs of one population may differ only in seed, p and numeric method options; "
                         f"got {len(keys)} groups: {', '.join(s.label() for s in specs)}")
    if len({s.key for s in specs}) != len(specs):
        raise ValueError("a population cannot hold the same trial twice")
    first = specs[0]
    started = time.time()
    t0 = time.perf_counter()
    device = resolve_device(first.device)
    root = None if data_root is None else os.fspath(data_root)
    data = load_trial_data(first, data_root=root, device=device, progress=progress)
    train = data.train
    members = []
    for spec in specs:
        torch.manual_seed(spec.seed)
        members.append(build_trial_model(spec, train.input_shape, train.n_classes))
    model = PopulationModel(members)
    del members
    checkpoint = None
    if checkpoints is not None:
        checkpoint = checkpoint_path(checkpoints, specs)
        checkpoint.parent.mkdir(parents=True, exist_ok=True)
        _members_file(checkpoint).write_text(json.dumps({"keys": [s.key for s in specs],
                                                         "labels": [s.label() for s in specs]}, indent=1))
    histories = fit_population(model, train, data.test, epochs=first.epochs, seeds=[s.seed for s in specs],
                               lr=first.lr, batch_size=first.batch_size, device=device, progress=progress,
                               weight_decay=first.weight_decay, val=data.val, select=first.select,
                               train_eval_size=first.train_eval_size, checkpoint=checkpoint,
                               fingerprint="\n".join(s.key for s in specs))
    seconds = time.perf_counter() - t0
    env = dict(environment(), population=len(specs), population_seconds=seconds)
    finished = time.time()
    return [TrialResult(spec=s, history=h.to_frame(), final=dict(h.final), seconds=seconds / len(specs),
                        device=device.type, started_at=started, finished_at=finished, env=env)
            for s, h in zip(specs, histories)]
