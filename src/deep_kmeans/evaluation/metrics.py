"""Clustering metrics: ACC with the Hungarian map (TAKE eq. 16), NMI (eq. 17) and ARI.

NMI has two normalisations in use. scikit-learn's default divides the mutual information by the
arithmetic mean of the two entropies (``nmi``); the TAKE paper divides by their maximum
(``nmi_max``), which is never larger. Both are reported; figures say which one they are.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score


def _check_labels(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    if y_true.ndim != 1 or y_pred.ndim != 1:
        raise ValueError(f"labels must be 1-D, got shapes {y_true.shape} and {y_pred.shape}")
    if len(y_true) != len(y_pred):
        raise ValueError(f"y_true has {len(y_true)} labels but y_pred has {len(y_pred)}")
    if len(y_true) == 0:
        raise ValueError("cannot score an empty labelling")
    return y_true, y_pred


def contingency(y_true, y_pred) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Counts ``C[i, j]`` of points with cluster ``clusters[i]`` and class ``classes[j]``."""
    y_true, y_pred = _check_labels(y_true, y_pred)
    classes, t = np.unique(y_true, return_inverse=True)
    clusters, p = np.unique(y_pred, return_inverse=True)
    counts = np.zeros((len(clusters), len(classes)), dtype=np.int64)
    np.add.at(counts, (p, t), 1)
    return counts, clusters, classes


def hungarian_map(y_true, y_pred) -> dict:
    """The cluster → class map that maximises the number of matched points."""
    counts, clusters, classes = contingency(y_true, y_pred)
    rows, cols = linear_sum_assignment(-counts)
    return {clusters[r].item(): classes[c].item() for r, c in zip(rows, cols)}


def cluster_accuracy(y_true, y_pred) -> float:
    """ACC: the fraction of points whose cluster maps to their class under the best one-to-one map."""
    counts, _, _ = contingency(y_true, y_pred)
    rows, cols = linear_sum_assignment(-counts)
    return float(counts[rows, cols].sum() / counts.sum())


def nmi_max(y_true, y_pred) -> float:
    """NMI normalised by max{H(l), H(c)}, the TAKE paper's eq. 17."""
    y_true, y_pred = _check_labels(y_true, y_pred)
    return float(normalized_mutual_info_score(y_true, y_pred, average_method="max"))


def clustering_scores(y_true, y_pred) -> dict[str, float]:
    """ACC, NMI (arithmetic normalisation, scikit-learn's default), NMI (max, the paper's) and ARI."""
    y_true, y_pred = _check_labels(y_true, y_pred)
    return {
        "acc": cluster_accuracy(y_true, y_pred),
        "nmi": float(normalized_mutual_info_score(y_true, y_pred)),
        "nmi_max": nmi_max(y_true, y_pred),
        "ari": float(adjusted_rand_score(y_true, y_pred)),
    }


INTERNAL_SCORES = ("silhouette", "calinski_harabasz", "davies_bouldin")


def internal_scores(x, labels, seed: int = 0, sample_size: int = 5000) -> dict[str, float | None]:
    """Scores that need no ground truth, for data without labels: the silhouette (−1..1, higher is better;
    on a seeded sample of ``sample_size`` rows, as it is quadratic in N), Calinski-Harabasz (higher is
    better) and Davies-Bouldin (lower is better). None where undefined (fewer than 2 clusters found)."""
    from sklearn.metrics import calinski_harabasz_score, davies_bouldin_score, silhouette_score

    x = np.asarray(x, dtype=np.float64)
    labels = np.asarray(labels)
    if len(x) != len(labels):
        raise ValueError(f"{len(x)} rows but {len(labels)} labels")
    k = len(np.unique(labels))
    if k < 2 or k >= len(x):
        return dict.fromkeys(INTERNAL_SCORES)
    n = min(len(x), sample_size)
    return {
        "silhouette": float(silhouette_score(x, labels, sample_size=n if n < len(x) else None, random_state=seed)),
        "calinski_harabasz": float(calinski_harabasz_score(x, labels)),
        "davies_bouldin": float(davies_bouldin_score(x, labels)),
    }
