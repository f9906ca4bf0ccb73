"""TAKE's nodes: thin wrappers that turn catalog records into calls of ``training.take``."""

from __future__ import annotations

import logging
import time

import numpy as np

from deep_kmeans.data.registry import Geometry
from deep_kmeans.pipelines.method import params_for, resolve_n_clusters
from deep_kmeans.training import take as training

logger = logging.getLogger(__name__)


def take_config(params: dict, dataset: str) -> training.TAKEConfig:
    """TAKEConfig from ``params:take`` with the data set's block of ``overrides`` merged in."""
    return training.TAKEConfig.from_params(params_for(params, dataset))


def train_indices(features: dict, params: dict, seed: int) -> np.ndarray:
    """Rows used for training. ``split.train_fraction`` (Table 5): a seeded stratified subset;
    the rest is predicted as unseen data. null = all rows."""
    fraction = (params.get("split") or {}).get("train_fraction")
    n = len(features["y"])
    if fraction is None:
        return np.arange(n)
    if not 0 < fraction < 1:
        raise ValueError(f"take.split.train_fraction must lie in (0, 1) or be null, got {fraction}")
    from sklearn.model_selection import train_test_split

    idx, _ = train_test_split(np.arange(n), train_size=fraction, random_state=seed, stratify=features["y"])
    return np.sort(idx)


def _train_view(features: dict, params: dict, seed: int):
    idx = train_indices(features, params, seed)
    views = features.get("views")
    return features["x"][idx], (None if views is None else views[idx]), idx


def pretrain_take(features: dict, params: dict, seed: int, device: str, progress: bool, n_clusters,
                  checkpoints, feature_params: dict | None = None) -> tuple[dict, dict]:
    """Warm-up + update pretraining of the TAE. Checks K before the long work starts.

    ``feature_params`` (``params:features``): its ``views`` block sets the crops and rotations that
    ``take.fresh_views`` draws every epoch.
    """
    cfg = take_config(params, features["name"])
    k = resolve_n_clusters(n_clusters, features)
    x, views, idx = _train_view(features, params, seed)
    geometry = Geometry.from_dict(features["geometry"])
    augment = training.view_augmenter(features, cfg, (feature_params or {}).get("views"))
    start = time.perf_counter()
    state, history = training.pretrain(x, views, geometry, cfg, seed=seed, device=device, progress=progress,
                                       store=checkpoints, data_key=features["fingerprint"], augment=augment)
    pretrained = {**state, "config": cfg.to_dict(), "geometry": geometry.to_dict(), "n_clusters": k,
                  "dataset": features["name"], "fingerprint": features["fingerprint"], "seed": seed,
                  "seconds": time.perf_counter() - start}
    return pretrained, history


def initialise_take(pretrained: dict, features: dict, params: dict, seed: int, device: str) -> dict:
    """K-means on z of the training rows → initial centres and assignment."""
    cfg = take_config(params, features["name"])
    x, _, _ = _train_view(features, params, seed)
    init = training.kmeans_initialise(x, pretrained, Geometry.from_dict(pretrained["geometry"]), cfg,
                                      pretrained["n_clusters"], seed=seed, device=device)
    return {"centers": init["centers"], "labels": init["labels"], "inertia": init["inertia"]}


def cluster_take(pretrained: dict, init: dict, features: dict, params: dict, seed: int, device: str,
                 progress: bool, checkpoints) -> tuple[dict, dict]:
    """Joint TAE + KNet training (or, with ``assignment: kmeans``, the pretrained TAE and K-means centres)."""
    cfg = take_config(params, features["name"])
    x, _, _ = _train_view(features, params, seed)
    geometry = Geometry.from_dict(pretrained["geometry"])
    start = time.perf_counter()
    if cfg.assignment == "kmeans":
        state, history = {"tae": pretrained["tae"], "knet": None}, {}
    else:
        state, history = training.cluster(x, pretrained, init["centers"], geometry, cfg, seed=seed, device=device,
                                          progress=progress, store=checkpoints, data_key=features["fingerprint"])
    model = {**state, "centers": init["centers"] if state["knet"] is None else state["knet"]["M"].T.numpy(),
             "config": cfg.to_dict(), "geometry": geometry.to_dict(), "n_clusters": pretrained["n_clusters"],
             "dataset": features["name"], "seed": seed,
             "train_seconds": pretrained.get("seconds", 0.0) + time.perf_counter() - start}
    return model, history


def predict_take(model: dict, features: dict, params: dict, seed: int, device: str) -> dict:
    """Assignments of every row by the KNet forward (nearest K-means centre for ``assignment: kmeans``).

    With a train/unseen split, the scores of the unseen rows are added as ``*_unseen`` (Table 5).
    """
    cfg = training.TAKEConfig.from_params(model["config"])
    geometry = Geometry.from_dict(model["geometry"])
    if model["knet"] is None:
        z = training.encode(training.load_tae(model, geometry, cfg), features["x"], cfg.predict_batch_size, device)
        labels = ((z[:, None, :] - model["centers"][None]) ** 2).sum(-1).argmin(1).astype(np.int64)
    else:
        labels, z = training.predict(features["x"], model, geometry, cfg, device=device)
    assignments = {"method": "take", "labels": labels, "embedding": z, "centers": model["centers"],
                   "train_seconds": model["train_seconds"], "extra_scores": {}}
    train_idx = train_indices(features, params, seed)
    if len(train_idx) < len(labels):
        from deep_kmeans.evaluation.metrics import clustering_scores

        unseen = np.setdiff1d(np.arange(len(labels)), train_idx)
        for name, rows in (("train", train_idx), ("unseen", unseen)):
            for k, v in clustering_scores(features["y"][rows], labels[rows]).items():
                assignments["extra_scores"][f"{k}_{name}"] = v
    return assignments


def merge_histories(pretrain_history: dict, cluster_history: dict) -> dict:
    """One record of every per-epoch loss, pretraining then clustering."""
    return {**pretrain_history, **cluster_history}


def kmeans_baseline_scores(init: dict, features: dict, params: dict, seed: int) -> dict:
    """Scores of the two K-means baselines, logged beside TAKE's so one run shows what TAKE adds:

    - ``init_*``: K-means on the pretrained TAE's z (the initialisation; Table 12's "pretrain + K-means");
    - ``input_kmeans_*``: K-means on the model input itself (pixels, backbone features or tf-idf), with
      the same seed and ``kmeans_n_init``: the plain baseline. ``take.baseline_kmeans: false`` skips it
      (it costs one K-means on the raw input: about a minute on MNIST's 70,000 × 784 on 2 cores).
    """
    from deep_kmeans.evaluation.metrics import clustering_scores
    from deep_kmeans.evaluation.nodes import as_mlflow_metrics
    from deep_kmeans.models.kmeans_init import kmeans_init

    cfg = take_config(params, features["name"])
    x, _, idx = _train_view(features, params, seed)
    y = features["y"][idx]
    scores = {f"init_{k}": v for k, v in clustering_scores(y, init["labels"]).items()}
    if cfg.baseline_kmeans:
        _, labels, _ = kmeans_init(x, len(init["centers"]), seed=seed, n_init=cfg.kmeans_n_init)
        scores.update({f"input_kmeans_{k}": v for k, v in clustering_scores(y, labels).items()})
    message = f"K-means on the pretrained z: ACC {scores['init_acc']:.4f} NMI {scores['init_nmi']:.4f}"
    if cfg.baseline_kmeans:
        message += (f"; K-means on the input: ACC {scores['input_kmeans_acc']:.4f} "
                    f"NMI {scores['input_kmeans_nmi']:.4f}")
    logger.info(message)
    return as_mlflow_metrics(scores)
