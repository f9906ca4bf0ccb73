"""DEKM — Deep Embedded K-Means Clustering (Guo, Lin & Ye, ICDMW 2021): the fit loop and the estimator.

1. Pretrain an autoencoder with MSE: for images the convolutional one (32-64-128 channels, kernels
   5-5-3, stride 2, embedding = K units), for text / feature vectors the MLP ``d-500-500-2000-10``;
   ReLU, Xavier, Adam lr 1e-3 (shared loop).
2. Repeat (at most ``iters`` = Iter rounds): ``H = f(X)``; K-means on H → clusters C, centres μ;
   within-cluster scatter ``S_w = Σ_k Σ_{h∈C_k} (h − μ_k)(h − μ_k)ᵀ``; V = its eigenvectors in
   ASCENDING eigenvalue order; ``y = V h``. The targets ``y'`` are copies of ``y`` (constants) whose
   last coordinate — the direction with the least cluster structure — is replaced by that of ``V μ_k``;
   train the ENCODER only (decoder discarded) on ``L4 = Σ ‖y − y'‖²`` by mini-batches.
3. Stop when fewer than ``tol`` = 0.1 % of the assignments change between two rounds.

Choices where the paper leaves room (the authors' code, ``spdj2271/DEKM``, settles most):

* eigenvectors are the COLUMNS of ``V`` here, so ``y = h @ V`` for row vectors (the paper's ``y = V h``
  with V's rows the eigenvectors);
* one round trains ``update_interval`` = 40 mini-batches (the authors' code), then K-means runs
  again, for at most ``iters`` = 140 rounds (the paper's Iter); mini-batches are shuffled with the
  seeded generator (the code walks the data in order);
* a fresh K-means each round numbers its clusters arbitrarily, so the change rate is measured after
  matching the two labellings with the Hungarian algorithm (as the code does);
* ``L4`` is summed over the embedding dimensions and averaged over the batch (eq. 6; the code's
  Keras ``mse`` divides it by the embedding size too, which Adam does not notice);
* the embedding has K units for the conv AE (the paper; the code uses 10) and 10 for the MLP;
* ``ae: auto`` picks the conv AE for pixel images (a vector that fills its image exactly) and the MLP
  otherwise; the stopping tolerance is the paper's 0.1 % (the code uses 0.5 %).

The torch math (``S_w``, its eigenvectors, ``y'``, ``L4``) is :mod:`deep_kmeans.models.dekm`. Labels are
the last K-means partition of ``H = f(X)``; new rows go to the nearest of its centres
(:func:`predict_dekm`; the same in ``y = h V`` since V is orthogonal).
"""

from __future__ import annotations

import time

import numpy as np
import torch

from deep_kmeans.data.registry import Geometry
from deep_kmeans.methods.autoencoder import (
    EpochMeans, ae_result, build_and_pretrain, read_ae_params, read_cluster_params, stored_assignments,
)
from deep_kmeans.methods.kit import (
    ClusterEstimator, ClusteringResult, ParamReader, check_inputs, cycle_minibatches, encode_tensor, epoch_bar,
    kmeans_init, label_change_rate, make_optimizer, record, resolve_device, seed_everything,
)
from deep_kmeans.models.clustering import nearest_center
from deep_kmeans.models.dekm import dekm_loss, dekm_targets, sorted_scatter_eigenvectors

__all__ = ["DEKM", "fit_dekm", "predict_dekm"]


def read_params(p: ParamReader, geometry: Geometry, n_clusters: int) -> dict:
    """dekm's parameters, checked (the fit and the run's parameter check read them here)."""
    ae_kind = p.choice("ae", "auto", ("auto", "mlp", "conv"))
    cfg = read_ae_params(p, geometry, ae=ae_kind, embedding_dim=10)
    if p.get("embedding_dim") is None:  # the paper: K units for the conv AE, 10 for the MLP
        cfg["embedding_dim"] = int(n_clusters) if cfg["kind"] == "conv" else 10
    cfg.update(read_cluster_params(p, optimizer="adam", lr=1e-3, tol=0.001))
    cfg.update(
        iters=p.int("iters", 140, min=0),
        update_interval=p.int("update_interval", 40, min=1),
    )
    return cfg


def fit_dekm(x: np.ndarray, n_clusters: int, geometry: Geometry, params: dict, seed: int = 0, device: str = "auto",
             views: np.ndarray | None = None, progress: bool = True) -> ClusteringResult:
    """DEKM on ``x`` (see the module docstring). ``views`` is unused."""
    p = ParamReader(params, "dekm")
    cfg = read_params(p, geometry, n_clusters)
    p.reject_unknown()
    gen = seed_everything(seed)
    x = check_inputs(x, geometry, "dekm", n_clusters)
    dev = resolve_device(device)
    start = time.perf_counter()

    ae, history, X = build_and_pretrain(x, geometry, cfg, dev, gen, progress, "dekm pretrain")
    opt = make_optimizer(ae.encoder_parameters(), cfg["optimizer"], cfg["lr"], cfg["momentum"])
    batches = cycle_minibatches(len(X), cfg["batch_size"], gen, dev)
    last = None
    bar = epoch_bar(cfg["iters"] + 1, "dekm cluster", progress)
    for it in bar:
        h = encode_tensor(ae, X)
        centers_np, labels_np, inertia = kmeans_init(h.cpu().numpy(), n_clusters, seed=seed,
                                                     n_init=cfg["kmeans_n_init"])
        centers = torch.as_tensor(centers_np, device=dev)
        labels = torch.as_tensor(labels_np, device=dev)
        record(history, "cluster", {"inertia": inertia})
        if last is not None:
            changed = label_change_rate(last, labels_np, n_clusters, matched=True)
            record(history, "cluster", {"changed": changed})
            if changed < cfg["tol"]:
                break
        last = labels_np
        if it == cfg["iters"]:  # the last round only clusters
            break
        evals, v = sorted_scatter_eigenvectors(h, labels, centers)
        y_target = dekm_targets(h, labels, centers, v)
        acc = EpochMeans()
        for _ in range(cfg["update_interval"]):
            idx = next(batches)
            loss = dekm_loss(ae.encode(X[idx]) @ v, y_target[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            acc.add({"loss": loss})
        means = acc.means()
        record(history, "cluster", {**means, "last_eigenvalue": evals[-1]})
        bar.set_postfix({"loss": f"{means['loss']:.4g}", "inertia": f"{inertia:.4g}"})

    return ae_result(ae, geometry, labels_np, h, centers_np, history, start, ae=cfg)


def predict_dekm(model: dict, x: np.ndarray, device: str = "auto") -> np.ndarray:
    """DEKM's cluster of each row of ``x``: the nearest centre of the last K-means to its embedding
    (in float64, as scikit-learn's K-means assigns)."""
    return stored_assignments(model, x, "dekm", nearest_center, device, dtype=torch.float64)


class DEKM(ClusterEstimator):
    """DEKM as a scikit-learn estimator (``params`` as in ``conf/base/parameters_dekm.yml``)."""

    # cpu: conf/base/parameters_dekm.yml's `overrides.custom` (tests/methods/test_estimators.py keeps them equal)
    PRESETS = {"cpu": {"ae": 'mlp', "pretrain_epochs": 50, "iters": 30}, "paper": {}}
    _fit = staticmethod(fit_dekm)
    _predict = staticmethod(predict_dekm)
