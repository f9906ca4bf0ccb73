"""What the sections of speed.py share: epoch timers around the project's own loops, memory peaks, the data.

Importing this module replaces, in this process only, the ``epoch_bar`` of TAKE's phase modules by
:class:`EpochTimer`, which records each epoch's wall time (with ``torch.cuda.synchronize``); the loops
themselves are the project's, unchanged.
"""

from __future__ import annotations

import contextlib
import importlib
import re
import time
from pathlib import Path

import numpy as np
import torch

import _common as C
from deep_kmeans.data.registry import Geometry
from deep_kmeans.methods import take as T


def sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


class EpochTimer:
    """Stands in for ``methods.take.epoch_bar``: iterates the epochs and records each one's wall time, and the
    CPU time of the process (all its threads) in ``cpu_times``: on a machine shared with other work, the wall
    time says what the contention left; the CPU time, with one torch thread, what the epoch costs."""

    last: "EpochTimer | None" = None
    device = torch.device("cpu")

    def __init__(self, total, desc, progress, start=0):
        self.epochs = range(start, total)
        self.desc = desc
        self.times: list[float] = []
        self.cpu_times: list[float] = []
        EpochTimer.last = self

    def __iter__(self):
        for e in self.epochs:
            sync(EpochTimer.device)
            t, c = time.perf_counter(), time.process_time()
            yield e
            sync(EpochTimer.device)
            self.times.append(time.perf_counter() - t)
            self.cpu_times.append(time.process_time() - c)

    def set_postfix(self, *a, **k):
        pass

    def close(self):
        pass


# this process only: the loops are the project's, unchanged. Each phase's module binds epoch_bar itself (the
# package re-exports the function `pretrain` under the submodule's name, hence import_module)
for _module in ("deep_kmeans.methods.take.pretrain", "deep_kmeans.methods.take.joint"):
    importlib.import_module(_module).epoch_bar = EpochTimer


def steady(times: list[float]) -> float:
    """Median epoch time without the first epoch (when there is more than one)."""
    ts = times[1:] if len(times) > 1 else times
    return float(np.median(ts))


def _vm(key: str) -> int:
    m = re.search(rf"{key}:\s+(\d+)", Path("/proc/self/status").read_text())
    return int(m.group(1)) * 1024 if m else 0


@contextlib.contextmanager
def peak_memory(dev: torch.device, out: dict, key: str = "peak_mib"):
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
        torch.cuda.reset_peak_memory_stats(dev)
        base = torch.cuda.memory_allocated(dev)
        yield
        torch.cuda.synchronize(dev)
        out[key] = torch.cuda.max_memory_allocated(dev) / 2**20
        out[key + "_above_start"] = (torch.cuda.max_memory_allocated(dev) - base) / 2**20
        out["memory_measure"] = "torch.cuda.max_memory_allocated"
    else:
        try:
            Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
            base = _vm("VmRSS")
            yield
            out[key] = _vm("VmHWM") / 2**20
            out[key + "_above_start"] = (_vm("VmHWM") - base) / 2**20
            out["memory_measure"] = "VmHWM (process peak RSS, reset per phase)"
        except OSError:
            import resource

            yield
            out[key] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            out["memory_measure"] = "ru_maxrss (process lifetime peak)"


def synthetic(n: int, dim: int, seed: int = 0, views: bool = True):
    g = np.random.default_rng(seed)
    x = g.random((n, dim), dtype=np.float32)
    v = None
    if views:
        v = np.clip(x[:, None, :] + 0.05 * g.standard_normal((n, 4, dim), dtype=np.float32), 0, 1)
    return x, v


def take_cfg(base: dict, **kw) -> T.TAKEConfig:
    return T.TAKEConfig.from_params({**base, "checkpoint_every": 0, "resume": False, **kw})


def real_data(name: str, n: int | None, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, Geometry, str]:
    """(x, y, views, geometry, note) of ``name`` (digits where MNIST is absent), as the pipelines build them."""
    from deep_kmeans.data.loaders import MissingRawDataError, load_raw_dataset
    from deep_kmeans.features.build import build_features

    feat = C.load_conf("features")["features"]
    try:
        opts = {"n_samples": n} if (n and name != "digits") else {}
        raw = load_raw_dataset(name, C.REPO / "data" / "01_raw" / name, opts, seed=seed)
    except MissingRawDataError as e:
        print(f"{name} missing ({str(e)[:80]}…): using digits", flush=True)
        name, raw = "digits", load_raw_dataset("digits", C.REPO / "data" / "01_raw" / "digits", {}, seed=seed)
    f = build_features(raw, feat, seed=seed, device="cpu", progress=False)
    return f["x"], f["y"], f["views"], Geometry.from_dict(f["geometry"]), name
