import math

import numpy as np
import pytest
import torch

from deep_kmeans.models.knet import KNet, fista_momentum, largest_eigenvalue, paper_momentum


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
    for option in ({"scale": "max"}, {"momentum": "nesterov"}, {"output": "last"}):
        with pytest.raises(ValueError, match=next(iter(option))):
            KNet(c, **option)


def test_auto_step_is_inverse_lipschitz_of_the_centred_centres():
    c = torch.randn(4, 3) + 5.0  # far from the origin: the uncentred MᵀM would be dominated by the mean centre
    knet = KNet(c, lam=0.5)
    m = (c - c.mean(dim=0)).T
    lipschitz = 2 * np.linalg.norm((m.T @ m).numpy(), 2) + 0.5
    assert knet.step_size() == pytest.approx(1 / lipschitz, rel=1e-5)


@pytest.mark.parametrize("d, k", [(10, 10), (3, 4), (2, 10), (10, 2)])
def test_largest_eigenvalue_without_a_sync_matches_eigvalsh(d, k):
    m = torch.randn(d, k, generator=torch.Generator().manual_seed(d * k)) + 3.0
    gram = (m - m.mean(dim=1, keepdim=True)).T @ (m - m.mean(dim=1, keepdim=True))
    assert float(largest_eigenvalue(gram)) == pytest.approx(float(torch.linalg.eigvalsh(gram).max()), rel=1e-4)


def test_translating_z_and_the_centres_together_changes_no_iterate():
    # on the simplex Σs = 1: z − Ms and every ‖z − m_i‖ are unchanged, so each iterate is (fixed α)
    centers, _, z = blobs(n=50)
    shift = torch.tensor([5.0, -3.0, 2.0, 0.0, 1.0, 7.0])
    a = KNet(centers, n_iter=15, alpha=0.01)(z)
    b = KNet(centers + shift, n_iter=15, alpha=0.01)(z + shift)
    torch.testing.assert_close(a, b, atol=1e-4, rtol=0)


def soft_blobs(n=200):
    """Blobs at the scale of a pretrained z (|z| ≈ 1): KNet's s is soft there, not one-hot."""
    centers, labels, z = blobs(n=n, spread=1.0)
    return centers / 4, labels, z / 4


def test_unit_scale_gives_the_same_assignment_for_z_scaled_by_ten():
    centers, _, z = soft_blobs()
    knet = KNet(centers, scale="unit").eval()
    knet.set_sigma(z)
    big = KNet(centers * 10, scale="unit").eval()
    big.set_sigma(z * 10)
    torch.testing.assert_close(knet(z), big(z * 10), atol=1e-5, rtol=0)
    # without it the softness of s depends on |z| (eq. 7's last term does not scale)
    plain, plain_big = KNet(centers, scale="none"), KNet(centers * 10, scale="none")
    assert (plain(z) - plain_big(z * 10)).abs().max() > 1e-2


def test_unit_scale_trains_on_the_batch_spread_and_predicts_on_the_stored_one():
    centers, _, z = blobs(n=100)
    knet = KNet(centers, scale="unit")
    knet.set_sigma(z)
    assert float(knet.sigma) == pytest.approx(float(KNet.spread(z)))
    zb = z[:20].clone().requires_grad_(True)
    s = knet(zb)  # training mode: σ of this batch, differentiable
    knet.loss(zb, s).backward()
    assert zb.grad.abs().sum() > 0
    knet.eval()
    torch.testing.assert_close(knet(z[:20]), KNet(centers / knet.sigma, scale="none").eval()(z[:20] / knet.sigma))


def test_the_training_sigma_is_taken_over_the_rows_batch_rows_gives():
    """Under DDP the loop hands KNet the global batch (``batch_rows``): σ is that batch's, even for a shard of one
    row, and gradients still reach the shard's own rows."""
    centers, _, z = blobs(n=100)
    knet = KNet(centers, scale="unit")
    whole = z[:40]
    knet.batch_rows = lambda rows: torch.cat([rows, whole[len(rows):]])  # this "rank" holds the first rows
    for shard in (z[:1], z[:20]):
        zb = shard.clone().requires_grad_(True)
        torch.testing.assert_close(knet.normalised(zb)[0], zb / KNet.spread(whole))
        knet.loss(zb, knet(zb)).backward()
        assert zb.grad.abs().sum() > 0


def test_rows_are_scaled_by_sigma_of_z_gathered_once():
    """A view's rows in z's units (self-training's view term): divided by σ of z, not their own, and σ's gather
    (one collective under DDP) runs once for the rows and the centres."""
    centers, _, z = blobs(n=100)
    knet = KNet(centers, scale="unit")
    gathers = []
    knet.batch_rows = lambda rows: gathers.append(len(rows)) or rows
    view = z[:40] * 3.0
    rows, M = knet.normalised(z[:40], rows=view)
    assert gathers == [40]
    sigma = KNet.spread(z[:40])
    torch.testing.assert_close(rows, view / sigma, rtol=0, atol=0)
    torch.testing.assert_close(M, knet.M / sigma, rtol=0, atol=0)
    knet.scale = "none"
    assert knet.normalised(z[:40], rows=view)[0] is view


def test_paper_momentum_as_printed():
    # η(0) = 0, η(1) = 1, η(2) = (1 + √5)/2, η(3) = (1 + √(1 + 4η(2)))/2; γ(t) = (η(t) − 1)/η(t+1)
    eta2 = (1 + math.sqrt(5)) / 2
    eta3 = (1 + math.sqrt(1 + 4 * eta2)) / 2
    assert paper_momentum(3) == pytest.approx([-1.0, 0.0, (eta2 - 1) / eta3])


def test_the_extrapolated_output_is_the_last_momentum_step():
    centers, _, z = blobs(n=30)
    projected = KNet(centers, n_iter=5, alpha=0.01)
    extrapolated = KNet(centers, n_iter=5, alpha=0.01, output="extrapolated")
    before = KNet(centers, n_iter=4, alpha=0.01)(z)
    last = projected(z)
    gamma = fista_momentum(5)[-1]
    torch.testing.assert_close(extrapolated(z), last + gamma * (last - before))
    torch.testing.assert_close(extrapolated(z).sum(dim=1), torch.ones(len(z)))  # off the simplex only in sign


def test_untied_knet_starts_as_the_tied_one_and_trains_its_own_weights():
    centers, _, z = soft_blobs(n=40)
    tied, untied = KNet(centers, alpha="auto"), KNet(centers, alpha="auto", tied=False)
    torch.testing.assert_close(tied(z), untied(z), atol=1e-5, rtol=0)
    s = untied(z)
    (s * torch.randn_like(s)).sum().backward()
    assert untied.M.grad is None  # M only initialised W1, W2 and Q; L_k uses it
    assert all(p.grad.abs().sum() > 0 for p in (untied.W1, untied.W2, untied.Q))
