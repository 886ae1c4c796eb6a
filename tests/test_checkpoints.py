"""snnlab.checkpoints: random streams, histories and files of a resumable training state."""

from __future__ import annotations

import pytest
import torch

from snnlab.checkpoints import (
    history_from,
    history_state,
    load_checkpoint,
    restore_rng_streams,
    rng_streams,
    save_checkpoint,
)
from snnlab.models import SpikingMLP
from snnlab.train import EpochRecord, History


def _model() -> SpikingMLP:
    return SpikingMLP([6, 8, 3], T=4, dropout="standard", p=0.3, encoding="rate", seed=1).train()


def test_streams_round_trip_continue_the_same_draws():
    x = torch.rand(5, 6, generator=torch.Generator().manual_seed(0))
    a = _model()
    a(x)  # the encoding and dropout generators now exist and have drawn
    states = rng_streams(a)
    assert {"_encoding_generator", "blocks.0.dropout._generator"} <= set(states)
    assert all(v is not None for v in states.values())
    want = a(x)
    b = _model()
    restore_rng_streams(b, states, torch.device("cpu"))
    b.load_state_dict(a.state_dict())
    assert torch.equal(b(x), want)
    fresh = rng_streams(_model())  # never drawn: created lazily, saved as None
    assert set(fresh) == set(states) and all(v is None for v in fresh.values())
    with pytest.raises(ValueError, match="random streams this model does not"):
        restore_rng_streams(_model(), {**states, "blocks.9._generator": None}, torch.device("cpu"))


def test_history_round_trip():
    h = History(select="best_val", best_epoch=1, diverged=False)
    h.records.append(EpochRecord(1, 0.5, 0.8, 0.6, 0.75, {"hidden1": 0.1}, 2.0, val_loss=0.7, val_acc=0.7))
    h.records.append(EpochRecord(2, 0.4, 0.85, 0.65, 0.74, {"hidden1": 0.12}, 2.1, val_loss=0.72, val_acc=0.69))
    back = history_from(history_state(h))
    assert back == h and back.final == h.final


def test_files_are_written_atomically_and_checked(tmp_path):
    path = tmp_path / "sub" / "state.pt"
    save_checkpoint(path, {"fingerprint": "run-a", "epoch": 3, "weights": torch.arange(4.0)})
    assert [p.name for p in path.parent.iterdir()] == ["state.pt"]  # no temporary left
    state = load_checkpoint(path, "run-a")
    assert state is not None and state["epoch"] == 3 and torch.equal(state["weights"], torch.arange(4.0))
    assert load_checkpoint(tmp_path / "missing.pt", "run-a") is None
    with pytest.warns(RuntimeWarning, match="written for another run"):
        assert load_checkpoint(path, "run-b") is None
    path.write_text("garbage")
    with pytest.warns(RuntimeWarning, match="cannot be read"):
        assert load_checkpoint(path, "run-a") is None
