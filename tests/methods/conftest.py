"""Fixtures for the deep K-means family's fit loops and estimators: tiny, well separated Gaussian blobs
(also laid out as images) and the smallest parameters that still learn.

The family test modules ask for the root ``one_thread`` fixture with ``pytestmark`` (the TAKE tests in this
folder keep torch's thread count).
"""

from __future__ import annotations

import numpy as np
import pytest

from deep_kmeans.data.registry import Geometry


def make_blobs(n_per: int = 30, n_clusters: int = 4, dim: int = 16, spread: float = 0.15, seed: int = 0):
    """``n_clusters`` Gaussian blobs in [0, 1]^dim (centres uniform, noise ``spread``), shuffled."""
    rng = np.random.default_rng(seed)
    centers = rng.uniform(0.0, 1.0, size=(n_clusters, dim))
    y = np.repeat(np.arange(n_clusters), n_per)
    x = centers[y] + spread * rng.standard_normal((len(y), dim))
    order = rng.permutation(len(y))
    return x[order].astype(np.float32), y[order].astype(np.int64)


def make_quadrant_images(n_per: int = 30, spread: float = 0.15, seed: int = 0):
    """8×8 images of 4 classes, each lighting one 4×4 quadrant, plus Gaussian noise; flat (N, 64)."""
    rng = np.random.default_rng(seed)
    protos = np.zeros((4, 8, 8))
    for k, (r, c) in enumerate([(0, 0), (0, 4), (4, 0), (4, 4)]):
        protos[k, r:r + 4, c:c + 4] = 1.0
    y = rng.permutation(np.repeat(np.arange(4), n_per))
    x = protos[y].reshape(len(y), 64) + spread * rng.standard_normal((len(y), 64))
    return x.astype(np.float32), y.astype(np.int64)




@pytest.fixture(scope="session")
def blobs():
    """120 points, 4 blobs in 16-d, as a 4×4 single-channel geometry."""
    x, y = make_blobs()
    return x, y, Geometry(dim=16, channels=1, side=4, patch=2)


@pytest.fixture(scope="session")
def blobs_image():
    """120 8×8 images of 4 classes (one lit quadrant each), as an image geometry (for the conv autoencoder)."""
    x, y = make_quadrant_images()
    return x, y, Geometry(dim=64, channels=1, side=8, patch=2)


# The smallest settings that still learn: 2-layer nets, a handful of epochs, batches of 32.
TINY_AE = {"hidden": [32], "embedding_dim": 4, "batch_size": 32, "pretrain_epochs": 20, "pretrain_lr": 0.01,
           "kmeans_n_init": 5}

TINY_PARAMS = {
    "kmeans": {"n_init": 5},
    "dec": {**TINY_AE, "update_interval": 8, "max_iter": 40, "lr": 0.01},
    "idec": {**TINY_AE, "update_interval": 8, "max_iter": 40},
    "dcn": {**TINY_AE, "cluster_epochs": 4, "optimizer": "adam", "lr": 0.001},
    "dekm": {**TINY_AE, "ae": "mlp", "iters": 4, "update_interval": 4},
    "emaec": {**TINY_AE, "pretrain_optimizer": "adam", "augment": "none", "rounds": 3,
              "finetune_iters": 4, "lr": 0.001},
    "ulhe_dc": {**TINY_AE, "pretrain_optimizer": "adam", "cluster_epochs": 4},
    "dckm": {"n_filters": 4, "kernel_size": 3, "pool": 1, "rounds": 3, "inner_epochs": 2, "batch_size": 32,
             "kmeans_n_init": 5},
}


@pytest.fixture
def tiny_params():
    return {k: dict(v) for k, v in TINY_PARAMS.items()}
