"""IDEC — Improved Deep Embedded Clustering with local structure preservation (Guo et al., IJCAI 2017).

DEC with the decoder kept: ``L = L_r + γ L_c`` (:func:`deep_kmeans.models.dec.idec_loss`), ``L_r`` the
reconstruction MSE and ``L_c`` DEC's ``KL(P ‖ Q)`` (:func:`deep_kmeans.models.dec.kl_divergence`),
γ = 0.1. Encoder, decoder and centres are trained together; the target P is refreshed every
``update_interval`` mini-batches; stop when fewer than ``tol`` (0.1 %) of the labels change. Same
pretraining and loop as DEC (:func:`deep_kmeans.methods.dec.fit_dec_family`), same prediction
(:func:`deep_kmeans.methods.dec.predict_dec`).

Choices: ``L_r`` is the MSE averaged over elements and ``L_c`` the KL summed over clusters and
averaged over the batch, as in the authors' Keras code (``loss=['kld', 'mse']``,
``loss_weights=[γ, 1]``), which is the scale γ = 0.1 was tuned for; clustering uses Adam, lr 0.001
(the paper's setting for MNIST/USPS; it uses SGD lr 0.1 momentum 0.99 for REUTERS — set
``optimizer``/``lr``/``momentum`` for that).
"""

from __future__ import annotations

import numpy as np

from deep_kmeans.data.registry import Geometry
from deep_kmeans.methods.dec import fit_dec_family, predict_dec, read_dec_params
from deep_kmeans.methods.kit import ClusterEstimator, ClusteringResult, ParamReader

__all__ = ["IDEC", "fit_idec", "predict_idec"]


def read_params(p: ParamReader, geometry: Geometry, n_clusters: int) -> dict:
    """IDEC's parameters, checked: DEC's with Adam lr 1e-3 and the weight ``gamma`` of the clustering loss."""
    return read_dec_params(p, geometry, optimizer="adam", lr=0.001, gamma=0.1)


def fit_idec(x: np.ndarray, n_clusters: int, geometry: Geometry, params: dict, seed: int = 0, device: str = "auto",
             views: np.ndarray | None = None, progress: bool = True) -> ClusteringResult:
    """IDEC on ``x`` (see the module docstring). ``views`` is unused."""
    return fit_dec_family("idec", x, n_clusters, geometry, params, seed, device, progress,
                          reconstruction=True, read=read_params)


def predict_idec(model: dict, x: np.ndarray, device: str = "auto") -> np.ndarray:
    """IDEC's cluster of each row of ``x``: DEC's rule (:func:`~deep_kmeans.methods.dec.predict_dec`)."""
    return predict_dec(model, x, device)


class IDEC(ClusterEstimator):
    """IDEC as a scikit-learn estimator (``params`` as in ``conf/base/parameters_idec.yml``)."""

    # cpu: conf/base/parameters_idec.yml's `overrides.custom` (tests/methods/test_estimators.py keeps them equal)
    PRESETS = {"cpu": {"pretrain_epochs": 50, "update_interval": 40, "max_iter": 400}, "paper": {}}
    _fit = staticmethod(fit_idec)
    _predict = staticmethod(predict_idec)
