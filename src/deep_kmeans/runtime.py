"""Device choice, seeding, the torchrun environment and the CPU's load, shared by every training loop."""

from __future__ import annotations

import os
import random
from contextlib import contextmanager
from dataclasses import dataclass

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


# A machine counts as loaded when its 1-minute load average is this many times its cores: other processes then
# want more than every core, and a run's epochs come at a fraction of their idle speed.
LOADED_FACTOR = 1.5


@dataclass(frozen=True)
class CpuLoad:
    """What the CPU offers a run now: torch's intra-op ``threads``, the ``cores`` of the machine (those this
    process may use) and the 1-minute ``load`` average (runnable processes, ours included once it computes)."""

    threads: int
    cores: int
    load: float | None  # None where the platform has no load average (Windows)

    @property
    def loaded(self) -> bool:
        return self.load is not None and self.load >= LOADED_FACTOR * self.cores

    @property
    def slowdown(self) -> float:
        """How many times longer CPU work takes than on an idle machine, by fair sharing: our threads and the
        load's share the cores. 1 where they fit."""
        if self.load is None:
            return 1.0
        threads = min(self.threads, self.cores)
        return max(1.0, (self.load + threads) / self.cores)

    def describe(self) -> str:
        """``2 torch threads on 2 cores, load average 0.4``."""
        load = "" if self.load is None else f", load average {self.load:.1f}"
        return f"{self.threads} torch thread{'s' if self.threads != 1 else ''} on {self.cores} cores{load}"

    def warning(self) -> str | None:
        """The line a run says once when the machine is loaded, else None."""
        if not self.loaded:
            return None
        threads = f"{self.threads} torch thread{'s' if self.threads != 1 else ''}"
        return (f"this machine is busy: load average {self.load:.1f} on {self.cores} cores. With {threads}, expect "
                f"CPU work to take about {self.slowdown:.1f}x as long as on an idle machine. Where other trainings "
                "share the cores, fewer threads often stall less: OMP_NUM_THREADS=1 kedro run ... (results can then "
                "differ in the last digits from a run with more threads).")


def cpu_load() -> CpuLoad:
    """The :class:`CpuLoad` of this process now."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        cores = os.cpu_count() or 1
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):
        load = None
    return CpuLoad(threads=torch.get_num_threads(), cores=cores, load=load)


@contextmanager
def torch_threads_kept():
    """Torch's intra-op thread count as it was before the block. numba's OpenMP threading layer (UMAP's) sets the
    process's OpenMP thread count to every core the first time it starts, and torch reads that same setting: a run
    on fewer threads (ParallelRunner's workers, ``OMP_NUM_THREADS=1``) would train every later phase on all cores,
    oversubscribed (measured: a digits joint phase of 1.3 s took 79 s after UMAP on a busy 2-core machine)."""
    threads = torch.get_num_threads()
    try:
        yield
    finally:
        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)
