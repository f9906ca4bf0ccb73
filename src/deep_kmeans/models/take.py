"""``TAKE``: the whole method as a scikit-learn-style estimator, for use without Kedro.

    >>> from deep_kmeans.models.take import TAKE
    >>> model = TAKE(n_clusters=10, warmup_epochs=20, update_epochs=5, cluster_epochs=10).fit(X)
    >>> model.labels_, model.predict(X_new)

``X`` is (N, dim) with values of any scale (pixels in [0, 1], features, tf-idf). ``geometry``
says how a row becomes an image; by default the smallest square holding ``dim`` values, cut into
a 4×4 grid of patches.
"""

from __future__ import annotations

import numpy as np

from deep_kmeans.data.registry import Geometry, vector_geometry
from deep_kmeans.models.kmeans_init import check_n_clusters
from deep_kmeans.training import take as training


class TAKE:
    """Transformer AutoEncoder + KNet. Hyperparameters are :class:`~deep_kmeans.training.take.TAKEConfig`'s.

    Learned state: ``labels_`` (assignments of the training data), ``cluster_centers_`` (K, d),
    ``embedding_`` (z of the training data), ``history_`` (per-epoch losses), ``state_`` (weights).
    """

    def __init__(self, n_clusters: int = 10, geometry: Geometry | dict | None = None, seed: int = 0,
                 device: str = "auto", progress: bool = False, **hyperparameters):
        self.n_clusters = n_clusters
        self.geometry = geometry
        self.seed = seed
        self.device = device
        self.progress = progress
        self.hyperparameters = hyperparameters
        self.config = training.TAKEConfig.from_params(hyperparameters)
        if self.config.fresh_views:
            # The estimator cannot tell pixels from feature vectors: it trains on the views it is given.
            raise ValueError("fresh_views is an option of the Kedro pipeline for pixel data sets "
                             "(kedro run --params=take.fresh_views=true); pass precomputed views to fit(X, views=...)")

    def _geometry(self, dim: int) -> Geometry:
        if self.geometry is None:
            return vector_geometry(dim, 4)
        return Geometry.from_dict(self.geometry) if isinstance(self.geometry, dict) else self.geometry

    def fit(self, X, y=None, views: np.ndarray | None = None) -> "TAKE":
        """Pretrain, initialise with K-means, train jointly. ``views`` (N, 4, dim) optional."""
        X = np.asarray(X, dtype=np.float32)
        if X.ndim != 2:
            raise ValueError(f"X must be 2-D (samples × features), got shape {X.shape}")
        check_n_clusters(self.n_clusters, len(X))
        geometry = self._geometry(X.shape[1])
        cfg = self.config
        pretrained, hist = training.pretrain(X, views, geometry, cfg, self.seed, self.device, self.progress)
        init = training.kmeans_initialise(X, pretrained, geometry, cfg, self.n_clusters, self.seed, self.device)
        self.init_labels_ = init["labels"]
        if cfg.assignment == "kmeans":
            self.state_ = {"tae": pretrained["tae"], "knet": None}
            self.labels_, self.embedding_, self.cluster_centers_ = init["labels"], init["z"], init["centers"]
            self.history_ = hist
        else:
            state, chist = training.cluster(X, pretrained, init["centers"], geometry, cfg, self.seed, self.device,
                                            self.progress)
            self.state_ = state
            self.history_ = {**hist, **chist}
            self.labels_, self.embedding_ = training.predict(X, state, geometry, cfg, self.device)
            self.cluster_centers_ = state["knet"]["M"].T.numpy()
        self.geometry_ = geometry
        return self

    def predict(self, X) -> np.ndarray:
        """Cluster of each row of ``X`` (data seen in training or not), by the KNet forward."""
        if not hasattr(self, "state_"):
            raise RuntimeError("this TAKE model is not fitted yet: call fit(X) first")
        X = np.asarray(X, dtype=np.float32)
        if self.state_["knet"] is None:  # assignment: kmeans → nearest K-means centre
            z = self.transform(X)
            return ((z[:, None, :] - self.cluster_centers_[None]) ** 2).sum(-1).argmin(1)
        return training.predict(X, self.state_, self.geometry_, self.config, self.device)[0]

    def transform(self, X) -> np.ndarray:
        """The learned features z of each row of ``X``."""
        if not hasattr(self, "state_"):
            raise RuntimeError("this TAKE model is not fitted yet: call fit(X) first")
        tae = training.load_tae(self.state_, self.geometry_, self.config)
        return training.encode(tae, np.asarray(X, dtype=np.float32), self.config.predict_batch_size, self.device)

    def fit_predict(self, X, y=None, views: np.ndarray | None = None) -> np.ndarray:
        return self.fit(X, views=views).labels_
