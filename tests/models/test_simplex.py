import itertools

import numpy as np
import pytest
import torch

from deep_kmeans.models.simplex import simplex_projection


def brute_force_projection(v: np.ndarray) -> np.ndarray:
    """Exact projection by enumerating supports: on support S the KKT point is v_S − (Σv_S − 1)/|S|."""
    best, best_d = None, np.inf
    k = len(v)
    for r in range(1, k + 1):
        for support in itertools.combinations(range(k), r):
            s = np.zeros(k)
            idx = list(support)
            s[idx] = v[idx] - (v[idx].sum() - 1.0) / r
            if (s >= -1e-12).all():
                d = np.sum((s - v) ** 2)
                if d < best_d:
                    best, best_d = s, d
    return best


def test_hand_computed_values():
    # sorted u = (0.3, 0.1, -0.2): all three stay in the support, θ = (0.2 − 1)/3 = −0.2667
    out = simplex_projection(torch.tensor([0.3, 0.1, -0.2], dtype=torch.float64))
    np.testing.assert_allclose(out.numpy(), [0.3 + 0.8 / 3, 0.1 + 0.8 / 3, -0.2 + 0.8 / 3], atol=1e-12)
    np.testing.assert_allclose(simplex_projection(torch.tensor([2.0, 0.0])).numpy(), [1.0, 0.0])
    np.testing.assert_allclose(simplex_projection(torch.tensor([0.0, 0.0, 0.0, 0.0])).numpy(), [0.25] * 4)


@pytest.mark.parametrize("k", [2, 3, 5, 7])
def test_matches_brute_force_and_properties(k):
    rng = np.random.default_rng(k)
    v = rng.normal(scale=2.0, size=(50, k))
    out = simplex_projection(torch.from_numpy(v)).numpy()
    for row, p in zip(v, out):
        np.testing.assert_allclose(p, brute_force_projection(row), atol=1e-10)
    assert np.all(out >= 0)
    np.testing.assert_allclose(out.sum(axis=1), 1.0, atol=1e-12)
    # idempotent: a point of the simplex is its own projection
    again = simplex_projection(torch.from_numpy(out)).numpy()
    np.testing.assert_allclose(again, out, atol=1e-12)


def test_nearest_point_against_random_simplex_points():
    rng = np.random.default_rng(0)
    v = rng.normal(size=6)
    p = simplex_projection(torch.from_numpy(v)).numpy()
    others = rng.dirichlet(np.ones(6), size=2000)
    assert np.all(((others - v) ** 2).sum(1) >= ((p - v) ** 2).sum() - 1e-12)


def test_batched_any_dim_and_differentiable():
    v = torch.randn(4, 3, 5, dtype=torch.float64, requires_grad=True)
    out = simplex_projection(v, dim=1)
    assert out.shape == (4, 3, 5)
    torch.testing.assert_close(out.sum(dim=1), torch.ones(4, 5, dtype=torch.float64))
    # The projection's Jacobian is the orthogonal projector onto the support's sum-zero subspace.
    assert torch.autograd.gradcheck(lambda x: simplex_projection(x), (torch.randn(3, 4, dtype=torch.float64,
                                                                                  requires_grad=True),))
    (out * torch.randn_like(out)).sum().backward()
    assert torch.isfinite(v.grad).all()
