"""``snnlab bench delayed``: the delayed SRM layer's ways of computing it, side by side (tiny sizes here)."""

from __future__ import annotations

import json

import pytest

from snnlab.bench.delayed import DELAYED_COLUMNS, bench_delayed, format_delayed_bench


def test_every_way_gives_the_reference_output_and_a_paired_ratio(tmp_path) -> None:
    out = tmp_path / "delayed.json"
    frame = bench_delayed(sizes=(64, 32, 10), T=6, batch_size=8, rounds=2, warmup=0, threads=1, path=out)
    assert tuple(frame.columns) == DELAYED_COLUMNS
    assert list(zip(frame["part"], frame["impl"])) == [("synapse", "traces"), ("synapse", "weight-first"),
                                                        ("synapse", "gather"), ("first spike", "cumprod"),
                                                        ("first spike", "steps")]
    assert (frame["max_abs_diff"] < 1e-4).all()  # the same sums in another order (float32)
    assert (frame["ms"] > 0).all() and (frame["ratio"] > 0).all()
    assert frame.loc[frame["impl"].isin(["traces", "cumprod"]), "ratio"].eq(1.0).all()
    assert "of the input is a spike" in frame["note"].iloc[0]
    payload = json.loads(out.read_text())
    assert payload["config"]["sizes"] == [64, 32] and len(payload["rows"]) == 5
    table = format_delayed_bench(frame)
    assert "weight-first" in table and "x ref" in table


@pytest.mark.parametrize("kwargs,match", [({"sizes": (64,)}, "sizes"), ({"T": 0}, "T"), ({"rounds": 0}, "rounds"),
                                          ({"device": "meta"}, "device"), ({"clock": "cpu"}, "clock")])
def test_bad_arguments_are_named(kwargs, match) -> None:
    with pytest.raises((ValueError, TypeError), match=match):
        bench_delayed(**kwargs)
