import math

import numpy as np
import pytest
import torch

from deep_kmeans.models.knet import KNet, fista_momentum


def blobs(n=600, k=4, d=6, spread=0.3, seed=0):
    g = torch.Generator().manual_seed(seed)
    centers = torch.randn(k, d, generator=g) * 4
    labels = torch.randint(0, k, (n,), generator=g)
    return centers, labels, centers[labels] + spread * torch.randn(n, d, generator=g)


def test_fista_momentum_by_hand():
    g = fista_momentum(3)
    eta1 = (1 + math.sqrt(5)) / 2
    eta2 = (1 + math.sqrt(1 + 4 * eta1**2)) / 2
    eta3 = (1 + math.sqrt(1 + 4 * eta2**2)) / 2
    assert g == pytest.approx([0.0, (eta1 - 1) / eta2, (eta2 - 1) / eta3])


@pytest.mark.parametrize("alpha", ["auto", 1e-3])
def test_argmax_is_nearest_centre_on_separated_blobs(alpha):
    centers, _, z = blobs()
    knet = KNet(centers, n_iter=20, alpha=alpha, lam=0.5)
    s = knet(z)
    nearest = torch.cdist(z, centers).argmin(dim=1)
    assert (s.argmax(dim=1) == nearest).float().mean() >= 0.99
    # s(T) lies on the simplex and is no worse than the simplex centre for eq. 7
    assert torch.all(s >= 0)
    torch.testing.assert_close(s.sum(dim=1), torch.ones(len(z)))
    centre = torch.full_like(s, 1.0 / s.shape[1])
    assert torch.all(knet.objective(z, s) <= knet.objective(z, centre) + 1e-5)


def test_one_step_by_hand():
    # K = 2, d = 1, M = [0, 2], z = 0.5, α = 0.1, λ = 0.5, T = 1 (s(0) = 0):
    # W2 z = 2α Mᵀz = 0.2 (0, 1) = (0, 0.2); αλQ = 0.05 (0.25, 2.25) = (0.0125, 0.1125);
    # v = (−0.0125, 0.0875), θ = (Σv − 1)/2 = −0.4625 → projection (0.45, 0.55)
    knet = KNet(torch.tensor([[0.0], [2.0]]), n_iter=1, alpha=0.1, lam=0.5)
    torch.testing.assert_close(knet(torch.tensor([[0.5]])), torch.tensor([[0.45, 0.55]]))
    # z = 1.8: W2 z = (0, 0.72); αλQ = 0.05 (3.24, 0.04) = (0.162, 0.002);
    # v = (−0.162, 0.718), θ = −0.222 → projection (0.06, 0.94)
    torch.testing.assert_close(knet(torch.tensor([[1.8]])), torch.tensor([[0.06, 0.94]]))


def test_gradients_reach_M_and_z():
    centers, _, z = blobs(n=64)
    z = z.clone().requires_grad_(True)
    knet = KNet(centers, n_iter=10, alpha="auto")
    s = knet(z)
    (knet.objective(z, s).mean() + (s * torch.randn_like(s)).sum()).backward()
    assert knet.M.grad is not None and knet.M.grad.abs().sum() > 0
    assert z.grad.abs().sum() > 0


def test_parameters_are_checked():
    c = torch.randn(3, 2)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        KNet(c, lam=1.5)
    with pytest.raises(ValueError, match="n_iter"):
        KNet(c, n_iter=0)
    with pytest.raises(ValueError, match="alpha"):
        KNet(c, alpha=-1.0)
    with pytest.raises(ValueError, match="K ≥ 2"):
        KNet(torch.randn(1, 2))
    with pytest.raises(ValueError, match=r"\(B, 2\)"):
        KNet(c)(torch.randn(4, 3))


def test_auto_step_is_inverse_lipschitz():
    c = torch.randn(4, 3)
    knet = KNet(c, lam=0.5)
    m = c.T
    lipschitz = 2 * np.linalg.norm((m.T @ m).numpy(), 2) + 0.5
    assert knet.step_size() == pytest.approx(1 / lipschitz, rel=1e-5)
