"""IDEC — Improved Deep Embedded Clustering with local structure preservation (Guo et al., IJCAI 2017).

DEC with the decoder kept: ``L = L_r + γ L_c``, ``L_r`` the reconstruction MSE and ``L_c`` DEC's
``KL(P ‖ Q)`` (:func:`deep_kmeans.models.dec.kl_divergence`), γ = 0.1. Encoder, decoder and centres
are trained together; the target P is refreshed every ``update_interval`` mini-batches; stop when
fewer than ``tol`` (0.1 %) of the labels change. Same pretraining and loop as DEC
(:func:`deep_kmeans.models.dec.fit_dec_family`).

Choices: ``L_r`` is the MSE averaged over elements and ``L_c`` the KL summed over clusters and
averaged over the batch, as in the authors' Keras code (``loss=['kld', 'mse']``,
``loss_weights=[γ, 1]``), which is the scale γ = 0.1 was tuned for; clustering uses Adam, lr 0.001
(the paper's setting for MNIST/USPS; it uses SGD lr 0.1 momentum 0.99 for REUTERS — set
``optimizer``/``lr``/``momentum`` for that).
"""

from __future__ import annotations

import numpy as np

from deep_kmeans.data.registry import Geometry
from deep_kmeans.models.dec import fit_dec_family, kl_divergence, soft_assign, target_distribution
from deep_kmeans.training.result import ClusteringResult

__all__ = ["fit_idec", "idec_loss", "kl_divergence", "soft_assign", "target_distribution"]


def idec_loss(rec, kl, gamma: float = 0.1):
    """IDEC eq. 7: ``L = L_r + γ L_c``."""
    if gamma < 0:
        raise ValueError(f"gamma must be ≥ 0, got {gamma}")
    return rec + gamma * kl


def fit_idec(x: np.ndarray, n_clusters: int, geometry: Geometry, params: dict, seed: int = 0, device: str = "auto",
             views: np.ndarray | None = None, progress: bool = True) -> ClusteringResult:
    """IDEC on ``x`` (see the module docstring). ``views`` is unused."""
    return fit_dec_family("idec", x, n_clusters, geometry, params, seed, device, progress,
                          reconstruction=True, optimizer="adam", lr=0.001)
