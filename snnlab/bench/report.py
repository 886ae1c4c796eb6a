"""What every benchmark shares: waiting for the device, the result file, and reading a result frame back."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from snnlab.cpu_memory import keep_freed_memory


def sync(device: torch.device) -> None:
    """Wait for the device's queued work (CUDA, MPS); a no-op on CPU."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def bench_meta(device: torch.device, *, clock: str, threads: int | None, rounds: int) -> dict[str, Any]:
    """What a result file records besides its rows: versions, device, threads, clock."""
    meta: dict[str, Any] = {"torch": torch.__version__, "device": str(device), "clock": clock, "rounds": rounds,
                            "threads": threads if threads is not None else torch.get_num_threads()}
    if device.type == "cpu":
        reason = keep_freed_memory()
        meta["freed_memory"] = "kept for reuse (snnlab.cpu_memory)" if reason is None else f"returned to the system: {reason}"
    if device.type == "cuda":
        meta["gpu"] = torch.cuda.get_device_name(device)
        try:
            import triton

            meta["triton"] = triton.__version__
        except ImportError:
            meta["triton"] = None
    return meta


def write_payload(path: str | Path, rows: Sequence[Mapping[str, Any]], *, device: torch.device, clock: str,
                  threads: int | None, rounds: int, config: Mapping[str, Any] | None = None) -> Path:
    """Write ``{"meta": ..., ["config": ...,] "rows": [...]}`` to ``path`` as JSON (NaN as null); returns the path."""
    target = Path(path)
    clean = [{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()} for row in rows]
    payload: dict[str, Any] = {"meta": bench_meta(device, clock=clock, threads=threads, rounds=rounds)}
    if config is not None:
        payload["config"] = dict(config)
    payload["rows"] = clean
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    return target


def frame_records(df: Any, columns: Sequence[str], producer: str) -> list[dict[str, Any]]:
    """The rows of a benchmark's DataFrame (or a list of row dicts), checked for ``columns``."""
    if isinstance(df, Sequence) and not isinstance(df, str) and all(isinstance(r, Mapping) for r in df):
        records = [dict(r) for r in df]
    elif hasattr(df, "to_dict") and hasattr(df, "columns"):
        records = df.to_dict("records")
    else:
        raise TypeError(f"df must be the DataFrame of {producer} (columns {', '.join(columns)}), got {type(df).__name__}")
    if records and not set(columns) <= set(records[0]):
        raise TypeError(f"df must be the DataFrame of {producer} (columns {', '.join(columns)})")
    return records
