"""fit_population: each member trains exactly as its standalone trial (fit with its seed)."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from snnlab.data import load_dataset
from snnlab.dropout import available
from snnlab.models import build_model
from snnlab.models.population import PopulationModel
from snnlab.population import evaluate_population, fit_population
from snnlab.train import evaluate, fit

KINDS = {
    "spiking_mlp": ([64, 24, 10], {}),
    "spiking_cnn": ([3, 16, 10], {"input_shape": (1, 8, 8)}),
    "penalty_snn": ([64, 24, 10], {}),
    "delayed_snn": ([64, 24, 10], {}),
}
SEEDS = (0, 1, 2)


@pytest.fixture(scope="module")
def digits64():
    """Digits for models in float64: member and standalone GEMMs round differently in float32
    (baddbmm vs addmm, ~1e-7), and one flipped spike moves a loss by ~1e-3; with float64 models
    (the synapses cast the float32 data) the two paths agree to ~1e-15."""
    return (load_dataset("digits", "train", subset=160, device="cpu"),
            load_dataset("digits", "test", subset=48, device="cpu"))


def _member(kind: str, method: str, seed: int, p: float) -> torch.nn.Module:
    sizes, extra = KINDS[kind]
    torch.manual_seed(seed)
    return build_model(kind, sizes, T=4, dropout=method, p=p, seed=seed, **extra).double()


def _ps(method: str) -> list[float]:
    return [0.0] * len(SEEDS) if method == "none" else [0.1, 0.2, 0.3]


@pytest.mark.parametrize("kind", sorted(KINDS))
@pytest.mark.parametrize("method", available())
def test_members_follow_their_standalone_trials_step_by_step(kind, method, digits64):
    """A population of 3 (different seeds and p) gives each member its standalone per-step losses
    for the first 20 steps (2 epochs of 10) within 1e-5 relative, and the same dropout masks."""
    train, test = digits64
    standalone, masks = [], []
    for seed, p in zip(SEEDS, _ps(method)):
        model = _member(kind, method, seed, p)
        losses, seen = [], []

        def on_step(loss, model=model, losses=losses, seen=seen):
            losses.append(float(loss))
            seen.append([d._stats_source[1].clone() if d._stats_source is not None else None for d in model.dropouts])

        fit(model, train, test, epochs=2, lr=1e-2, batch_size=16, seed=seed, device="cpu", progress=False, on_step=on_step)
        standalone.append(losses)
        masks.append(seen)
    pop = PopulationModel([_member(kind, method, s, p) for s, p in zip(SEEDS, _ps(method))])
    pop_losses, pop_masks = [], []

    def on_pop_step(losses):
        pop_losses.append(losses.tolist())
        pop_masks.append([[m._stats_source[1].clone() if m._stats_source is not None else None for m in d.methods]
                          for d in pop.dropouts])

    fit_population(pop, train, test, epochs=2, seeds=SEEDS, lr=1e-2, batch_size=16, device="cpu", progress=False,
                   on_step=on_pop_step)
    assert len(pop_losses) == 20
    for k in range(len(SEEDS)):
        for step in range(20):
            assert pop_losses[step][k] == pytest.approx(standalone[k][step], rel=1e-5), (k, step)
            for layer, mask in enumerate(masks[k][step]):
                other = pop_masks[step][layer][k]
                assert (mask is None) == (other is None)
                if mask is not None:
                    # The same units dropped. The kept values (1/keep_n of the shaped methods) agree to rounding:
                    # min-max normalised membrane scores amplify the float64 summation-order differences.
                    assert torch.equal(mask == 0, other == 0), (k, step, layer)
                    assert torch.allclose(mask.double(), other.double(), rtol=1e-6, atol=0), (k, step, layer)


def test_histories_and_evaluation_match_standalone(digits64):
    train, test = digits64
    pop = PopulationModel([_member("spiking_mlp", "temporal", s, p) for s, p in zip(SEEDS, _ps("temporal"))])
    histories = fit_population(pop, train, test, epochs=2, seeds=SEEDS, lr=1e-2, batch_size=16, device="cpu",
                               progress=False)
    evals = evaluate_population(pop, test)
    for k, (seed, p) in enumerate(zip(SEEDS, _ps("temporal"))):
        model = _member("spiking_mlp", "temporal", seed, p)
        hist = fit(model, train, test, epochs=2, lr=1e-2, batch_size=16, seed=seed, device="cpu", progress=False)
        got, want = histories[k].to_frame().drop(columns="seconds"), hist.to_frame().drop(columns="seconds")
        assert list(got.columns) == list(want.columns)
        assert got.to_numpy() == pytest.approx(want.to_numpy(), rel=1e-9)
        ev = evaluate(model, test)
        assert evals[k].accuracy == ev.accuracy and evals[k].loss == pytest.approx(ev.loss, rel=1e-9)
        assert evals[k].spike_rates == pytest.approx(ev.spike_rates, rel=1e-9)


def test_a_diverging_member_stops_alone(digits64):
    train, test = digits64
    members = [_member("spiking_mlp", "none", s, 0.0) for s in SEEDS]
    with torch.no_grad():
        members[1].readout.synapse.bias[0] = float("nan")  # member 1's loss is NaN from the first step
    pop = PopulationModel(members)
    before = pop.blocks[0].synapse.weight[1].detach().clone()
    with pytest.warns(RuntimeWarning, match="member 1 diverged"):
        histories = fit_population(pop, train, test, epochs=2, seeds=SEEDS, lr=1e-2, batch_size=16, device="cpu",
                                   progress=False)
    assert histories[1].diverged and histories[1].records == []
    assert torch.equal(pop.blocks[0].synapse.weight[1].detach(), before)  # frozen at its last finite values
    assert not histories[0].diverged and len(histories[0].records) == 2
    assert not histories[2].diverged and len(histories[2].records) == 2
    want = fit(_member("spiking_mlp", "none", 2, 0.0), train, test, epochs=2, lr=1e-2, batch_size=16, seed=2,
               device="cpu", progress=False)
    assert histories[2].records[-1].test_acc == want.records[-1].test_acc


def test_bad_arguments(digits64):
    train, test = digits64
    pop = PopulationModel([_member("spiking_mlp", "none", s, 0.0) for s in SEEDS])
    with pytest.raises(ValueError, match="one seed per member"):
        fit_population(pop, train, test, epochs=1, seeds=[0, 1], progress=False, device="cpu")
    with pytest.raises(TypeError, match="PopulationModel"):
        fit_population(_member("spiking_mlp", "none", 0, 0.0), train, test, epochs=1, seeds=[0], progress=False)
    with pytest.raises(TypeError, match="on_step"):
        fit_population(pop, train, test, epochs=1, seeds=SEEDS, progress=False, device="cpu", on_step=3)


@pytest.mark.parametrize("kind", ["spiking_mlp", "penalty_snn"])
def test_members_select_and_restore_their_best_validation_epoch_as_standalone(kind, digits64):
    """With a validation set, eval-mode training metrics and select='best_val', member k's history,
    best epoch and restored weights are those of its standalone fit (penalty_snn: a stochastic
    encoding, so the extra evaluations must draw in the same order)."""
    from snnlab.data import split_validation

    data, test = digits64
    train, val = split_validation(data, 0.25)
    shifted = dataclasses.replace(val, y=(val.y + 1) % 10)  # best epoch early: restoring is not a no-op
    kwargs = dict(epochs=3, lr=1e-2, batch_size=16, device="cpu", progress=False, val=shifted, select="best_val",
                  train_eval_size=50)
    pop = PopulationModel([_member(kind, "standard", s, p) for s, p in zip(SEEDS, _ps("standard"))])
    histories = fit_population(pop, train, test, seeds=SEEDS, **kwargs)
    for k, (seed, p) in enumerate(zip(SEEDS, _ps("standard"))):
        model = _member(kind, "standard", seed, p)
        want = fit(model, train, test, seed=seed, **kwargs)
        got = histories[k]
        assert got.best_epoch == want.best_epoch and got.select == "best_val"
        a, b = got.to_frame().drop(columns="seconds"), want.to_frame().drop(columns="seconds")
        assert list(a.columns) == list(b.columns) and {"val_acc", "train_acc_eval"} <= set(a.columns)
        assert a.to_numpy() == pytest.approx(b.to_numpy(), rel=1e-9)
        final_got, final_want = got.final, want.final
        assert final_got["epoch"] == final_want["epoch"] == want.best_epoch
        for name in ("blocks.0.synapse.weight", "readout.synapse.weight"):
            member = dict(pop.named_parameters())[name][k]
            assert torch.allclose(member, dict(model.named_parameters())[name], rtol=1e-9, atol=1e-12), (k, name)
    assert any(h.best_epoch < 3 for h in histories)


def test_a_diverged_member_stays_frozen_and_marked_under_best_val_selection(digits64):
    from snnlab.data import split_validation

    data, test = digits64
    train, val = split_validation(data, 0.25)
    members = [_member("spiking_mlp", "none", s, 0.0) for s in SEEDS]
    with torch.no_grad():
        members[1].readout.synapse.bias[0] = float("nan")
    pop = PopulationModel(members)
    before = pop.blocks[0].synapse.weight[1].detach().clone()
    with pytest.warns(RuntimeWarning, match="member 1 diverged"):
        histories = fit_population(pop, train, test, epochs=2, seeds=SEEDS, lr=1e-2, batch_size=16, device="cpu",
                                   progress=False, val=val, select="best_val")
    assert histories[1].diverged and histories[1].records == [] and histories[1].best_epoch is None
    assert histories[1].final == {"diverged": 1.0}
    assert torch.equal(pop.blocks[0].synapse.weight[1].detach(), before)
    assert all(h.best_epoch is not None and not h.diverged for h in (histories[0], histories[2]))


# ---------------------------------------------------------------- checkpoints: a killed population goes on


class _Killed(Exception):
    pass


def _kill_in_epoch(epoch: int, steps_per_epoch: int):
    """An ``on_step`` that raises a few steps into ``epoch`` (a kill mid-epoch, after the last checkpoint)."""
    count = {"n": 0}

    def on_step(_losses: torch.Tensor) -> None:
        count["n"] += 1
        if count["n"] == (epoch - 1) * steps_per_epoch + 2:
            raise _Killed

    return on_step


@pytest.mark.parametrize("kind, method, encoding", [("spiking_mlp", "standard", "rate"),
                                                    ("spiking_mlp", "activity", "direct"),
                                                    ("spiking_mlp", "dropconnect", "noisy_repeat"),
                                                    ("spiking_cnn", "temporal", "direct"),
                                                    ("delayed_snn", "membrane", "latency")])
def test_a_killed_population_resumes_from_its_checkpoint_bit_for_bit(kind, method, encoding, digits64, tmp_path):
    train, test = digits64
    val = load_dataset("digits", "test", subset=32, device="cpu", seed=5)
    ps = [0.1, 0.2, 0.3]

    def population():
        sizes, extra = KINDS[kind]
        members = []
        for s, p in zip(SEEDS, ps):
            torch.manual_seed(s)
            members.append(build_model(kind, sizes, T=4, dropout=method, p=p, seed=s, encoding=encoding, **extra).double())
        return PopulationModel(members)

    settings = dict(epochs=3, seeds=SEEDS, lr=1e-2, batch_size=32, device="cpu", progress=False, val=val,
                    select="best_val", train_eval_size=40)
    whole = population()
    want = fit_population(whole, train, test, **settings)

    path = tmp_path / "pop.ckpt"
    with pytest.raises(_Killed):
        fit_population(population(), train, test, checkpoint=path, fingerprint="specs", on_step=_kill_in_epoch(2, 5),
                       **settings)
    assert path.exists() and not list(tmp_path.glob(".*.tmp"))  # epoch 1 written, no temporary left behind
    resumed = population()
    got = fit_population(resumed, train, test, checkpoint=path, fingerprint="specs", **settings)
    for g, w in zip(got, want):
        assert g.to_frame().drop(columns="seconds").equals(w.to_frame().drop(columns="seconds"))
        assert (g.best_epoch, g.diverged, g.select) == (w.best_epoch, w.diverged, w.select)
    for (name, a), (_, b) in zip(resumed.state_dict().items(), whole.state_dict().items()):
        assert torch.equal(a, b), name


def test_a_checkpoint_of_another_run_is_not_used(digits64, tmp_path):
    train, test = digits64
    path = tmp_path / "pop.ckpt"

    def run(fingerprint: str, epochs: int = 1):
        pop = PopulationModel([_member("spiking_mlp", "standard", s, 0.2) for s in SEEDS])
        return fit_population(pop, train, test, epochs=epochs, seeds=SEEDS, lr=1e-2, batch_size=32, device="cpu",
                              progress=False, checkpoint=path, fingerprint=fingerprint)

    run("a")
    with pytest.warns(RuntimeWarning, match="written for another run"):
        histories = run("b")
    assert [r.epoch for r in histories[0].records] == [1]  # trained from the start
    with pytest.warns(RuntimeWarning, match="written for another run"):
        run("b", epochs=2)  # other settings: another run too
    path.write_bytes(b"not a checkpoint")
    with pytest.warns(RuntimeWarning, match="cannot be read"):
        run("b")
    with pytest.raises(TypeError, match="checkpoint must be a file path"):
        fit_population(PopulationModel([_member("spiking_mlp", "none", s, 0.0) for s in SEEDS]), train, test, epochs=1,
                       seeds=SEEDS, progress=False, device="cpu", checkpoint=3)
