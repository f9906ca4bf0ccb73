"""K-means in torch (models/clustering.py): scikit-learn's inertia, its Lloyd fixed points, determinism, empty
clusters, and no host sync but the periodic convergence check."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.cluster import KMeans
from sklearn.datasets import load_digits, make_blobs

from deep_kmeans.models.clustering import kmeans_torch, lloyd, squared_distances

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: syncs.py
from syncs import count_host_syncs  # noqa: E402


@pytest.fixture(scope="module")
def data():
    blobs, _ = make_blobs(3000, centers=8, n_features=5, cluster_std=2.0, random_state=1)
    return {"blobs": (blobs.astype(np.float32), 8), "digits": ((load_digits().data / 16).astype(np.float32), 10)}


@pytest.mark.parametrize("name", ["blobs", "digits"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_inertia_within_one_percent_of_scikit_learn(data, name, seed, one_thread):
    x, k = data[name]
    centers, labels, inertia = kmeans_torch(torch.from_numpy(x), k, seed=seed, n_init=10)
    theirs = KMeans(k, n_init=10, random_state=seed).fit(x.astype(np.float64))
    assert float(inertia) <= 1.01 * theirs.inertia_
    assert centers.shape == (k, x.shape[1]) and centers.dtype == torch.float32 and labels.dtype == torch.int64
    # a Lloyd fixed point: every row at its nearest centre, every centre the mean of its rows, the inertia theirs
    z = torch.from_numpy(x).double()
    assert torch.equal(labels, squared_distances(z, centers.double()).argmin(1))
    for c in range(k):
        torch.testing.assert_close(centers[c].double(), z[labels == c].mean(0), atol=1e-3, rtol=0)
    np.testing.assert_allclose(float(inertia), float(((z - centers.double()[labels]) ** 2).sum()), rtol=1e-5)


def test_the_same_seed_gives_the_same_result(data, one_thread):
    x, k = data["digits"]
    a, b = (kmeans_torch(torch.from_numpy(x), k, seed=4, n_init=3) for _ in range(2))
    for u, v in zip(a, b):
        assert torch.equal(u, v)
    assert kmeans_torch(torch.from_numpy(x), k, seed=4, n_init="auto")[0].shape == (k, 64)  # auto: one start


def test_warm_started_lloyd_reaches_scikit_learns_fixed_point(data, one_thread):
    x, k = data["digits"]
    start = x[np.random.default_rng(0).choice(len(x), k, replace=False)].astype(np.float64)
    centers, labels, inertia = lloyd(torch.from_numpy(x), torch.from_numpy(start), tol=0.0)
    theirs = KMeans(k, init=start, n_init=1, tol=0.0).fit(x.astype(np.float64))
    np.testing.assert_allclose(centers.numpy(), theirs.cluster_centers_, atol=1e-5)
    np.testing.assert_array_equal(labels.numpy(), theirs.labels_)
    np.testing.assert_allclose(float(inertia), theirs.inertia_, rtol=1e-6)


def test_an_empty_cluster_takes_the_farthest_row():
    x = torch.tensor([[0.0], [0.1], [0.2], [5.0], [5.1], [9.0]])
    start = torch.tensor([[0.1], [5.0], [100.0]])  # the third centre wins no row
    centers, labels, _ = lloyd(x, start, max_iter=1)
    assert torch.bincount(labels, minlength=3).min() >= 1
    assert float(centers[2, 0]) == 9.0  # the row farthest from its own centre (9.0, from 5.0's cluster)


def test_host_syncs_are_the_convergence_checks_alone(data, one_thread):
    x, k = data["blobs"]
    with count_host_syncs() as syncs:
        kmeans_torch(torch.from_numpy(x), k, seed=0, n_init=4, max_iter=40, check_every=10)
    assert syncs.by_kind == {"_local_scalar_dense": syncs.total} and 1 <= syncs.total <= 4, syncs.where


def test_bad_arguments_are_clear_errors():
    with pytest.raises(ValueError, match="n_clusters"):
        kmeans_torch(torch.zeros(3, 2), 4)
    with pytest.raises(ValueError, match="2-D"):
        kmeans_torch(torch.zeros(3), 2)
