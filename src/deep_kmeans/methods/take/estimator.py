"""TAKE as a whole: :func:`fit_take` runs the phases in order, and :class:`TAKE` is its scikit-learn estimator."""

from __future__ import annotations

import dataclasses
import logging
import time

import numpy as np
from sklearn.base import BaseEstimator, ClusterMixin

from deep_kmeans.data.registry import Geometry
from deep_kmeans.methods.distributed import process_group
from deep_kmeans.methods.kit import check_n_clusters, estimator_geometry
from deep_kmeans.methods.take.config import TAKEConfig, sized_for_data
from deep_kmeans.methods.take.joint import cluster, kmeans_initialise
from deep_kmeans.methods.take.model import check_inputs, encode, fit_head, load_tae, predict
from deep_kmeans.methods.take.pretrain import pretrain, pretrain_checkpointer

logger = logging.getLogger(__name__)

# The paper's readings of KNet and the joint phase (docs/take_joint_phase.md), the `paper` preset's own.
PAPER_JOINT = {"kmeans_n_init": 10, "knet_iters": 20, "knet_alpha": 0.001, "knet_lambda": 0.5, "knet_tied": True,
               "knet_scale": "none", "knet_momentum": "fista", "knet_output": "projected", "knet_centers": "learn",
               "knet_lr": None, "knet_init": "kmeans", "knet_target_weight": 0.0, "knet_confidence": 0.0,
               "cluster_warmup": 0.0, "cluster_contrastive": 0.0}


def fit_take(x: np.ndarray, views: np.ndarray | None, geometry: Geometry, cfg: TAKEConfig, n_clusters: int,
             seed: int = 0, device: str = "auto", progress: bool = True, store=None, data_key: str = "",
             augment=None, y: np.ndarray | None = None) -> dict:
    """The whole method: :func:`pretrain` → :func:`kmeans_initialise` → :func:`cluster` → :func:`predict`.

    Returns ``{"model": {"tae", "knet", "centers"}, "labels", "z", "init", "history", "phases", "seconds"}``
    (``phases``: seconds per phase);
    with ``cfg.assignment == "kmeans"`` the model has no KNet (Table 12: pretraining + K-means).
    """
    check_n_clusters(n_clusters, len(x))
    start = phase_start = time.perf_counter()
    phases = {}

    def lap(name: str) -> None:
        nonlocal phase_start
        phases[f"{name}_s"] = time.perf_counter() - phase_start
        phase_start = time.perf_counter()

    # keep_final: a fit cut off after pretraining resumes without pretraining again; cleared when the fit ends
    pretrained, history = pretrain(x, views, geometry, cfg, seed=seed, device=device, progress=progress,
                                   store=store, data_key=data_key, augment=augment, keep_final=True)
    lap("pretrain")
    init = kmeans_initialise(x, pretrained, geometry, cfg, n_clusters, seed=seed, device=device, progress=progress)
    lap("kmeans_init")
    if cfg.assignment == "kmeans":
        model = {"tae": pretrained["tae"], "knet": None, "centers": init["centers"]}
    elif cfg.assignment == "umap_gmm":
        head = process_group(device).on_main(lambda: fit_head(init["z"], cfg, n_clusters, seed, progress))
        model = {"tae": pretrained["tae"], "knet": None, "head": head["head"], "centers": head["centers"]}
        lap("head")
    else:
        state, cluster_history = cluster(x, pretrained, init["start_centers"], geometry, cfg, seed=seed,
                                         device=device, progress=progress, store=store, data_key=data_key,
                                         init_labels=init["start_labels"],
                                         confidence=init.get("start_confidence"), y=y, views=views)
        history = {**history, **cluster_history}
        model = {**state, "centers": state["knet"]["M"].T.numpy()}
        lap("cluster")
    if process_group(device).is_main:
        pretrain_checkpointer(x, views, cfg, seed, store, data_key, augment).clear()
    labels, z = predict(x, model, geometry, cfg, device=device)
    lap("predict")
    return {"model": model, "labels": labels, "z": z, "init": init, "history": history, "phases": phases,
            "seconds": time.perf_counter() - start}


_CONFIG_FIELDS = [f.name for f in dataclasses.fields(TAKEConfig)]


class TAKE(ClusterMixin, BaseEstimator):
    """Transformer AutoEncoder + KNet as a scikit-learn estimator, for use without Kedro.

        >>> model = TAKE(n_clusters=10, warmup_epochs=20, update_epochs=5, cluster_epochs=10).fit(X)
        >>> model.labels_, model.predict(X_new), model.transform(X_new)

    ``X`` is (N, dim) with values of any scale (pixels in [0, 1], features, tf-idf). ``geometry`` says how a
    row becomes an image; by default the smallest square holding ``dim`` values, cut into a 4×4 grid of
    patches. Every other hyperparameter is a field of :class:`TAKEConfig` (same name), validated in
    :meth:`fit`; one left at None takes the value of ``preset``: ``cpu`` (the default, minutes on a CPU for a
    few thousand rows) or ``paper`` (the paper's MNIST settings: :class:`TAKEConfig`'s defaults, KNet's α = 1e-3).

    Learned state: ``labels_`` (assignments of the training data), ``cluster_centers_`` (K, d),
    ``embedding_`` (z of the training data), ``init_labels_`` (K-means on the pretrained z),
    ``history_`` (per-epoch losses), ``state_`` (weights), ``config_``, ``geometry_``.
    """

    def __init__(self, n_clusters: int = 10, geometry: Geometry | dict | None = None, seed: int = 0,
                 device: str = "auto", progress: bool = False, preset: str = "cpu", *,
                 embed_dim=None, latent_dim=None, depth=None, heads=None, decoder_depth=None, decoder_heads=None,
                 mlp_ratio=None, dropout=None, head_hidden=None, head_out=None, warmup_epochs=None,
                 update_epochs=None, cluster_epochs=None, sample_budget=None, min_cluster_steps=None,
                 batch_size=None, lr=None, cluster_lr=None,
                 grad_clip=None, lambda1=None, lambda2=None, lambda3=None, tau=None, reconstruction=None,
                 use_ccl=None, use_cl=None, knet_iters=None, knet_alpha=None, knet_lambda=None, knet_centers=None,
                 knet_lr=None, knet_tied=None, knet_scale=None, knet_momentum=None, knet_output=None,
                 knet_target_weight=None, knet_target_temperature=None, knet_target=None, knet_view_targets=None,
                 knet_confidence=None, cluster_warmup=None, cluster_contrastive=None,
                 knet_init=None, assignment=None,
                 umap_neighbors=None, kmeans_n_init=None, fresh_views=None, baseline_kmeans=None, amp=None, compile=None,
                 predict_batch_size=None, checkpoint_every=None, resume=None):
        self.n_clusters = n_clusters
        self.geometry = geometry
        self.seed = seed
        self.device = device
        self.progress = progress
        self.preset = preset
        self.embed_dim, self.latent_dim, self.depth, self.heads = embed_dim, latent_dim, depth, heads
        self.decoder_depth, self.decoder_heads, self.mlp_ratio = decoder_depth, decoder_heads, mlp_ratio
        self.dropout = dropout
        self.head_hidden, self.head_out = head_hidden, head_out
        self.warmup_epochs, self.update_epochs, self.cluster_epochs = warmup_epochs, update_epochs, cluster_epochs
        self.sample_budget, self.min_cluster_steps = sample_budget, min_cluster_steps
        self.batch_size, self.lr, self.cluster_lr, self.grad_clip = batch_size, lr, cluster_lr, grad_clip
        self.lambda1, self.lambda2, self.lambda3, self.tau = lambda1, lambda2, lambda3, tau
        self.reconstruction, self.use_ccl, self.use_cl = reconstruction, use_ccl, use_cl
        self.knet_iters, self.knet_alpha, self.knet_lambda = knet_iters, knet_alpha, knet_lambda
        self.knet_centers, self.knet_init = knet_centers, knet_init
        self.knet_lr, self.knet_tied, self.knet_scale = knet_lr, knet_tied, knet_scale
        self.knet_momentum, self.knet_output = knet_momentum, knet_output
        self.knet_target_weight, self.knet_target_temperature = knet_target_weight, knet_target_temperature
        self.knet_target, self.knet_view_targets = knet_target, knet_view_targets
        self.knet_confidence, self.cluster_warmup = knet_confidence, cluster_warmup
        self.cluster_contrastive = cluster_contrastive
        self.assignment, self.kmeans_n_init, self.umap_neighbors = assignment, kmeans_n_init, umap_neighbors
        self.fresh_views, self.baseline_kmeans = fresh_views, baseline_kmeans
        self.amp, self.compile, self.predict_batch_size = amp, compile, predict_batch_size
        self.checkpoint_every, self.resume = checkpoint_every, resume

    # cpu (the default): conf/base/parameters_take.yml's `presets.cpu` (a test keeps them equal): a small
    # TAE, minutes on a CPU for a few thousand rows. paper: TAKEConfig's defaults (the paper's MNIST settings)
    # with the paper's KNet step size.
    PRESETS = {"cpu": {
        "embed_dim": 32,
        "depth": 2,
        "heads": 2,
        "decoder_depth": 1,
        "decoder_heads": 2,
        "mlp_ratio": 2.0,
        "head_hidden": 32,
        "head_out": 16,
        "warmup_epochs": 40,
        "update_epochs": 10,
        "cluster_epochs": 10,
        "batch_size": 128,
        "lambda1": 0.1,
        "lambda2": 0.1,
        "lambda3": 0.01,
        "tau": 0.5},
        # the paper's KNet and joint phase (TAKEConfig's defaults are ours; conf/base's `presets.paper` holds the same
        # keys); the paper also draws new views every epoch, which the estimator leaves to the caller (fit(X, views=...))
        "paper": PAPER_JOINT}

    def _config(self) -> TAKEConfig:
        if self.preset not in self.PRESETS:
            raise ValueError(f"preset must be one of {', '.join(self.PRESETS)}, got {self.preset!r}")
        given = {name: getattr(self, name) for name in _CONFIG_FIELDS if getattr(self, name) is not None}
        cfg = TAKEConfig.from_params({**self.PRESETS[self.preset], **given})
        if cfg.fresh_views:
            # The estimator cannot tell pixels from feature vectors: it trains on the views it is given.
            raise ValueError("fresh_views is an option of the Kedro pipeline for pixel data sets "
                             "(kedro run --params=take.fresh_views=true); pass precomputed views to fit(X, views=...)")
        return cfg

    def fit(self, X, y=None, views: np.ndarray | None = None) -> "TAKE":
        """Pretrain, initialise with K-means, train jointly. ``views`` (N, 4, dim) optional. ``y``, when given, only
        scores the joint phase's per-epoch diagnostics in ``history_`` (nothing the training does reads it)."""
        X = np.asarray(X, dtype=np.float32)
        if X.ndim != 2:
            raise ValueError(f"X must be 2-D (samples × features), got shape {X.shape}")
        check_n_clusters(self.n_clusters, len(X))
        geometry = estimator_geometry(self.geometry, X.shape[1])
        cfg, note = sized_for_data(self._config(), len(X), geometry)
        if note:
            logger.info(note)
        check_inputs(X, geometry, views)
        if views is None and cfg.update_epochs:
            views = self._own_views(X, geometry)
        out = fit_take(X, views, geometry, cfg, self.n_clusters, seed=self.seed, device=self.device,
                       progress=self.progress, y=None if y is None else np.asarray(y))
        self.config_, self.geometry_, self.state_ = cfg, geometry, out["model"]
        self.labels_, self.embedding_, self.history_ = out["labels"], out["z"], out["history"]
        self.init_labels_ = out["init"]["labels"]
        self.cluster_centers_ = np.asarray(out["model"]["centers"], dtype=np.float32)
        return self

    def _own_views(self, X: np.ndarray, geometry: Geometry) -> np.ndarray | None:
        """Rows that are gray images (the geometry holds them without padding, values in [0, 1]) get the
        pipeline's 2 crops + 2 rotations; other rows cannot be augmented here, and the update epochs then
        train L_r alone, which is said."""
        if geometry.channels == 1 and geometry.padded_dim == X.shape[1] and X.min() >= 0 and X.max() <= 1:
            from deep_kmeans.features.images import image_views

            images = X.reshape(len(X), geometry.side, geometry.side)
            return image_views(images, seed=self.seed).reshape(len(X), 4, -1).astype(np.float32)
        logger.warning("TAKE: no views given and the rows are not gray images in [0, 1], so the %d update epochs "
                       "train L_r only; pass fit(X, views=V) with V (N, 4, dim): 2 crops, then 2 rotations",
                       self._config().update_epochs)
        return None

    def _check_fitted(self) -> None:
        if not hasattr(self, "state_"):
            raise RuntimeError("this TAKE model is not fitted yet: call fit(X) first")

    def predict(self, X) -> np.ndarray:
        """Cluster of each row of ``X`` (data seen in training or not), by the KNet forward."""
        self._check_fitted()
        return predict(np.asarray(X, dtype=np.float32), self.state_, self.geometry_, self.config_, self.device)[0]

    def transform(self, X) -> np.ndarray:
        """The learned features z of each row of ``X``."""
        self._check_fitted()
        tae = load_tae(self.state_, self.geometry_, self.config_)
        return encode(tae, np.asarray(X, dtype=np.float32), self.config_.predict_batch_size, self.device)

    def fit_predict(self, X, y=None, views: np.ndarray | None = None) -> np.ndarray:
        return self.fit(X, views=views).labels_
