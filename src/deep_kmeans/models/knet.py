"""KNet: the relaxed K-means problem (TAKE eq. 7) solved by unrolled accelerated projected gradient.

For a feature z ∈ R^d and centres M ∈ R^{d×K} (columns m_i), eq. 7 is

    min_{s ∈ simplex}  L(s) = ‖z − Ms‖² + λ Σ_i s_i ‖z − m_i‖² + (1−λ)/2 ‖s‖²,

whose gradient step s − α∇L(s) is W1 s + W2 z − αλ Q(z) with W1 = (1 − α + αλ) I − 2α MᵀM,
W2 = 2α Mᵀ and Q(z)_i = ‖z − m_i‖². W1, W2 and Q are derived from M at every forward, so M is the
only parameter and gradients of any loss on the output reach it through all T unrolled steps.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from deep_kmeans.models.losses import relaxed_kmeans_objective, squared_distances
from deep_kmeans.models.simplex import simplex_projection


def fista_momentum(n_iter: int) -> list[float]:
    """γ(t) for t = 0 … T−1 of standard FISTA: η(0) = 1, η(t+1) = (1 + √(1 + 4η(t)²))/2,
    γ(t) = (η(t) − 1)/η(t+1).

    The paper writes η(0) = 0 and η(t+1) = (1 + √(1 + 4η(t)))/2; taken literally its first step
    cancels itself (γ(0) = −1/η(1)), so we use the standard sequence (spec: take.md).
    """
    gammas, eta = [], 1.0
    for _ in range(n_iter):
        eta_next = (1.0 + math.sqrt(1.0 + 4.0 * eta * eta)) / 2.0
        gammas.append((eta - 1.0) / eta_next)
        eta = eta_next
    return gammas


class KNet(nn.Module):
    """Unrolled accelerated projected gradient for eq. 7; ``forward(z) -> s`` (B, K) on the simplex.

    ``alpha``: the step size, a float (the paper's 1e-3) or ``"auto"`` = 1/L with
    L = 2‖MᵀM‖₂ + (1 − λ), the gradient's Lipschitz constant, recomputed from M at every forward
    (and not differentiated: it is a step size, not part of the model).
    """

    def __init__(self, centers: torch.Tensor, n_iter: int = 20, alpha: float | str = "auto", lam: float = 0.5):
        super().__init__()
        centers = torch.as_tensor(centers, dtype=torch.float32)
        if centers.ndim != 2 or centers.shape[0] < 2:
            raise ValueError(f"centers must be a (K, d) array with K ≥ 2, got shape {tuple(centers.shape)}")
        if not 0.0 <= lam <= 1.0:
            raise ValueError(f"lam (λ of eq. 7) must lie in [0, 1], got {lam}")
        if n_iter < 1:
            raise ValueError(f"n_iter (T, the number of unrolled steps) must be ≥ 1, got {n_iter}")
        if not (alpha == "auto" or (isinstance(alpha, (int, float)) and alpha > 0)):
            raise ValueError(f"alpha must be a positive step size or 'auto', got {alpha!r}")
        self.M = nn.Parameter(centers.T.clone())  # (d, K): centres as columns
        self.n_iter = int(n_iter)
        self.alpha = alpha
        self.lam = float(lam)
        self.register_buffer("gammas", torch.tensor(fista_momentum(self.n_iter), dtype=torch.float32),
                             persistent=False)

    @property
    def n_clusters(self) -> int:
        return self.M.shape[1]

    @property
    def centers(self) -> torch.Tensor:
        """(K, d) centres as rows, the scikit-learn layout."""
        return self.M.T

    def step_size(self) -> float:
        if self.alpha != "auto":
            return float(self.alpha)
        with torch.no_grad():
            lipschitz = 2.0 * torch.linalg.matrix_norm(self.M.T @ self.M, ord=2) + (1.0 - self.lam)
        return float(1.0 / lipschitz)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if z.ndim != 2 or z.shape[1] != self.M.shape[0]:
            raise ValueError(f"KNet expects features of shape (B, {self.M.shape[0]}), got {tuple(z.shape)}")
        a, lam, M = self.step_size(), self.lam, self.M
        k = M.shape[1]
        eye = torch.eye(k, device=z.device, dtype=z.dtype)
        w1 = (1.0 - a + a * lam) * eye - 2.0 * a * (M.T @ M)  # (K, K), symmetric
        # W2 z − αλ Q(z), fixed across iterations: (B, K)
        drive = 2.0 * a * (z @ M) - a * lam * squared_distances(z, M)
        s_tilde = z.new_zeros(z.shape[0], k)
        s = s_tilde
        for t in range(self.n_iter):
            s_next = simplex_projection(s @ w1 + drive)  # W1 symmetric: s W1ᵀ = s W1
            s = s_next + self.gammas[t] * (s_next - s_tilde)
            s_tilde = s_next
        return s_tilde

    def objective(self, z: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        """Eq. 7 per sample, (B,)."""
        return relaxed_kmeans_objective(z, s, self.M, self.lam)

    @torch.no_grad()
    def predict(self, z: torch.Tensor) -> torch.Tensor:
        return self.forward(z).argmax(dim=1)
