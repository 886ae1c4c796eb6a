"""Executors: how ``run_trials`` gets its pending trials trained.

Each hands every finished ``TrialResult`` (or error) back to the driver through callbacks, in
completion order; the driver alone writes the store. ``local`` runs in this process, one trial
after another; ``population`` trains groups of trials as populations (one batched model each,
``snnlab.study.populations``) in this process; ``ray`` submits one task per trial, or per
population, (one GPU each when the cluster has GPUs) and gathers them with ``ray.wait`` as they
finish. Ray is optional (the ``cluster`` extra).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from tqdm.auto import tqdm

from snnlab.study.spec import TrialSpec
from snnlab.study.store import TrialResult
from snnlab.validation import check_float, check_int

DEFAULT_RAY_TIMEOUT = 30.0

OnResult = Callable[[TrialResult], None]
OnError = Callable[[TrialSpec, BaseException], None]


def _checked(spec: TrialSpec, result: Any) -> TrialResult:
    """The trial function's return value, verified to be the result of ``spec``."""
    if not isinstance(result, TrialResult):
        raise TypeError(f"the trial function returned {type(result).__name__}, expected a TrialResult")
    if result.spec.key != spec.key:
        raise ValueError(f"the trial function returned the result of {result.spec.label()} for {spec.label()}")
    return result


def run_local(
    todo: Sequence[TrialSpec],
    fn: Callable[..., TrialResult],
    *,
    data_root: str | None,
    progress: bool,
    on_result: OnResult,
    on_error: OnError,
    desc: str = "trials",
) -> None:
    """Run ``todo`` one by one in this process (``desc``: the progress bar's label)."""
    with tqdm(total=len(todo), desc=desc, unit="trial", disable=not progress) as bar:
        for spec in todo:
            bar.set_postfix_str(spec.label())
            try:
                result = _checked(spec, fn(spec, data_root=data_root, progress=False))
            except Exception as error:  # noqa: BLE001 - reported (or re-raised) by on_error with the spec
                on_error(spec, error)
            else:
                on_result(result)
            bar.update(1)


PopulationFn = Callable[..., list[TrialResult]]


def run_populations(
    groups: Sequence[Sequence[TrialSpec]],
    fn: PopulationFn,
    *,
    data_root: str | None,
    progress: bool,
    on_result: OnResult,
    on_error: OnError,
    take: Callable[[list[TrialSpec]], list[TrialSpec]] | None = None,
    desc: str = "trials (populations)",
    checkpoints: str | None = None,
) -> None:
    """Train each group of ``groups`` as one population in this process (``fn``: ``train_population``).

    ``take`` (the runner's claims and start deadline) is asked right before a group trains and returns
    the members to train now (empty: skip the group); ``desc`` labels the one progress bar of the run.
    ``checkpoints``: the folder of per-epoch population checkpoints, passed to ``fn``; a population's
    checkpoint is removed once ``on_result`` has taken all its members."""
    from snnlab.study.populations import remove_checkpoint

    total = sum(len(g) for g in groups)
    with tqdm(total=total, desc=desc, unit="trial", disable=not progress) as bar:
        for group in groups:
            if take is not None:
                skipped = len(group)
                group = take(list(group))
                bar.update(skipped - len(group))
                if not group:
                    continue
            bar.set_postfix_str(f"{len(group)} x {group[0].label()}")
            extra = {} if checkpoints is None else {"checkpoints": checkpoints}
            try:
                results = fn(list(group), data_root=data_root, progress=False, **extra)
                checked = [_checked(spec, r) for spec, r in zip(group, results, strict=True)]
            except Exception as error:  # noqa: BLE001 - reported (or re-raised) by on_error with the spec
                for spec in group:
                    on_error(spec, error)
            else:
                for result in checked:
                    on_result(result)
                if checkpoints is not None:
                    remove_checkpoint(checkpoints, group)
            bar.update(len(group))


def _ray_trial(fn: Callable[..., TrialResult], spec: TrialSpec, data_root: str | None) -> TrialResult:
    """Body of one Ray task (runs on a worker; returns the result to the driver)."""
    return fn(spec, data_root=data_root, progress=False)


def _ray_population(fn: PopulationFn, group: list[TrialSpec], data_root: str | None) -> list[TrialResult]:
    """Body of one Ray task training a population (returns its members' results to the driver)."""
    return fn(group, data_root=data_root, progress=False)


def check_ray_options(address: str | None, num_cpus: int | None, timeout: float = DEFAULT_RAY_TIMEOUT) -> None:
    """Validate the Ray executor's options before Ray starts (a local Ray with 0 CPUs would wait forever).

    ``address``: None (start a local Ray) or a non-empty cluster address; ``num_cpus``: None (all)
    or an integer >= 1; ``timeout``: seconds > 0 to wait for the cluster at ``address``.
    """
    if address is not None and not isinstance(address, str):
        raise TypeError(f"address must be a string (a Ray cluster address) or None, got {type(address).__name__} "
                        f"({address!r})")
    if address is not None and not address.strip():
        raise ValueError(f"address={address!r} is not allowed; give a Ray cluster address such as "
                         "'10.0.0.1:6379' or 'auto', or None to start a local Ray")
    if num_cpus is not None:
        check_int("num_cpus", num_cpus, minimum=1)
    check_float("timeout", timeout, low=0.0, low_inclusive=False)


def _init_ray(ray: Any, address: str | None, num_cpus: int | None, timeout: float) -> None:
    """``ray.init``; a connection to ``address`` that does not answer within ``timeout`` s is a TimeoutError.

    Ray retries an unreachable address for ever, so the connection is made in a daemon thread that
    is abandoned when it does not finish in time.
    """
    if address is None:
        ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=False)
        return
    failure: list[BaseException] = []

    def connect() -> None:
        try:
            ray.init(address=address, log_to_driver=False)
        except BaseException as error:  # noqa: BLE001 - handed to the calling thread
            failure.append(error)

    thread = threading.Thread(target=connect, name="snnlab-ray-connect", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise TimeoutError(f"address={address!r}: no Ray cluster answered within {timeout:g} s; check the address "
                           "(host:port of the head node) and that the cluster is running, or allow more time "
                           "(timeout, --ray-timeout)")
    if failure:
        raise failure[0]


@contextlib.contextmanager
def ray_session(address: str | None = None, num_cpus: int | None = None,
                timeout: float = DEFAULT_RAY_TIMEOUT) -> Iterator[bool]:
    """Connect to the Ray cluster at ``address`` (or start a local Ray with ``num_cpus``) for the block.

    Options are validated first; a cluster that does not answer within ``timeout`` seconds is a
    TimeoutError. Yields True when this call started Ray (it is then shut down at the end), False
    when Ray was already initialised (left alone). Ray missing is an ImportError saying what to install.
    """
    check_ray_options(address, num_cpus, timeout)
    try:
        import ray
    except ImportError as error:
        raise ImportError(
            "executor='ray' needs Ray, which is not installed; install the cluster extra: "
            "pip install 'snnlab[cluster]' (or use executor='local')"
        ) from error
    if ray.is_initialized():
        yield False
        return
    _init_ray(ray, address, num_cpus, timeout)
    try:
        yield True
    finally:
        ray.shutdown()


def run_ray(
    todo: Sequence[TrialSpec] | Sequence[Sequence[TrialSpec]],
    fn: Callable[..., TrialResult] | PopulationFn,
    *,
    address: str | None,
    num_cpus: int | None,
    data_root: str | None,
    progress: bool,
    on_result: OnResult,
    on_error: OnError,
    populations: bool = False,
    timeout: float = DEFAULT_RAY_TIMEOUT,
) -> None:
    """Run ``todo`` as Ray tasks: on the cluster at ``address``, or a local Ray with ``num_cpus``.

    With ``populations`` each entry of ``todo`` is a group trained as one population by ``fn``
    (one task, one GPU each); otherwise each entry is a spec trained by ``fn``.

    A Ray this function started is shut down when it returns; one that was already running
    (``ray.init`` called by the user, or ``ray_session``) is left alone. The options are checked
    before Ray starts (``check_ray_options``); a cluster that does not answer within ``timeout``
    seconds is a TimeoutError.
    """
    with ray_session(address, num_cpus, timeout):
        import ray

        gpus = float(ray.cluster_resources().get("GPU", 0.0))
        body = _ray_population if populations else _ray_trial
        task = ray.remote(body).options(num_cpus=1, num_gpus=1 if gpus >= 1 else 0, max_retries=0)
        fn_ref = ray.put(fn)
        units = [list(u) for u in todo] if populations else [[spec] for spec in todo]
        pending = {task.remote(fn_ref, u if populations else u[0], data_root): u for u in units}
        try:
            with tqdm(total=sum(len(u) for u in units), desc="trials (ray)", unit="trial", disable=not progress) as bar:
                while pending:
                    ready, _ = ray.wait(list(pending), num_returns=1)
                    for ref in ready:
                        unit = pending.pop(ref)
                        try:
                            out = ray.get(ref)
                            results = [_checked(s, r) for s, r in zip(unit, out if populations else [out], strict=True)]
                        except Exception as error:  # noqa: BLE001 - RayTaskError wraps the worker's error
                            for spec in unit:
                                on_error(spec, getattr(error, "cause", None) or error)
                        else:
                            for result in results:
                                on_result(result)
                        bar.update(len(unit))
        finally:
            for ref in pending:
                ray.cancel(ref, force=True)
