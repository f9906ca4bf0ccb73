"""DEC — Deep Embedded Clustering (Xie, Girshick & Farhadi, ICML 2016): the fit loop and the estimator.

1. Pretrain an MLP autoencoder ``d-500-500-2000-10`` (shared loop, MSE).
2. Centres μ from K-means on the embedding (the kit's :func:`kmeans_init`, ``n_init`` 20 as DEC).
3. Discard the decoder; train the encoder and the centres on ``KL(P ‖ Q)``:
   ``q_ij ∝ (1 + ‖z_i − μ_j‖²/α)^(−(α+1)/2)`` (Student's t, α = 1) and the target
   ``p_ij ∝ q_ij² / f_j`` with ``f_j = Σ_i q_ij``. The target P is recomputed on the whole data set
   every ``update_interval`` mini-batches; training stops when fewer than ``tol`` of the samples
   changed cluster between two target updates, or after ``max_iter`` mini-batches.

The torch math (q, P, KL, :class:`~deep_kmeans.models.dec.DECModel`) is :mod:`deep_kmeans.models.dec`.

Choices where the paper leaves room (also in ``conf/base/parameters_dec.yml``):

* pretraining is end-to-end with Adam (as IDEC's and DEKM's implementations do), not DEC's greedy
  layer-wise denoising pretraining followed by fine-tuning — every AE method shares one loop;
* the KL loss is summed over clusters and averaged over the batch (Keras' ``kld``);
* clustering uses SGD, lr 0.01, momentum 0.9, batch 256, ``update_interval`` 140, ``tol`` 0.1 %,
  ``max_iter`` 20 000 (the settings of the reference re-implementation used by IDEC);
* the history has one entry per target-update round (``update_interval`` mini-batches), not per epoch.

IDEC (:mod:`deep_kmeans.methods.idec`) is this loop plus the reconstruction term; it reuses
:func:`fit_dec_family`. New rows are assigned by :func:`predict_dec`: ``argmax_j q_ij``, the nearest centre.
"""

from __future__ import annotations

import math
import time

import numpy as np
import torch
import torch.nn.functional as F

from deep_kmeans.data.registry import Geometry
from deep_kmeans.methods.autoencoder import (
    EpochMeans, ae_result, build_and_pretrain, read_ae_params, read_cluster_params, stored_assignments,
)
from deep_kmeans.methods.kit import (
    ClusterEstimator, ClusteringResult, ParamReader, check_inputs, cycle_minibatches, encode_tensor, epoch_bar,
    kmeans_init, label_change_rate, make_optimizer, record, resolve_device, seed_everything,
)
from deep_kmeans.models.dec import DECModel, idec_loss, kl_divergence, soft_assign, target_distribution

__all__ = ["DEC", "fit_dec", "fit_dec_family", "predict_dec", "read_dec_params"]


def read_dec_params(p: ParamReader, geometry: Geometry, *, optimizer: str, lr: float, gamma: float | None) -> dict:
    """DEC's and IDEC's parameters (IDEC adds ``gamma``)."""
    cfg = read_ae_params(p, geometry, ae="mlp")
    cfg.update(read_cluster_params(p, optimizer=optimizer, lr=lr, tol=0.001, kmeans_n_init=20))
    cfg.update(
        alpha=p.float("alpha", 1.0, min=0.0, exclusive_min=True),
        update_interval=p.int("update_interval", 140, min=1),
        max_iter=p.int("max_iter", 20000, min=0),
    )
    if gamma is not None:
        cfg["gamma"] = p.float("gamma", gamma, min=0.0)
    return cfg


def read_params(p: ParamReader, geometry: Geometry, n_clusters: int) -> dict:
    """DEC's parameters, checked (the fit and the run's parameter check read them here)."""
    return read_dec_params(p, geometry, optimizer="sgd", lr=0.01, gamma=None)


def fit_dec_family(method: str, x: np.ndarray, n_clusters: int, geometry: Geometry, params: dict, seed: int,
                   device: str, progress: bool, *, reconstruction: bool, read) -> ClusteringResult:
    """DEC (``reconstruction=False``: encoder + centres on ``KL``) or IDEC (``L_r + γ KL``, decoder kept);
    ``read``: the method's :func:`read_params`."""
    p = ParamReader(params, method)
    cfg = read(p, geometry, n_clusters)
    p.reject_unknown()
    gen = seed_everything(seed)
    x = check_inputs(x, geometry, method, n_clusters)
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
            record(history, "cluster", {"changed": changed})
            if changed < cfg["tol"]:
                break
        last = labels
        acc = EpochMeans()
        n_iter = min(cfg["update_interval"], cfg["max_iter"] - r * cfg["update_interval"])
        for _ in range(n_iter):
            idx = next(batches)
            xb = X[idx]
            z, q, xr = model(xb)
            kl = kl_divergence(p_all[idx], q)
            if reconstruction:
                rec = F.mse_loss(xr, xb)
                loss = idec_loss(rec, kl, cfg["gamma"])
                terms = {"rec": rec, "kl": kl, "loss": loss}
            else:
                loss = kl
                terms = {"kl": kl, "loss": loss}
            acc.add(terms)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        means = acc.means()
        record(history, "cluster", means)
        bar.set_postfix({k: f"{v:.4g}" for k, v in means.items()})

    with torch.no_grad():
        z_all = encode_tensor(model.autoencoder, X)
        labels = soft_assign(z_all, model.centers, model.alpha).argmax(dim=1)
    return ae_result(ae, geometry, labels, z_all, model.centers, history, start, ae=cfg, alpha=cfg["alpha"])


def predict_dec(model: dict, x: np.ndarray, device: str = "auto") -> np.ndarray:
    """DEC's (and IDEC's) cluster of each row of ``x``: ``argmax_j q_ij`` on the stored encoder and centres."""
    return stored_assignments(model, x, "dec", lambda z, c: soft_assign(z, c, model["alpha"]).argmax(dim=1), device)


def fit_dec(x: np.ndarray, n_clusters: int, geometry: Geometry, params: dict, seed: int = 0, device: str = "auto",
            views: np.ndarray | None = None, progress: bool = True) -> ClusteringResult:
    """DEC on ``x`` (see the module docstring for the algorithm and its parameters). ``views`` is unused."""
    return fit_dec_family("dec", x, n_clusters, geometry, params, seed, device, progress,
                          reconstruction=False, read=read_params)


class DEC(ClusterEstimator):
    """DEC as a scikit-learn estimator: ``DEC(n_clusters=10, params={...}).fit(X).labels_``.

    ``params`` are those of ``conf/base/parameters_dec.yml``; ``predict`` assigns new rows (:func:`predict_dec`).
    """

    # cpu: conf/base/parameters_dec.yml's `overrides.custom` (tests/methods/test_estimators.py keeps them equal)
    PRESETS = {"cpu": {"pretrain_epochs": 50, "update_interval": 40, "max_iter": 400}, "paper": {}}
    _fit = staticmethod(fit_dec)
    _predict = staticmethod(predict_dec)
