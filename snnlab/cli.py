"""The ``snnlab`` command line: ``run`` (the notebooks), ``train`` (one trial), ``sweep`` (a grid of trials), ``results``
(list the store; ``export``/``import``/``verify`` a shipped results artefact), ``bench``.

``python -m snnlab ...`` is the same program. Invalid arguments, unusable files and any other
error exit with status 2 and one line on stderr naming the argument or file (``--debug``: the full
traceback instead); a failed notebook or trial exits with status 1; Ctrl-C exits with status 130.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sqlite3
import sys
import time
import traceback
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    from snnlab.study.store import ResultsStore

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INCOMPLETE = 3  # snnlab trials: stopped by its time limit; a rerun goes on
EXIT_INTERRUPTED = 130
SQLITE_HEADER = b"SQLite format 3\x00"
# Errors snnlab raises on purpose, with a message that names the argument or file: shown as is.
OWN_ERRORS = (ValueError, TypeError, OSError, ImportError)
BENCH_KINDS = ("dropout", "lif", "step", "population", "delayed")


def _add_store(parser: argparse.ArgumentParser, *, inherit: bool = False) -> None:
    """``--store``; ``inherit``: a sub-subcommand's flag that leaves the parent's value when not given."""
    parser.add_argument("--store", default=argparse.SUPPRESS if inherit else None,
                        help="results database (default: runs/results.sqlite)")


def _add_debug(parser: argparse.ArgumentParser, *, inherit: bool = False) -> None:
    """``--debug``; accepted before and after the subcommand (``inherit``: keep the value given before)."""
    parser.add_argument("--debug", action="store_true", default=argparse.SUPPRESS if inherit else False,
                        help="on an error, show the full Python traceback instead of a one-line message")


def _add_tuning(parser: argparse.ArgumentParser, *, overrides: bool) -> None:
    """The fair-tuning flags (TrialSpec fields val_fraction, select, train_eval_size)."""
    note = " (overrides the config's)" if overrides else ""
    parser.add_argument("--val-fraction", type=float, default=None,
                        help="carve a validation set of this fraction in (0, 1) from the training data (fixed seed, "
                             "stratified; --train-subset is drawn from the rest)" + note)
    parser.add_argument("--select", default=None,
                        help="which epoch is the result: best_val (best validation accuracy; the default with "
                             "--val-fraction) | last (the default without)" + note)
    parser.add_argument("--train-eval-size", type=int, default=None,
                        help="also measure training loss/accuracy in eval mode (dropout off) on this many fixed "
                             "training samples per epoch" + note)


def _tuning_changes(args: argparse.Namespace) -> dict:
    """The TrialSpec fields given by the fair-tuning flags (only those given)."""
    changes = {"val_fraction": args.val_fraction, "select": args.select, "train_eval_size": args.train_eval_size}
    return {k: v for k, v in changes.items() if v is not None}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand (dropout methods listed from the registry at build time)."""
    from snnlab.dropout import available
    from snnlab.study.profiles import PROFILES

    methods = " | ".join(available()).replace("%", "%%")  # argparse formats help with %

    parser = argparse.ArgumentParser(prog="snnlab", description="Dropout for spiking neural networks: the study.")
    _add_debug(parser)
    sub = parser.add_subparsers(dest="command", required=True, metavar="{run,train,sweep,trials,results,bench}")

    run = sub.add_parser("run", help="execute the ordered notebooks with papermill into runs/NAME/")
    run.add_argument("--profile", choices=tuple(PROFILES), default="quick",
                     help="study scale: smoke (tests), quick (default, laptop CPU), paper (GPU)")
    run.add_argument("--dataset", default=None, help="dataset (default: the profile's)")
    run.add_argument("--device", default="auto", help="auto | cpu | cuda | mps (default auto)")
    run.add_argument("--seed", type=int, default=0, help="first seed (default 0)")
    run.add_argument("--seeds", type=int, default=None, help="number of seeds (default: the profile's)")
    run.add_argument("--epochs", type=int, default=None, help="epochs per trial (default: the profile's)")
    run.add_argument("--data-root", default=None, help="data folder (default: $SNNLAB_DATA or data/)")
    _add_store(run)
    run.add_argument("--out", default=None, help="output folder (default: runs/<profile>-<timestamp>)")
    run.add_argument("--only", default=None, help="comma-separated notebook numbers, e.g. 01,04")
    run.add_argument("--keep-going", action="store_true", help="run the remaining notebooks after a failure")
    run.add_argument("--notebooks-dir", default=None, help="folder of NN_*.ipynb (default: notebooks/)")

    train = sub.add_parser("train", help="train one trial from flags and print its per-epoch history")
    train.add_argument("--dataset", default="digits", help="digits | mnist | fashion-mnist | cifar10")
    train.add_argument("--model", default="spiking_mlp", help="spiking_mlp | spiking_cnn | mlp | cnn | penalty_snn | delayed_snn")
    train.add_argument("--hidden", default="128", help="hidden sizes, comma-separated (CNNs: channels...,dense)")
    train.add_argument("--neuron", default=None,
                       help="lif | penalty | first_spike (default: the model's own; lif for the spiking MLP/CNN)")
    train.add_argument("--encoding", default=None,
                       help="direct | rate | latency | noisy_repeat (default: the model's own; direct for the "
                            "spiking MLP/CNN)")
    train.add_argument("-T", "--T", dest="T", type=int, default=16, help="time steps")
    train.add_argument("--method", default="none", help=f"dropout method (registry key): {methods} (default: none)")
    train.add_argument("--p", type=float, default=0.0, help="drop rate")
    train.add_argument("--rescale", default="inverted", help="inverted | none")
    train.add_argument("--epochs", type=int, default=5)
    train.add_argument("--lr", type=float, default=1e-3)
    train.add_argument("--batch-size", type=int, default=128)
    train.add_argument("--train-subset", type=int, default=None)
    train.add_argument("--test-subset", type=int, default=None)
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--device", default="auto")
    train.add_argument("--data-root", default=None, help="data folder (default: $SNNLAB_DATA or data/)")
    train.add_argument("--store", default=None, help="also save the trial in this results store")
    _add_tuning(train, overrides=False)

    sweep = sub.add_parser("sweep", help="train a grid of trials from a YAML config (resumable)")
    sweep.add_argument("--config", required=True, help="YAML file with base: and grid:")
    sweep.add_argument("--executor", choices=("auto", "local", "population", "ray"), default="auto",
                       help="auto: populations on CUDA, one trial at a time elsewhere; population: trials that "
                            "differ only in seed and p train together as one batched model; ray: tasks on a cluster")
    sweep.add_argument("--max-population", type=int, default=None,
                       help="at most this many trials per population (default: what the GPU's free memory holds, "
                            "4 on a CPU)")
    sweep.add_argument("--populations", action="store_true", help="with --executor ray: one task per population")
    sweep.add_argument("--address", default=None, help="Ray cluster address (default: start a local Ray)")
    sweep.add_argument("--num-cpus", type=int, default=None, help="CPUs of a local Ray, >= 1 (default: all)")
    sweep.add_argument("--ray-timeout", type=float, default=None, metavar="SECONDS",
                       help="with --address: give up when the cluster does not answer within this many seconds "
                            "(default 30)")
    _add_store(sweep)
    sweep.add_argument("--data-root", default=None, help="data folder (default: $SNNLAB_DATA or data/)")
    sweep.add_argument("--keep-going", action="store_true", help="continue after a failing trial")
    _add_tuning(sweep, overrides=True)

    trials = sub.add_parser("trials", help="train the trials of a profile's tuned comparison (notebook 04) into the "
                                           "store without notebooks: resumable, parallel, time-bounded")
    trials.add_argument("--profile", choices=tuple(PROFILES), default="paper", help="study scale (default paper)")
    trials.add_argument("--device", default="auto", help="auto | cpu | cuda | mps (default auto)")
    trials.add_argument("--seed", type=int, default=0, help="first seed (default 0)")
    trials.add_argument("--seeds", type=int, default=None, help="number of seeds (default: the profile's)")
    trials.add_argument("--epochs", type=int, default=None, help="epochs per trial (default: the profile's plan)")
    trials.add_argument("--setting", action="append", default=None, metavar="TEXT",
                        help="only the settings whose label contains TEXT, e.g. 'mnist · 1k' or delayed_snn "
                             "(repeatable; default: every setting)")
    trials.add_argument("--workers", type=int, default=1,
                        help="processes sharing the trials through the store (default 1; on a GPU several fill it)")
    trials.add_argument("--time-limit", type=float, default=None, metavar="SECONDS",
                        help="stop the workers after this many seconds; a rerun goes on (default: no limit)")
    trials.add_argument("--start-limit", type=float, default=None, metavar="SECONDS",
                        help="no population or trial starts after this many seconds (default: the time limit); "
                             "a population stopped by --time-limit is lost, so leave room for one to finish")
    trials.add_argument("--executor", choices=("auto", "local", "population"), default="auto",
                        help="auto: populations on CUDA, one trial at a time elsewhere")
    trials.add_argument("--max-population", type=int, default=None, help="at most this many trials per population")
    trials.add_argument("--data-root", default=None, help="data folder (default: $SNNLAB_DATA or data/)")
    _add_store(trials)

    results = sub.add_parser("results", help="table of the trials in the results store (default); export, import or "
                                             "verify a shipped results artefact (results/<profile>/)")
    _add_store(results)
    actions = results.add_subparsers(dest="action", metavar="{list,export,import,verify,answer}")
    listing = actions.add_parser("list", help="table of the trials in the results store (the default)")
    _add_store(listing, inherit=True)
    export = actions.add_parser("export", help="write the store's finished trials as a text artefact with a manifest")
    export.add_argument("out_dir", metavar="OUT_DIR", help="artefact folder, e.g. results/paper")
    _add_store(export, inherit=True)
    export.add_argument("--profile", choices=tuple(PROFILES), default=None,
                        help="the profile the results belong to (its definition goes into the manifest)")
    export.add_argument("--command", dest="run_command", default=None, metavar="TEXT",
                        help="the command that produced the results, recorded in the manifest, e.g. "
                             "'snnlab run --profile paper --device cuda'")
    export.add_argument("--wall-seconds", type=float, default=None, help="how long that command ran, in seconds")
    load = actions.add_parser("import", help="load an artefact into the store (trials already there are kept)")
    load.add_argument("artefact", metavar="DIR", help="artefact folder, e.g. results/paper")
    _add_store(load, inherit=True)
    verify = actions.add_parser("verify", help="re-train a random sample of an artefact's trials and compare each with "
                                               "its stored test accuracy (yardstick: the seed-to-seed spread); "
                                               "exit status 1 when one lands outside it")
    verify.add_argument("artefact", metavar="DIR", help="artefact folder, e.g. results/paper")
    verify.add_argument("--sample", type=int, required=True, help="how many trials to re-train")
    verify.add_argument("--seed", type=int, default=0, help="seed of the random choice of trials (default 0)")
    verify.add_argument("--device", default="auto", help="auto | cpu | cuda | mps (default auto)")
    verify.add_argument("--data-root", default=None, help="data folder (default: $SNNLAB_DATA or data/)")

    answer = actions.add_parser("answer", help="the study's answer from an artefact (per finished setting: the base "
                                               "network, each method's tuned difference, CI and verdict) as Markdown")
    answer.add_argument("artefact", metavar="DIR", help="artefact folder, e.g. results/paper")
    answer.add_argument("--readme", default=None, metavar="PATH",
                        help="also write it into PATH between the answer markers (e.g. README.md)")

    bench = sub.add_parser("bench", help="micro-benchmarks: dropout methods, LIF layer, training step, populations, "
                                         "the delayed SRM layer")
    bench.add_argument("what", choices=BENCH_KINDS,
                       help="dropout: each method's step vs none; lif: one LIF layer per implementation; "
                            "step: the MNIST MLP's step vs its GEMM-only floor; population: throughput per member vs K; "
                            "delayed: the delayed SRM layer's ways on a latency code (CPU)")
    bench.add_argument("--device", default="auto", help="auto | cpu | cuda | mps (default auto)")
    bench.add_argument("--steps", "--rounds", dest="rounds", type=int, default=None,
                       help="timed rounds (steps) per configuration (default: the benchmark's)")
    bench.add_argument("--warmup", type=int, default=None, help="untimed steps per configuration first")
    bench.add_argument("--threads", type=int, default=None,
                       help="torch threads for the run (default: torch's; use 1 on a busy machine)")
    bench.add_argument("--clock", choices=("wall", "process"), default="wall",
                       help="wall time, or this process's CPU time (steadier on a shared machine)")
    bench.add_argument("--json", dest="json_path", default=None, metavar="PATH", help="also write the rows as JSON here")
    model = bench.add_argument_group("model (dropout, step, population; delayed: --hidden, -T, --batch-size)")
    model.add_argument("--hidden", default=None, help="hidden sizes, comma-separated (default 800: 784-800-10)")
    model.add_argument("-T", "--T", dest="T", type=int, default=None, help="time steps (default 25)")
    model.add_argument("--batch-size", type=int, default=None, help="batch size (default 128)")
    model.add_argument("--method", default=None,
                       help=f"dropout: methods to compare, comma-separated (default all); step, population: "
                            f"the model's dropout method (default none); registry keys: {methods}")
    model.add_argument("--p", type=float, default=None, help="drop rate of the dropout methods (default 0.3)")
    model.add_argument("--backend", default=None,
                       help="LIF backend(s): step: comma-separated (default loop,auto); population: one (default auto); "
                            "loop | fused | kernel | auto")
    model.add_argument("--ks", default=None,
                       help="population: sizes K, comma-separated (default 1,2,4,8 on CPU, 1,8,16,32,64 on CUDA)")
    lif = bench.add_argument_group("lif")
    lif.add_argument("--workloads", default=None,
                     help="TxBxN triples, comma-separated (default 25x128x800,100x128x1000)")
    lif.add_argument("--impls", default=None, help="implementations, comma-separated (default: all but compiled, triton)")
    for command in (run, train, sweep, trials, results, listing, export, load, verify, answer, bench):
        _add_debug(command, inherit=True)
    return parser


def _store_path(value: str | None) -> Path:
    from snnlab.study.store import DEFAULT_STORE

    return Path(value if value is not None else DEFAULT_STORE).expanduser().resolve()


def _check_store_path(path: Path, flag: str = "--store") -> None:
    """Refuse, without writing anything, a store path that cannot be a results store: a folder, a path
    under a regular file, or an existing file that is not an SQLite database."""
    if path.is_dir():
        raise ValueError(f"{flag} {path} is a folder; give the path of a results file, e.g. {path / 'results.sqlite'}")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise ValueError(f"{flag} {path}: {parent} is a file, not a folder")
            break
    if path.is_file() and path.stat().st_size > 0:
        with path.open("rb") as stream:
            header = stream.read(len(SQLITE_HEADER))
        if header != SQLITE_HEADER:
            raise ValueError(f"{flag} {path} is not a results store (not an SQLite database); "
                             "give another path or move the file away")


def _open_store(path: Path, flag: str = "--store") -> ResultsStore:
    """The results store at ``path``, checked first; an SQLite or file-system failure names the flag and path."""
    from snnlab.study.store import ResultsStore

    _check_store_path(path, flag)
    try:
        return ResultsStore(path)
    except (sqlite3.Error, OSError) as error:
        raise ValueError(f"{flag} {path} cannot be used as a results store: {type(error).__name__}: {error}") from error


def _make_out_dir(path: Path, flag: str = "--out") -> Path:
    """Create the output folder ``path`` (and its parents); a failure names the flag and path."""
    if path.exists() and not path.is_dir():
        raise ValueError(f"{flag} {path} is a file, not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ValueError(f"{flag} {path}: cannot create the folder: {type(error).__name__}: {error}") from error
    return path


def _is_ours(error: BaseException) -> bool:
    """True for an error snnlab raised on purpose (its message names what is wrong): an snnlab exception
    type, or a ValueError/TypeError/OSError/ImportError raised by snnlab's own code."""
    if type(error).__module__.split(".")[0] == "snnlab":
        return True
    if not isinstance(error, OWN_ERRORS):
        return False
    tb = error.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return tb is not None and str(tb.tb_frame.f_globals.get("__name__", "")).split(".")[0] == "snnlab"


@contextlib.contextmanager
def _context(what: str) -> Iterator[None]:
    """Add ``what`` (the step and the files it used) to an error that does not already say so."""
    try:
        yield
    except Exception as error:
        if not _is_ours(error):
            error.add_note(what)
        raise


def _data_context(args: argparse.Namespace, what: str) -> str:
    """``what`` and the data root it reads (for errors from corrupt data files)."""
    from snnlab.data import resolve_root

    try:
        root = resolve_root(args.data_root)
    except (TypeError, ValueError):
        root = args.data_root
    return f"while {what}; data root {root}"


def _error_line(command: str, error: BaseException) -> str:
    """One line for ``error``: its message when it is one of ours, else its type, first line and context."""
    text = str(error).strip()
    if _is_ours(error):
        return f"snnlab {command}: error: {text}"
    first = text.splitlines()[0] if text else ""
    notes = [str(n) for n in getattr(error, "__notes__", [])] + ["--debug shows the traceback"]
    return f"snnlab {command}: error: {type(error).__name__}{': ' + first if first else ''} ({'; '.join(notes)})"


def _default_notebooks_dir() -> Path:
    """``notebooks/`` under the working directory, else the one next to the snnlab package."""
    here = Path("notebooks")
    if here.is_dir():
        return here.resolve()
    return Path(__file__).resolve().parents[1] / "notebooks"


def cmd_run(args: argparse.Namespace) -> int:
    """Execute the notebooks with the profile's parameters; one line per notebook; an index page."""
    from snnlab.study.notebooks import find_notebooks, run_notebooks
    from snnlab.study.profiles import notebook_config

    data_root = None if args.data_root is None else str(Path(args.data_root).expanduser().resolve())
    store = _store_path(args.store)
    # Validate every parameter here, before any kernel starts.
    notebook_config(args.profile, dataset=args.dataset, device=args.device, seed=args.seed, seeds=args.seeds,
                    epochs=args.epochs, data_root=data_root, store_path=store)
    _check_store_path(store)
    folder = Path(args.notebooks_dir).expanduser().resolve() if args.notebooks_dir else _default_notebooks_dir()
    only = [s for s in args.only.split(",") if s.strip()] if args.only else None
    notebooks = find_notebooks(folder, only)
    if not notebooks:
        print(f"error: no NN_*.ipynb notebooks in {folder}", file=sys.stderr)
        return EXIT_USAGE
    out = Path(args.out) if args.out else Path("runs") / f"{args.profile}-{time.strftime('%Y%m%d-%H%M%S')}"
    out = _make_out_dir(out.expanduser().resolve())
    parameters = {
        "profile": args.profile, "dataset": args.dataset, "device": args.device, "seed": args.seed,
        "seeds": args.seeds, "epochs": args.epochs, "data_root": data_root, "store_path": str(store),
    }
    print(f"snnlab run: {len(notebooks)} notebook(s) from {folder} -> {out} (profile {args.profile})", flush=True)
    run = run_notebooks(notebooks, out, parameters, cwd=folder, keep_going=args.keep_going,
                        log=lambda line: print(line, flush=True))
    not_run = len(notebooks) - len(run.outcomes)
    print(f"index: {run.index}")
    if run.figures:
        print(run.figures)
    if run.interrupted:
        print(f"snnlab run: interrupted in {run.failed[-1].name} ({not_run} notebook(s) not run); the notebooks that "
              f"ran and the index are in {out}", file=sys.stderr)
        return EXIT_INTERRUPTED
    if not_run:
        print(f"stopped after {run.failed[-1].name} failed; {not_run} notebook(s) not run (use --keep-going)")
    if not run.ok:
        names = ", ".join(o.name for o in run.failed)
        print(f"FAILED: {names}", file=sys.stderr)
        return EXIT_FAILED
    return 0


def _int_list(name: str, text: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise ValueError(f"{name}={text!r} must be comma-separated integers, e.g. 800 or 32,64,256") from None


def cmd_train(args: argparse.Namespace) -> int:
    """Train one trial described by flags; print each epoch, the final metrics and the wall time."""
    from snnlab.study.runner import run_trial
    from snnlab.study.spec import TrialSpec

    spec = TrialSpec(
        dataset=args.dataset, model=args.model, sizes=_int_list("--hidden", args.hidden), neuron=args.neuron,
        encoding=args.encoding, T=args.T, method=args.method, p=args.p, rescale=args.rescale, epochs=args.epochs,
        lr=args.lr, batch_size=args.batch_size, train_subset=args.train_subset, test_subset=args.test_subset,
        seed=args.seed, device=args.device, **_tuning_changes(args),
    )
    store = None if args.store is None else _open_store(_store_path(args.store))  # before training, not after
    print(f"snnlab train: {spec.label()}", flush=True)
    started = time.perf_counter()
    with _context(_data_context(args, f"training {spec.label()}")):
        result = run_trial(spec, data_root=args.data_root, progress=True)
    with pd.option_context("display.width", 200, "display.max_columns", 50):
        print(result.history.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    final = result.final
    if "test_acc" not in final:  # diverged before the first epoch finished
        print(f"no epoch finished (diverged) on {result.device}")
    else:
        details = [f"train {final['train_acc']:.4f}"]
        if "train_acc_eval" in final:
            details.append(f"train, eval mode {final['train_acc_eval']:.4f}")
        if "val_acc" in final:
            details.append(f"validation {final['val_acc']:.4f}")
        chosen = f"epoch {int(final['epoch'])} ({spec.select})"
        print(f"final test accuracy {final['test_acc']:.4f} ({', '.join(details)}) at {chosen} on {result.device}; "
              f"{time.perf_counter() - started:.1f} s wall time including data loading")
    if store is not None:
        with _context(f"while saving the trial in --store {store.path}"):
            saved = store.put(result)
        if saved:
            print(f"saved as {spec.key[:12]} in {store.path}")
        else:
            print(f"{spec.key[:12]} was already finished in {store.path}; the stored result is kept")
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    """Validate the whole config, then run the missing trials and print the summary table."""
    from snnlab.study.executors import DEFAULT_RAY_TIMEOUT, check_ray_options, ray_session
    from snnlab.study.runner import run_trials
    from snnlab.study.sweep import load_sweep, summary_table

    specs = load_sweep(args.config)
    changes = _tuning_changes(args)
    if changes:
        specs = [s.replace(**changes) for s in specs]
    timeout = DEFAULT_RAY_TIMEOUT if args.ray_timeout is None else args.ray_timeout
    try:  # checked for every executor, before the store opens (a local Ray with 0 CPUs would wait forever)
        check_ray_options(args.address, args.num_cpus, timeout)
    except (TypeError, ValueError) as error:  # name the flag, not the parameter
        message = str(error)
        for name, flag in (("num_cpus", "--num-cpus"), ("address", "--address"), ("timeout", "--ray-timeout")):
            if message.startswith(name):
                message = flag + message[len(name):]
        raise type(error)(message) from error
    store = _open_store(_store_path(args.store))
    print(f"snnlab sweep: {len(specs)} trial(s) from {args.config}; store {store.path}", flush=True)
    session = (ray_session(args.address, args.num_cpus, timeout) if args.executor == "ray"
               else contextlib.nullcontext())
    with session, _context(_data_context(args, f"running the sweep of {args.config}")):
        report = run_trials(specs, store, executor=args.executor, address=args.address, num_cpus=args.num_cpus,
                            data_root=args.data_root, progress=True, keep_going=args.keep_going,
                            max_population=args.max_population, populations=args.populations)
    print(report.summary())
    table = summary_table(report.frame())
    if not table.empty:
        with pd.option_context("display.width", 200, "display.max_columns", 50):
            print(table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    for spec, message in report.failed:
        print(f"FAILED {spec.label()}: {message}", file=sys.stderr)
    return 0 if report.ok else EXIT_FAILED


RESULT_COLUMNS = ("dataset", "model", "method", "p", "seed", "T", "epochs", "train_acc", "train_acc_eval", "val_acc",
                  "best_epoch", "test_acc", "seconds", "device_used", "key")


def cmd_results(args: argparse.Namespace) -> int:
    """``snnlab results [list|export|import|verify]``: the action's handler (listing by default)."""
    actions = {"list": cmd_results_list, "export": cmd_results_export, "import": cmd_results_import,
               "verify": cmd_results_verify, "answer": cmd_results_answer}
    return actions[getattr(args, "action", None) or "list"](args)


def cmd_results_answer(args: argparse.Namespace) -> int:
    """Print the artefact's answer as Markdown (``snnlab.study.answer``); with ``--readme``, write it there too."""
    from snnlab.study.answer import answer_markdown, artefact_answer, write_readme_block

    markdown = answer_markdown(artefact_answer(Path(args.artefact)))
    print(markdown, end="")
    if args.readme is not None:
        changed = write_readme_block(Path(args.readme), markdown)
        print(f"{args.readme}: {'answer block rewritten' if changed else 'already up to date'}")
    return 0


def cmd_results_list(args: argparse.Namespace) -> int:
    """Print one line per stored trial."""
    path = _store_path(args.store)
    if not path.exists():
        print(f"no results store at {path}")
        return 0
    frame = _open_store(path).frame()
    if frame.empty:
        print(f"no trials in {path}")
        return 0
    frame = frame[[c for c in RESULT_COLUMNS if c in frame.columns]].copy()
    frame["key"] = frame["key"].str[:12]
    with pd.option_context("display.width", 200, "display.max_rows", None):
        print(frame.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    print(f"{len(frame)} trial(s) in {path}")
    return 0


def cmd_results_export(args: argparse.Namespace) -> int:
    """Export the store's finished trials into OUT_DIR (``snnlab.study.artefact.export_results``)."""
    from snnlab.study.artefact import export_results

    path = _store_path(args.store)
    if not path.exists():
        raise FileNotFoundError(f"no results store at {path}; give its path with --store")
    manifest = export_results(_open_store(path), Path(args.out_dir), profile=args.profile, command=args.run_command,
                              wall_seconds=args.wall_seconds)
    data = manifest.data
    sizes = ", ".join(f"{name} {entry['bytes'] / 1e3:,.1f} kB" for name, entry in sorted(data["files"].items()))
    print(f"exported {data['trials']} trial(s) ({data['epoch_rows']} epoch rows) from {path} to {manifest.path}: {sizes}")
    if data["stale_trials_left_out"]:
        print(f"left out {data['stale_trials_left_out']} trial(s) stored by an earlier spec version")
    return 0


def cmd_results_import(args: argparse.Namespace) -> int:
    """Load an artefact into the store (``snnlab.study.artefact.import_results``)."""
    from snnlab.study.artefact import import_results, read_manifest

    read_manifest(args.artefact)  # not an artefact: say so before a store file is created
    report = import_results(args.artefact, _open_store(_store_path(args.store)))
    print(report.summary())
    return 0


VERIFY_SHOWN = ("key", "trial", "stored_test_acc", "retrained_test_acc", "difference", "seed_spread", "seeds",
                "within_spread", "retrained_device")


def cmd_results_verify(args: argparse.Namespace) -> int:
    """Re-train a sample of an artefact's trials; print the comparison and a summary (status 1 when one lands
    outside its seed spread)."""
    from snnlab.study.artefact import verify_results, verify_summary

    with _context(_data_context(args, f"re-training trials of {args.artefact}")):
        frame = verify_results(args.artefact, sample=args.sample, seed=args.seed, device=args.device,
                               data_root=args.data_root, progress=True)
    shown = frame[list(VERIFY_SHOWN)].copy()
    shown["key"] = shown["key"].str[:12]
    shown["within_spread"] = shown["within_spread"].map(lambda v: "n/a" if v is pd.NA else ("yes" if v else "NO"))
    with pd.option_context("display.width", 200, "display.max_rows", None, "display.max_columns", 20):
        print(shown.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    print(verify_summary(frame))
    return EXIT_FAILED if frame["within_spread"].eq(False).any() else 0


def _names(name: str, text: str) -> tuple[str, ...]:
    names = tuple(v.strip() for v in text.split(",") if v.strip())
    if not names:
        raise ValueError(f"{name}={text!r} must be comma-separated names, e.g. loop,auto")
    return names


def _one_or_many(flag: str, text: str, option: str, noun: str, *, many: bool, what: str) -> dict[str, Any]:
    """``{option + "s": names}`` where the benchmark takes several, else ``{option: the one name}``
    (more than one is an error naming the flag and the ``noun``)."""
    names = _names(flag, text)
    if many:
        return {f"{option}s": names}
    if len(names) != 1:
        raise ValueError(f"{flag}={text!r}: `bench {what}` takes one {noun}")
    return {option: names[0]}


def _workloads(text: str) -> tuple[tuple[int, int, int], ...]:
    out = []
    for item in (v.strip() for v in text.split(",") if v.strip()):
        parts = item.lower().split("x")
        try:
            values = tuple(int(v) for v in parts)
        except ValueError:
            values = ()
        if len(values) != 3 or min(values) < 1:
            raise ValueError(f"--workloads={text!r}: {item!r} is not TxBxN with three positive integers, "
                             "e.g. 25x128x800,100x128x1000")
        out.append(values)
    if not out:
        raise ValueError(f"--workloads={text!r} must list TxBxN triples, e.g. 25x128x800,100x128x1000")
    return tuple(out)


# The flags each benchmark takes besides --device, --clock, --threads, --rounds, --warmup, --json.
_BENCH_FLAGS = {
    "dropout": ("hidden", "T", "batch_size", "method", "p"),
    "lif": ("workloads", "impls"),
    "step": ("hidden", "T", "batch_size", "method", "p", "backend"),
    "population": ("hidden", "T", "batch_size", "method", "p", "backend", "ks"),
    "delayed": ("hidden", "T", "batch_size"),
}
_FLAG_NAMES = {"hidden": "--hidden", "T": "-T", "batch_size": "--batch-size", "method": "--method", "p": "--p",
               "backend": "--backend", "ks": "--ks", "workloads": "--workloads", "impls": "--impls"}


def _bench_options(args: argparse.Namespace) -> dict:
    """The keyword arguments of the chosen benchmark from the flags given (the others keep its defaults)."""
    what = args.what
    given = [k for k in _FLAG_NAMES if getattr(args, k) is not None]
    wrong = [_FLAG_NAMES[k] for k in given if k not in _BENCH_FLAGS[what]]
    if wrong:
        takes = ", ".join(_FLAG_NAMES[k] for k in _BENCH_FLAGS[what])
        raise ValueError(f"{', '.join(wrong)} does not apply to `bench {what}` (it takes {takes})")
    options: dict = {"device": args.device, "clock": args.clock}
    if args.threads is not None:
        options["threads"] = args.threads
    if args.rounds is not None:
        options["steps" if what == "dropout" else "rounds"] = args.rounds
    if args.warmup is not None:
        options["warmup"] = args.warmup
    if args.hidden is not None:
        options["sizes"] = (784, *_int_list("--hidden", args.hidden), 10)
    if args.T is not None:
        options["T"] = args.T
    if args.batch_size is not None:
        options["batch_size"] = args.batch_size
    if args.p is not None:
        options["p"] = args.p
    if args.method is not None:
        options.update(_one_or_many("--method", args.method, "method", "dropout method", many=what == "dropout",
                                    what=what))
    if args.backend is not None:
        options.update(_one_or_many("--backend", args.backend, "backend", "LIF backend", many=what == "step",
                                    what=what))
    if args.ks is not None:
        options["ks"] = _int_list("--ks", args.ks)
    if args.workloads is not None:
        options["workloads"] = _workloads(args.workloads)
    if args.impls is not None:
        options["impls"] = _names("--impls", args.impls)
    return options


def cmd_bench(args: argparse.Namespace) -> int:
    """Run a micro-benchmark (``snnlab.bench``) and print its table (``--json``: also write its rows)."""
    import torch

    from snnlab import bench
    from snnlab.device import resolve_device

    options = _bench_options(args)
    threads = args.threads if args.threads is not None else torch.get_num_threads()
    if resolve_device(args.device).type == "cpu":  # what the benchmarks (and fit) run with on a CPU
        from snnlab.cpu_memory import keep_freed_memory

        reason = keep_freed_memory()
        threads = f"{threads}; freed memory {'kept for reuse' if reason is None else f'returned to the system ({reason})'}"
    if args.what == "dropout":
        from snnlab.bench.report import write_payload
        from snnlab.dropout.kernels import kernel_status

        frame = bench.bench_dropout(**options)
        if args.json_path is not None:
            write_payload(args.json_path, frame.to_dict("records"), device=resolve_device(args.device), clock=args.clock,
                          threads=args.threads, rounds=options.get("steps", 20))
        status = kernel_status()
        print(f"per-element dropout kernel: {status.backend} ({status.reason}); torch threads: {threads}")
        print(bench.format_bench(frame))
    elif args.what == "lif":
        frame = bench.bench_lif(**options, path=args.json_path)
        print(f"torch threads: {threads}")
        print(bench.format_lif_bench(frame), end="")
    elif args.what == "step":
        frame = bench.bench_step(**options, path=args.json_path)
        print(f"torch threads: {threads}")
        print(bench.format_step_bench(frame))
    elif args.what == "delayed":
        frame = bench.bench_delayed(**options, path=args.json_path)
        print(f"torch threads: {threads}")
        print(bench.format_delayed_bench(frame))
    else:
        frame = bench.bench_population(**options, path=args.json_path)
        print(f"torch threads: {threads}")
        print(bench.format_population_bench(frame))
    if args.json_path is not None:
        print(f"wrote {args.json_path}")
    return 0


def cmd_trials(args: argparse.Namespace) -> int:
    """Train a profile's comparison trials into the store (``snnlab.study.campaign``); 0 when every trial is in
    it, 3 when the time limit (or another process's claims) left some for a rerun, 1 when trials failed."""
    import warnings

    from snnlab.study.campaign import train_comparison
    from snnlab.study.profiles import notebook_config
    from snnlab.validation import check_int

    data_root = None if args.data_root is None else str(Path(args.data_root).expanduser().resolve())
    store = _store_path(args.store)
    _check_store_path(store)
    if args.max_population is not None:
        check_int("--max-population", args.max_population, minimum=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # "sized for a GPU": this command says what it will run
        cfg = notebook_config(args.profile, device=args.device, seed=args.seed, seeds=args.seeds, epochs=args.epochs,
                              data_root=data_root, store_path=store)
    print(f"snnlab trials: profile {args.profile}, device {cfg.device}, store {store}", flush=True)
    report = train_comparison(cfg, settings=args.setting, workers=args.workers, time_limit=args.time_limit,
                              start_limit=args.start_limit, executor=args.executor, max_population=args.max_population,
                              log=lambda line: print(line, flush=True))
    print(report.summary().splitlines()[-1])  # the stages' lines were logged as they ended
    if report.complete:
        return 0
    return EXIT_FAILED if any(s.failed for s in report.stages) else EXIT_INCOMPLETE


COMMANDS = {"run": cmd_run, "train": cmd_train, "sweep": cmd_sweep, "trials": cmd_trials, "results": cmd_results,
            "bench": cmd_bench}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``snnlab`` console script; returns the exit status.

    No error ends in a Python traceback unless ``--debug`` is given: a failed trial is status 1,
    any other error one line naming the argument or file and status 2, Ctrl-C status 130.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    debug = bool(getattr(args, "debug", False))
    from snnlab.study.runner import TrialFailed
    from snnlab.study.store import ResultNotSaved

    try:
        return COMMANDS[args.command](args)
    except ResultNotSaved as error:  # trained, but the store could not take it: kept in a side file
        _show_traceback(debug)
        print(f"snnlab {args.command}: {error}", file=sys.stderr)
        return EXIT_FAILED
    except TrialFailed as error:
        _show_traceback(debug)
        print(f"snnlab {args.command}: {error}", file=sys.stderr)
        print("finished trials are in the store; fix the cause and rerun to resume (or use --keep-going)",
              file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        _show_traceback(debug)
        resumes = "; finished trials are in the store and a rerun resumes" if args.command == "sweep" else ""
        print(f"snnlab {args.command}: interrupted{resumes}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # output piped into `head` and the like: stop quietly, as Unix tools do
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # so that the interpreter's final flush does not raise again
        return 141
    except Exception as error:  # noqa: BLE001 - every other error: one line (or the traceback with --debug)
        if debug:
            _show_traceback(debug)
        else:
            print(_error_line(args.command, error), file=sys.stderr)
        return EXIT_USAGE


def _show_traceback(debug: bool) -> None:
    """With ``--debug``: print the exception being handled with its traceback on stderr."""
    if debug:
        traceback.print_exc(file=sys.stderr)


if __name__ == "__main__":  # pragma: no cover - python -m snnlab.cli
    sys.exit(main())


__all__ = ["build_parser", "main"]
