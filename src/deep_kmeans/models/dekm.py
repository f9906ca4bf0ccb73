"""DEKM — Deep Embedded K-Means Clustering (Guo, Lin & Ye, ICDMW 2021).

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
"""

from __future__ import annotations

import time

import numpy as np
import torch

from deep_kmeans.data.registry import Geometry
from deep_kmeans.models.kmeans import label_change_rate
from deep_kmeans.models.kmeans_init import kmeans_init
from deep_kmeans.training.autoencoder import (
    ParamReader, check_inputs, cpu_state_dict, cycle_minibatches, encode_tensor,
    epoch_bar, make_optimizer, build_and_pretrain, read_ae_params,
)
from deep_kmeans.training.result import ClusteringResult
from deep_kmeans.training.runtime import resolve_device, seed_everything


def within_cluster_scatter(h: torch.Tensor, labels: torch.Tensor, centers: torch.Tensor) -> torch.Tensor:
    """``S_w = Σ_k Σ_{h∈C_k} (h − μ_k)(h − μ_k)ᵀ`` for rows ``h`` (N, e), labels (N,), centres (K, e)."""
    d = h - centers[labels]
    return d.T @ d


def sorted_scatter_eigenvectors(h: torch.Tensor, labels: torch.Tensor,
                                centers: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Eigen-decomposition of ``S_w``: ``(eigenvalues ascending (e,), V (e, e) with eigenvectors as columns)``."""
    s = within_cluster_scatter(h.double(), labels, centers.double())
    evals, evecs = torch.linalg.eigh((s + s.T) / 2)  # symmetric: real, ascending
    return evals.to(h.dtype), evecs.to(h.dtype)


def dekm_targets(h: torch.Tensor, labels: torch.Tensor, centers: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """``y'``: ``y = h V`` with its last coordinate replaced by that of ``μ_k V`` (DEKM's greedy step)."""
    y = h @ v
    y_target = y.clone()
    y_target[:, -1] = (centers @ v)[labels, -1]
    return y_target


def dekm_loss(y: torch.Tensor, y_target: torch.Tensor) -> torch.Tensor:
    """DEKM eq. 6 per batch: ``mean_i ‖y_i − y'_i‖²``."""
    return (y - y_target).pow(2).sum(dim=1).mean()


def fit_dekm(x: np.ndarray, n_clusters: int, geometry: Geometry, params: dict, seed: int = 0, device: str = "auto",
             views: np.ndarray | None = None, progress: bool = True) -> ClusteringResult:
    """DEKM on ``x`` (see the module docstring). ``views`` is unused."""
    p = ParamReader(params, "dekm")
    ae_kind = p.choice("ae", "auto", ("auto", "mlp", "conv"))
    cfg = read_ae_params(p, geometry, ae=ae_kind, embedding_dim=10)
    if p.get("embedding_dim") is None:  # the paper: K units for the conv AE, 10 for the MLP
        cfg["embedding_dim"] = int(n_clusters) if cfg["kind"] == "conv" else 10
    cfg.update(
        lr=p.float("lr", 1e-3, min=0.0, exclusive_min=True),
        optimizer=p.choice("optimizer", "adam", ("adam", "sgd")),
        momentum=p.float("momentum", 0.9, min=0.0, max=1.0),
        iters=p.int("iters", 140, min=0),
        update_interval=p.int("update_interval", 40, min=1),
        tol=p.float("tol", 0.001, min=0.0, max=1.0),
        kmeans_n_init=p.int("kmeans_n_init", 10, min=1),
    )
    gen = seed_everything(seed)
    x = check_inputs(x, n_clusters, geometry, "dekm")
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
        history.setdefault("cluster/inertia", []).append(inertia)
        if last is not None:
            changed = label_change_rate(last, labels_np, n_clusters, matched=True)
            history.setdefault("cluster/changed", []).append(changed)
            if changed < cfg["tol"]:
                break
        last = labels_np
        if it == cfg["iters"]:  # the last round only clusters
            break
        evals, v = sorted_scatter_eigenvectors(h, labels, centers)
        y_target = dekm_targets(h, labels, centers, v)
        total = 0.0
        for _ in range(cfg["update_interval"]):
            idx = next(batches)
            loss = dekm_loss(ae.encode(X[idx]) @ v, y_target[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.item()
        history.setdefault("cluster/loss", []).append(total / cfg["update_interval"])
        history.setdefault("cluster/last_eigenvalue", []).append(float(evals[-1]))
        bar.set_postfix({"loss": f"{total / cfg['update_interval']:.4g}", "inertia": f"{inertia:.4g}"})

    return ClusteringResult(
        labels=np.asarray(labels_np, dtype=np.int64),
        embedding=h.cpu().numpy().astype(np.float32),
        history=history,
        model=cpu_state_dict(ae),
        train_seconds=time.perf_counter() - start,
        centers=np.asarray(centers_np, dtype=np.float32),
    )
