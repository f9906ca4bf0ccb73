"""Device choice, seeding, the torchrun environment and the CPU's load, shared by every training loop."""

from __future__ import annotations

import dataclasses
import os
import random
import time
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


# A machine counts as loaded when other processes want a core one of this run's threads needs: measured, the cores
# they kept busy over OTHERS_SAMPLE_SECONDS while this process slept (Linux's /proc/stat); where that cannot be read,
# when the 1-minute load average is LOADED_FACTOR times the cores. The load average lags by a minute: a run started
# beside one busy process read 1.3 on 2 cores while its steps already stalled 36-fold.
LOADED_FACTOR = 1.5
OTHERS_SAMPLE_SECONDS = 0.25
# Other processes' cores beyond the cores this run's threads leave free before a run counts as loaded: a shell's
# flicker is not a load.
OTHERS_MARGIN = 0.5
# On a loaded machine, a small torch step (a 128 x 64 batch through a linear layer, layer norm and softmax: the
# ops of a TAE block) is timed for this long with the run's threads and with one.
STALL_PROBE_SECONDS = 0.2


@dataclass(frozen=True)
class CpuLoad:
    """What the CPU offers a run now: torch's intra-op ``threads``, the ``cores`` of the machine (those this
    process may use), the 1-minute ``load`` average (runnable processes, ours included once it computes), the
    cores ``others`` (other processes) kept busy just now, and ``stall``: how many times longer a small torch step
    took with ``threads`` than with one thread just now (measured only on a loaded machine with threads > 1)."""

    threads: int
    cores: int
    load: float | None  # None where the platform has no load average (Windows)
    others: float | None = None  # None where not measured (not Linux, or sampling off)
    stall: float | None = None

    @property
    def loaded(self) -> bool:
        if self.others is not None:
            return self.threads + self.others > self.cores + OTHERS_MARGIN
        return self.load is not None and self.load >= LOADED_FACTOR * self.cores

    @property
    def slowdown(self) -> float:
        """How many times longer CPU work takes than on an idle machine by fair sharing: our threads and the
        others' share the cores; 1 where they fit. A lower bound where threads stall (``stall``): OpenMP threads that
        share a core with another process wait for it at every parallel region, erratically, far beyond a share."""
        busy = self.others if self.others is not None else self.load
        if busy is None:
            return 1.0
        threads = min(self.threads, self.cores)
        return max(1.0, (busy + threads) / self.cores)

    def describe(self) -> str:
        """``2 torch threads on 2 cores, load average 0.4`` (and ``, other processes busy on 1.0 cores`` where
        measured and not nil)."""
        load = "" if self.load is None else f", load average {self.load:.1f}"
        others = f", other processes busy on {self.others:.1f} cores" if self.others and self.others >= 0.05 else ""
        return f"{self.threads} torch thread{'s' if self.threads != 1 else ''} on {self.cores} cores{load}{others}"

    def warning(self) -> str | None:
        """The line a run says once when the machine is loaded, else None."""
        if not self.loaded:
            return None
        threads = f"{self.threads} torch thread{'s' if self.threads != 1 else ''}"
        if self.others is not None:
            busy = f"other processes kept {self.others:.1f} of its {self.cores} cores busy just now"
        else:
            busy = f"load average {self.load:.1f} on {self.cores} cores"
        expect = f"about {self.slowdown:.1f}x as long as on an idle machine"
        if self.stall is not None and self.stall >= 2:
            expect = (f"at least {self.slowdown:.1f}x as long as on an idle machine, and erratically far longer: a "
                      f"small torch step just took {self.stall:.0f}x as long with {threads} as with 1 (a thread that "
                      "shares a core with another process holds up the others at every parallel step)")
        text = f"this machine is busy: {busy}. With {threads}, expect CPU work to take {expect}"
        if self.threads > 1:
            text += (". Fewer threads stall less: OMP_NUM_THREADS=1 kedro run ... (a training on another thread count "
                     "takes sums in another order and another path, as another seed would)")
        return text + "."


def _busy_jiffies(cpus: set[int]) -> int:
    """Clock ticks the CPUs ``cpus`` spent busy since boot (Linux's /proc/stat: all but idle and iowait)."""
    busy = 0
    with open("/proc/stat") as f:
        for line in f:
            name, *ticks = line.split()
            if name.startswith("cpu") and name[3:].isdigit() and int(name[3:]) in cpus:
                values = [int(t) for t in ticks[:8]]
                busy += sum(values) - values[3] - values[4]
    return busy


def others_busy(seconds: float, cpus: set[int]) -> float | None:
    """Cores that other processes kept busy on ``cpus`` over ``seconds`` while this process slept; None where
    /proc/stat cannot be read (not Linux) or ``seconds`` is 0."""
    if seconds <= 0:
        return None
    try:
        started, ticks = time.perf_counter(), _busy_jiffies(cpus)
        ours = time.process_time()
        time.sleep(seconds)
        busy = (_busy_jiffies(cpus) - ticks) / os.sysconf("SC_CLK_TCK")
        ours = time.process_time() - ours  # this process's other threads (a data loader) are not the others
        return round(max(0.0, min(len(cpus), (busy - ours) / (time.perf_counter() - started))), 2)
    except (OSError, ValueError, AttributeError):
        return None


def thread_stall(threads: int, seconds: float = STALL_PROBE_SECONDS) -> float:
    """How many times longer a small torch step takes with ``threads`` intra-op threads than with one, timed now for
    ``seconds`` each (about 1 on an idle machine; tens where another process holds a core one thread needs)."""
    gen = torch.Generator().manual_seed(0)  # not torch's global generator: a run's seeded draws stay its own
    x, w = torch.randn(128, 64, generator=gen), torch.randn(64, 64, generator=gen)

    def per_step(n_threads: int) -> float:
        torch.set_num_threads(n_threads)
        steps, started = 0, time.perf_counter()
        while steps < 3 or time.perf_counter() - started < seconds:
            torch.nn.functional.layer_norm(x @ w, (64,)).softmax(-1).sum()
            steps += 1
        return (time.perf_counter() - started) / steps

    with torch_threads_kept():
        return round(per_step(threads) / per_step(1), 1)


def cpu_load(sample_seconds: float | None = None) -> CpuLoad:
    """The :class:`CpuLoad` of this process now. ``sample_seconds`` (OTHERS_SAMPLE_SECONDS by default; 0: off)
    of sleep measure the other processes' cores, and where they load the machine, the thread stall."""
    try:
        cpus = os.sched_getaffinity(0)
    except (AttributeError, OSError):  # not Linux
        cpus = set(range(os.cpu_count() or 1))
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):
        load = None
    threads = torch.get_num_threads()
    others = others_busy(OTHERS_SAMPLE_SECONDS if sample_seconds is None else sample_seconds, cpus)
    machine = CpuLoad(threads=threads, cores=len(cpus), load=load, others=others)
    if machine.loaded and threads > 1 and others is not None:
        machine = dataclasses.replace(machine, stall=thread_stall(threads))
    return machine


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
