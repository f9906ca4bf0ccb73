import math

import numpy as np
import pytest
import torch

from deep_kmeans.models import losses


def test_cosine_and_mse_reconstruction_by_hand():
    x = torch.tensor([[1.0, 0.0], [1.0, 1.0]])
    x_rec = torch.tensor([[0.0, 1.0], [2.0, 2.0]])
    # cos = 0 → 1, cos = 1 → 0: mean 0.5
    assert losses.reconstruction_loss(x, x_rec, "cosine").item() == pytest.approx(0.5)
    # squared errors 1, 1, 1, 1 over 4 entries
    assert losses.reconstruction_loss(x, x_rec, "mse").item() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="cosine"):
        losses.reconstruction_loss(x, x_rec, "l1")


def test_convex_combination_by_hand():
    z = torch.tensor([[1.0, 0.0]])
    views = torch.tensor([[[1.0, 2.0], [3.0, 0.0]]])
    # c = softmax(0, 0) = (1/2, 1/2): combination (2, 1), minus z = (1, 1), squared norm 2
    assert losses.convex_combination_loss(z, views, torch.zeros(2)).item() == pytest.approx(2.0)
    # c = softmax(log 3, 0) = (3/4, 1/4): combination (1.5, 1.5) → (0.5, 1.5) → 0.25 + 2.25
    logits = torch.tensor([math.log(3.0), 0.0])
    assert losses.convex_combination_loss(z, views, logits).item() == pytest.approx(2.5)


def contrastive_by_hand(h1: np.ndarray, h2: np.ndarray, tau: float) -> float:
    """Eqs. 4-5 written out with loops."""
    def cos(a, b):
        return a @ b / np.linalg.norm(a) / np.linalg.norm(b)

    b = len(h1)
    total = 0.0
    for first, second in ((h1, h2), (h2, h1)):
        for j in range(b):
            pos = np.exp(cos(first[j], second[j]) / tau)
            denom = sum(np.exp(cos(first[j], second[k]) / tau) for k in range(b))
            denom += sum(np.exp(cos(first[j], first[k]) / tau) for k in range(b) if k != j)
            total += -np.log(pos / denom)
    return total / (2 * b)


@pytest.mark.parametrize("tau", [0.07, 0.5, 1.0])
def test_contrastive_matches_the_written_out_formula(tau):
    rng = np.random.default_rng(1)
    h1, h2 = rng.normal(size=(5, 4)), rng.normal(size=(5, 4))
    got = losses.contrastive_loss(torch.from_numpy(h1), torch.from_numpy(h2), tau).item()
    assert got == pytest.approx(contrastive_by_hand(h1, h2, tau), rel=1e-9)


def test_contrastive_two_points_by_hand():
    # h1 = h2 = orthogonal unit vectors e1, e2; cos(pos) = 1, cos(other) = 0, τ = 1:
    # each term: −log(e / (e + 1 + 1))
    h = torch.eye(2)
    assert losses.contrastive_loss(h, h, 1.0).item() == pytest.approx(-math.log(math.e / (math.e + 2)))


def test_kmeans_loss_by_hand():
    z = torch.tensor([[1.0, 0.0]])
    M = torch.tensor([[0.0, 2.0], [0.0, 0.0]])  # columns m1 = (0, 0), m2 = (2, 0)
    s = torch.tensor([[0.5, 0.5]])
    # Ms = (1, 0) → 0; λ Σ s_i ‖z − m_i‖² = 0.5 (0.5 + 0.5) = 0.5; (1 − λ)/2 Σ s² = 0.25 × 0.5 = 0.125
    assert losses.kmeans_loss(z, s, M, 0.5).item() == pytest.approx(0.625)
    s = torch.tensor([[1.0, 0.0]])
    # Ms = (0, 0) → 1; λ·1 = 0.5; 0.25 · 1 → 1.75
    assert losses.kmeans_loss(z, s, M, 0.5).item() == pytest.approx(1.75)


def test_squared_distances_match_cdist():
    z, M = torch.randn(7, 3, dtype=torch.float64), torch.randn(3, 4, dtype=torch.float64)
    torch.testing.assert_close(losses.squared_distances(z, M), torch.cdist(z, M.T) ** 2)
