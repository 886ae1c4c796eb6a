"""Resumable training state: what a population needs to go on after a kill exactly as if never stopped.

A population of 15 reference networks can take longer than a GPU lease; stored only when it
ends, it was lost whole when the lease ended. ``fit_population(checkpoint=...)`` writes its state
here after every epoch and continues from it when started again: the model's parameters and
buffers, Adam's state, every random stream (each member's batch-order generator, the encoding and
dropout generators found on the model's modules), the per-member histories, the best-epoch
weights and the divergence flags. The file is written to a temporary name and renamed, so a kill
while writing leaves the previous epoch's file; it holds tensors and plain values only (read with
``torch.load(weights_only=True)``). A file whose ``fingerprint`` (the members' spec keys and the
run's settings) does not match is not used.
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from snnlab.train import EpochRecord, History

CHECKPOINT_VERSION = 1


# ---------------------------------------------------------------- random streams


def _is_stream(attr: str, value: Any) -> bool:
    """A generator, or (by the package's naming, ``*_generator``/``*_generators``) one not created yet or a list of them."""
    if isinstance(value, torch.Generator):
        return True
    if not attr.endswith(("_generator", "_generators")):
        return False
    return value is None or (isinstance(value, list) and all(v is None or isinstance(v, torch.Generator) for v in value))


def _stream_attrs(model: nn.Module) -> list[tuple[str, nn.Module, str]]:
    """Every (name, module, attribute) of ``model`` that holds a random stream (``_is_stream``)."""
    return [(f"{mod_name}.{attr}" if mod_name else attr, module, attr)
            for mod_name, module in model.named_modules()
            for attr, value in vars(module).items() if _is_stream(attr, value)]


def _generator_state(g: torch.Generator | None) -> dict[str, Any] | None:
    return None if g is None else {"device": g.device.type, "state": g.get_state()}


def _generator_from(state: Mapping[str, Any] | None, device: torch.device) -> torch.Generator | None:
    if state is None:
        return None
    kind = str(state["device"])
    g = torch.Generator(device=device if device.type == kind else kind)
    g.set_state(state["state"])
    return g


def rng_streams(model: nn.Module) -> dict[str, Any]:
    """The state of every random stream kept on ``model``'s modules (generators created lazily are None)."""
    out: dict[str, Any] = {}
    for name, module, attr in _stream_attrs(model):
        value = getattr(module, attr)
        out[name] = [_generator_state(g) for g in value] if isinstance(value, list) else _generator_state(value)
    return out


def restore_rng_streams(model: nn.Module, states: Mapping[str, Any], device: torch.device) -> None:
    """Put back the streams of ``rng_streams`` (generators made on ``device`` where they were on its type);
    a saved stream this model does not have is an error (the checkpoint is of another model)."""
    attrs = {name: (module, attr) for name, module, attr in _stream_attrs(model)}
    missing = sorted(set(states) - set(attrs))
    if missing:
        raise ValueError(f"the checkpoint has random streams this model does not: {', '.join(missing)}")
    for name, (module, attr) in attrs.items():
        if name not in states:
            continue
        saved = states[name]
        value = [_generator_from(s, device) for s in saved] if isinstance(saved, list) else _generator_from(saved, device)
        setattr(module, attr, value)


# ---------------------------------------------------------------- histories


def history_state(history: History) -> dict[str, Any]:
    """``history`` as plain values (records as dicts)."""
    return {"records": [dataclasses.asdict(r) for r in history.records], "diverged": history.diverged,
            "select": history.select, "best_epoch": history.best_epoch}


def history_from(state: Mapping[str, Any]) -> History:
    """The ``History`` of ``history_state``."""
    return History(records=[EpochRecord(**r) for r in state["records"]], diverged=bool(state["diverged"]),
                   select=str(state["select"]), best_epoch=state["best_epoch"])


# ---------------------------------------------------------------- files


def save_checkpoint(path: str | os.PathLike[str], state: Mapping[str, Any]) -> None:
    """Write ``state`` to ``path`` atomically (a temporary file renamed over it)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        torch.save({"version": CHECKPOINT_VERSION, **state}, tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def load_checkpoint(path: str | os.PathLike[str], fingerprint: str) -> dict[str, Any] | None:
    """The state at ``path`` when it exists and was written for ``fingerprint``; else None (with a
    warning when a file is there but cannot be used: it is then left alone and overwritten later)."""
    path = Path(path)
    if not path.exists():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - a damaged file: start over, say why
        warnings.warn(f"checkpoint {path} cannot be read ({type(error).__name__}: {error}); training from the start",
                      RuntimeWarning, stacklevel=2)
        return None
    if not isinstance(state, dict) or state.get("version") != CHECKPOINT_VERSION or state.get("fingerprint") != fingerprint:
        warnings.warn(f"checkpoint {path} was written for another run (version or fingerprint differ); "
                      "training from the start", RuntimeWarning, stacklevel=2)
        return None
    return state


__all__ = ["CHECKPOINT_VERSION", "history_from", "history_state", "load_checkpoint", "restore_rng_streams",
           "rng_streams", "save_checkpoint"]
