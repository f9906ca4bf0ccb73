"""Device choice, seeding and the torchrun environment, shared by every training loop."""

from __future__ import annotations

import os
import random
from contextlib import contextmanager

import numpy as np
import torch

from deep_kmeans.errors import ParameterError


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """``auto`` → CUDA when present, else CPU; ``cpu``/``cuda``/``cuda:1`` as given.

    Asking for CUDA on a machine without it is an error, not a silent fallback: a run that a user
    believes is on the GPU should not quietly take a hundred times longer.
    """
    if device is None or str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ParameterError(f"device {device!r} was requested but CUDA is not available here; use device: auto or cpu")
    return dev


@contextmanager
def tf32_matmuls(device: str | torch.device):
    """On CUDA, the float32 matrix products of the block in TF32 (torch's ``high`` float32 matmul precision:
    8 to 16 times the FP32 rate on Ampere and later, 10 bits of mantissa in the products, float32 sums); the
    previous precision is restored after. Elsewhere nothing changes: CPU results stay bit for bit."""
    if torch.device(device).type != "cuda":
        yield
        return
    before = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("high")
    try:
        yield
    finally:
        torch.set_float32_matmul_precision(before)


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch; return a CPU generator for data order, seeded the same.

    Same seed on the same machine gives the same run: CPU kernels here are deterministic, and on
    CUDA we ask cuDNN for deterministic algorithms.
    """
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
        raise ParameterError(f"seed must be an integer, got {seed!r}")
    random.seed(int(seed))
    np.random.seed(int(seed) % 2**32)
    torch.manual_seed(int(seed))
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(int(seed))
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
    gen = torch.Generator()
    gen.manual_seed(int(seed))
    return gen


def torchrun_world() -> tuple[int, int, int]:
    """``(rank, world_size, local_rank)`` from the environment ``torchrun`` sets; ``(0, 1, 0)`` outside it.

    Only the environment is read (no process group is needed), so the Kedro hooks can ask it too.
    """
    try:
        world = int(os.environ.get("WORLD_SIZE", "1"))
        rank = int(os.environ.get("RANK", "0"))
        local = int(os.environ.get("LOCAL_RANK", str(rank)))
    except ValueError as e:
        raise ValueError(f"WORLD_SIZE, RANK and LOCAL_RANK must be integers (torchrun sets them): {e}") from None
    if world < 1 or not 0 <= rank < world:
        raise ValueError(f"RANK={rank} and WORLD_SIZE={world} from the environment do not fit together")
    return rank, world, local


def is_main_process() -> bool:
    """True outside torchrun and on its rank 0: the one process that writes outputs and logs."""
    return torchrun_world()[0] == 0
