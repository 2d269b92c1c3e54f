"""Where a network runs: the device, mixed precision, batch sizes and seeded randomness."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch

from astraguard_train.errors import ConfigError

#: The device names ``model.device`` accepts (``cuda:N`` too).
DEVICES = ("auto", "cpu", "cuda")
#: Rows per training or scoring batch on a CPU, where a larger batch buys little.
CPU_BATCH = 256
#: Share of the free GPU memory a batch may take (the rest: weights, optimiser, allocator).
GPU_FILL = 0.4
#: Largest batch considered on a GPU: past it, fewer, larger steps stop paying.
GPU_MAX_BATCH = 16384


def resolve_device(name: str, loading: bool = False) -> torch.device:
    """The device ``name`` means on this machine: ``auto`` is CUDA when torch sees one, else
    the CPU.

    :param loading: a saved network is being loaded: a CUDA device this machine lacks falls
        back to the CPU, so a bundle trained on a GPU scores anywhere.
    :raises ConfigError: naming ``model.device`` for an unknown name, or for CUDA asked for
        a fit on a machine without it.
    """
    if not isinstance(name, str) or not (name in DEVICES or name.startswith("cuda:")):
        raise ConfigError(
            f"model.device: unknown device {name!r}; accepted: {', '.join(DEVICES)}, cuda:N"
        )
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        if loading:
            return torch.device("cpu")
        raise ConfigError(
            f"model.device: {name!r} asked for, but torch sees no CUDA device here; use "
            "'auto' (CUDA when present, else the CPU) or 'cpu'"
        )
    return torch.device(name)


def autocast(device: torch.device, enabled: bool) -> contextlib.AbstractContextManager[Any]:
    """Mixed precision (float16 matrix products) on a GPU when ``enabled``; on a CPU, full
    float32, which keeps results reproducible bit for bit."""
    if enabled and device.type == "cuda":
        return torch.autocast(device_type="cuda", dtype=torch.float16)
    return contextlib.nullcontext()


def batch_rows(requested: int | str, device: torch.device, bytes_per_row: int) -> int:
    """Rows per batch: ``requested`` when a number; for ``"auto"``, :data:`CPU_BATCH` on a CPU
    and on a GPU the power of two whose batch fills :data:`GPU_FILL` of its free memory.

    :raises ConfigError: naming ``model.batch_size`` for anything else.
    """
    if requested != "auto":
        if isinstance(requested, bool) or not isinstance(requested, int) or requested < 1:
            raise ConfigError(
                f"model.batch_size: must be a positive integer or 'auto', got {requested!r}"
            )
        return requested
    if device.type != "cuda":
        return CPU_BATCH
    free, _ = torch.cuda.mem_get_info(device)
    rows = CPU_BATCH
    while rows * 2 <= GPU_MAX_BATCH and rows * 2 * bytes_per_row <= free * GPU_FILL:
        rows *= 2
    return rows


@contextlib.contextmanager
def seeded(seed: int | None, device: torch.device) -> Iterator[None]:
    """Run the block with torch's random generators seeded (weight initialisation, dropout,
    shuffling), leaving the caller's generators as they were. On a CPU two seeded fits give
    the same bits; CUDA kernels may not."""
    devices = [device.index if device.index is not None else torch.cuda.current_device()] \
        if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        if seed is not None:
            torch.manual_seed(seed)
        yield
