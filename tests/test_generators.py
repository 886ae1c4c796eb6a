"""snnlab.generators: generator_on (one stream per device type) and seeded_init (seeded, global RNG untouched)."""

from __future__ import annotations

import torch

from snnlab.generators import generator_on, seeded_init


def test_generator_on_creates_a_seeded_generator() -> None:
    cpu = torch.device("cpu")
    a = generator_on(None, cpu, 7)
    b = generator_on(None, cpu, 7)
    assert isinstance(a, torch.Generator) and a is not b and a.device.type == "cpu"
    assert a.initial_seed() == 7
    assert torch.equal(torch.rand(5, generator=a), torch.rand(5, generator=b))  # same seed, same stream
    c = generator_on(None, cpu, 8)
    assert not torch.equal(torch.rand(5, generator=generator_on(None, cpu, 7)), torch.rand(5, generator=c))


def test_generator_on_reuses_a_generator_of_the_same_device_type() -> None:
    cpu = torch.device("cpu")
    g = generator_on(None, cpu, 3)
    first = torch.rand(4, generator=g)
    again = generator_on(g, cpu, 99)  # the seed is ignored: the stream continues
    assert again is g
    fresh = torch.Generator().manual_seed(3)
    torch.rand(4, generator=fresh)
    assert torch.equal(torch.rand(4, generator=again), torch.rand(4, generator=fresh))
    assert not torch.equal(first, torch.rand(4, generator=torch.Generator().manual_seed(99)))


def test_generator_on_seed_is_cast_to_int() -> None:
    g = generator_on(None, torch.device("cpu"), 5.0)  # type: ignore[arg-type]
    assert g.initial_seed() == 5


def test_seeded_init_same_seed_same_init_and_global_rng_untouched() -> None:
    torch.manual_seed(123)
    state = torch.get_rng_state()
    with seeded_init(1):
        a = torch.nn.Linear(4, 3)
    with seeded_init(1):
        b = torch.nn.Linear(4, 3)
    with seeded_init(2):
        c = torch.nn.Linear(4, 3)
    assert torch.equal(a.weight, b.weight) and torch.equal(a.bias, b.bias)
    assert not torch.equal(a.weight, c.weight)
    assert torch.equal(torch.get_rng_state(), state)  # the caller's global RNG state is unchanged


def test_seeded_init_none_draws_from_the_global_rng() -> None:
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    with seeded_init(None):
        got = torch.rand(3)
    assert torch.equal(got, expected)
    assert not torch.equal(torch.rand(3), expected)  # the global stream advanced
