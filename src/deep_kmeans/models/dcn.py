"""DCN — Deep Clustering Network, "Towards K-means-friendly spaces" (Yang, Fu, Sidiropoulos & Hong, ICML 2017).

Pretrain an MLP autoencoder (``d-500-500-2000-10``), initialise centres M and hard assignments s
with K-means on the embedding, then for every mini-batch, alternately:

1. one network step (encoder AND decoder) on ``ℓ(g(f(x)), x) + λ/2 ‖f(x) − M s‖²`` with M, s fixed
   (paper eq. 8);
2. re-assign the batch to the nearest centre, ``s_i = argmin_k ‖f(x_i) − m_k‖²`` (eq. 9);
3. move each centre towards its new members with step ``1/c_k``, ``c_k`` the running count of
   samples assigned to cluster k so far: ``m_k ← m_k − (1/c_k)(m_k − f(x_i))`` (eq. 10).

Choices where the paper leaves room:

* ``ℓ`` is the squared error summed over input dimensions (the paper's ``‖x − g(f(x))‖²``) and both
  terms are averaged over the batch; λ = 1 by default (the paper uses 0.5–1);
* the counts ``c_k`` start at 100 per cluster (``init_count``), as the authors' released code does
  — with counts starting at 0 (the literal reading) the first sample of a cluster would replace
  its K-means centre entirely;
* eq. 10 applied sample after sample within a batch equals the running mean
  ``m_k ← (c_k m_k + Σ_{i∈batch∩k} f(x_i)) / (c_k + n_k)``, which is what :func:`update_centers`
  computes (exactly, vectorised);
* clustering uses SGD with momentum 0.9, lr 1e-4, batch 256, 50 epochs (the authors' MNIST script);
  pretraining is end-to-end with Adam in the shared loop instead of layer-wise + end-to-end SGD.
"""

from __future__ import annotations

import time
from collections import defaultdict

import numpy as np
import torch
from torch import nn

from deep_kmeans.data.registry import Geometry
from deep_kmeans.models.kmeans import cluster_sums, label_change_rate, nearest_center
from deep_kmeans.models.kmeans_init import kmeans_init
from deep_kmeans.training.autoencoder import (
    ParamReader, check_inputs, cpu_state_dict, encode_tensor, epoch_bar,
    make_optimizer, minibatches, build_and_pretrain, read_ae_params,
)
from deep_kmeans.training.result import ClusteringResult
from deep_kmeans.training.runtime import resolve_device, seed_everything


def dcn_loss(x: torch.Tensor, x_rec: torch.Tensor, z: torch.Tensor, assigned_centers: torch.Tensor,
             lam: float = 1.0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """DCN eq. 8 per batch: ``mean_i ‖x_i − x̂_i‖² + λ/2 mean_i ‖z_i − M s_i‖²`` → (loss, rec, kmeans)."""
    if lam < 0:
        raise ValueError(f"lambda must be ≥ 0, got {lam}")
    rec = (x_rec - x).pow(2).sum(dim=1).mean()
    km = (z - assigned_centers).pow(2).sum(dim=1).mean()
    return rec + 0.5 * lam * km, rec, km


@torch.no_grad()
def update_centers(centers: torch.Tensor, counts: torch.Tensor, z: torch.Tensor,
                   labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """DCN eq. 10 over a batch: the per-sample ``1/c_k`` steps, vectorised as a running mean.

    Returns new ``(centers, counts)``; ``counts`` are float (the running sample counts per cluster).
    """
    k = centers.shape[0]
    n_k = torch.bincount(labels, minlength=k).to(centers.dtype)
    sums = cluster_sums(z.to(centers.dtype), labels, k)
    new_counts = counts + n_k
    new_centers = (centers * counts[:, None] + sums) / new_counts.clamp(min=1e-12)[:, None]
    new_centers = torch.where((n_k > 0)[:, None], new_centers, centers)
    return new_centers, new_counts


class DCNModel(nn.Module):
    """The autoencoder plus the K-means state (centres and counts as buffers, so they are saved)."""

    def __init__(self, autoencoder: nn.Module, centers: np.ndarray, init_count: float):
        super().__init__()
        self.autoencoder = autoencoder
        c = torch.as_tensor(np.asarray(centers), dtype=torch.float32)
        self.register_buffer("centers", c.clone())
        self.register_buffer("counts", torch.full((c.shape[0],), float(init_count)))


def fit_dcn(x: np.ndarray, n_clusters: int, geometry: Geometry, params: dict, seed: int = 0, device: str = "auto",
            views: np.ndarray | None = None, progress: bool = True) -> ClusteringResult:
    """DCN on ``x`` (see the module docstring). ``views`` is unused."""
    p = ParamReader(params, "dcn")
    cfg = read_ae_params(p, geometry, ae="mlp")
    cfg.update(
        lam=p.float("lam", 1.0, min=0.0),
        optimizer=p.choice("optimizer", "sgd", ("adam", "sgd")),
        lr=p.float("lr", 1e-4, min=0.0, exclusive_min=True),
        momentum=p.float("momentum", 0.9, min=0.0, max=1.0),
        cluster_epochs=p.int("cluster_epochs", 50, min=0),
        init_count=p.float("init_count", 100.0, min=0.0),
        tol=p.float("tol", 0.0, min=0.0, max=1.0),
        kmeans_n_init=p.int("kmeans_n_init", 10, min=1),
    )
    gen = seed_everything(seed)
    x = check_inputs(x, n_clusters, geometry, "dcn")
    dev = resolve_device(device)
    start = time.perf_counter()

    ae, history, X = build_and_pretrain(x, geometry, cfg, dev, gen, progress, "dcn pretrain")
    centers, labels, _ = kmeans_init(encode_tensor(ae, X).cpu().numpy(), n_clusters, seed=seed,
                                     n_init=cfg["kmeans_n_init"])
    model = DCNModel(ae, centers, cfg["init_count"]).to(dev)
    s = torch.as_tensor(labels, device=dev)
    opt = make_optimizer(ae.parameters(), cfg["optimizer"], cfg["lr"], cfg["momentum"])

    bar = epoch_bar(cfg["cluster_epochs"], "dcn cluster", progress)
    for _ in bar:
        before = s.clone()
        sums: dict[str, float] = defaultdict(float)
        count = 0
        for idx in minibatches(len(X), cfg["batch_size"], gen, dev):
            xb = X[idx]
            z, xr = ae(xb)  # 1. network step with M, s fixed
            loss, rec, km = dcn_loss(xb, xr, z, model.centers[s[idx]], cfg["lam"])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            with torch.no_grad():  # 2. assignments, 3. centres, on the updated network
                z_new = ae.encode(xb)
                s[idx] = nearest_center(z_new, model.centers)
                model.centers, model.counts = update_centers(model.centers, model.counts, z_new, s[idx])
            b = len(idx)
            count += b
            sums["loss"] += loss.item() * b
            sums["rec"] += rec.item() * b
            sums["kmeans"] += km.item() * b
        means = {k: v / max(count, 1) for k, v in sums.items()}
        changed = label_change_rate(before, s)
        for k, v in {**means, "changed": changed}.items():
            history.setdefault(f"cluster/{k}", []).append(v)
        bar.set_postfix({k: f"{v:.4g}" for k, v in means.items()})
        if changed < cfg["tol"]:
            break

    z_all = encode_tensor(ae, X)
    labels = nearest_center(z_all, model.centers)
    return ClusteringResult(
        labels=labels.cpu().numpy().astype(np.int64),
        embedding=z_all.cpu().numpy().astype(np.float32),
        history=history,
        model=cpu_state_dict(model),
        train_seconds=time.perf_counter() - start,
        centers=model.centers.cpu().numpy().astype(np.float32),
    )
