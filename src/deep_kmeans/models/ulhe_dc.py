"""ULHE-DC — deep clustering with a uniform quasi-low-rank hypersphere embedding (ICLR 2024 submission).

1. Pretrain the MLP autoencoder ``D-500-500-2000-10`` on ``L_rec + L_norm`` with
   ``L_norm = mean_i (‖z_i‖ − 1)²`` (eqs. 1-3); SGD momentum 0.9, lr 0.1, batch 256.
2. Cosine K-means: centres M on the unit sphere and assignments s.
3. For t = 1 … T (T = 300): assign ``s_i = argmax_k cos(z_i, m_k)`` (eq. 6); stop when the change
   rate ``1 − Σ s^(t−1) ⊙ s^(t) / N`` is below η = 0.001 (eq. 14); update the centres
   ``m_k ← Norm(m_k + K|C_k|/N · m̂_k)`` with ``m̂_k = Norm(Σ_{i∈C_k} z_i/‖z_i‖)`` (eqs. 7-8); then
   one epoch of mini-batch SGD (lr 0.002, momentum 0.9) on the ENCODER with eq. 13:
   ``mean_i [1 − cos(z_i, M s_i)] + λ0 L_norm + λ1 L_unif + λ2 L_cmpt``, λ = (2.0, 0.08, 0.40), where
   ``L_unif = Σ_{i≠j} 1 / (1 − m̃_iᵀ m̃_j)`` over the centroids m̃ of the clusters present in the batch
   (computed from the batch by eq. 7, with gradient) and
   ``L_cmpt = (1/K) Σ_k Σ_{i,j ∈ C_k ∩ batch} (1 − ẑ_iᵀ ẑ_j)`` with ẑ = z/‖z‖ (eqs. 11-12).

Choices where the paper leaves room:

* ``L_rec`` is the MSE averaged over elements — PyTorch's ``MSELoss`` default, which the authors'
  PyTorch code most likely used (the paper writes ``E‖x − x̂‖²``);
* the "variant of K-means" with cosine distance is the project's :func:`kmeans_init` run on the
  L2-normalised embeddings, its centres normalised (spherical K-means up to the centre update);
* ``L_unif`` and ``L_cmpt`` are written as SUMS over pairs; by default (``reduction: mean``) we take
  their MEANS over the pairs (``L_cmpt``: mean over the clusters present of the mean over their
  |C_k|² pairs). With the literal sums (``reduction: sum``) the two regularisers' gradients are
  ~batch-size times the cosine term's and the paper's SGD lr 0.002 diverges (NaN within the first
  epoch on digits), while with means λ1 = 0.08 and λ2 = 0.40 weigh terms of the cosine term's
  order, which is what the paper's values suggest. ``1 − m̃_iᵀ m̃_j`` is clamped at 1e-6 so that two
  coinciding batch centroids do not give ∞; the embeddings inside ``L_cmpt`` are normalised (the
  paper assumes ‖z‖ = 1);
* one clustering iteration = one epoch of mini-batches (the paper's 300 "training iterations");
* the paper's extra self-paced schedule (samples fed easy-to-hard in three groups, weights
  refreshed every 100 epochs) is not implemented: it is only mentioned in the experiments section,
  not in the method or Algorithm 1.
"""

from __future__ import annotations

import time
from collections import defaultdict

import numpy as np
import torch
import torch.nn.functional as F

from deep_kmeans.data.registry import Geometry
from deep_kmeans.models.kmeans import cluster_sums, label_change_rate
from deep_kmeans.models.kmeans_init import kmeans_init
from deep_kmeans.training.autoencoder import (
    ParamReader, check_inputs, cpu_state_dict, encode_tensor, epoch_bar,
    make_optimizer, minibatches, build_and_pretrain, read_ae_params,
)
from deep_kmeans.training.result import ClusteringResult
from deep_kmeans.training.runtime import resolve_device, seed_everything


def norm_loss(z: torch.Tensor) -> torch.Tensor:
    """Eq. 2: ``mean_i (‖z_i‖ − 1)²``."""
    return (z.norm(dim=1) - 1.0).pow(2).mean()


def cosine_cluster_loss(z: torch.Tensor, assigned_centers: torch.Tensor) -> torch.Tensor:
    """Eq. 4: ``mean_i [1 − cos(z_i, M s_i)]``."""
    return (1.0 - F.cosine_similarity(z, assigned_centers, dim=1, eps=1e-8)).mean()


def cosine_assign(z: torch.Tensor, centers: torch.Tensor) -> torch.Tensor:
    """Eq. 6: ``s_i = argmax_k cos(z_i, m_k)`` for centres as rows (K, d)."""
    return (F.normalize(z, dim=1) @ F.normalize(centers, dim=1).T).argmax(dim=1)


def normalized_cluster_sums(z: torch.Tensor, labels: torch.Tensor, n_clusters: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Eq. 7 for every cluster: ``Norm(Σ_{i∈C_k} z_i/‖z_i‖)`` (K, d) and the counts |C_k| (K,)."""
    zn = F.normalize(z, dim=1)
    sums = cluster_sums(zn, labels, n_clusters)
    counts = torch.bincount(labels, minlength=n_clusters)
    return F.normalize(sums, dim=1), counts


@torch.no_grad()
def update_centroids(centers: torch.Tensor, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Eq. 8: ``m_k ← Norm(m_k + K|C_k|/N · m̂_k)`` over the whole data set (an empty cluster keeps m_k)."""
    k = centers.shape[0]
    m_hat, counts = normalized_cluster_sums(z, labels, k)
    step = (k * counts.to(z.dtype) / len(z))[:, None]
    return F.normalize(centers + step * m_hat, dim=1)


def batch_centroids(z: torch.Tensor, labels: torch.Tensor, n_clusters: int) -> torch.Tensor:
    """Unit centroids (eq. 7) of the clusters PRESENT in the batch, (K_present, d), differentiable."""
    m, counts = normalized_cluster_sums(z, labels, n_clusters)
    return m[counts > 0]


def uniformity_loss(m: torch.Tensor, reduction: str = "mean", eps: float = 1e-6) -> torch.Tensor:
    """Eq. 11 over unit centroids m (rows): ``1 / (1 − m_iᵀ m_j)`` over the pairs i ≠ j; 0 with fewer than two.

    ``reduction="sum"``: the paper's ``sum(·)`` over the K'(K'−1) off-diagonal entries;
    ``"mean"`` (default): their mean.
    """
    _check_reduction(reduction)
    if m.shape[0] < 2:
        return m.new_zeros(())
    gram = m @ m.T
    off = ~torch.eye(m.shape[0], dtype=torch.bool, device=m.device)
    energy = 1.0 / (1.0 - gram[off]).clamp(min=eps)
    return energy.sum() if reduction == "sum" else energy.mean()


def compactness_loss(z: torch.Tensor, labels: torch.Tensor, n_clusters: int, reduction: str = "mean") -> torch.Tensor:
    """Eq. 12 with ẑ = z/‖z‖: ``(1 − ẑ_iᵀ ẑ_j)`` over the pairs (i, j) of each cluster in the batch.

    ``reduction="sum"``: the paper's ``(1/K) Σ_k Σ_{i,j∈C_k}`` (K the total number of clusters);
    ``"mean"`` (default): the mean over the clusters present of the mean over their |C_k|² pairs.
    """
    _check_reduction(reduction)
    zn = F.normalize(z, dim=1)
    same = (labels[:, None] == labels[None, :]).to(z.dtype)
    dist = (1.0 - zn @ zn.T) * same
    if reduction == "sum":
        return dist.sum() / n_clusters
    counts = torch.bincount(labels, minlength=n_clusters).to(z.dtype)
    per_cluster = cluster_sums(dist.sum(dim=1, keepdim=True), labels, n_clusters).squeeze(1)
    present = counts > 0
    return (per_cluster[present] / counts[present].pow(2)).mean()


def _check_reduction(reduction: str) -> None:
    if reduction not in ("mean", "sum"):
        raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}")


def ulhe_loss(z: torch.Tensor, labels: torch.Tensor, centers: torch.Tensor, n_clusters: int,
              lambdas: tuple[float, float, float] = (2.0, 0.08, 0.40),
              reduction: str = "mean") -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Eq. 13 on a batch → (loss, terms). ``centers`` (K, d) are the global unit centroids M."""
    l0, l1, l2 = lambdas
    terms = {
        "cos": cosine_cluster_loss(z, centers[labels]),
        "norm": norm_loss(z),
        "unif": uniformity_loss(batch_centroids(z, labels, n_clusters), reduction),
        "cmpt": compactness_loss(z, labels, n_clusters, reduction),
    }
    loss = terms["cos"] + l0 * terms["norm"] + l1 * terms["unif"] + l2 * terms["cmpt"]
    return loss, terms


def fit_ulhe_dc(x: np.ndarray, n_clusters: int, geometry: Geometry, params: dict, seed: int = 0,
                device: str = "auto", views: np.ndarray | None = None, progress: bool = True) -> ClusteringResult:
    """ULHE-DC on ``x`` (see the module docstring). ``views`` is unused."""
    p = ParamReader(params, "ulhe_dc")
    cfg = read_ae_params(p, geometry, ae="mlp", pretrain_epochs=1000, pretrain_lr=0.1, pretrain_optimizer="sgd",
                         pretrain_momentum=0.9)
    cfg.update(
        lambda0=p.float("lambda0", 2.0, min=0.0),
        lambda1=p.float("lambda1", 0.08, min=0.0),
        lambda2=p.float("lambda2", 0.40, min=0.0),
        lr=p.float("lr", 0.002, min=0.0, exclusive_min=True),
        optimizer=p.choice("optimizer", "sgd", ("adam", "sgd")),
        momentum=p.float("momentum", 0.9, min=0.0, max=1.0),
        cluster_epochs=p.int("cluster_epochs", 300, min=0),
        tol=p.float("tol", 0.001, min=0.0, max=1.0),
        kmeans_n_init=p.int("kmeans_n_init", 10, min=1),
        reduction=p.choice("reduction", "mean", ("mean", "sum")),
    )
    lambdas = (cfg["lambda0"], cfg["lambda1"], cfg["lambda2"])
    gen = seed_everything(seed)
    x = check_inputs(x, n_clusters, geometry, "ulhe_dc")
    dev = resolve_device(device)
    start = time.perf_counter()

    def pretrain_loss(model, xb, z, xr):
        rec, nrm = F.mse_loss(xr, xb), norm_loss(z)
        return rec + nrm, {"rec": rec, "norm": nrm}

    ae, history, X = build_and_pretrain(x, geometry, cfg, dev, gen, progress, "ulhe_dc pretrain",
                                        loss_fn=pretrain_loss)
    z_all = encode_tensor(ae, X)
    centers_np, _, _ = kmeans_init(F.normalize(z_all, dim=1).cpu().numpy(), n_clusters, seed=seed,
                                   n_init=cfg["kmeans_n_init"])
    centers = F.normalize(torch.as_tensor(centers_np, device=dev), dim=1)
    opt = make_optimizer(ae.encoder_parameters(), cfg["optimizer"], cfg["lr"], cfg["momentum"])

    s_prev = None
    bar = epoch_bar(cfg["cluster_epochs"], "ulhe_dc cluster", progress)
    for _ in bar:
        s = cosine_assign(z_all, centers)  # eq. 6
        if s_prev is not None:
            changed = label_change_rate(s_prev, s)
            history.setdefault("cluster/changed", []).append(changed)
            if changed < cfg["tol"]:  # eq. 14
                break
        s_prev = s
        centers = update_centroids(centers, z_all, s)  # eq. 8
        sums: dict[str, float] = defaultdict(float)
        count = 0
        for idx in minibatches(len(X), cfg["batch_size"], gen, dev):
            loss, terms = ulhe_loss(ae.encode(X[idx]), s[idx], centers, n_clusters, lambdas, cfg["reduction"])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            b = len(idx)
            count += b
            sums["loss"] += loss.item() * b
            for k, v in terms.items():
                sums[k] += v.item() * b
        z_all = encode_tensor(ae, X)
        means = {k: v / max(count, 1) for k, v in sums.items()}
        for k, v in means.items():
            history.setdefault(f"cluster/{k}", []).append(v)
        bar.set_postfix({k: f"{v:.4g}" for k, v in means.items()})

    labels = cosine_assign(z_all, centers)
    return ClusteringResult(
        labels=labels.cpu().numpy().astype(np.int64),
        embedding=z_all.cpu().numpy().astype(np.float32),
        history=history,
        model=cpu_state_dict(ae),
        train_seconds=time.perf_counter() - start,
        centers=centers.cpu().numpy().astype(np.float32),
    )
