"""EmAEC's torch math — deep clustering with an embedded auto-encoder (Huang, Hu & Lin, Soft Computing 2021).

The smoothed reconstruction loss of pretraining (eq. 6 / 13, :func:`smoothed_reconstruction_loss`),
the self-paced threshold and weights (eqs. 11, 15), the weighted cluster loss (eq. 16) and the random
rotation + translation used as augmentation (:func:`random_affine`). The fit loop, and the choice of
augmentation, are :mod:`deep_kmeans.methods.emaec`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

__all__ = ["random_affine", "self_paced_threshold", "self_paced_weights", "smoothed_reconstruction_loss",
           "weighted_cluster_loss"]


def smoothed_reconstruction_loss(x: torch.Tensor, x_rec: torch.Tensor, z: torch.Tensor,
                                 eps: float = 0.001) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """EmAEC eq. 6 / 13: ``MSE(x, x̂) + ε mean_i ‖z_i‖²`` → (loss, rec, smooth)."""
    rec = F.mse_loss(x_rec, x)
    smooth = z.pow(2).sum(dim=1).mean()
    return rec + eps * smooth, rec, smooth


def self_paced_threshold(losses: torch.Tensor, t: int, total: int) -> torch.Tensor:
    """EmAEC eq. 11: ``λ = median(L^t) + (t/T)·mean(L^t)``."""
    if total < 1:
        raise ValueError(f"the number of rounds T must be ≥ 1, got {total}")
    return torch.quantile(losses, 0.5) + (t / total) * losses.mean()  # the interpolated median


def self_paced_weights(losses: torch.Tensor, threshold: torch.Tensor | float) -> torch.Tensor:
    """EmAEC eq. 15: ``γ_i = 1`` where ``L_i < λ``, else 0 (float tensor)."""
    return (losses < threshold).to(losses.dtype)


def weighted_cluster_loss(z: torch.Tensor, assigned_centers: torch.Tensor,
                          weights: torch.Tensor | None = None) -> torch.Tensor:
    """EmAEC eq. 16: ``mean_i γ_i ‖z_i − M s_i‖²`` (γ = 1 when ``weights`` is None)."""
    d = (z - assigned_centers).pow(2).sum(dim=1)
    return d.mean() if weights is None else (weights * d).mean()


def random_affine(images: torch.Tensor, generator: torch.Generator, max_rotation: float = 10.0,
                  max_shift: float = 0.1) -> torch.Tensor:
    """Random rotation in ±``max_rotation`` degrees and translation up to ``max_shift`` of the side, per image.

    ``images`` (B, C, S, S); bilinear resampling, zeros outside. Random numbers come from the CPU
    ``generator`` so that runs are reproducible on any device.
    """
    b = images.shape[0]
    angle = (torch.rand(b, generator=generator) * 2 - 1) * math.radians(max_rotation)
    shift = (torch.rand(b, 2, generator=generator) * 2 - 1) * (2 * max_shift)  # grid coords span 2
    cos, sin = torch.cos(angle), torch.sin(angle)
    theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1)
    theta = theta.to(device=images.device, dtype=images.dtype)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
