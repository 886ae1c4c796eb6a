"""Behaviour is preserved across refactors: the reference set of trials (every model kind x every
dropout method, digits, 2 epochs, CPU; ``tools/make_golden.py``) gives the per-epoch histories
recorded in ``tests/golden_histories.json``, bit for bit.

Bit-for-bit holds only on the floating-point code paths the recording was made on, so the set runs in
a child process with those paths pinned (AVX2 kernels, MKL's reproducible AVX2 branch, one thread)
and each recording carries the fingerprint of a few primitives computed there. A machine with another
fingerprint (until 2026-12-01 the file held one recording, made on a CPU with AVX-512, and 49 of its 54
histories differed on an AVX2-only CPU) skips with the reason: ``python tools/make_golden.py --add``
records its own.

History of the recordings: made before the spiking-blocks refactor (issue 10); re-recorded for changes
of float32 rounding only: the leaky readout's time mean as one weighted sum over T, the readout's
once-per-sample product of time-summed spikes, and (2026-12-01, with the pinned child process) the
delayed SRM synapse computed by gathering sparse input spikes, or weight-first for a narrow layer, and the CPU's
step-by-step first-spike product (``delayed_snn``'s losses moved in the 4th digit or less).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

_spec = importlib.util.spec_from_file_location("make_golden", ROOT / "tools" / "make_golden.py")
make_golden = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(make_golden)
SPECS = dict(make_golden.golden_specs())
RECORDINGS = make_golden.recordings()


@pytest.fixture(scope="module")
def here(tmp_path_factory):
    """This machine's recording, made once in the pinned child process."""
    return make_golden.pinned_recording(tmp_path_factory.mktemp("golden") / "here.json")


def test_every_recording_covers_the_reference_set():
    assert RECORDINGS
    for recording in RECORDINGS:
        assert set(recording["histories"]) == set(SPECS), recording["described"]


@pytest.mark.parametrize("name", sorted(SPECS))
def test_history_is_bit_identical(name, here):
    recorded = {r["fingerprint"]: r for r in RECORDINGS}.get(here["fingerprint"])
    if recorded is None:
        pytest.skip(f"no golden recording for this machine's numerics ({here['fingerprint']}: {here['described']}); "
                    f"recorded: {', '.join(r['described'] for r in RECORDINGS)}; "
                    "`python tools/make_golden.py --add` records one")
    assert here["histories"][name] == recorded["histories"][name]
