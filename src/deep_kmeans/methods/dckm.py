"""DCKM — Deep Convolutional K-Means clustering by transform learning (Goel, Majumdar, Chouzenoux &
Chierchia, ICIP 2022): the fit loop and the estimator. No decoder.

Two convolutional transform layers give the representation of an image:
``T1•X → 2×2 max-pool → SELU → T2• → 2×2 max-pool`` (3 filters of 9×9 in each layer). With H the
binary cluster indicator matrix, the paper's eq. 5 is

    min_{T1, T2, Z, H} ‖T2•(T1•X) − Z‖²_F + ψ(Z) + λ Σ_i (‖T_i‖²_F − log det T_i)
                       + μ ‖Z − Z Hᵀ(HHᵀ)⁻¹H‖²_F ,

solved by alternating P1 (T1, T2 and the free representation Z by Adam with H fixed) and P2
(H by K-means on Z) until the centres settle. ``Z Hᵀ(HHᵀ)⁻¹H`` replaces each column z_i by the mean
of its cluster, so the last term is the K-means objective of Z; its gradient with respect to z_i is
``2μ (z_i − c_{h(i)})`` (c the cluster means), which is what :func:`~deep_kmeans.models.dckm.kmeans_penalty` gives.

Choices where the paper leaves room:

* **log-det term** — the filter matrix ``T_i`` stacks the layer's filters as columns
  ((C_in·k²) × n_filters: 81×3 and 243×3 here), which is NOT square. When it is square we use
  ``log|det T_i|``; otherwise ``½ log det(T_iᵀT_i)`` (the n_filters × n_filters Gram matrix), i.e.
  ``Σ log σ_j(T_i)`` over its singular values — the two coincide when T_i is square, so the penalty
  is one continuous definition (:func:`~deep_kmeans.models.dckm.log_det_term`). The sum runs over the
  TWO layers (eq. 5's ``Σ_{i=1}^{3}`` is a leftover of the three-layer eq. 4);
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
  K-means' cluster numbers with the Hungarian algorithm (:func:`~deep_kmeans.models.dckm.center_shift`);
* convolutions use ``same`` zero padding (k//2) and no bias (transform learning has none);
* the data need not be images: on feature vectors the zero-padded square "image" is used as is and a
  warning says so. Labels are the last K-means partition of Z; the embedding returned is Z;
* Z exists only for the training rows, so new rows (:func:`predict_dckm`) go to the K-means centre
  nearest to their transform ``T2•(T1•x)``, which P1 fits Z to: on the training rows this agrees with
  the labels only as far as Z matches the transform.

The modules and the penalties are :mod:`deep_kmeans.models.dckm`.
"""

from __future__ import annotations

import logging
import time

import numpy as np
import torch

from deep_kmeans.data.registry import Geometry
from deep_kmeans.methods.autoencoder import EpochMeans, ae_result
from deep_kmeans.methods.kit import (
    ClusterEstimator, ClusteringResult, ParamReader, as_tensor, check_inputs, embed, encode_tensor, epoch_bar,
    kmeans_init, label_change_rate, minibatches, record, resolve_device, seed_everything,
)
from deep_kmeans.models.autoencoders import is_image_geometry
from deep_kmeans.models.clustering import cluster_means, nearest_center
from deep_kmeans.models.dckm import ConvTransform, DCKMModel, center_shift, kmeans_penalty

__all__ = ["DCKM", "fit_dckm", "predict_dckm"]

log = logging.getLogger(__name__)

#: The parameters :class:`~deep_kmeans.models.dckm.ConvTransform` is built from.
TRANSFORM_KEYS = ("n_filters", "kernel_size", "pool")


def read_params(p: ParamReader, geometry: Geometry, n_clusters: int) -> dict:
    """dckm's parameters, checked (the fit and the run's parameter check read them here)."""
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
    return cfg


def fit_dckm(x: np.ndarray, n_clusters: int, geometry: Geometry, params: dict, seed: int = 0, device: str = "auto",
             views: np.ndarray | None = None, progress: bool = True) -> ClusteringResult:
    """DCKM on ``x`` (see the module docstring). ``views`` is unused."""
    p = ParamReader(params, "dckm")
    cfg = read_params(p, geometry, n_clusters)
    p.reject_unknown()
    gen = seed_everything(seed)
    x = check_inputs(x, geometry, "dckm", n_clusters)
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
    history: dict[str, list[float]] = {}
    record(history, "cluster", {"inertia": inertia})

    bar = epoch_bar(cfg["rounds"], "dckm", progress)
    for _ in bar:
        acc = EpochMeans()
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
                acc.add({"loss": loss, "fit": fit, "kmeans": km, "reg": reg}, len(idx))
        z_all = model.z.weight.detach()
        centers_np, new_labels_np, inertia = kmeans_init(z_all.cpu().numpy(), n_clusters, seed=seed,
                                                         n_init=cfg["kmeans_n_init"])  # P2: H by K-means on Z
        changed = label_change_rate(labels.cpu().numpy(), new_labels_np, n_clusters, matched=True)
        shift = center_shift(prev_centers, labels.cpu().numpy(), centers_np, new_labels_np, n_clusters)
        labels = torch.as_tensor(new_labels_np, device=dev)
        prev_centers = centers_np
        means = acc.means()
        record(history, "cluster", {**means, "inertia": inertia, "changed": changed, "center_shift": shift})
        bar.set_postfix({"loss": f"{means['loss']:.4g}", "changed": f"{changed:.4f}", "shift": f"{shift:.4f}"})
        if shift < cfg["tol"]:
            break

    return ae_result(transform, geometry, labels, model.z.weight, centers_np, history, start,
                     transform={k: cfg[k] for k in TRANSFORM_KEYS})


def predict_dckm(model: dict, x: np.ndarray, device: str = "auto") -> np.ndarray:
    """DCKM's cluster of each row of ``x``: the stored K-means centre nearest to its transform (float64, as
    scikit-learn assigns). See the module docstring for why this is not the training rows' Z."""
    geometry = Geometry.from_dict(model["geometry"])
    x = check_inputs(x, geometry, "dckm")
    with torch.random.fork_rng(devices=[]):  # building initialises weights that the state then replaces
        transform = ConvTransform(geometry, **model["transform"])
    transform.load_state_dict(model["state"])
    z = torch.from_numpy(embed(transform, x, device=device)).double()
    return nearest_center(z, torch.as_tensor(model["centers"]).double()).numpy().astype(np.int64)


class DCKM(ClusterEstimator):
    """DCKM as a scikit-learn estimator (``params`` as in ``conf/base/parameters_dckm.yml``)."""

    # cpu: conf/base/parameters_dckm.yml's `overrides.custom` (tests/methods/test_estimators.py keeps them equal)
    PRESETS = {"cpu": {"n_filters": 8, "kernel_size": 3, "pool": 1, "rounds": 10}, "paper": {}}
    _fit = staticmethod(fit_dckm)
    _predict = staticmethod(predict_dckm)
