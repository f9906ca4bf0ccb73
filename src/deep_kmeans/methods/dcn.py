"""DCN — Deep Clustering Network, "Towards K-means-friendly spaces" (Yang, Fu, Sidiropoulos & Hong, ICML 2017).

Pretrain an MLP autoencoder (``d-500-500-2000-10``), initialise centres M and hard assignments s
with K-means on the embedding, then for every mini-batch, alternately:

1. one network step (encoder AND decoder) on ``ℓ(g(f(x)), x) + λ/2 ‖f(x) − M s‖²`` with M, s fixed
   (paper eq. 8);
2. re-assign the batch to the nearest centre, ``s_i = argmin_k ‖f(x_i) − m_k‖²`` (eq. 9);
3. move each centre towards its new members with step ``1/c_k``, ``c_k`` the running count of
   samples assigned to cluster k so far: ``m_k ← m_k − (1/c_k)(m_k − f(x_i))`` (eq. 10).

Choices where the paper leaves room:

* ``ℓ`` is the squared error summed over input dimensions (the paper's ``‖x − g(f(x))‖²``) and both
  terms are averaged over the batch; λ = 1 by default (the paper uses 0.5–1);
* the counts ``c_k`` start at 100 per cluster (``init_count``), as the authors' released code does
  — with counts starting at 0 (the literal reading) the first sample of a cluster would replace
  its K-means centre entirely;
* eq. 10 applied sample after sample within a batch equals the running mean
  ``m_k ← (c_k m_k + Σ_{i∈batch∩k} f(x_i)) / (c_k + n_k)``, which is what :func:`~deep_kmeans.models.dcn.update_centers`
  computes (exactly, vectorised);
* clustering uses SGD with momentum 0.9, lr 1e-4, batch 256, 50 epochs (the authors' MNIST script);
  pretraining is end-to-end with Adam in the shared loop instead of layer-wise + end-to-end SGD.

The torch math (eq. 8, eq. 10, :class:`~deep_kmeans.models.dcn.DCNModel`) is :mod:`deep_kmeans.models.dcn`;
new rows go to the nearest centre (:func:`predict_dcn`), the rule of step 2.
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
    ClusterEstimator, ClusteringResult, ParamReader, check_inputs, encode_tensor, epoch_bar, kmeans_init,
    label_change_rate, make_optimizer, minibatches, record, resolve_device, seed_everything,
)
from deep_kmeans.models.clustering import nearest_center
from deep_kmeans.models.dcn import DCNModel, dcn_loss, update_centers

__all__ = ["DCN", "fit_dcn", "predict_dcn"]


def read_params(p: ParamReader, geometry: Geometry, n_clusters: int) -> dict:
    """dcn's parameters, checked (the fit and the run's parameter check read them here)."""
    cfg = read_ae_params(p, geometry, ae="mlp")
    cfg.update(read_cluster_params(p, optimizer="sgd", lr=1e-4, tol=0.0))
    cfg.update(
        lam=p.float("lam", 1.0, min=0.0),
        cluster_epochs=p.int("cluster_epochs", 50, min=0),
        init_count=p.float("init_count", 100.0, min=0.0),
    )
    return cfg


def fit_dcn(x: np.ndarray, n_clusters: int, geometry: Geometry, params: dict, seed: int = 0, device: str = "auto",
            views: np.ndarray | None = None, progress: bool = True) -> ClusteringResult:
    """DCN on ``x`` (see the module docstring). ``views`` is unused."""
    p = ParamReader(params, "dcn")
    cfg = read_params(p, geometry, n_clusters)
    p.reject_unknown()
    gen = seed_everything(seed)
    x = check_inputs(x, geometry, "dcn", n_clusters)
    dev = resolve_device(device)
    start = time.perf_counter()

    ae, history, X = build_and_pretrain(x, geometry, cfg, dev, gen, progress, "dcn pretrain")
    centers, labels, _ = kmeans_init(encode_tensor(ae, X).cpu().numpy(), n_clusters, seed=seed,
                                     n_init=cfg["kmeans_n_init"])
    model = DCNModel(ae, centers, cfg["init_count"]).to(dev)
    s = torch.as_tensor(labels, device=dev)
    opt = make_optimizer(ae.parameters(), cfg["optimizer"], cfg["lr"], cfg["momentum"])

    bar = epoch_bar(cfg["cluster_epochs"], "dcn cluster", progress)
    for _ in bar:
        before = s.clone()
        acc = EpochMeans()
        for idx in minibatches(len(X), cfg["batch_size"], gen, dev):
            xb = X[idx]
            z, xr = ae(xb)  # 1. network step with M, s fixed
            loss, rec, km = dcn_loss(xb, xr, z, model.centers[s[idx]], cfg["lam"])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            with torch.no_grad():  # 2. assignments, 3. centres, on the updated network
                z_new = ae.encode(xb)
                s[idx] = nearest_center(z_new, model.centers)
                model.centers, model.counts = update_centers(model.centers, model.counts, z_new, s[idx])
            acc.add({"loss": loss, "rec": rec, "kmeans": km}, len(idx))
        means = acc.means()
        changed = label_change_rate(before, s)
        record(history, "cluster", {**means, "changed": changed})
        bar.set_postfix({k: f"{v:.4g}" for k, v in means.items()})
        if changed < cfg["tol"]:
            break

    z_all = encode_tensor(ae, X)
    labels = nearest_center(z_all, model.centers)
    return ae_result(ae, geometry, labels, z_all, model.centers, history, start, ae=cfg,
                     counts=model.counts.cpu().clone())


def predict_dcn(model: dict, x: np.ndarray, device: str = "auto") -> np.ndarray:
    """DCN's cluster of each row of ``x``: the nearest stored centre to its embedding (eq. 9)."""
    return stored_assignments(model, x, "dcn", nearest_center, device)


class DCN(ClusterEstimator):
    """DCN as a scikit-learn estimator (``params`` as in ``conf/base/parameters_dcn.yml``)."""

    # cpu: conf/base/parameters_dcn.yml's `overrides.custom` (tests/methods/test_estimators.py keeps them equal)
    PRESETS = {"cpu": {"pretrain_epochs": 50, "cluster_epochs": 30, "optimizer": 'adam', "lr": 0.001}, "paper": {}}
    _fit = staticmethod(fit_dcn)
    _predict = staticmethod(predict_dcn)
