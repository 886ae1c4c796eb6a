"""The study's answer in one table: for every finished setting of a profile's tuned comparison, the base
network's accuracy and train-test gap and each method's tuned difference with its interval and verdict.

It is what notebook 04 computes (the same stages, selections and paired statistics), read from a store
or from a shipped artefact (``results/<profile>/``) without training anything, so that the README can
show the answer and a test can check that the README shows exactly what the artefact says
(``snnlab results answer results/paper --readme README.md`` rewrites the block between its markers).
A setting whose trials are not all there is left out of the table and named in the coverage line.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    from snnlab.study.profiles import StudyConfig

README_START = "<!-- answer:start (written by `snnlab results answer`; do not edit) -->"
README_END = "<!-- answer:end -->"


@dataclass
class Answer:
    """``table``: one row per setting and distinct method (the paired comparison at the tuned p);
    ``regime``: the base network per setting; ``coverage``: per setting and stage, trials expected and
    stored; ``sentences``: the computed conclusion per finished setting; ``profile``: its name."""

    profile: str
    table: pd.DataFrame
    regime: pd.DataFrame
    coverage: list[dict[str, Any]]
    sentences: list[str]

    @property
    def finished(self) -> list[str]:
        """The settings whose every trial is stored (those in the table)."""
        from snnlab.study.campaign import finished_settings

        return finished_settings(self.coverage)


def study_answer(cfg: StudyConfig) -> Answer:
    """The answer from ``cfg``'s store (nothing is trained): every finished setting of its comparison."""
    from snnlab.analysis.paired import compare_paired
    from snnlab.study import comparison as cmp
    from snnlab.study.campaign import comparison_coverage, finished_settings, select_settings

    store = cfg.store()
    coverage = comparison_coverage(cfg, store.keys())
    finished = finished_settings(coverage)
    if not finished:
        return Answer(cfg.profile, pd.DataFrame(), pd.DataFrame(), coverage, [])
    designs = [_exactly(d, finished) for d in select_settings(cfg.comparison_designs(), finished)]
    frame = store.frame()
    lrs = {k: v for d in designs for k, v in cmp.select_lr(frame, d, cfg.network_spec).items()}
    selection = pd.concat([cmp.select_p(frame, d, lrs) for d in designs], ignore_index=True)
    tuned = cmp.tuned_trials(frame, selection, lrs)
    regime = cmp.regime_table(tuned)
    table = pd.concat([compare_paired(tuned[tuned["setting"].isin({s.label for s in d.settings})], metric="test_acc",
                                      margin=d.margin, group="label", by=("setting",)) for d in designs],
                      ignore_index=True)
    chosen = selection.set_index(["setting", "label"])["p"]
    table["p"] = [chosen.get((s, c), float("nan")) for s, c in zip(table["setting"], table["condition"])]
    table["lr"] = [next(v for k, v in lrs.items() if k.label == s) for s in table["setting"]]
    sentences = cmp.comparison_conclusion(regime, table) + cmp.lr_edge_sentences(cmp.lr_table(frame, lrs))
    return Answer(cfg.profile, table, regime, coverage, sentences)


PAPER_NETWORK = "delayed_snn"  # the paper's own network: SRM neurons, delayed synapses, first-spike input


def paper_claim_sentences(answer: Answer) -> list[str]:
    """Per finished setting, whether the paper's finding (classic dropout, migrated to an SNN, lowers its
    accuracy) holds there: reproduced when every distinct classic method hurts, partly when some do,
    not reproduced when none does; each method named under its verdict, and the network said when it
    is not the paper's own."""
    from snnlab.dropout import methods

    classic = set(methods(family="classic"))
    out = []
    for setting in answer.finished:
        rows = answer.table[(answer.table["setting"] == setting) & answer.table["condition"].isin(classic)
                            & (answer.table["verdict"] != "duplicate")]
        if rows.empty:
            continue
        groups = {v: list(g["label"]) for v, g in rows.groupby("verdict", sort=False)}
        hurt = len(groups.get("hurts", []))
        state = ("reproduced" if hurt == len(rows) else "partly reproduced" if hurt else "not reproduced")
        parts = "; ".join(f"{verdict}: {', '.join(labels)}" for verdict, labels in groups.items())
        network = setting.rsplit(" · ", 1)[-1]
        where = "" if network == PAPER_NETWORK else f" (on {network}, not the paper's own network)"
        out.append(f"{setting}: the paper's finding that classic dropout lowers accuracy is {state}{where} ({parts}).")
    return out


def _exactly(design: Any, labels: list[str]) -> Any:
    return dataclasses.replace(design, settings=tuple(s for s in design.settings if s.label in labels))


def artefact_answer(path: str | os.PathLike[str]) -> Answer:
    """The answer of a shipped artefact (``results/<profile>/``): imported into a temporary store first."""
    from snnlab.study.artefact import ArtefactError, import_results, read_manifest
    from snnlab.study.profiles import notebook_config
    from snnlab.study.store import ResultsStore

    manifest = read_manifest(path)
    profile = manifest.profile
    if profile is None:
        raise ArtefactError(f"{path}: the artefact names no profile, so its comparison is unknown; export it with "
                            "--profile")
    with tempfile.TemporaryDirectory() as tmp:
        store = ResultsStore(Path(tmp) / "answer.sqlite")
        import_results(path, store)
        devices = set(store.frame()["device"])  # the device the specs name is part of their keys
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # "sized for a GPU": nothing is trained here
            cfg = notebook_config(profile, device="auto", store_path=store.path)
        if len(devices) == 1:
            cfg = dataclasses.replace(cfg, spec_device=devices.pop())
        return study_answer(cfg)


def _pp(x: float, signed: bool = True) -> str:
    return f"{100 * x:+.2f}" if signed else f"{100 * x:.2f}"


def answer_markdown(answer: Answer) -> str:
    """The answer as Markdown: the coverage, then per finished setting the base network and a table of
    methods (tuned p, difference in test accuracy with its 95% CI, verdict), then the computed conclusion."""
    from snnlab.analysis.paired import verdict_table

    settings = list(dict.fromkeys(r["setting"] for r in answer.coverage))
    finished = answer.finished
    stored = sum(r["stored"] for r in answer.coverage)
    expected = sum(r["trials"] for r in answer.coverage)
    lines = [f"Profile `{answer.profile}`: {len(finished)} of {len(settings)} settings finished "
             f"({stored} of at least {expected} trials stored)."]
    missing = [s for s in settings if s not in finished]
    if missing:
        lines.append(f"Not yet run to the end: {', '.join(missing)}.")
    for setting in finished:
        base = answer.regime[answer.regime["setting"] == setting].iloc[0]
        rows = answer.table[answer.table["setting"] == setting]
        lines += ["", f"**{setting}** (learning rate {rows['lr'].iloc[0]:g}; {int(base['seeds'])} seeds): the base "
                      f"network scores {_pp(base['test_acc'], False)}% on the test set "
                      f"(± {_pp(base['test_acc_std'], False)}), {_pp(base['gap_eval'], False)} pp below its "
                      f"training accuracy; equivalence margin ±{_pp(rows['margin'].iloc[0], False)} pp.", "",
                  f"| method | tuned p | Δ test accuracy (pp) | 95% CI (pp), uncorrected | verdict: Holm over "
                  f"{int(rows['family_size'].iloc[0])} methods, then TOST | why |", "|---|---|---|---|---|---|"]
        label_of = dict(zip(rows["condition"], rows["label"]))
        basis = dict(zip(rows["condition"], verdict_table(rows, by=["setting"])["basis"]))
        for r in rows.itertuples():
            if r.verdict == "duplicate":
                lines.append(f"| {r.label} | {r.p:g} | = {label_of.get(r.duplicate_of, r.duplicate_of)} | | "
                             "identical on every seed | |")
            else:
                lines.append(f"| {r.label} | {r.p:g} | {_pp(r.mean_diff)} | {_pp(r.ci_low)} to {_pp(r.ci_high)} | "
                             f"{r.verdict} | {basis[r.condition]} |")
    sentences = answer.sentences + paper_claim_sentences(answer)
    if sentences:
        lines += [""] + [f"- {s}" for s in sentences]
    return "\n".join(lines) + "\n"


def write_readme_block(readme: str | os.PathLike[str], markdown: str) -> bool:
    """Replace the text between ``README_START`` and ``README_END`` in ``readme`` with ``markdown``;
    returns whether the file changed. A README without both markers is a ValueError naming them."""
    path = Path(readme)
    text = path.read_text(encoding="utf-8")
    pattern = re.compile(re.escape(README_START) + r"\n.*?" + re.escape(README_END), re.S)
    if not pattern.search(text):
        raise ValueError(f"{path} has no block between {README_START!r} and {README_END!r}; add both lines where "
                         "the answer goes")
    new = pattern.sub(lambda _: f"{README_START}\n{markdown}{README_END}", text, count=1)
    if new == text:
        return False
    path.write_text(new, encoding="utf-8")
    return True


def readme_block(readme: str | os.PathLike[str]) -> str | None:
    """The text between the markers in ``readme`` (None when they are missing)."""
    text = Path(readme).read_text(encoding="utf-8")
    match = re.search(re.escape(README_START) + r"\n(.*?)" + re.escape(README_END), text, re.S)
    return None if match is None else match.group(1)
