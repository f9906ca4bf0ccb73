"""speed.py's ``profile`` section: where a training step's time goes, phase by phase, in the project's own loops.

For each phase (warm-up; update on the stored views; update on fresh views drawn every batch; the joint
clustering phase) of one configuration:

* throughput: samples/s of the steady epochs (the first dropped), ``profile_epochs`` epochs on all the data;
* host syncs per step and per call: ``tests/syncs.py``'s counter (``.item()``/``float()``, value-dependent
  shapes, ``.cpu()/.numpy()/.tolist()``), counted on any device, in runs of 2 and of 6 steps: the slope is
  what every step costs, the intercept what the call costs once (set-up, once per epoch);
* on CUDA: kernel launches per step and the GPU-busy share (kernel time / wall, ``torch.profiler``) over one
  epoch of ``profile_steps`` steps after an untimed one, and the syncs the CUDA runtime itself reports per step
  (``torch.cuda.set_sync_debug_mode``, 2 vs 6 steps: it also sees blocking host-to-device copies).

Then the warm-up throughput by batch size (an overhead-bound loop speeds up almost linearly with the batch; a
compute-bound one does not). The configuration (``size["profile_cfg"]``): ``paper``, what ``take.preset=paper``
runs on MNIST, on synthetic 28×28 images (the default on CUDA), or ``digits``, the default ``kedro run`` (conf's
``overrides.digits``) on the 1,797 real digits (the default on CPU).
"""

from __future__ import annotations

import dataclasses
import sys
import time
import warnings

import numpy as np
import torch

import _common as C
from _timing import EpochTimer, real_data, steady, sync, synthetic, take_cfg
from deep_kmeans.data.registry import Geometry
from deep_kmeans.methods import take as T

sys.path.insert(0, str(C.REPO / "tests"))
from syncs import count_host_syncs  # noqa: E402

PHASES = ("warmup", "update", "update_fresh", "cluster")
LAUNCHES = ("cudaLaunchKernel", "cudaLaunchKernelExC", "cuLaunchKernel", "cuLaunchKernelEx")
FEW, MANY = 2, 6  # steps of the two counting runs


@dataclasses.dataclass
class Setup:
    name: str
    x: np.ndarray
    views: np.ndarray | None
    geometry: Geometry
    params: dict
    view_params: dict


def setup(dev: torch.device, size: dict, paper_cfg: dict) -> Setup:
    name = size.get("profile_cfg") or ("paper" if dev.type == "cuda" else "digits")
    view_params = C.load_conf("features")["features"].get("views") or {}
    if name == "digits":
        x, _, views, g, _ = real_data("digits", None)
        conf = C.load_conf("take")["take"]
        conf["preset"] = None  # the data set's own block, whatever the machine
        params = C.params_for(conf, "digits")
        params.pop("split", None)
        params["knet_init"] = "kmeans"  # where KNet starts does not change a clustering step's cost
        if size.get("profile_n"):
            x, views = x[:size["profile_n"]], views[:size["profile_n"]]
    else:  # exactly what `take.preset=paper` runs on MNIST (its TAE, λs, KNet's α = 1e-3, M learned, batch 256)
        g = paper_cfg["geometry"]
        x, views = synthetic(size.get("profile_n", 16384), g.dim)
        conf = C.load_conf("take")["take"]
        conf["preset"] = "paper"
        params = C.params_for(conf, "mnist")
        params.pop("split", None)
    return Setup(name, x, views, g, params, view_params)


def phase_runner(phase: str, s: Setup, dev: torch.device, start: dict):
    """``run(n_rows, epochs)``: the phase's loop on the first ``n_rows`` rows."""

    def run(n: int, epochs: int) -> None:
        x, views = s.x[:n], None if s.views is None else s.views[:n]
        if phase == "cluster":
            cfg = take_cfg(s.params, cluster_epochs=epochs)
            T.cluster(x, start["pretrained"], start["centers"], s.geometry, cfg, seed=0, device=str(dev),
                      progress=False, init_labels=start["labels"][:n])
            return
        update = phase != "warmup"
        cfg = take_cfg(s.params, warmup_epochs=0 if update else epochs, update_epochs=epochs if update else 0,
                       fresh_views=phase == "update_fresh")
        augment = None
        if phase == "update_fresh":
            features = {"name": s.name, "extractor": "pixels", "views": views, "geometry": s.geometry.to_dict()}
            augment = T.view_augmenter(features, cfg, s.view_params)
        T.pretrain(x, views if update else None, s.geometry, cfg, seed=0, device=str(dev), progress=False,
                   augment=augment)

    return run


def counted(run, batch: int, count) -> dict:
    """``count(fn) -> int`` over runs of FEW and MANY steps (one epoch each): per step and per call."""
    few, many = count(lambda: run(FEW * batch, 1)), count(lambda: run(MANY * batch, 1))
    per_step = (many - few) / (MANY - FEW)
    return {"per_step": per_step, "per_call": few - FEW * per_step, f"at_{FEW}_steps": few, f"at_{MANY}_steps": many}


def host_syncs(fn) -> int:
    with count_host_syncs() as syncs:
        fn()
    return syncs.total


def cuda_syncs(fn) -> int:
    """Syncs the CUDA runtime reports (``set_sync_debug_mode``): blocking copies included."""
    torch.cuda.set_sync_debug_mode("warn")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            fn()
    finally:
        torch.cuda.set_sync_debug_mode("default")
    return sum("synchroniz" in str(w.message) for w in caught)


def cuda_profile(run, steps: int, batch: int, dev: torch.device) -> dict:
    from torch.profiler import ProfilerActivity, profile

    run(steps * batch, 1)  # untimed: allocation, kernel choice
    sync(dev)
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        t0 = time.perf_counter()
        run(steps * batch, 1)
        sync(dev)
        wall = time.perf_counter() - t0
    events = prof.key_averages()
    kernel_us = sum(getattr(e, "self_device_time_total", 0) or 0 for e in events)
    launches = sum(e.count for e in events if e.key in LAUNCHES)
    return {"steps": steps, "wall_ms_per_step": 1e3 * wall / steps, "kernel_ms_per_step": kernel_us / 1e3 / steps,
            "gpu_busy": kernel_us / 1e6 / wall if wall else None, "launches_per_step": launches / steps,
            "top_cpu": events.table(sort_by="self_cpu_time_total", row_limit=10)}


def section(dev: torch.device, size: dict, report: dict, paper_cfg: dict) -> None:
    s = setup(dev, size, paper_cfg)
    epochs, steps = size.get("profile_epochs", 3), size.get("profile_steps", 20)
    batch = take_cfg(s.params).batch_size
    res: dict = {"config": s.name, "n": len(s.x), "batch": batch, "params": s.params, "phases": {}}
    # the clustering phase starts from a pretrained TAE and K-means on its z
    cfg = take_cfg(s.params, warmup_epochs=1, update_epochs=0)
    pretrained, _ = T.pretrain(s.x, None, s.geometry, cfg, seed=0, device=str(dev), progress=False)
    init = T.kmeans_initialise(s.x, pretrained, s.geometry, cfg, 10, seed=0, device=str(dev))
    start = {"pretrained": pretrained, "centers": init["centers"], "labels": init["labels"]}
    for phase in PHASES:
        if phase.startswith("update") and s.views is None:
            continue
        run = phase_runner(phase, s, dev, start)
        run(len(s.x), epochs)
        t = steady(EpochTimer.last.times)
        cpu = steady(EpochTimer.last.cpu_times)
        row = {"epoch_s": t, "samples_per_s": len(s.x) / t, "first_epoch_s": EpochTimer.last.times[0],
               "cpu_epoch_s": cpu, "samples_per_cpu_s": len(s.x) / cpu, "host_syncs": counted(run, batch, host_syncs)}
        with count_host_syncs() as where:
            run(MANY * batch, 1)
        row["host_sync_sites"] = dict(where.where.most_common(8))
        if dev.type == "cuda":
            row["cuda_syncs"] = counted(run, batch, cuda_syncs)
            row.update(cuda_profile(run, steps, batch, dev))
        res["phases"][phase] = row
        print(f"  profile {phase}: {row['samples_per_s']:.0f} samples/s ({row['samples_per_cpu_s']:.0f} per CPU s), host syncs {row['host_syncs']['per_step']:.2f}"
              f"/step + {row['host_syncs']['per_call']:.0f}/call"
              + (f", CUDA syncs {row['cuda_syncs']['per_step']:.2f}/step, {row['launches_per_step']:.0f} launches/step, "
                 f"GPU busy {100 * row['gpu_busy']:.0f}%" if dev.type == "cuda" else ""), flush=True)
    res["batch_rows"] = batch_rows(s, dev, size)
    report["profile"] = res


def batch_rows(s: Setup, dev: torch.device, size: dict) -> list[dict]:
    rows = []
    sizes = (256, 1024, 4096) if len(s.x) >= 8192 else (64, 128, 256)
    for bs in sizes:
        cfg = take_cfg(s.params, warmup_epochs=3, update_epochs=0, batch_size=bs)
        T.pretrain(s.x, None, s.geometry, cfg, seed=0, device=str(dev), progress=False)
        t = steady(EpochTimer.last.times)
        rows.append({"batch": bs, "warmup_samples_per_s": len(s.x) / t, "epoch_s": t})
    print("  profile warm-up /s by batch: " + ", ".join(f"{r['batch']}: {r['warmup_samples_per_s']:.0f}" for r in rows),
          flush=True)
    return rows


def markdown(pf: dict) -> list[str]:
    cuda = any("gpu_busy" in r for r in pf["phases"].values())
    L = [f"## Where a step's time goes (config `{pf['config']}`, N = {pf['n']}, batch {pf['batch']})", "",
         "Host syncs: tests/syncs.py's count, per step (slope of 2 vs 6 steps) + per call (set-up, per epoch)."
         + (" CUDA syncs: what `torch.cuda.set_sync_debug_mode` reports (blocking copies too). GPU busy: kernel "
            "time / wall over one epoch (torch.profiler)." if cuda else ""), "",
         "| phase | samples/s | samples per CPU s | host syncs /step | host syncs /call |"
         + (" CUDA syncs /step | launches /step | ms/step wall | ms/step kernels | GPU busy |" if cuda else ""),
         "|---|---|---|---|---|" + ("---|---|---|---|---|" if cuda else "")]
    for phase, r in pf["phases"].items():
        line = (f"| {phase} | {r['samples_per_s']:.0f} | {r.get('samples_per_cpu_s', float('nan')):.0f} | "
                f"{r['host_syncs']['per_step']:.2f} | {r['host_syncs']['per_call']:.0f} |")
        if cuda:
            line += (f" {r['cuda_syncs']['per_step']:.2f} | {r['launches_per_step']:.0f} | {r['wall_ms_per_step']:.1f} | "
                     f"{r['kernel_ms_per_step']:.1f} | {100 * (r['gpu_busy'] or 0):.0f}% |")
        L.append(line)
    L += ["", "Where the host syncs of a 6-step call come from:", ""]
    for phase, r in pf["phases"].items():
        L.append(f"- {phase}: " + ("; ".join(f"`{k}` ×{v}" for k, v in r["host_sync_sites"].items()) or "none"))
    L += ["", "| batch | warm-up samples/s | epoch s |", "|---|---|---|"]
    L += [f"| {r['batch']} | {r['warmup_samples_per_s']:.0f} | {r['epoch_s']:.3f} |" for r in pf["batch_rows"]]
    L.append("")
    return L
