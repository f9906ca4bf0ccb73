"""TAKE's clustering phase (paper 3.3): K-means on the pretrained z gives KNet's centres, then the TAE and KNet
train jointly on L_r + λ3 L_k (eq. 15)."""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from deep_kmeans.data.registry import Geometry
from deep_kmeans.models.clustering import cluster_means
from deep_kmeans.models.knet import KNet
from deep_kmeans.models.losses import kmeans_loss, reconstruction_loss
from deep_kmeans.models.tae import TransformerAutoencoder
from deep_kmeans.methods.distributed import process_group
from deep_kmeans.methods.kit import (Checkpointer, check_n_clusters, cpu_state_dict, epoch_bar, kmeans_init, record,
                                     rng_state, run_key, seed_everything, set_rng_state)
from deep_kmeans.methods.take.config import TAKEConfig
from deep_kmeans.methods.take.model import _autocast, _digest, _nearest, check_inputs, encode, fit_head, load_tae
from deep_kmeans.methods.take.pretrain import _batches


class _ClusterStep(nn.Module):
    """One clustering step's losses and assignments, as the forward of one module (what DDP wraps)."""

    def __init__(self, tae: TransformerAutoencoder, knet: KNet, cfg: TAKEConfig):
        super().__init__()
        self.tae, self.knet, self.cfg = tae, knet, cfg

    def forward(self, xb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """→ (loss, l_r, l_k, s)."""
        cfg, knet = self.cfg, self.knet
        with _autocast(xb.device, cfg.amp):
            z, rec = self.tae(xb)
            l_r = reconstruction_loss(xb, rec, cfg.reconstruction)
        z = z.float()
        s = knet(z)  # KNet in float32: the projection's sort is precision-sensitive
        l_k = kmeans_loss(z, s, knet.M, knet.lam)
        return l_r.float() + cfg.lambda3 * l_k, l_r, l_k, s



def kmeans_initialise(x: np.ndarray, pretrained: dict, geometry: Geometry, cfg: TAKEConfig, n_clusters: int,
                      seed: int = 0, device: str = "auto", progress: bool = False) -> dict:
    """K-means (scikit-learn defaults) on z of all data → {"centers" (K, d), "labels", "inertia", "z",
    "start_centers", "start_labels"}: where the joint phase starts, K-means' own centres and labels, or with
    ``knet_init: umap_gmm`` (and ``assignment: knet``) those of :func:`head_start`.

    Under torchrun rank 0 alone encodes and runs K-means; every rank gets its result."""
    check_n_clusters(n_clusters, len(x))
    group = process_group(device)

    def fit() -> dict:
        z = encode(load_tae(pretrained, geometry, cfg), x, cfg.predict_batch_size, group.device(device))
        centers, labels, inertia = kmeans_init(z, n_clusters, seed=seed, n_init=cfg.kmeans_n_init)
        start_centers, start_labels = centers, labels
        if cfg.knet_init == "umap_gmm" and cfg.assignment == "knet":
            start_centers, start_labels = head_start(z, cfg, centers, seed, progress)
        return {"centers": centers, "labels": labels, "inertia": inertia, "z": z,
                "start_centers": start_centers, "start_labels": start_labels}

    return group.on_main(fit)


def head_start(z: np.ndarray, cfg: TAKEConfig, kmeans_centers: np.ndarray, seed: int = 0,
               progress: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """``knet_init: umap_gmm``: KNet's start from N2D's head on z (:func:`fit_head`): the GMM's labels, and as M
    the mean of z over each of its clusters (a cluster the GMM leaves empty keeps its K-means centre).
    Returns (centres (K, d) float32, labels (N,) int64)."""
    n_clusters = len(kmeans_centers)
    labels = np.asarray(fit_head(z, cfg, n_clusters, seed, progress)["labels"], dtype=np.int64)
    centers = cluster_means(torch.as_tensor(z, dtype=torch.float32), torch.from_numpy(labels), n_clusters,
                            fallback=torch.as_tensor(kmeans_centers, dtype=torch.float32))
    return centers.numpy(), labels


def cluster(x: np.ndarray, pretrained: dict, centers: np.ndarray, geometry: Geometry, cfg: TAKEConfig,
            seed: int = 0, device: str = "auto", progress: bool = True, store=None, data_key: str = "",
            stop_after: int | None = None, init_labels: np.ndarray | None = None) -> tuple[dict, dict]:
    """Joint training of TAE and KNet on L_r + λ3 L_k (eq. 15). Returns ({"tae", "knet"} CPU states, history).

    Also records, per epoch, ``cluster/changed``: the fraction of samples whose assignment changed since the
    epoch before, the first epoch against ``init_labels`` (the K-means initialisation; the nearest of
    ``centers`` when None). With ``knet_centers: refit`` M is re-fitted by warm-started Lloyd iterations on z
    after every epoch.
    """
    check_inputs(x, geometry)
    group = process_group(device)
    dev = group.device(device)
    gen = seed_everything(seed)
    tae = load_tae(pretrained, geometry, cfg).to(dev)
    knet = KNet(torch.as_tensor(centers), n_iter=cfg.knet_iters, alpha=cfg.knet_alpha, lam=cfg.knet_lambda).to(dev)
    refit = cfg.knet_centers == "refit"
    knet.M.requires_grad_(not refit)
    trained = list(tae.parameters()) + ([] if refit else list(knet.parameters()))
    opt = torch.optim.Adam(trained, lr=cfg.cluster_lr or cfg.lr)
    history: dict[str, list[float]] = {}
    total = cfg.cluster_epochs
    # the key: the pretraining's and this phase's training options, the data, the seed, and where it starts from
    # (the pretrained TAE and the centres)
    key = "" if store is None else run_key(
        "take-cluster", cfg.training_options("cluster"), data_key, seed, _digest(x),
        _digest(np.asarray(centers, np.float32), *(pretrained["tae"][k] for k in sorted(pretrained["tae"]))))
    ckpt = Checkpointer(store, key, cfg.checkpoint_every, cfg.resume)
    start = 0
    if init_labels is None:
        init_labels = group.on_main(lambda: _nearest(encode(tae, x, cfg.predict_batch_size, dev),
                                                     np.asarray(centers, np.float32)))
    previous = np.asarray(init_labels, dtype=np.int64).copy()
    state = group.on_main(ckpt.load)
    if state is not None:
        tae.load_state_dict(state["tae"])
        knet.load_state_dict(state["knet"])
        opt.load_state_dict(state["optimizer"])
        history, start, previous = state["history"], state["epoch"], state["previous"]
        set_rng_state(state["rng"], gen)
    xt = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    step = group.wrap(_ClusterStep(tae, knet, cfg))
    bar = epoch_bar(total, "TAKE cluster", progress and group.is_main, start)
    for epoch in bar:
        tae.train()
        sums = {"loss": 0.0, "l_r": 0.0, "l_k": 0.0}
        current = previous.copy()
        for idx in _batches(len(xt), cfg.batch_size, gen, group):
            xb = xt[idx].to(dev, non_blocking=True)
            loss, l_r, l_k, s = step(xb)
            opt.zero_grad(set_to_none=True)
            group.scale(loss).backward()  # under DDP the gradients are the global batch's when backward returns
            if cfg.grad_clip > 0:
                nn.utils.clip_grad_norm_(trained, cfg.grad_clip)
            opt.step()
            current[idx.numpy()] = s.detach().argmax(dim=1).cpu().numpy()
            for k, v in (("loss", loss), ("l_r", l_r), ("l_k", l_k)):
                sums[k] += float(v.detach()) * len(idx)
        if group.distributed:  # each row changed on at most one rank (shards are disjoint)
            changed = torch.from_numpy(np.where(current != previous, current, -1))
            merged = group.merge_rows(changed).numpy()
            current = np.where(merged >= 0, merged, previous)
        sums = group.sum(sums)
        means = {k: v / len(xt) for k, v in sums.items()}
        if not math.isfinite(means["loss"]):
            raise FloatingPointError(f"TAKE clustering diverged at epoch {epoch + 1}; lower take.lr or take.lambda3")
        means["changed"] = float((current != previous).mean())
        previous = current
        if refit:  # on rank 0, then its M everywhere
            if group.is_main:
                _refit_centers(knet, encode(tae, x, cfg.predict_batch_size, dev))
            group.broadcast_(knet.M)
        record(history, "cluster", means)
        bar.set_postfix({k: f"{v:.4g}" for k, v in means.items()})
        done = epoch + 1
        if group.is_main:
            ckpt.maybe_save(done, total, lambda: {
                "tae": cpu_state_dict(tae), "knet": cpu_state_dict(knet), "optimizer": opt.state_dict(),
                "history": history, "previous": previous, "rng": rng_state(gen)})
        if stop_after is not None and done >= stop_after and done < total:
            raise KeyboardInterrupt(f"stopped after epoch {done} (stop_after)")
    bar.close()
    if group.is_main:
        ckpt.clear()
    return {"tae": cpu_state_dict(tae), "knet": cpu_state_dict(knet)}, history


def _refit_centers(knet: KNet, z: np.ndarray, max_iter: int = 300) -> None:
    """Lloyd iterations on ``z`` from the current M (one warm start, so cluster k stays cluster k)."""
    from sklearn.cluster import KMeans

    km = KMeans(knet.n_clusters, init=knet.M.detach().T.cpu().double().numpy(), n_init=1, max_iter=max_iter)
    km.fit(np.asarray(z, dtype=np.float64))
    knet.M.copy_(torch.as_tensor(km.cluster_centers_.T, dtype=knet.M.dtype, device=knet.M.device))

