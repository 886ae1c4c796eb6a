"""The paper's experimental setup next to this study's: what is the same and what differs.

Lyu & Yin (``../shared/references/lyu-yin-dropout-migration-paper.md``) state some of their setup
and leave the rest out. ``PAPER_SETUP`` holds what the paper says, word for word where it says it
and ``NOT_STATED`` where it does not; ``setup_table(cfg)`` puts it next to what this study runs in a
profile, every entry of the second column computed from the profile's comparison designs (so the
README and notebook 04 can never drift from the code).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from snnlab.study.comparison import size_label

if TYPE_CHECKING:
    from snnlab.study.profiles import StudyConfig

NOT_STATED = "not stated"

#: (aspect, what the paper says), in table order.
PAPER_SETUP: tuple[tuple[str, str], ...] = (
    ("neuron", "spike response model (SRM); a hidden neuron fires when its membrane first crosses the threshold"),
    ("input encoding", "first firing time of each input neuron"),
    ("network", "three-layer fully connected SNN, weighted delayed synapses between layers"),
    ("dropout methods", "dropout, dropout2d, feature dropout, alpha dropout"),
    ("drop rate p", NOT_STATED),
    ("optimiser and learning rate", NOT_STATED),
    ("epochs", NOT_STATED + " (Fig. 2-5 plot training loss and test accuracy per epoch)"),
    ("data", "MNIST 60000/10000, CIFAR-10 50000/10000 (train/test)"),
    ("model selection", NOT_STATED),
    ("seeds", "each experiment five times, mean and standard deviation"),
    ("statistics", "mean and standard deviation (no test)"),
    ("hardware", "one NVIDIA Tesla V100 (32 GB)"),
)


def _join(values: list[str]) -> str:
    return ", ".join(dict.fromkeys(values))


def setup_table(cfg: StudyConfig) -> pd.DataFrame:
    """Rows ``aspect``, ``paper``, ``this study`` (the profile of ``cfg``): the paper's stated setup
    and what this study runs, computed from ``cfg.comparison_designs()``."""
    from snnlab.dropout import method_info
    from snnlab.study.spec import model_neuron_encoding

    designs = cfg.comparison_designs()
    settings = [s for d in designs for s in d.settings]
    networks = _join([s.network for s in settings])
    neurons = _join([f"{model_neuron_encoding(s.network)[0]} ({s.network})" for s in settings])
    encodings = _join([f"{model_neuron_encoding(s.network)[1]} ({s.network})" for s in settings])
    methods = _join([method_info(m).label for d in designs for m, _ in d.conditions])
    p_grid = _join([", ".join(f"{p:g}" for p in d.p_grid) for d in designs])
    lr = _join([f"Adam, lr = {cfg.base_spec(dataset=d.settings[0].dataset).lr:g} x "
                f"{{{', '.join(f'{f:g}' for f in d.lr_factors)}}} ({d.settings[0].dataset}), tuned on validation"
                for d in designs])
    epochs = _join([f"{n} ({ds})" for d in designs for ds, n in d.epochs.items()])
    data = _join([f"{s.dataset} {size_label(s.train_size)}" for s in settings])
    val = _join([f"{d.val_fraction:.0%}" for d in designs])
    tests = _join([f"{d.settings[0].dataset} {size_label(cfg.base_spec(dataset=d.settings[0].dataset).test_subset)}"
                   for d in designs])
    ours = {
        "neuron": neurons,
        "input encoding": encodings,
        "network": networks,
        "dropout methods": methods,
        "drop rate p": f"tuned per method on validation from {{{p_grid}}}",
        "optimiser and learning rate": lr,
        "epochs": f"{epochs}; the epoch of best validation accuracy is kept",
        "data": f"training-set sizes {data} (after a fixed {val} validation split); test sets {tests}",
        "model selection": f"validation split ({val} of the training data, fixed seed); the test set is never used to choose",
        "seeds": f"{len(cfg.seeds)} per condition, paired (same seed = same initialisation and batch order)",
        "statistics": "paired t and Wilcoxon per method vs the base network, Holm over distinct methods, "
                      "confidence intervals, TOST equivalence with a stated margin",
        "hardware": "any: CPU (quick profile) or one GPU (paper profile)",
    }
    rows = [{"aspect": aspect, "paper": paper, "this study": ours[aspect]} for aspect, paper in PAPER_SETUP]
    return pd.DataFrame(rows, columns=["aspect", "paper", "this study"])
