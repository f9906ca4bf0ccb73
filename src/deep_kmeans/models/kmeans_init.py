"""The one K-means initialisation every deep method in the project starts from."""

from __future__ import annotations

import numpy as np
from sklearn.cluster import KMeans


def check_n_clusters(n_clusters: int, n_samples: int) -> None:
    """Clear errors for K < 2 and K larger than the data, before any long work starts."""
    if not isinstance(n_clusters, (int, np.integer)) or isinstance(n_clusters, bool):
        raise ValueError(f"n_clusters must be an integer, got {n_clusters!r}")
    if n_clusters < 2:
        raise ValueError(f"n_clusters must be at least 2, got {n_clusters}")
    if n_clusters > n_samples:
        raise ValueError(
            f"n_clusters={n_clusters} is larger than the number of samples ({n_samples}): "
            "use fewer clusters or more data"
        )


def kmeans_init(z: np.ndarray, n_clusters: int, seed: int = 0, n_init: int | str = "auto"):
    """scikit-learn K-means (its defaults, as the TAKE paper says) on features ``z``.

    Returns ``(centers (K, d) float32, labels (N,) int64, inertia)``.
    """
    z = np.asarray(z, dtype=np.float64)
    if z.ndim != 2:
        raise ValueError(f"features must be a 2-D array (samples × dims), got shape {z.shape}")
    if not np.isfinite(z).all():
        raise ValueError("features contain NaN or infinite values; the encoder has diverged or the input is bad")
    check_n_clusters(n_clusters, len(z))
    km = KMeans(n_clusters=n_clusters, random_state=seed, n_init=n_init).fit(z)
    return km.cluster_centers_.astype(np.float32), km.labels_.astype(np.int64), float(km.inertia_)
