"""TAKE's losses (paper eqs. 2-5 and 13), as small functions over batches.

Shapes: x, x_rec (B, D) flat inputs; z (B, d) features; views (B, p, d); s (B, K) assignments on
the simplex; M (d, K) centres as columns (the paper's notation).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def reconstruction_loss(x: torch.Tensor, x_rec: torch.Tensor, kind: str = "cosine") -> torch.Tensor:
    """Eq. 2: mean_j [1 − cos(x_j, x'_j)]; ``mse`` is the ablation of Tables 6-7."""
    x, x_rec = x.flatten(1), x_rec.flatten(1)
    if kind == "cosine":
        return (1.0 - F.cosine_similarity(x, x_rec, dim=1, eps=1e-8)).mean()
    if kind == "mse":
        return F.mse_loss(x_rec, x)
    raise ValueError(f"reconstruction loss must be 'cosine' or 'mse', got {kind!r}")


def convex_combination_loss(z: torch.Tensor, z_views: torch.Tensor, coef_logits: torch.Tensor) -> torch.Tensor:
    """Eq. 3: mean_j ‖Σ_i c_i z_j^i − z_j‖², c = softmax(c̃) so that c lies on the simplex."""
    c = torch.softmax(coef_logits, dim=0)  # (p,)
    combo = torch.einsum("p,bpd->bd", c, z_views)
    return (combo - z).pow(2).sum(dim=1).mean()


def contrastive_loss(h1: torch.Tensor, h2: torch.Tensor, tau: float = 0.07, gather=None) -> torch.Tensor:
    """Eqs. 4-5, symmetrised.

    For the positive pair (j, j) seen from view 1, the denominator sums exp(cos/τ) over every k of
    view 2 (positive included) and over k ≠ j of view 1; the same from view 2; the loss averages
    both directions over the batch (the NT-Xent form of SimCLR).

    ``gather`` (data-parallel training): ``rows (b, m) -> (rows of the whole batch (B, m), offset of these
    rows in it)``. The b rows here are then the queries and the whole batch the candidates, so the mean
    over the b rows, weighed by b / B and added over the shards, is the loss of the whole batch.
    """
    if tau <= 0:
        raise ValueError(f"temperature tau must be positive, got {tau}")
    if gather is not None:
        return _sharded_contrastive_loss(h1, h2, tau, gather)
    b = h1.shape[0]
    h = F.normalize(torch.cat([h1, h2], dim=0), dim=1)  # (2B, m)
    sim = h @ h.T / tau  # (2B, 2B)
    sim = sim.masked_fill(torch.eye(2 * b, dtype=torch.bool, device=h.device), float("-inf"))
    target = torch.cat([torch.arange(b, 2 * b), torch.arange(0, b)]).to(h.device)
    return F.cross_entropy(sim, target)


def _sharded_contrastive_loss(h1: torch.Tensor, h2: torch.Tensor, tau: float, gather) -> torch.Tensor:
    q1, q2 = F.normalize(h1, dim=1), F.normalize(h2, dim=1)  # (b, m) each: this shard's queries
    k1, offset = gather(q1)
    k2, _ = gather(q2)
    n, b = k1.shape[0], q1.shape[0]
    sim = torch.cat([q1, q2]) @ torch.cat([k1, k2]).T / tau  # (2b, 2B)
    rows = torch.arange(b, device=sim.device) + offset
    own = torch.cat([rows, n + rows])  # each query's own column
    mask = torch.zeros_like(sim, dtype=torch.bool)
    mask[torch.arange(2 * b, device=sim.device), own] = True
    sim = sim.masked_fill(mask, float("-inf"))
    return F.cross_entropy(sim, torch.cat([n + rows, rows]))


def squared_distances(z: torch.Tensor, M: torch.Tensor) -> torch.Tensor:
    """(B, K) matrix of ‖z_j − m_i‖², by expansion (a matmul; no square root, so smooth at 0)."""
    d = z.pow(2).sum(dim=1, keepdim=True) - 2.0 * z @ M + M.pow(2).sum(dim=0, keepdim=True)
    return d.clamp(min=0.0)


def relaxed_kmeans_objective(z: torch.Tensor, s: torch.Tensor, M: torch.Tensor, lam: float) -> torch.Tensor:
    """Per-sample objective of eqs. 7 and 13: ‖z − Ms‖² + λ Σ_i s_i ‖z − m_i‖² + (1−λ)/2 Σ_i s_i² → (B,)."""
    recon = (z - s @ M.T).pow(2).sum(dim=1)
    dist = squared_distances(z, M)
    return recon + lam * (s * dist).sum(dim=1) + 0.5 * (1.0 - lam) * s.pow(2).sum(dim=1)


def kmeans_loss(z: torch.Tensor, s: torch.Tensor, M: torch.Tensor, lam: float) -> torch.Tensor:
    """Eq. 13: the batch mean of :func:`relaxed_kmeans_objective`."""
    return relaxed_kmeans_objective(z, s, M, lam).mean()
