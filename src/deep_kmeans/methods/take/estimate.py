"""How long a TAKE training will take, measured on the spot before any epoch runs.

Each phase's own step runs on a batch of the data on the run's device, the modules the training uses
(``_PretrainStep`` for the warm-up and update epochs, ``_ClusterStep`` with the optimiser step and the gradient
clipping for the clustering epochs): first untimed steps (allocation, kernel choice, caches: the first step of a
fresh module can cost ten steady ones), then timed steps until a short time has passed. That phase's cost per
batch is a median of means of the timed steps (:func:`typical_step`): the steps in consecutive groups, each
group's mean, the median of those. Stalls that recur in most groups (a machine that is busy throughout) are part
of what the epochs will meet and count; one stall of seconds that falls in one group (another process's burst)
does not make the whole training look that slow. So the ratios between the phases (an update step carries the
batch and its 4 views, a clustering step KNet's unrolled projection) are measured for this model, these data and
this device, not taken from another machine.

Around the epochs: encoding all rows (timed on one inference batch), K-means on z (timed on a sample, scaled to
the rows), and where the run fits it, UMAP + GMM on z, which is too slow to time here (its first call compiles
for tens of seconds): that one term is a per-row rate measured on 2 idle CPU cores.
"""

from __future__ import annotations

import dataclasses
import math
import time

import numpy as np
import torch
from threadpoolctl import threadpool_limits
from torch import nn

from deep_kmeans.data.registry import Geometry
from deep_kmeans.methods.distributed import Group
from deep_kmeans.methods.kit import resolve_device
from deep_kmeans.methods.take.config import TAKEConfig
from deep_kmeans.methods.take.joint import _ClusterStep
from deep_kmeans.methods.take.model import _autocast, build_knet, build_tae
from deep_kmeans.methods.take.pretrain import _PretrainStep, optimizer, resident
from deep_kmeans.models.tae import ContrastiveHead
from deep_kmeans.runtime import cpu_load, tf32_matmuls, torch_threads_kept

# Each phase: WARMUP_STEPS untimed steps, then timed ones until STEADY_SECONDS have passed (MIN_STEPS at least,
# MAX_STEPS at most). On a busy machine (runtime.CpuLoad.loaded) OpenMP threads that share cores with other
# processes stall for seconds at a time: LOADED_STEADY_SECONDS of steps then average over the stalls, as the
# epochs will.
WARMUP_STEPS = 2
MIN_STEPS = 3
MAX_STEPS = 500
STEADY_SECONDS = 0.5
LOADED_STEADY_SECONDS = 3.0
# The timed steps in this many consecutive groups (typical_step); fewer steps than groups: their plain mean.
GROUPS = 5
# ... and never more timed steps than this share of the steps the training itself will take (beyond MIN_STEPS): a
# training of seconds is not measured for longer than it lasts.
PROBE_SHARE = 0.05
# K-means on z: timed on at most this many rows of the probe's z (scaled to all rows), with this many Lloyd
# iterations per start (scikit-learn stops earlier on well-separated z; the start that converges slowest counts).
KMEANS_SAMPLE = 4000
KMEANS_ITERATIONS = 30
# A warm-started Lloyd refit (knet_centers: refit) after every clustering epoch: a few iterations.
REFIT_ITERATIONS = 10
# UMAP (K dims, 30 neighbours) + GMM (10 starts) on z: about 10 s of numba compilation in a fresh process, then
# about 1.2 ms per row on 2 idle CPU cores (MNIST's 70,000 z: about 85 s; docs/results.md). Not scaled by the load:
# on a busy machine (load 6 on 2 cores) digits' start took 18 s against these 12 s, where fair sharing says 45 s.
HEAD_FIXED_SECONDS = 10.0
HEAD_SECONDS_PER_ROW = 1.2e-3


def _timed(step, device: torch.device, seconds: float | None = None, runs: int | None = None) -> tuple[float, float]:
    """Seconds per call of ``step`` in the steady state, timed for ``seconds`` (STEADY_SECONDS by default; see the
    module's docstring) and at most ``PROBE_SHARE`` of the ``runs`` the training makes of it; and the spread of the
    timed steps (slowest / fastest: about 1 on a quiet machine)."""
    seconds = STEADY_SECONDS if seconds is None else seconds
    most = MAX_STEPS if runs is None else max(MIN_STEPS, min(MAX_STEPS, math.ceil(PROBE_SHARE * runs)))

    def run() -> None:
        step()
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    for _ in range(WARMUP_STEPS):
        run()
    times = []
    start = time.perf_counter()
    while len(times) < most and (len(times) < MIN_STEPS or time.perf_counter() - start < seconds):
        t = time.perf_counter()
        run()
        times.append(time.perf_counter() - t)
    return typical_step(times), max(times) / max(min(times), 1e-9)


def typical_step(times) -> float:
    """Seconds of a typical step from consecutive step ``times``: the median of the means of ``GROUPS`` consecutive
    groups (the plain mean of fewer steps). A stall inside one group moves one mean, not the median; a load that
    slows every group slows them all."""
    times = np.asarray(times, dtype=np.float64)
    if len(times) < GROUPS:
        return float(times.mean())
    return float(np.median([group.mean() for group in np.array_split(times, GROUPS)]))


def step_seconds(x: np.ndarray, geometry: Geometry, cfg: TAKEConfig, device: str = "auto",
                 views: np.ndarray | None = None, augment=None, n_clusters: int = 10, loaded: bool | None = None,
                 threads: int | None = None) -> dict:
    """Seconds per batch of ``min(cfg.batch_size, len(x))`` rows of each phase's step, timed here:
    ``{"warmup", "update", "cluster", "encode_row", "batch", "spread"}``. ``update`` is the warm-up step where there
    are no views (no ``views``, no ``augment``); ``cluster`` 0 without KNet (``assignment`` other than ``knet``);
    ``encode_row`` the inference cost of one row; ``spread`` the largest slowest / fastest step of a phase: far above
    1, other processes stalled the steps and the estimate is rough. ``loaded``: the machine is busy
    (:class:`~deep_kmeans.runtime.CpuLoad`; measured here when None): the steps are timed for longer. ``threads``:
    torch's intra-op threads for the timing (the run's own by default), restored afterwards."""
    if threads is not None:
        with torch_threads_kept():
            torch.set_num_threads(threads)
            return step_seconds(x, geometry, cfg, device, views, augment, n_clusters, loaded)
    dev = resolve_device(device)
    window = STEADY_SECONDS
    if STEADY_SECONDS and (cpu_load().loaded if loaded is None else loaded):  # (0, the fewest steps: the tests')
        window = LOADED_STEADY_SECONDS
    cfg = dataclasses.replace(cfg, compile=False)
    generator = torch.Generator().manual_seed(0)
    # where the pretraining keeps them: on the device once (pretrain.resident), batches gathered there
    xt, vt = resident([x, None if views is None else views[:, :4]], dev)
    b = max(2, min(cfg.batch_size, len(xt)))

    def batch() -> torch.Tensor:  # a fresh random batch every step, gathered as the epochs gather theirs
        return torch.randint(len(xt), (b,), generator=generator).to(xt.device)

    tae = build_tae(geometry, cfg).to(dev)
    head = ContrastiveHead(cfg.latent_dim, cfg.head_hidden, cfg.head_out).to(dev)
    ccl_logits = nn.Parameter(torch.zeros(2, device=dev))
    module = _PretrainStep(tae, head, ccl_logits, cfg, Group())
    opt = optimizer(list(tae.parameters()) + list(head.parameters()) + [ccl_logits], cfg.lr, dev)

    def pretrain_step(update: bool) -> None:  # as pretrain._epoch: no read of the device within an epoch
        idx = batch()
        xb = xt[idx].to(dev, non_blocking=True)
        vb = None
        if update:
            vb = (augment(xb, generator) if augment is not None else vt[idx].to(dev, non_blocking=True))
        with _autocast(dev, cfg.amp):
            loss, terms = module(xb, vb)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    batches = math.ceil(len(xt) / b)
    spreads = []

    def timed(step, runs: int) -> float:
        mean, spread = _timed(step, dev, window, runs)
        spreads.append(spread)
        return mean

    with tf32_matmuls(dev):
        out = {"batch": b, "warmup": timed(lambda: pretrain_step(False), batches * cfg.warmup_epochs)}
        has_views = vt is not None or augment is not None
        out["update"] = out["warmup"]
        if has_views and cfg.update_epochs:
            out["update"] = timed(lambda: pretrain_step(True), batches * cfg.update_epochs)

    with torch.no_grad():
        rows = xt[:max(2, min(cfg.predict_batch_size, len(xt)))].to(dev)
        tae.eval()
        # z of all rows at the start, and after every joint epoch (the eval scale, the centres, the diagnostics)
        encodes = math.ceil(len(xt) / len(rows)) * (1 + cfg.cluster_epochs)
        out["encode_row"] = timed(lambda: tae.encode(rows), encodes) / len(rows)
        z = tae.encode(xt[:b].to(dev)).float()
    tae.train()
    out["cluster"] = 0.0
    if cfg.assignment == "knet" and cfg.cluster_epochs:
        k = max(2, min(n_clusters, b))
        knet = build_knet(z[torch.randperm(len(z), generator=generator)[:k]].cpu(), cfg).to(dev)
        knet.M.requires_grad_(cfg.knet_centers == "learn")
        # cluster_contrastive: the rows and their 4 views through the TAE, the head and c̃ trained too
        contrastive = cfg.cluster_contrastive > 0 and (vt is not None or augment is not None)
        trained = (list(tae.parameters()) + (list(knet.parameters()) if cfg.knet_centers == "learn" else [])
                   + ([*head.parameters(), ccl_logits] if contrastive else []))
        cluster_opt = torch.optim.Adam(trained, lr=cfg.cluster_lr or cfg.lr)
        cluster_module = _ClusterStep(tae, knet, cfg, head, ccl_logits)
        targets = torch.randint(0, k, (len(xt),), generator=generator).to(dev)
        confident = torch.ones(len(xt), dtype=torch.bool, device=dev)

        def cluster_step() -> None:  # as joint.cluster: assignments and losses stay on the device
            rows = batch().to(dev)
            host_rows = rows.to(xt.device)
            xv = None  # knet_view_targets: one view of each row through the encoder too
            if vt is not None and cfg.knet_view_targets and cfg.knet_target_weight > 0:
                xv = vt[host_rows, 0].to(dev, non_blocking=True)
            xb = xt[host_rows].to(dev, non_blocking=True)
            vb = None
            if contrastive:  # the stored views; fresh ones (the pretraining's) stand in for them, of the same shape
                vb = vt[host_rows].to(dev, non_blocking=True) if vt is not None else augment(xb, generator)
            loss, terms, s = cluster_module(xb, targets[rows], confident[rows], xv, vb)
            cluster_opt.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.grad_clip > 0:
                nn.utils.clip_grad_norm_(trained, cfg.grad_clip)
            cluster_opt.step()
            s.detach().argmax(dim=1)

        out["cluster"] = timed(cluster_step, batches * cfg.cluster_epochs)
    out["spread"] = max(spreads)
    return out


def kmeans_seconds(n_rows: int, dim: int, n_clusters: int, n_init, iterations: int, seed: int = 0) -> float:
    """Seconds of scikit-learn K-means (``n_init`` starts of ``iterations`` Lloyd steps each) on ``n_rows`` × ``dim``,
    timed on a sample of at most ``KMEANS_SAMPLE`` rows and scaled linearly (Lloyd's cost is linear in the rows)."""
    from sklearn.cluster import KMeans

    rows = max(n_clusters, min(n_rows, KMEANS_SAMPLE))
    sample = np.random.default_rng(seed).normal(size=(rows, dim))
    start = time.perf_counter()
    KMeans(n_clusters, n_init=n_init, max_iter=iterations, tol=0.0, random_state=seed).fit(sample)
    return (time.perf_counter() - start) * n_rows / rows


def estimate_seconds(x: np.ndarray, geometry: Geometry, cfg: TAKEConfig, device: str = "auto",
                     views: np.ndarray | None = None, augment=None, n_clusters: int = 10,
                     done_epochs: int = 0, done_cluster_epochs: int = 0) -> dict:
    """How long TAKE's training of ``cfg`` on ``x`` takes here: pretraining (warm-up and update epochs), the start
    of the clustering phase (encoding, K-means on z, the UMAP + GMM head where the config uses it) and the joint
    epochs (each ending with z of all rows and the diagnostics' K-means, and the refit of the centres for
    ``knet_centers: refit``). ``done_epochs``, ``done_cluster_epochs``: the pretraining and joint epochs a resumed
    run skips (its checkpoints'); only the epochs left count.

    Returns seconds ``{"pretrain", "start", "cluster", "total"}``, what they cover (``rows``, ``epochs``: warm-up,
    update, clustering), the per-batch step times it measured
    (``steps``: :func:`step_seconds`), ``probe`` (the seconds this measurement took), and what it was measured
    under: ``device`` and ``machine`` (:class:`~deep_kmeans.runtime.CpuLoad`: threads, cores, load average, the
    cores other processes kept busy). On a CPU that other processes load, with more than one torch thread, also
    ``one_thread``: the same seconds timed with one thread (what ``OMP_NUM_THREADS=1`` would give: OpenMP threads
    that share cores with other processes stall at every parallel region, measured 36-fold on MNIST's steps
    beside one busy process, where one thread ran at 1.4 times its idle step). Leaves no trace: the training
    seeds its own modules.
    """
    started = time.perf_counter()
    dev = resolve_device(device)
    load = cpu_load()
    steps = step_seconds(x, geometry, cfg, device, views=views, augment=augment, n_clusters=n_clusters,
                         loaded=load.loaded)
    out = _phase_seconds(steps, len(x), cfg, n_clusters, done_epochs, done_cluster_epochs)
    if dev.type == "cpu" and load.loaded and load.threads > 1:
        one = step_seconds(x, geometry, cfg, device, views=views, augment=augment, n_clusters=n_clusters,
                           loaded=False, threads=1)
        with threadpool_limits(1):
            out["one_thread"] = {**_phase_seconds(one, len(x), cfg, n_clusters, done_epochs, done_cluster_epochs),
                                 "steps": one}
    return {**out, "rows": len(x), "epochs": [cfg.warmup_epochs, cfg.update_epochs, cfg.cluster_epochs],
            "done_epochs": done_epochs, "done_cluster_epochs": done_cluster_epochs, "steps": steps,
            "probe": time.perf_counter() - started, "device": str(dev),
            "machine": load}


def _phase_seconds(steps: dict, n: int, cfg: TAKEConfig, n_clusters: int, done: int = 0,
                   done_cluster: int = 0) -> dict:
    """``{"pretrain", "start", "cluster", "total"}`` seconds of a training on ``n`` rows from its step times
    (:func:`step_seconds`), less the first ``done`` pretraining and ``done_cluster`` joint epochs (a resumed joint
    phase still encodes and finds its start: the start counts); K-means on z is timed here, with the threads in
    force."""
    batches = n / steps["batch"]  # the last, smaller batch costs its share of a full one
    warmup = max(0, cfg.warmup_epochs - done)
    update = max(0, cfg.update_epochs - max(0, done - cfg.warmup_epochs))
    pretrain = batches * (warmup * steps["warmup"] + update * steps["update"])
    encode = steps["encode_row"] * n
    k = max(2, min(n_clusters, n))
    start = encode + kmeans_seconds(n, cfg.latent_dim, k, cfg.kmeans_n_init, KMEANS_ITERATIONS)
    heads = 1 if cfg.assignment == "umap_gmm" else 0
    if cfg.assignment == "knet":  # knet_init auto fits the head twice (two seeds)
        heads = {"umap_gmm": 1, "input": 1, "auto": 2}.get(cfg.knet_init, 0)
    if heads:
        start += HEAD_FIXED_SECONDS + heads * HEAD_SECONDS_PER_ROW * n
    cluster = 0.0
    if cfg.assignment == "knet" and cfg.cluster_epochs:
        # every epoch ends with z of all rows and the diagnostics' K-means on it (one start), and for
        # knet_centers refit the Lloyd refit of the centres
        per_epoch = batches * steps["cluster"] + encode + kmeans_seconds(n, cfg.latent_dim, k, 1, KMEANS_ITERATIONS)
        if cfg.knet_centers == "refit":
            per_epoch += kmeans_seconds(n, cfg.latent_dim, k, 1, REFIT_ITERATIONS)
        cluster = max(0, cfg.cluster_epochs - done_cluster) * per_epoch
    return {"pretrain": pretrain, "start": start, "cluster": cluster, "total": pretrain + start + cluster}
