"""What every clustering method's training function returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class ClusteringResult:
    """The outcome of fitting one clustering method on one data set.

    ``labels``: (N,) int64 cluster of every sample; ``embedding``: (N, d) float32 learned features
    (None for methods without one, such as K-means on raw input); ``history``: per-epoch values of each
    loss term, ``{"loss": [...], "l_rec": [...]}``; ``model``: a picklable object to keep (a
    ``state_dict`` or the module itself); ``train_seconds``: wall time of the fit.
    """

    labels: np.ndarray
    embedding: np.ndarray | None = None
    history: dict[str, list[float]] = field(default_factory=dict)
    model: Any = None
    train_seconds: float = 0.0
    centers: np.ndarray | None = None
