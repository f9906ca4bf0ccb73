"""DCKM — Deep Convolutional K-Means clustering by transform learning (Goel, Majumdar, Chouzenoux &
Chierchia, ICIP 2022). No decoder.

Two convolutional transform layers give the representation of an image:
``T1•X → 2×2 max-pool → SELU → T2• → 2×2 max-pool`` (3 filters of 9×9 in each layer). With H the
binary cluster indicator matrix, the paper's eq. 5 is

    min_{T1, T2, Z, H} ‖T2•(T1•X) − Z‖²_F + ψ(Z) + λ Σ_i (‖T_i‖²_F − log det T_i)
                       + μ ‖Z − Z Hᵀ(HHᵀ)⁻¹H‖²_F ,

solved by alternating P1 (T1, T2 and the free representation Z by Adam with H fixed) and P2
(H by K-means on Z) until the centres settle. ``Z Hᵀ(HHᵀ)⁻¹H`` replaces each column z_i by the mean
of its cluster, so the last term is the K-means objective of Z; its gradient with respect to z_i is
``2μ (z_i − c_{h(i)})`` (c the cluster means), which is what :func:`kmeans_penalty` gives.

Choices where the paper leaves room:

* **log-det term** — the filter matrix ``T_i`` stacks the layer's filters as columns
  ((C_in·k²) × n_filters: 81×3 and 243×3 here), which is NOT square. When it is square we use
  ``log|det T_i|``; otherwise ``½ log det(T_iᵀT_i)`` (the n_filters × n_filters Gram matrix), i.e.
  ``Σ log σ_j(T_i)`` over its singular values — the two coincide when T_i is square, so the penalty
  is one continuous definition (:func:`log_det_term`). The sum runs over the TWO layers (eq. 5's
  ``Σ_{i=1}^{3}`` is a leftover of the three-layer eq. 4);
* **scale** — the Frobenius norms sum over samples; we minimise the objective divided by N, i.e. per
  mini-batch ``mean_b[‖f(x_i) − z_i‖² + ψ(z_i) + μ‖z_i − c_{h(i)}‖²] + (λ/N)·Σ_i(‖T_i‖² − log det T_i)``,
  an unbiased estimate of (eq. 5)/N;
* **ψ(Z)** is not specified: ``psi: none`` (default), ``l1`` (``psi_weight·‖z‖₁``) or ``nonneg``
  (Z projected onto Z ≥ 0 after each step);
* Z is a per-sample table (a sparse embedding trained with SparseAdam, the filters with Adam, both
  at ``lr``), initialised to the transform of X; H starts from K-means on it; one round = ``inner_epochs``
  epochs of P1 then one K-means (P2), for at most ``rounds`` rounds (the paper converges within 50);
  "the centres do not vary significantly" is read literally: stop when the centres moved by less
  than ``tol`` (relative Frobenius norm, 0.1 %) between two rounds, after matching the fresh
  K-means' cluster numbers with the Hungarian algorithm (:func:`center_shift`);
* convolutions use ``same`` zero padding (k//2) and no bias (transform learning has none);
* the data need not be images: on feature vectors the zero-padded square "image" is used as is and a
  warning says so. Labels are the last K-means partition of Z; the embedding returned is Z.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict

import numpy as np
import torch
import torch.nn.functional as F
from scipy.optimize import linear_sum_assignment
from torch import nn

from deep_kmeans.data.registry import Geometry
from deep_kmeans.models.autoencoders import is_image_geometry
from deep_kmeans.models.kmeans import cluster_means, label_change_rate
from deep_kmeans.models.kmeans_init import kmeans_init
from deep_kmeans.training.autoencoder import (
    ParamReader, as_tensor, check_inputs, cpu_state_dict, encode_tensor, epoch_bar, minibatches,
)
from deep_kmeans.training.result import ClusteringResult
from deep_kmeans.training.runtime import resolve_device, seed_everything

log = logging.getLogger(__name__)


def filter_matrix(weight: torch.Tensor) -> torch.Tensor:
    """A conv weight (n_filters, C_in, k, k) as the paper's T: filters flattened as COLUMNS, (C_in·k², n_filters)."""
    return weight.flatten(1).T


def log_det_term(t: torch.Tensor) -> torch.Tensor:
    """``log|det T|`` for a square T, else ``½ log det(TᵀT)`` (= Σ log σ_j(T); the two agree when square)."""
    if t.shape[0] == t.shape[1]:
        return torch.linalg.slogdet(t)[1]
    gram = t.T @ t if t.shape[0] > t.shape[1] else t @ t.T
    return 0.5 * torch.linalg.slogdet(gram)[1]


def transform_penalty(t: torch.Tensor) -> torch.Tensor:
    """``‖T‖²_F − log det T`` (transform learning's regulariser; log det as in :func:`log_det_term`)."""
    return t.pow(2).sum() - log_det_term(t)


def kmeans_penalty(z: torch.Tensor, cluster_centers: torch.Tensor) -> torch.Tensor:
    """``mean_i ‖z_i − c_{h(i)}‖²`` — ``‖Z − Z Hᵀ(HHᵀ)⁻¹H‖²_F / N`` when c are Z's cluster means."""
    return (z - cluster_centers).pow(2).sum(dim=1).mean()


def projection_residual(z: torch.Tensor, labels: torch.Tensor, n_clusters: int) -> torch.Tensor:
    """``‖Z − Z Hᵀ(HHᵀ)⁻¹H‖²_F`` computed literally (Z as d × N columns, H as K × N indicators); for tests."""
    zc = z.T  # (d, N)
    h = F.one_hot(labels, n_clusters).to(z.dtype).T  # (K, N)
    h = h[h.sum(dim=1) > 0]  # empty clusters would make HHᵀ singular
    proj = zc @ h.T @ torch.linalg.inv(h @ h.T) @ h
    return (zc - proj).pow(2).sum()


def center_shift(old_centers: np.ndarray, old_labels: np.ndarray, new_centers: np.ndarray, new_labels: np.ndarray,
                 n_clusters: int) -> float:
    """Relative move of the centres between two K-means runs: ``‖C_new − C_old∘π‖_F / ‖C_old‖_F``.

    π matches the old cluster numbers to the new ones (Hungarian algorithm on the label overlap),
    since every K-means run numbers its clusters arbitrarily.
    """
    w = np.zeros((n_clusters, n_clusters), dtype=np.int64)
    np.add.at(w, (np.asarray(new_labels), np.asarray(old_labels)), 1)
    rows, cols = linear_sum_assignment(-w)
    matched = np.asarray(old_centers)[cols[np.argsort(rows)]]
    return float(np.linalg.norm(new_centers - matched) / max(np.linalg.norm(old_centers), 1e-12))


class ConvTransform(nn.Module):
    """``T1•x → max-pool → SELU → T2• → max-pool`` on flat inputs laid out with ``geometry``; no bias."""

    def __init__(self, geometry: Geometry, n_filters: int = 3, kernel_size: int = 9, pool: int = 2):
        super().__init__()
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"dckm.kernel_size must be a positive odd number, got {kernel_size}")
        side = geometry.side // pool // pool
        if side < 1:
            raise ValueError(
                f"dckm: a {geometry.side}×{geometry.side} image is too small for two {pool}×{pool} max-pools; "
                f"lower `pool` in conf/base/parameters_dckm.yml (pool ≤ {max(1, int(geometry.side ** 0.5))})")
        self.geometry = geometry
        self.pool = pool
        self.t1 = nn.Conv2d(geometry.channels, n_filters, kernel_size, padding=kernel_size // 2, bias=False)
        self.t2 = nn.Conv2d(n_filters, n_filters, kernel_size, padding=kernel_size // 2, bias=False)
        self.out_dim = n_filters * side * side
        for conv in (self.t1, self.t2):
            nn.init.xavier_uniform_(conv.weight)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        g = self.geometry
        img = F.pad(x.flatten(1), (0, g.padded_dim - g.dim)).view(-1, g.channels, g.side, g.side)
        h = F.selu(F.max_pool2d(self.t1(img), self.pool))
        return F.max_pool2d(self.t2(h), self.pool).flatten(1)

    forward = encode

    def filter_matrices(self) -> list[torch.Tensor]:
        return [filter_matrix(self.t1.weight), filter_matrix(self.t2.weight)]

    def regularizer(self) -> torch.Tensor:
        """``Σ_i (‖T_i‖²_F − log det T_i)`` over the two layers."""
        return sum(transform_penalty(t) for t in self.filter_matrices())


class DCKMModel(nn.Module):
    """The transform and the free representation Z (one row per sample)."""

    def __init__(self, transform: ConvTransform, z_init: torch.Tensor):
        super().__init__()
        self.transform = transform
        self.z = nn.Embedding(z_init.shape[0], z_init.shape[1], sparse=True)
        with torch.no_grad():
            self.z.weight.copy_(z_init)


def fit_dckm(x: np.ndarray, n_clusters: int, geometry: Geometry, params: dict, seed: int = 0, device: str = "auto",
             views: np.ndarray | None = None, progress: bool = True) -> ClusteringResult:
    """DCKM on ``x`` (see the module docstring). ``views`` is unused."""
    p = ParamReader(params, "dckm")
    cfg = dict(
        n_filters=p.int("n_filters", 3, min=1),
        kernel_size=p.int("kernel_size", 9, min=1),
        pool=p.int("pool", 2, min=1),
        lam=p.float("lam", 0.001, min=0.0),
        mu=p.float("mu", 1.0, min=0.0),
        psi=p.choice("psi", "none", ("none", "l1", "nonneg")),
        psi_weight=p.float("psi_weight", 0.0, min=0.0),
        lr=p.float("lr", 1e-3, min=0.0, exclusive_min=True),
        batch_size=p.int("batch_size", 256, min=1),
        rounds=p.int("rounds", 50, min=0),
        inner_epochs=p.int("inner_epochs", 5, min=1),
        tol=p.float("tol", 0.001, min=0.0, max=1.0),
        kmeans_n_init=p.int("kmeans_n_init", 10, min=1),
    )
    gen = seed_everything(seed)
    x = check_inputs(x, n_clusters, geometry, "dckm")
    if not is_image_geometry(geometry):
        log.warning("dckm: the features (dim %d) are not an image; the convolutions run on the vector zero-padded "
                    "to a %dx%d square, which has no spatial meaning", geometry.dim, geometry.side, geometry.side)
    dev = resolve_device(device)
    start = time.perf_counter()
    n = len(x)

    transform = ConvTransform(geometry, cfg["n_filters"], cfg["kernel_size"], cfg["pool"]).to(dev)
    X = as_tensor(x, dev)
    z0 = encode_tensor(transform, X)
    model = DCKMModel(transform, z0).to(dev)
    opt_t = torch.optim.Adam(transform.parameters(), lr=cfg["lr"])
    opt_z = torch.optim.SparseAdam(list(model.z.parameters()), lr=cfg["lr"])
    centers_np, labels_np, inertia = kmeans_init(z0.cpu().numpy(), n_clusters, seed=seed, n_init=cfg["kmeans_n_init"])
    labels = torch.as_tensor(labels_np, device=dev)
    prev_centers = centers_np
    history: dict[str, list[float]] = {"cluster/inertia": [inertia]}

    bar = epoch_bar(cfg["rounds"], "dckm", progress)
    for _ in bar:
        sums: dict[str, float] = defaultdict(float)
        count = 0
        for _ in range(cfg["inner_epochs"]):  # P1: T1, T2, Z by Adam with H fixed
            for idx in minibatches(n, cfg["batch_size"], gen, dev):
                with torch.no_grad():
                    means = cluster_means(model.z.weight, labels, n_clusters)
                z = model.z(idx)
                fit = (transform.encode(X[idx]) - z).pow(2).sum(dim=1).mean()
                km = kmeans_penalty(z, means[labels[idx]])
                reg = transform.regularizer()
                loss = fit + cfg["mu"] * km + (cfg["lam"] / n) * reg
                if cfg["psi"] == "l1":
                    loss = loss + cfg["psi_weight"] * z.abs().sum(dim=1).mean()
                if not torch.isfinite(loss):
                    raise FloatingPointError("dckm: the loss became non-finite; lower `lr` in parameters_dckm.yml")
                opt_t.zero_grad(set_to_none=True)
                opt_z.zero_grad(set_to_none=True)
                loss.backward()
                opt_t.step()
                opt_z.step()
                if cfg["psi"] == "nonneg":
                    with torch.no_grad():
                        model.z.weight.clamp_(min=0.0)
                b = len(idx)
                count += b
                for k, v in {"loss": loss, "fit": fit, "kmeans": km, "reg": reg}.items():
                    sums[k] += v.item() * b
        z_all = model.z.weight.detach()
        centers_np, new_labels_np, inertia = kmeans_init(z_all.cpu().numpy(), n_clusters, seed=seed,
                                                         n_init=cfg["kmeans_n_init"])  # P2: H by K-means on Z
        changed = label_change_rate(labels.cpu().numpy(), new_labels_np, n_clusters, matched=True)
        shift = center_shift(prev_centers, labels.cpu().numpy(), centers_np, new_labels_np, n_clusters)
        labels = torch.as_tensor(new_labels_np, device=dev)
        prev_centers = centers_np
        means = {k: v / max(count, 1) for k, v in sums.items()}
        for k, v in {**means, "inertia": inertia, "changed": changed, "center_shift": shift}.items():
            history.setdefault(f"cluster/{k}", []).append(v)
        bar.set_postfix({"loss": f"{means['loss']:.4g}", "changed": f"{changed:.4f}", "shift": f"{shift:.4f}"})
        if shift < cfg["tol"]:
            break

    return ClusteringResult(
        labels=labels.cpu().numpy().astype(np.int64),
        embedding=model.z.weight.detach().cpu().numpy().astype(np.float32),
        history=history,
        model=cpu_state_dict(transform),
        train_seconds=time.perf_counter() - start,
        centers=np.asarray(centers_np, dtype=np.float32),
    )
