"""ULHE-DC — deep clustering with a uniform quasi-low-rank hypersphere embedding (ICLR 2024 submission):
the fit loop and the estimator.

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
* the "variant of K-means" with cosine distance is the kit's :func:`~deep_kmeans.methods.kit.kmeans_init` run on the
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

The losses and the centroid update are :mod:`deep_kmeans.models.ulhe_dc`; labels, and new rows
(:func:`predict_ulhe_dc`), go to the centre of largest cosine (eq. 6).
"""

from __future__ import annotations

import time

import numpy as np
import torch
import torch.nn.functional as F

from deep_kmeans.data.registry import Geometry
from deep_kmeans.methods.autoencoder import (
    EpochMeans, ae_result, build_and_pretrain, read_ae_params, read_cluster_params, stored_assignments,
)
from deep_kmeans.methods.kit import (
    ClusterEstimator, ClusteringResult, ParamReader, check_inputs, encode_tensor, epoch_bar, kmeans_init,
    label_change_rate, make_optimizer, minibatches, record, resolve_device, seed_everything,
)
from deep_kmeans.models.ulhe_dc import cosine_assign, norm_loss, ulhe_loss, update_centroids

__all__ = ["ULHEDC", "fit_ulhe_dc", "predict_ulhe_dc"]


def read_params(p: ParamReader, geometry: Geometry, n_clusters: int) -> dict:
    """ulhe_dc's parameters, checked (the fit and the run's parameter check read them here)."""
    cfg = read_ae_params(p, geometry, ae="mlp", pretrain_epochs=1000, pretrain_lr=0.1, pretrain_optimizer="sgd",
                         pretrain_momentum=0.9)
    cfg.update(read_cluster_params(p, optimizer="sgd", lr=0.002, tol=0.001))
    cfg.update(
        lambda0=p.float("lambda0", 2.0, min=0.0),
        lambda1=p.float("lambda1", 0.08, min=0.0),
        lambda2=p.float("lambda2", 0.40, min=0.0),
        cluster_epochs=p.int("cluster_epochs", 300, min=0),
        reduction=p.choice("reduction", "mean", ("mean", "sum")),
    )
    return cfg


def fit_ulhe_dc(x: np.ndarray, n_clusters: int, geometry: Geometry, params: dict, seed: int = 0,
                device: str = "auto", views: np.ndarray | None = None, progress: bool = True) -> ClusteringResult:
    """ULHE-DC on ``x`` (see the module docstring). ``views`` is unused."""
    p = ParamReader(params, "ulhe_dc")
    cfg = read_params(p, geometry, n_clusters)
    p.reject_unknown()
    lambdas = (cfg["lambda0"], cfg["lambda1"], cfg["lambda2"])
    gen = seed_everything(seed)
    x = check_inputs(x, geometry, "ulhe_dc", n_clusters)
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
            record(history, "cluster", {"changed": changed})
            if changed < cfg["tol"]:  # eq. 14
                break
        s_prev = s
        centers = update_centroids(centers, z_all, s)  # eq. 8
        acc = EpochMeans()
        for idx in minibatches(len(X), cfg["batch_size"], gen, dev):
            loss, terms = ulhe_loss(ae.encode(X[idx]), s[idx], centers, n_clusters, lambdas, cfg["reduction"])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            acc.add({"loss": loss, **terms}, len(idx))
        z_all = encode_tensor(ae, X)
        means = acc.means()
        record(history, "cluster", means)
        bar.set_postfix({k: f"{v:.4g}" for k, v in means.items()})

    labels = cosine_assign(z_all, centers)
    return ae_result(ae, geometry, labels, z_all, centers, history, start, ae=cfg)


def predict_ulhe_dc(model: dict, x: np.ndarray, device: str = "auto") -> np.ndarray:
    """ULHE-DC's cluster of each row of ``x``: the stored unit centre of largest cosine with its embedding (eq. 6)."""
    return stored_assignments(model, x, "ulhe_dc", cosine_assign, device)


class ULHEDC(ClusterEstimator):
    """ULHE-DC as a scikit-learn estimator (``params`` as in ``conf/base/parameters_ulhe_dc.yml``)."""

    # cpu: conf/base/parameters_ulhe_dc.yml's `overrides.custom` (tests/methods/test_estimators.py keeps them equal)
    PRESETS = {"cpu": {"pretrain_epochs": 60, "pretrain_optimizer": 'adam', "pretrain_lr": 0.001, "cluster_epochs": 20}, "paper": {}}
    _fit = staticmethod(fit_ulhe_dc)
    _predict = staticmethod(predict_ulhe_dc)
