"""Every loss / update of the family against numbers computed by hand from the papers' formulas."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from deep_kmeans.models import dckm, dcn, dec, dekm, emaec, ulhe_dc
from deep_kmeans.models.clustering import (
    cluster_means, cluster_sums, nearest_center, repair_empty_clusters, squared_distances,
)

t = lambda a: torch.tensor(a, dtype=torch.float64)  # noqa: E731


# ---------------------------------------------------------------- shared K-means helpers

def test_kmeans_helpers():
    z, c = t([[0.0, 0.0], [3.0, 4.0]]), t([[0.0, 0.0], [3.0, 0.0]])
    np.testing.assert_allclose(squared_distances(z, c).numpy(), [[0, 9], [25, 16]])
    assert nearest_center(z, c).tolist() == [0, 1]
    means = cluster_means(t([[0.0], [2.0], [5.0]]), torch.tensor([0, 0, 2]), 3, fallback=t([[9.0], [7.0], [9.0]]))
    np.testing.assert_allclose(means.numpy(), [[1.0], [7.0], [5.0]])
    np.testing.assert_allclose(cluster_sums(t([[0.0], [2.0], [5.0]]), torch.tensor([0, 0, 2]), 3).numpy(),
                               [[2.0], [0.0], [5.0]])


def test_repair_empty_clusters_by_hand():
    # rows 0, 1, 2 in cluster 0 (centre 0), row 3 alone in cluster 2; cluster 1 is empty
    z, c = t([[0.0], [1.0], [4.0], [10.0]]), t([[0.0], [5.0], [10.0]])
    labels = torch.tensor([0, 0, 0, 2])
    centers, new, n = repair_empty_clusters(z, labels, c)
    # the farthest row from its own centre is row 3 (distance 0 to centre 2: it is alone, so it stays);
    # of the rows whose cluster keeps another, row 2 is farthest (16 from centre 0): it founds cluster 1
    assert n == 1 and new.tolist() == [0, 0, 1, 2]
    np.testing.assert_allclose(centers.numpy(), [[0.0], [4.0], [10.0]])
    assert labels.tolist() == [0, 0, 0, 2] and c[1].item() == 5.0  # the inputs are left as they were
    same = repair_empty_clusters(z, torch.tensor([0, 1, 1, 2]), c)
    assert same[2] == 0 and same[1].tolist() == [0, 1, 1, 2]
    # fewer rows than clusters: as many repaired as there are rows to give
    assert repair_empty_clusters(t([[0.0], [1.0]]), torch.tensor([0, 0]), t([[0.0], [1.0], [2.0]]))[2] == 1


# ---------------------------------------------------------------- DEC / IDEC

def test_dec_soft_assign_by_hand():
    # ‖z − μ‖² = [[0, 4], [4, 0]]; (1 + d)^-1 = [[1, 1/5], [1/5, 1]]; normalised: 5/6, 1/6
    q = dec.soft_assign(t([[0.0, 0.0], [2.0, 0.0]]), t([[0.0, 0.0], [2.0, 0.0]]), alpha=1.0)
    np.testing.assert_allclose(q.numpy(), [[5 / 6, 1 / 6], [1 / 6, 5 / 6]])
    # alpha = 3: (1 + 4/3)^-2 = 9/49 → [1, 9/49] / (58/49)
    q3 = dec.soft_assign(t([[0.0, 0.0]]), t([[0.0, 0.0], [2.0, 0.0]]), alpha=3.0)
    np.testing.assert_allclose(q3.numpy(), [[49 / 58, 9 / 58]])
    with pytest.raises(ValueError):
        dec.soft_assign(t([[0.0]]), t([[1.0]]), alpha=0.0)


def test_dec_target_distribution_by_hand():
    q = t([[0.8, 0.2], [0.4, 0.6]])
    # f = [1.2, 0.8]; q²/f = [[0.64/1.2, 0.04/0.8], [0.16/1.2, 0.36/0.8]] = [[0.5333, 0.05], [0.1333, 0.45]]
    w = np.array([[0.64 / 1.2, 0.04 / 0.8], [0.16 / 1.2, 0.36 / 0.8]])
    expected = w / w.sum(1, keepdims=True)
    p = dec.target_distribution(q)
    np.testing.assert_allclose(p.numpy(), expected)
    np.testing.assert_allclose(p.numpy()[0], [0.5333333 / 0.5833333, 0.05 / 0.5833333], rtol=1e-6)
    assert p[0, 0] > q[0, 0] and p[1, 1] > q[1, 1]  # sharper than q


def test_dec_kl_by_hand():
    # 0.5 ln(0.5/0.25) + 0.5 ln(0.5/0.75) = 0.5 (0.693147 − 0.405465) = 0.143841; second row: 0
    kl = dec.kl_divergence(t([[0.5, 0.5], [1.0, 0.0]]), t([[0.25, 0.75], [1.0, 0.0]]))
    assert kl.item() == pytest.approx((0.5 * math.log(2) + 0.5 * math.log(2 / 3)) / 2, rel=1e-9)


def test_idec_loss():
    assert dec.idec_loss(t(2.0), t(5.0), gamma=0.1).item() == pytest.approx(2.5)
    with pytest.raises(ValueError):
        dec.idec_loss(t(1.0), t(1.0), gamma=-1.0)


def test_dec_gradients():
    z = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    mu = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)
    p = dec.target_distribution(dec.soft_assign(z, mu)).detach()
    assert torch.autograd.gradcheck(lambda a, b: dec.kl_divergence(p, dec.soft_assign(a, b)), (z, mu))


# ---------------------------------------------------------------- DCN

def test_dcn_loss_by_hand():
    loss, rec, km = dcn.dcn_loss(t([[1.0, 0.0]]), t([[0.0, 0.0]]), t([[1.0, 1.0]]), t([[0.0, 3.0]]), lam=1.0)
    assert rec.item() == 1.0 and km.item() == 5.0  # (1−0)² + (1−3)²
    assert loss.item() == pytest.approx(1.0 + 0.5 * 5.0)
    with pytest.raises(ValueError):
        dcn.dcn_loss(t([[0.0]]), t([[0.0]]), t([[0.0]]), t([[0.0]]), lam=-1.0)


def test_dcn_center_update_equals_sequential_steps():
    # sequential eq. 10 on cluster 0, counts start at 1: c=2: m = 0 − ½(0 − 2) = 1; c=3: m = 1 − ⅓(1 − 4) = 2
    centers, counts = dcn.update_centers(t([[0.0, 0.0], [10.0, 10.0]]), t([1.0, 1.0]), t([[2.0, 2.0], [4.0, 4.0]]),
                                         torch.tensor([0, 0]))
    np.testing.assert_allclose(centers.numpy(), [[2.0, 2.0], [10.0, 10.0]])
    np.testing.assert_allclose(counts.numpy(), [3.0, 1.0])


# ---------------------------------------------------------------- DEKM

def test_dekm_scatter_and_sorted_eigenvectors_by_hand():
    # cluster 0 around (0, 0): ±(1, 2); cluster 1 around (10, 0): ±(0.5, 0)
    h = t([[1.0, 2.0], [-1.0, -2.0], [10.5, 0.0], [9.5, 0.0]])
    labels, centers = torch.tensor([0, 0, 1, 1]), t([[0.0, 0.0], [10.0, 0.0]])
    s = dekm.within_cluster_scatter(h, labels, centers)
    np.testing.assert_allclose(s.numpy(), [[2.5, 4.0], [4.0, 8.0]])
    evals, v = dekm.sorted_scatter_eigenvectors(h, labels, centers)
    root = math.sqrt(10.5 ** 2 - 4 * 4.0)  # trace 10.5, det 2.5·8 − 16 = 4
    np.testing.assert_allclose(evals.numpy(), [(10.5 - root) / 2, (10.5 + root) / 2])
    np.testing.assert_allclose((s @ v).numpy(), (v * evals).numpy(), atol=1e-12)  # columns are eigenvectors
    np.testing.assert_allclose((v.T @ v).numpy(), np.eye(2), atol=1e-12)


def test_dekm_targets_and_loss_by_hand():
    h, labels, centers, v = t([[1.0, 2.0], [3.0, 5.0]]), torch.tensor([0, 1]), t([[0.0, 0.0], [3.0, 4.0]]), t(np.eye(2))
    y_target = dekm.dekm_targets(h, labels, centers, v)
    np.testing.assert_allclose(y_target.numpy(), [[1.0, 0.0], [3.0, 4.0]])  # last coordinate ← μ_k's
    assert dekm.dekm_loss(h @ v, y_target).item() == pytest.approx((4.0 + 1.0) / 2)
    # with a rotation, only the last coordinate in the rotated space moves
    r = t([[0.0, 1.0], [1.0, 0.0]])
    y_target = dekm.dekm_targets(h, labels, centers, r)
    np.testing.assert_allclose(y_target.numpy(), [[2.0, 0.0], [5.0, 3.0]])


# ---------------------------------------------------------------- EmAEC

def test_emaec_losses_by_hand():
    loss, rec, smooth = emaec.smoothed_reconstruction_loss(t([[1.0, 1.0]]), t([[0.0, 1.0]]), t([[3.0, 4.0]]), eps=0.001)
    assert rec.item() == 0.5 and smooth.item() == 25.0
    assert loss.item() == pytest.approx(0.525)
    lam = emaec.self_paced_threshold(t([1.0, 2.0, 3.0, 10.0]), t=1, total=4)
    assert lam.item() == pytest.approx(2.5 + 0.25 * 4.0)  # median 2.5 + (1/4)·mean 4
    np.testing.assert_array_equal(emaec.self_paced_weights(t([1.0, 2.0, 3.0, 10.0]), lam).numpy(), [1, 1, 1, 0])
    assert emaec.weighted_cluster_loss(t([[1.0, 0.0], [0.0, 2.0]]), t([[0.0, 0.0], [0.0, 0.0]]),
                                       t([1.0, 0.0])).item() == pytest.approx(0.5)


def test_emaec_random_affine_keeps_shape_and_identity():
    g = torch.Generator().manual_seed(0)
    img = torch.rand(3, 1, 8, 8)
    out = emaec.random_affine(img, g, max_rotation=10.0, max_shift=0.1)
    assert out.shape == img.shape and not torch.allclose(out, img)
    same = emaec.random_affine(img, g, max_rotation=0.0, max_shift=0.0)
    torch.testing.assert_close(same, img, atol=1e-5, rtol=0)


# ---------------------------------------------------------------- ULHE-DC

def test_ulhe_norm_and_cosine_by_hand():
    assert ulhe_dc.norm_loss(t([[3.0, 4.0], [0.0, 1.0]])).item() == pytest.approx(8.0)  # ((5−1)² + 0)/2
    assert ulhe_dc.cosine_cluster_loss(t([[1.0, 0.0]]), t([[1.0, 1.0]])).item() == pytest.approx(1 - 1 / math.sqrt(2))
    assert ulhe_dc.cosine_assign(t([[1.0, 0.1], [-1.0, 0.0]]), t([[2.0, 0.0], [-0.5, 0.0]])).tolist() == [0, 1]


def test_ulhe_uniformity_by_hand():
    m = t([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    # pairs: cos 0 → 1, cos −1 → ½, cos 0 → 1; both orders: 2·2.5 = 5 over 6 entries
    assert ulhe_dc.uniformity_loss(m, reduction="sum").item() == pytest.approx(5.0)
    assert ulhe_dc.uniformity_loss(m, reduction="mean").item() == pytest.approx(5.0 / 6.0)
    assert ulhe_dc.uniformity_loss(m[:1]).item() == 0.0


def test_ulhe_compactness_by_hand():
    z, labels = t([[1.0, 0.0], [0.0, 2.0], [3.0, 0.0]]), torch.tensor([0, 0, 1])
    # cluster 0: pairs (0,1), (1,0) have 1 − cos = 1, the diagonal 0 → 2; cluster 1: 0
    assert ulhe_dc.compactness_loss(z, labels, 2, reduction="sum").item() == pytest.approx(2.0 / 2)
    assert ulhe_dc.compactness_loss(z, labels, 2, reduction="mean").item() == pytest.approx((2.0 / 4 + 0.0) / 2)


def test_ulhe_centroid_update_by_hand():
    centers = t([[1.0, 0.0], [0.0, 1.0]])
    z, labels = t([[0.0, 2.0], [0.0, 3.0], [0.0, 1.0]]), torch.tensor([0, 0, 1])
    # m̂_0 = (0, 1), step K|C_0|/N = 4/3: Norm((1, 4/3)) = (0.6, 0.8); m̂_1 = (0, 1): Norm((0, 5/3)) = (0, 1)
    np.testing.assert_allclose(ulhe_dc.update_centroids(centers, z, labels).numpy(), [[0.6, 0.8], [0.0, 1.0]])
    bc = ulhe_dc.batch_centroids(z, torch.tensor([1, 1, 1]), 3)
    np.testing.assert_allclose(bc.numpy(), [[0.0, 1.0]])


def test_ulhe_loss_gradients():
    z = torch.randn(6, 3, dtype=torch.float64, requires_grad=True)
    labels = torch.tensor([0, 0, 1, 1, 2, 2])
    centers = torch.nn.functional.normalize(torch.randn(3, 3, dtype=torch.float64), dim=1)
    assert torch.autograd.gradcheck(lambda a: ulhe_dc.ulhe_loss(a, labels, centers, 3)[0], (z,))
    loss, terms = ulhe_dc.ulhe_loss(z, labels, centers, 3, (2.0, 0.08, 0.4))
    expected = terms["cos"] + 2.0 * terms["norm"] + 0.08 * terms["unif"] + 0.4 * terms["cmpt"]
    assert loss.item() == pytest.approx(expected.item())


# ---------------------------------------------------------------- DCKM

def test_dckm_log_det_square_and_tall():
    assert dckm.log_det_term(t([[2.0, 0.0], [0.0, 3.0]])).item() == pytest.approx(math.log(6.0))
    tall = t([[1.0, 0.0], [0.0, 2.0], [0.0, 0.0]])  # TᵀT = diag(1, 4): ½ log 4 = log 2
    assert dckm.log_det_term(tall).item() == pytest.approx(math.log(2.0))
    assert dckm.transform_penalty(tall).item() == pytest.approx(5.0 - math.log(2.0))
    # square case: ½ log det(TᵀT) = log|det T|, so the two definitions agree
    sq = t([[1.0, 2.0], [0.5, 3.0]])
    assert dckm.log_det_term(sq).item() == pytest.approx(0.5 * torch.logdet(sq.T @ sq).item())


def test_dckm_log_det_gradient():
    sq = torch.tensor([[1.0, 2.0], [0.5, 3.0]], dtype=torch.float64, requires_grad=True)
    dckm.log_det_term(sq).backward()
    np.testing.assert_allclose(sq.grad.numpy(), torch.linalg.inv(sq.detach()).T.numpy())  # ∂ log|det T| = T^-ᵀ
    tall = torch.randn(5, 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(dckm.transform_penalty, (tall,))


def test_dckm_kmeans_term_by_hand():
    z, labels = t([[0.0], [2.0], [10.0]]), torch.tensor([0, 0, 1])
    # Z Hᵀ(HHᵀ)⁻¹H replaces each z by its cluster mean: residual (0−1)² + (2−1)² + 0 = 2
    assert dckm.projection_residual(z, labels, 2).item() == pytest.approx(2.0)
    means = cluster_means(z, labels, 2)
    assert dckm.kmeans_penalty(z, means[labels]).item() == pytest.approx(2.0 / 3)


def test_dckm_center_shift_matches_permuted_clusters():
    shift = dckm.center_shift(np.array([[0.0, 0.0], [1.0, 1.0]]), np.array([0, 0, 1]),
                              np.array([[1.0, 1.0], [0.0, 0.1]]), np.array([1, 1, 0]), 2)
    assert shift == pytest.approx(0.1 / math.sqrt(2))


def test_dckm_transform_shapes_and_filter_matrix():
    from deep_kmeans.data.registry import Geometry

    tr = dckm.ConvTransform(Geometry(dim=784, channels=1, side=28, patch=7), n_filters=3, kernel_size=9, pool=2)
    assert tr.encode(torch.rand(2, 784)).shape == (2, 3 * 7 * 7) and tr.out_dim == 147
    assert [tuple(m.shape) for m in tr.filter_matrices()] == [(81, 3), (243, 3)]
    assert torch.isfinite(tr.regularizer())
    with pytest.raises(ValueError, match="pool"):
        dckm.ConvTransform(Geometry(dim=9, channels=1, side=3, patch=1), pool=2)
