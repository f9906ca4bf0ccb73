"""EmAEC — deep clustering with an embedded auto-encoder (Huang, Hu & Lin, Soft Computing 2021): the fit
loop, its augmentation and the estimator.

1. Pretrain the "embedded" autoencoder, encoder ``D-1024-256-1024-d`` (d = K), decoder mirrored,
   on AUGMENTED inputs x̂ (random rotation within ±10°, translation up to 10 % of the side) with
   ``‖x̂ − f̃(f(x̂))‖² + ε‖f(x̂)‖²``, ε = 0.001 (eq. 13); SGD lr 1.0, momentum 0.99, batch 256.
2. K-means on ``f(x)`` gives the centres M and hard assignments s.
3. Fine-tune the ENCODER only, for t = 0 … T−1 (T = 100):
   self-paced weights ``γ_i = 1 if L_i = ‖f(x_i) − M s_i‖² < λ`` with
   ``λ = median(L^t) + (t/T)·mean(L^t)`` (eq. 11, eq. 15); minimise ``mean γ_i ‖f(x̂_i) − M s_i‖²``
   (eq. 16) with Adam lr 1e-4 for ``finetune_iters`` (5000) mini-batches on augmented inputs; then
   re-assign ``s_i`` to the nearest centre (eq. 17).

Choices where the paper leaves room:

* the autoencoder is the paper's MLP by default (``ae: mlp``; ``ae: conv``/``auto`` give DEKM's conv
  AE instead);
* reconstruction is the MSE averaged over elements (Keras' ``mse``, the code base EmAEC builds on)
  plus ``ε·mean_i ‖f(x̂_i)‖²``;
* the centres M stay those of the initial K-means — Algorithm 1 only updates γ, ω and s
  (``recompute_centers: true`` re-estimates M as the cluster means after each round instead);
* the fine-tuning batches are drawn from the selected samples (γ_i = 1) only, which is the same
  objective as weighting every sample by γ_i;
* augmentation: pixel images (a vector that fills its ``C × side × side`` image) get the random
  affine transform; feature vectors, which cannot be rotated, use a random one of the precomputed
  ``views`` per sample and per batch when there are views, and no augmentation otherwise (a
  warning says so); ``augment: none`` turns it off;
* an empty cluster is repaired after each re-assignment (``repair_empty: true``): its centre moves onto the
  sample farthest from its own centre, as Lloyd's K-means does. The paper is silent on empty clusters;
  with fixed centres a cluster that empties stays empty for good (on 20 classes of 1,440 small images,
  17-19 of the 20 clusters ended in use); ``repair_empty: false`` is Algorithm 1 as printed;
* rounds also stop early when fewer than ``tol`` (0.1 %) of the assignments change ("until the
  algorithm converges"); ``tol: 0`` runs all T rounds;
* ``pretrain_epochs`` 3657 ≈ the paper's 1 million iterations of batch 256 on MNIST-full (70,000).

The losses, the self-paced functions and :func:`~deep_kmeans.models.emaec.random_affine` are
:mod:`deep_kmeans.models.emaec`. Labels are the nearest centre to ``f(x)`` (eq. 17), which is also how
:func:`predict_emaec` assigns new rows — except with ``recompute_centers: true``, where the centres move
after the last assignment.
"""

from __future__ import annotations

import logging
import time

import numpy as np
import torch
import torch.nn.functional as F

from deep_kmeans.data.registry import Geometry
from deep_kmeans.methods.autoencoder import (
    ae_result, build_and_pretrain, read_ae_params, read_cluster_params, stored_assignments,
)
from deep_kmeans.methods.kit import (
    ClusterEstimator, ClusteringResult, ParamReader, as_tensor, check_inputs, encode_tensor, epoch_bar, kmeans_init,
    label_change_rate, make_optimizer, record, resolve_device, seed_everything,
)
from deep_kmeans.models.autoencoders import is_image_geometry
from deep_kmeans.models.clustering import cluster_means, nearest_center, repair_empty_clusters
from deep_kmeans.models.emaec import (
    random_affine, self_paced_threshold, self_paced_weights, smoothed_reconstruction_loss, weighted_cluster_loss,
)

__all__ = ["EmAEC", "fit_emaec", "make_augment", "predict_emaec", "resolve_augment"]

log = logging.getLogger(__name__)


def make_augment(kind: str, geometry: Geometry, generator: torch.Generator, views=None, device=None,
                 max_rotation: float = 10.0, max_shift: float = 0.1):
    """The ``augment(xb, idx)`` callable for ``kind`` (``affine``, ``views`` or ``none`` → None)."""
    g = geometry
    if kind == "none":
        return None
    if kind == "affine":
        def affine(xb: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
            img = F.pad(xb, (0, g.padded_dim - g.dim)).view(-1, g.channels, g.side, g.side)
            return random_affine(img, generator, max_rotation, max_shift).flatten(1)[:, : g.dim]
        return affine
    if kind == "views":
        v = as_tensor(views, device)

        def pick_view(xb: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
            which = torch.randint(0, v.shape[1], (len(idx),), generator=generator).to(v.device)
            return v[idx, which]
        return pick_view
    raise ValueError(f"augment must be auto, affine, views or none, got {kind!r}")


def resolve_augment(kind: str, geometry: Geometry, views) -> str:
    """``auto`` → ``affine`` for pixel images, else ``views`` when there are views, else ``none`` (warned)."""
    if kind == "auto":
        if is_image_geometry(geometry):
            return "affine"
        if views is not None:
            return "views"
        log.warning("emaec: the features are not images and the data set has no augmented views: "
                    "pretraining and fine-tuning run without data augmentation")
        return "none"
    if kind == "affine" and not is_image_geometry(geometry):
        log.warning("emaec: augment=affine on feature vectors (zero-padded to a square) rotates a fake image")
    if kind == "views" and views is None:
        raise ValueError("emaec.augment = 'views' but this data set has no augmented views: "
                         "set `augment: auto` or `none` in conf/base/parameters_emaec.yml")
    return kind


def read_params(p: ParamReader, geometry: Geometry, n_clusters: int) -> dict:
    """emaec's parameters, checked (the fit and the run's parameter check read them here)."""
    cfg = read_ae_params(p, geometry, ae="mlp", hidden=(1024, 256, 1024), embedding_dim=10,
                         pretrain_epochs=3657, pretrain_lr=1.0, pretrain_optimizer="sgd", pretrain_momentum=0.99)
    if p.get("embedding_dim") is None:  # d = K, as the paper
        cfg["embedding_dim"] = int(n_clusters)
    cfg.update(read_cluster_params(p, optimizer="adam", lr=1e-4, tol=0.001))
    cfg.update(
        eps=p.float("eps", 0.001, min=0.0),
        rounds=p.int("rounds", 100, min=0),
        finetune_iters=p.int("finetune_iters", 5000, min=0),
        recompute_centers=p.bool("recompute_centers", False),
        repair_empty=p.bool("repair_empty", True),
        augment=p.choice("augment", "auto", ("auto", "affine", "views", "none")),
        max_rotation=p.float("max_rotation", 10.0, min=0.0),
        max_shift=p.float("max_shift", 0.1, min=0.0, max=1.0),
    )
    return cfg


def fit_emaec(x: np.ndarray, n_clusters: int, geometry: Geometry, params: dict, seed: int = 0, device: str = "auto",
              views: np.ndarray | None = None, progress: bool = True) -> ClusteringResult:
    """EmAEC on ``x`` (see the module docstring). ``views``: used as augmentation for feature vectors."""
    p = ParamReader(params, "emaec")
    cfg = read_params(p, geometry, n_clusters)
    p.reject_unknown()
    gen = seed_everything(seed)
    views = None if views is None else np.asarray(views, dtype=np.float32)
    x = check_inputs(x, geometry, "emaec", n_clusters, views)
    dev = resolve_device(device)
    start = time.perf_counter()
    aug_kind = resolve_augment(cfg["augment"], geometry, views)
    augment = make_augment(aug_kind, geometry, gen, views, dev, cfg["max_rotation"], cfg["max_shift"])

    def pretrain_loss(model, xb, z, xr):
        loss, rec, smooth = smoothed_reconstruction_loss(xb, xr, z, cfg["eps"])
        return loss, {"rec": rec, "smooth": smooth}

    ae, history, X = build_and_pretrain(x, geometry, cfg, dev, gen, progress, "emaec pretrain",
                                        loss_fn=pretrain_loss, augment=augment)
    z_all = encode_tensor(ae, X)
    centers_np, labels_np, _ = kmeans_init(z_all.cpu().numpy(), n_clusters, seed=seed, n_init=cfg["kmeans_n_init"])
    centers = torch.as_tensor(centers_np, device=dev)
    s = torch.as_tensor(labels_np, device=dev)
    opt = make_optimizer(ae.encoder_parameters(), cfg["optimizer"], cfg["lr"], cfg["momentum"])

    bar = epoch_bar(cfg["rounds"], "emaec finetune", progress)
    for t in bar:
        losses = (z_all - centers[s]).pow(2).sum(dim=1)  # L^t
        lam = self_paced_threshold(losses, t, cfg["rounds"])
        selected = torch.nonzero(self_paced_weights(losses, lam) > 0).flatten()
        if len(selected) == 0:
            selected = torch.arange(len(X), device=dev)
        total = 0.0
        pos = len(selected)
        order = selected
        for _ in range(cfg["finetune_iters"]):
            if pos >= len(order):  # a new shuffled pass over the selected samples
                order = selected[torch.randperm(len(selected), generator=gen).to(dev)]
                pos = 0
            idx = order[pos:pos + cfg["batch_size"]]
            pos += cfg["batch_size"]
            xb = X[idx] if augment is None else augment(X[idx], idx)
            loss = weighted_cluster_loss(ae.encode(xb), centers[s[idx]])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.item()
        z_all = encode_tensor(ae, X)
        s_new = nearest_center(z_all, centers)
        if cfg["recompute_centers"]:
            centers = cluster_means(z_all, s_new, n_clusters, fallback=centers)
        repaired = 0
        if cfg["repair_empty"]:
            centers, s_new, repaired = repair_empty_clusters(z_all, s_new, centers)
            if repaired:  # the moved centres take the rows now nearest to them: labels stay eq. 17's
                s_new = nearest_center(z_all, centers)
        changed = label_change_rate(s, s_new)
        s = s_new
        mean_loss = total / max(cfg["finetune_iters"], 1)
        record(history, "cluster", {"loss": mean_loss, "threshold": lam, "selected": len(selected) / len(X),
                                    "changed": changed, "repaired": repaired})
        bar.set_postfix({"loss": f"{mean_loss:.4g}", "selected": f"{len(selected) / len(X):.2f}",
                         "changed": f"{changed:.4f}"})
        if changed < cfg["tol"]:
            break

    return ae_result(ae, geometry, s, z_all, centers, history, start, ae=cfg)


def predict_emaec(model: dict, x: np.ndarray, device: str = "auto") -> np.ndarray:
    """EmAEC's cluster of each row of ``x``: the nearest stored centre to its embedding (eq. 17)."""
    return stored_assignments(model, x, "emaec", nearest_center, device)


class EmAEC(ClusterEstimator):
    """EmAEC as a scikit-learn estimator (``params`` as in ``conf/base/parameters_emaec.yml``); ``fit(X, views=V)``
    passes precomputed augmented views (N, n_views, dim) for feature vectors."""

    # cpu: conf/base/parameters_emaec.yml's `overrides.custom` (tests/methods/test_estimators.py keeps them equal)
    PRESETS = {"cpu": {"pretrain_epochs": 100, "pretrain_optimizer": 'adam', "pretrain_lr": 0.001, "rounds": 10, "finetune_iters": 40, "lr": 0.001}, "paper": {}}
    _fit = staticmethod(fit_emaec)
    _predict = staticmethod(predict_emaec)
