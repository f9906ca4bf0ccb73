"""DEC — Deep Embedded Clustering (Xie, Girshick & Farhadi, ICML 2016).

1. Pretrain an MLP autoencoder ``d-500-500-2000-10`` (shared loop, MSE).
2. Centres μ from K-means on the embedding (the project's :func:`kmeans_init`, ``n_init`` 20 as DEC).
3. Discard the decoder; train the encoder and the centres on ``KL(P ‖ Q)``:
   ``q_ij ∝ (1 + ‖z_i − μ_j‖²/α)^(−(α+1)/2)`` (Student's t, α = 1) and the target
   ``p_ij ∝ q_ij² / f_j`` with ``f_j = Σ_i q_ij``. The target P is recomputed on the whole data set
   every ``update_interval`` mini-batches; training stops when fewer than ``tol`` of the samples
   changed cluster between two target updates, or after ``max_iter`` mini-batches.

Choices where the paper leaves room (also in ``conf/base/parameters_dec.yml``):

* pretraining is end-to-end with Adam (as IDEC's and DEKM's implementations do), not DEC's greedy
  layer-wise denoising pretraining followed by fine-tuning — every AE method shares one loop;
* the KL loss is summed over clusters and averaged over the batch (Keras' ``kld``);
* clustering uses SGD, lr 0.01, momentum 0.9, batch 256, ``update_interval`` 140, ``tol`` 0.1 %,
  ``max_iter`` 20 000 (the settings of the reference re-implementation used by IDEC);
* the history has one entry per target-update round (``update_interval`` mini-batches), not per epoch.

IDEC (:mod:`deep_kmeans.models.idec`) is this loop plus the reconstruction term; it reuses
:func:`fit_dec_family`.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from deep_kmeans.data.registry import Geometry
from deep_kmeans.models.kmeans import label_change_rate, squared_distances
from deep_kmeans.models.kmeans_init import kmeans_init
from deep_kmeans.training.autoencoder import (
    ParamReader, check_inputs, cpu_state_dict, cycle_minibatches, encode_tensor,
    epoch_bar, make_optimizer, build_and_pretrain, read_ae_params,
)
from deep_kmeans.training.result import ClusteringResult
from deep_kmeans.training.runtime import resolve_device, seed_everything


def soft_assign(z: torch.Tensor, centers: torch.Tensor, alpha: float = 1.0) -> torch.Tensor:
    """DEC eq. 1: Student's t kernel between embeddings ``z`` (N, d) and centres (K, d), rows summing to 1."""
    if alpha <= 0:
        raise ValueError(f"alpha must be positive, got {alpha}")
    q = (1.0 + squared_distances(z, centers) / alpha).pow(-(alpha + 1.0) / 2.0)
    return q / q.sum(dim=1, keepdim=True)


def target_distribution(q: torch.Tensor) -> torch.Tensor:
    """DEC eq. 3: ``p_ij = (q_ij² / f_j) / Σ_j' (q_ij'² / f_j')`` with soft frequencies ``f_j = Σ_i q_ij``."""
    w = q.pow(2) / q.sum(dim=0, keepdim=True)
    return w / w.sum(dim=1, keepdim=True)


def kl_divergence(p: torch.Tensor, q: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """DEC eq. 2: ``KL(P ‖ Q) = Σ_j p_ij log(p_ij / q_ij)``, summed over clusters, averaged over the batch."""
    return (torch.special.xlogy(p, p) - p * torch.log(q.clamp(min=eps))).sum(dim=1).mean()


class DECModel(nn.Module):
    """The autoencoder plus the clustering layer (the centres μ as a trainable (K, d) parameter)."""

    def __init__(self, autoencoder: nn.Module, centers: np.ndarray | torch.Tensor, alpha: float = 1.0):
        super().__init__()
        self.autoencoder = autoencoder
        self.centers = nn.Parameter(torch.as_tensor(np.asarray(centers), dtype=torch.float32).clone())
        self.alpha = float(alpha)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.autoencoder.encode(x)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(z, q, x_rec)``."""
        z, xr = self.autoencoder(x)
        return z, soft_assign(z, self.centers, self.alpha), xr


def read_dec_params(p: ParamReader, geometry: Geometry, *, optimizer: str, lr: float, gamma: float | None) -> dict:
    """DEC's and IDEC's parameters (IDEC adds ``gamma``)."""
    cfg = read_ae_params(p, geometry, ae="mlp")
    cfg.update(
        alpha=p.float("alpha", 1.0, min=0.0, exclusive_min=True),
        optimizer=p.choice("optimizer", optimizer, ("adam", "sgd")),
        lr=p.float("lr", lr, min=0.0, exclusive_min=True),
        momentum=p.float("momentum", 0.9, min=0.0, max=1.0),
        update_interval=p.int("update_interval", 140, min=1),
        tol=p.float("tol", 0.001, min=0.0, max=1.0),
        max_iter=p.int("max_iter", 20000, min=0),
        kmeans_n_init=p.int("kmeans_n_init", 20, min=1),
    )
    if gamma is not None:
        cfg["gamma"] = p.float("gamma", gamma, min=0.0)
    return cfg


def fit_dec_family(method: str, x: np.ndarray, n_clusters: int, geometry: Geometry, params: dict, seed: int,
                   device: str, progress: bool, *, reconstruction: bool, optimizer: str, lr: float) -> ClusteringResult:
    """DEC (``reconstruction=False``: encoder + centres on ``KL``) or IDEC (``L_r + γ KL``, decoder kept)."""
    p = ParamReader(params, method)
    cfg = read_dec_params(p, geometry, optimizer=optimizer, lr=lr, gamma=0.1 if reconstruction else None)
    gen = seed_everything(seed)
    x = check_inputs(x, n_clusters, geometry, method)
    dev = resolve_device(device)
    start = time.perf_counter()

    ae, history, X = build_and_pretrain(x, geometry, cfg, dev, gen, progress, f"{method} pretrain")
    centers, _, _ = kmeans_init(encode_tensor(ae, X).cpu().numpy(), n_clusters, seed=seed,
                                n_init=cfg["kmeans_n_init"])
    model = DECModel(ae, centers, cfg["alpha"]).to(dev)
    if reconstruction:
        params_to_train = list(model.parameters())
    else:  # DEC drops the decoder: only the encoder and the centres are trained
        params_to_train = ae.encoder_parameters() + [model.centers]
    opt = make_optimizer(params_to_train, cfg["optimizer"], cfg["lr"], cfg["momentum"])

    batches = cycle_minibatches(len(X), cfg["batch_size"], gen, dev)
    rounds = math.ceil(cfg["max_iter"] / cfg["update_interval"])
    last = None
    bar = epoch_bar(rounds, f"{method} cluster", progress)
    for r in bar:
        with torch.no_grad():
            model.eval()
            q_all = soft_assign(encode_tensor(model.autoencoder, X), model.centers, model.alpha)
            model.train()
            p_all = target_distribution(q_all)
            labels = q_all.argmax(dim=1)
        if last is not None:
            changed = label_change_rate(last, labels)
            history.setdefault("cluster/changed", []).append(changed)
            if changed < cfg["tol"]:
                break
        last = labels
        sums: dict[str, float] = defaultdict(float)
        n_iter = min(cfg["update_interval"], cfg["max_iter"] - r * cfg["update_interval"])
        for _ in range(n_iter):
            idx = next(batches)
            xb = X[idx]
            z, q, xr = model(xb)
            kl = kl_divergence(p_all[idx], q)
            if reconstruction:
                rec = F.mse_loss(xr, xb)
                loss = rec + cfg["gamma"] * kl  # IDEC eq. 7
                sums["rec"] += rec.item()
            else:
                loss = kl
            sums["kl"] += kl.item()
            sums["loss"] += loss.item()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        means = {k: v / max(n_iter, 1) for k, v in sums.items()}
        for k, v in means.items():
            history.setdefault(f"cluster/{k}", []).append(v)
        bar.set_postfix({k: f"{v:.4g}" for k, v in means.items()})

    with torch.no_grad():
        z_all = encode_tensor(model.autoencoder, X)
        labels = soft_assign(z_all, model.centers, model.alpha).argmax(dim=1)
    return ClusteringResult(
        labels=labels.cpu().numpy().astype(np.int64),
        embedding=z_all.cpu().numpy().astype(np.float32),
        history=history,
        model=cpu_state_dict(model),
        train_seconds=time.perf_counter() - start,
        centers=model.centers.detach().cpu().numpy().astype(np.float32),
    )


def fit_dec(x: np.ndarray, n_clusters: int, geometry: Geometry, params: dict, seed: int = 0, device: str = "auto",
            views: np.ndarray | None = None, progress: bool = True) -> ClusteringResult:
    """DEC on ``x`` (see the module docstring for the algorithm and its parameters). ``views`` is unused."""
    return fit_dec_family("dec", x, n_clusters, geometry, params, seed, device, progress,
                          reconstruction=False, optimizer="sgd", lr=0.01)
