"""EmAEC — deep clustering with an embedded auto-encoder (Huang, Hu & Lin, Soft Computing 2021).

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
* rounds also stop early when fewer than ``tol`` (0.1 %) of the assignments change ("until the
  algorithm converges"); ``tol: 0`` runs all T rounds;
* ``pretrain_epochs`` 3657 ≈ the paper's 1 million iterations of batch 256 on MNIST-full (70,000).
"""

from __future__ import annotations

import logging
import math
import time

import numpy as np
import torch
import torch.nn.functional as F

from deep_kmeans.data.registry import Geometry
from deep_kmeans.models.autoencoders import is_image_geometry
from deep_kmeans.models.kmeans import cluster_means, label_change_rate, nearest_center
from deep_kmeans.models.kmeans_init import kmeans_init
from deep_kmeans.training.autoencoder import (
    ParamReader, as_tensor, check_inputs, cpu_state_dict, encode_tensor, epoch_bar,
    make_optimizer, build_and_pretrain, read_ae_params,
)
from deep_kmeans.training.result import ClusteringResult
from deep_kmeans.training.runtime import resolve_device, seed_everything

log = logging.getLogger(__name__)


def smoothed_reconstruction_loss(x: torch.Tensor, x_rec: torch.Tensor, z: torch.Tensor,
                                 eps: float = 0.001) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """EmAEC eq. 6 / 13: ``MSE(x, x̂) + ε mean_i ‖z_i‖²`` → (loss, rec, smooth)."""
    rec = F.mse_loss(x_rec, x)
    smooth = z.pow(2).sum(dim=1).mean()
    return rec + eps * smooth, rec, smooth


def self_paced_threshold(losses: torch.Tensor, t: int, total: int) -> torch.Tensor:
    """EmAEC eq. 11: ``λ = median(L^t) + (t/T)·mean(L^t)``."""
    if total < 1:
        raise ValueError(f"the number of rounds T must be ≥ 1, got {total}")
    return torch.quantile(losses, 0.5) + (t / total) * losses.mean()  # the interpolated median


def self_paced_weights(losses: torch.Tensor, threshold: torch.Tensor | float) -> torch.Tensor:
    """EmAEC eq. 15: ``γ_i = 1`` where ``L_i < λ``, else 0 (float tensor)."""
    return (losses < threshold).to(losses.dtype)


def weighted_cluster_loss(z: torch.Tensor, assigned_centers: torch.Tensor,
                          weights: torch.Tensor | None = None) -> torch.Tensor:
    """EmAEC eq. 16: ``mean_i γ_i ‖z_i − M s_i‖²`` (γ = 1 when ``weights`` is None)."""
    d = (z - assigned_centers).pow(2).sum(dim=1)
    return d.mean() if weights is None else (weights * d).mean()


def random_affine(images: torch.Tensor, generator: torch.Generator, max_rotation: float = 10.0,
                  max_shift: float = 0.1) -> torch.Tensor:
    """Random rotation in ±``max_rotation`` degrees and translation up to ``max_shift`` of the side, per image.

    ``images`` (B, C, S, S); bilinear resampling, zeros outside. Random numbers come from the CPU
    ``generator`` so that runs are reproducible on any device.
    """
    b = images.shape[0]
    angle = (torch.rand(b, generator=generator) * 2 - 1) * math.radians(max_rotation)
    shift = (torch.rand(b, 2, generator=generator) * 2 - 1) * (2 * max_shift)  # grid coords span 2
    cos, sin = torch.cos(angle), torch.sin(angle)
    theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1)
    theta = theta.to(device=images.device, dtype=images.dtype)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


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


def fit_emaec(x: np.ndarray, n_clusters: int, geometry: Geometry, params: dict, seed: int = 0, device: str = "auto",
              views: np.ndarray | None = None, progress: bool = True) -> ClusteringResult:
    """EmAEC on ``x`` (see the module docstring). ``views``: used as augmentation for feature vectors."""
    p = ParamReader(params, "emaec")
    cfg = read_ae_params(p, geometry, ae="mlp", hidden=(1024, 256, 1024), embedding_dim=10,
                         pretrain_epochs=3657, pretrain_lr=1.0, pretrain_optimizer="sgd", pretrain_momentum=0.99)
    if p.get("embedding_dim") is None:  # d = K, as the paper
        cfg["embedding_dim"] = int(n_clusters)
    cfg.update(
        eps=p.float("eps", 0.001, min=0.0),
        lr=p.float("lr", 1e-4, min=0.0, exclusive_min=True),
        optimizer=p.choice("optimizer", "adam", ("adam", "sgd")),
        momentum=p.float("momentum", 0.9, min=0.0, max=1.0),
        rounds=p.int("rounds", 100, min=0),
        finetune_iters=p.int("finetune_iters", 5000, min=0),
        tol=p.float("tol", 0.001, min=0.0, max=1.0),
        recompute_centers=p.bool("recompute_centers", False),
        augment=p.choice("augment", "auto", ("auto", "affine", "views", "none")),
        max_rotation=p.float("max_rotation", 10.0, min=0.0),
        max_shift=p.float("max_shift", 0.1, min=0.0, max=1.0),
        kmeans_n_init=p.int("kmeans_n_init", 10, min=1),
    )
    gen = seed_everything(seed)
    x = check_inputs(x, n_clusters, geometry, "emaec")
    if views is not None:
        views = np.asarray(views, dtype=np.float32)
        if views.ndim != 3 or views.shape[0] != len(x) or views.shape[2] != x.shape[1]:
            raise ValueError(f"emaec: views must have shape (N, n_views, dim) = ({len(x)}, *, {x.shape[1]}), "
                             f"got {views.shape}")
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
        changed = label_change_rate(s, s_new)
        s = s_new
        if cfg["recompute_centers"]:
            centers = cluster_means(z_all, s, n_clusters, fallback=centers)
        mean_loss = total / max(cfg["finetune_iters"], 1)
        for k, v in {"loss": mean_loss, "threshold": float(lam), "selected": len(selected) / len(X),
                     "changed": changed}.items():
            history.setdefault(f"cluster/{k}", []).append(v)
        bar.set_postfix({"loss": f"{mean_loss:.4g}", "selected": f"{len(selected) / len(X):.2f}",
                         "changed": f"{changed:.4f}"})
        if changed < cfg["tol"]:
            break

    return ClusteringResult(
        labels=s.cpu().numpy().astype(np.int64),
        embedding=z_all.cpu().numpy().astype(np.float32),
        history=history,
        model=cpu_state_dict(ae),
        train_seconds=time.perf_counter() - start,
        centers=centers.cpu().numpy().astype(np.float32),
    )
