"""KNet: the relaxed K-means problem (TAKE eq. 7) solved by unrolled accelerated projected gradient.

For a feature z ∈ R^d and centres M ∈ R^{d×K} (columns m_i), eq. 7 is

    min_{s ∈ simplex}  L(s) = ‖z − Ms‖² + λ Σ_i s_i ‖z − m_i‖² + (1−λ)/2 ‖s‖²,

whose gradient step s − α∇L(s) is W1 s + W2 z − αλ Q(z) with W1 = (1 − α + αλ) I − 2α MᵀM,
W2 = 2α Mᵀ and Q(z)_i = ‖z − m_i‖².

The paper leaves five points open; each is an option here (docs/take_joint_phase.md sets the paper's text beside
each reading and what it measured to change):

- ``tied``: W1, W2 and Q derived from M at every forward, so M is the only parameter (True, our reading of
  "assimilated as parameters"), or W1, W2 and Q's centres their own parameters that M only *initialises* (False,
  the literal reading of 3.3; M then enters L_k alone).
- ``alpha``: a fixed step (the paper's 1e-3) or ``auto`` = 1/L with L = 2 λ_max(M_cᵀM_c) + (1 − λ), M_c the
  centred M. On the simplex Σs = 1, so translating z and every centre by the same vector leaves each iterate as it
  is: the centred M gives the true Lipschitz constant of the gradient on the simplex, where the uncentred MᵀM
  (dominated by the mean centre) gave a step many times too small.
- ``scale``: ``none`` runs eq. 7 on z as the encoder gives it (the paper), where the softness of s depends on |z|;
  ``unit`` divides z and M by σ, the root of z's total variance (per batch while training, differentiably, so that
  shrinking z cannot lower L_k; the running ``sigma`` buffer in eval), which makes KNet and L_k invariant to the
  scale of z.
- ``momentum``: standard FISTA (η(0) = 1, η(t+1) = (1 + √(1 + 4η(t)²))/2), or the paper's eq. 10 as printed
  (η(0) = 0, η(t+1) = (1 + √(1 + 4η(t)))/2, whose first step cancels itself: γ(0) = −1).
- ``output``: the last projected iterate s̃(T), on the simplex (ours), or the last extrapolated iterate s(T) of
  eq. 9, which eq. 13 writes as s^(T) (it can leave the simplex).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from deep_kmeans.models.losses import relaxed_kmeans_objective, squared_distances
from deep_kmeans.models.simplex import simplex_projection

MOMENTA = ("fista", "paper")
OUTPUTS = ("projected", "extrapolated")
SCALES = ("none", "unit")


def fista_momentum(n_iter: int) -> list[float]:
    """γ(t) for t = 0 … T−1 of standard FISTA: η(0) = 1, η(t+1) = (1 + √(1 + 4η(t)²))/2,
    γ(t) = (η(t) − 1)/η(t+1)."""
    gammas, eta = [], 1.0
    for _ in range(n_iter):
        eta_next = (1.0 + math.sqrt(1.0 + 4.0 * eta * eta)) / 2.0
        gammas.append((eta - 1.0) / eta_next)
        eta = eta_next
    return gammas


def paper_momentum(n_iter: int) -> list[float]:
    """γ(t) of the paper's eq. 10 as printed: η(0) = 0, η(t+1) = (1 + √(1 + 4η(t)))/2, γ(t) = (η(t) − 1)/η(t+1)."""
    gammas, eta = [], 0.0
    for _ in range(n_iter):
        eta_next = (1.0 + math.sqrt(1.0 + 4.0 * eta)) / 2.0
        gammas.append((eta - 1.0) / eta_next)
        eta = eta_next
    return gammas


def largest_eigenvalue(gram: torch.Tensor, squarings: int = 6) -> torch.Tensor:
    """λ_max of a symmetric PSD (K, K) matrix without a host sync (``linalg.matrix_norm(ord=2)`` syncs on CUDA to check
    its SVD): repeated squaring of the matrix scaled by its trace, then the Rayleigh quotient of its largest column.
    Relative error ≤ (λ₂/λ₁)^(2^squarings); a 0-d tensor on the matrix's device."""
    b = gram / gram.diagonal().sum().clamp(min=torch.finfo(gram.dtype).tiny)
    for _ in range(squarings):
        b = b @ b
        b = b / b.diagonal().sum().clamp(min=torch.finfo(gram.dtype).tiny)
    # b ≈ u uᵀ: its column of largest norm is the top eigenvector u, scaled (a device-side index, no sync)
    v = b.index_select(1, b.diagonal().argmax().reshape(1)).squeeze(1)
    return (v @ gram @ v) / (v @ v).clamp(min=torch.finfo(gram.dtype).tiny)


class KNet(nn.Module):
    """Unrolled accelerated projected gradient for eq. 7; ``forward(z) -> s`` (B, K).

    ``centers`` (K, d) initialise M (a parameter, columns are centres). See the module's docstring for
    ``tied``, ``alpha``, ``scale``, ``momentum`` and ``output``.
    """

    def __init__(self, centers: torch.Tensor, n_iter: int = 20, alpha: float | str = "auto", lam: float = 0.5, *,
                 tied: bool = True, scale: str = "none", momentum: str = "fista", output: str = "projected"):
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
        for name, value, allowed in (("scale", scale, SCALES), ("momentum", momentum, MOMENTA),
                                     ("output", output, OUTPUTS)):
            if value not in allowed:
                raise ValueError(f"{name} must be one of {', '.join(allowed)}, got {value!r}")
        self.M = nn.Parameter(centers.T.clone())  # (d, K): centres as columns
        self.n_iter, self.alpha, self.lam = int(n_iter), alpha, float(lam)
        self.tied, self.scale, self.momentum, self.output = bool(tied), scale, momentum, output
        gammas = fista_momentum(self.n_iter) if momentum == "fista" else paper_momentum(self.n_iter)
        self.register_buffer("gammas", torch.tensor(gammas, dtype=torch.float32), persistent=False)
        k = centers.shape[0]
        self.register_buffer("eye", torch.eye(k), persistent=False)
        # σ of z in eval (scale "unit"): set from the data by set_sigma; 1 leaves z as it is
        self.register_buffer("sigma", torch.ones(()))
        # the rows σ is taken over in training: those given, or (under DDP, set by the training loop) the whole
        # global batch gathered differentiably, so that each rank scales as one process would
        self.batch_rows = None
        if not self.tied:  # the literal reading: M initialises W1, W2 and Q's centres, which then train on their own
            with torch.no_grad():
                m = self.M.detach()
                a = self._step_size(m)
                self.W1 = nn.Parameter((1.0 - a + a * self.lam) * torch.eye(k) - 2.0 * a * (m.T @ m))
                self.W2 = nn.Parameter(2.0 * a * m.T.clone())
                self.Q = nn.Parameter(m.clone())
                self.register_buffer("alpha_init", a.clone())

    @property
    def n_clusters(self) -> int:
        return self.M.shape[1]

    @property
    def centers(self) -> torch.Tensor:
        """(K, d) centres as rows, the scikit-learn layout."""
        return self.M.T

    # ---- scale -------------------------------------------------------------------------------------

    @staticmethod
    def spread(z: torch.Tensor) -> torch.Tensor:
        """σ = √(mean_j ‖z_j − z̄‖²), the root of z's total variance (0-d, differentiable)."""
        return (z - z.mean(dim=0, keepdim=True)).pow(2).sum(dim=1).mean().clamp(min=1e-12).sqrt()

    @torch.no_grad()
    def set_sigma(self, z: torch.Tensor) -> None:
        """The eval scale from z of the whole data (a no-op for ``scale: none``)."""
        if self.scale == "unit":
            self.sigma.copy_(self.spread(z.float()).to(self.sigma.dtype))

    def _sigma(self, z: torch.Tensor) -> torch.Tensor | None:
        if self.scale == "none":
            return None
        if self.training:  # every rank gathers, even one whose shard of the last batch is a single row
            rows = z if self.batch_rows is None else self.batch_rows(z)
            if rows.shape[0] > 1:
                return self.spread(rows)
        return self.sigma

    def normalised(self, z: torch.Tensor, M: torch.Tensor | None = None, rows: torch.Tensor | None = None
                   ) -> tuple[torch.Tensor, torch.Tensor]:
        """(z, M) in the units KNet solves eq. 7 in: divided by σ for ``scale: unit``, as they are for ``none``.
        ``rows``: these rows (a view's z) in place of z, in the units of ``z``; σ is still ``z``'s, computed once
        (in training under DDP, its gather is one collective)."""
        M = self.M if M is None else M
        rows = z if rows is None else rows
        sigma = self._sigma(z)
        return (rows, M) if sigma is None else (rows / sigma, M / sigma)

    # ---- the step size -----------------------------------------------------------------------------

    def _step_size(self, M: torch.Tensor) -> torch.Tensor:
        """α as a 0-d tensor on M's device (no host sync): the fixed α, or 1/L of the centred ``M``."""
        if self.alpha != "auto":
            return torch.tensor(float(self.alpha), device=M.device, dtype=M.dtype)
        with torch.no_grad():
            mc = M - M.mean(dim=1, keepdim=True)
            lipschitz = 2.0 * largest_eigenvalue(mc.T @ mc) + (1.0 - self.lam)
        return 1.0 / lipschitz

    def step_size(self) -> float:
        """α for the centres as they are now (eval scale); a float, for reports and tests."""
        if not self.tied:
            return float(self.alpha_init)
        return float(self._step_size(self.M.detach() / (self.sigma if self.scale == "unit" else 1.0)))

    # ---- forward -----------------------------------------------------------------------------------

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if z.ndim != 2 or z.shape[1] != self.M.shape[0]:
            raise ValueError(f"KNet expects features of shape (B, {self.M.shape[0]}), got {tuple(z.shape)}")
        lam = self.lam
        if self.tied:
            z, M = self.normalised(z)
            a = self._step_size(M)
            w1 = (1.0 - a + a * lam) * self.eye - 2.0 * a * (M.T @ M)  # (K, K), symmetric
            # W2 z − αλ Q(z), fixed across iterations: (B, K)
            drive = 2.0 * a * (z @ M) - a * lam * squared_distances(z, M)
        else:
            z, Q = self.normalised(z, self.Q)
            a = self.alpha_init
            w1 = self.W1
            drive = z @ self.W2.T - a * lam * squared_distances(z, Q)
        s_tilde = z.new_zeros(z.shape[0], self.n_clusters)
        s = s_tilde
        for t in range(self.n_iter):
            s_next = simplex_projection(s @ w1.T + drive)
            s = s_next + self.gammas[t] * (s_next - s_tilde)
            s_tilde = s_next
        return s_tilde if self.output == "projected" else s

    def objective(self, z: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        """Eq. 7 per sample, (B,), in KNet's units (z and M divided by σ for ``scale: unit``)."""
        z, M = self.normalised(z)
        return relaxed_kmeans_objective(z, s, M, self.lam)

    def loss(self, z: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        """L_k of eq. 13: the batch mean of :meth:`objective`."""
        return self.objective(z, s).mean()

    @torch.no_grad()
    def predict(self, z: torch.Tensor) -> torch.Tensor:
        return self.forward(z).argmax(dim=1)
