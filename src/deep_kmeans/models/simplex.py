"""Euclidean projection onto the probability simplex, batched and differentiable."""

from __future__ import annotations

import torch


def simplex_projection(v: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """argmin_{s ≥ 0, Σs = 1} ‖s − v‖ along ``dim``, exactly (sort-based).

    The solution is ReLU(v − θ) with θ chosen so the result sums to one (Held et al. 1974; the
    ReLU(s + b(s)) form of Tankala et al.). Sort ``u`` descending, take the cumulative sums ``c``;
    ρ is the largest j with u_j − (c_j − 1)/j > 0 and θ = (c_ρ − 1)/ρ. Every step is a torch
    operation, so gradients flow to ``v`` (almost everywhere, like ReLU).
    """
    if v.shape[dim] == 0:
        raise ValueError("cannot project an empty vector onto the simplex")
    v = v.movedim(dim, -1)
    u, _ = torch.sort(v, dim=-1, descending=True)
    css = u.cumsum(dim=-1) - 1.0
    j = torch.arange(1, v.shape[-1] + 1, device=v.device, dtype=v.dtype)
    support = (u - css / j) > 0  # true for j = 1 … ρ, false after (a prefix)
    rho = support.sum(dim=-1, keepdim=True).clamp(min=1)  # (…, 1)
    theta = css.gather(-1, rho - 1) / rho.to(v.dtype)
    return torch.clamp(v - theta, min=0.0).movedim(-1, dim)
