"""Figures people would rather look at than read: confusion matrix, 2-D embedding, loss curves."""

from __future__ import annotations

import os

import matplotlib

# Figures go to files and MLflow: no screen needed. A backend chosen through MPLBACKEND (a notebook's inline
# one, set by its kernel) is kept, or the notebooks' plots would vanish.
if not os.environ.get("MPLBACKEND"):
    matplotlib.use("Agg")
import numpy as np
from matplotlib.figure import Figure
from sklearn.manifold import TSNE

from deep_kmeans.evaluation.metrics import contingency, hungarian_map


def new_figure(nrows: int = 1, ncols: int = 1, figsize=None, squeeze: bool = True):
    """``plt.subplots`` without pyplot's registry: a sweep builds dozens of figures before the catalog saves
    them, and pyplot would keep every one open (and warn past 20). Saving and MLflow's log_figure work alike."""
    fig = Figure(figsize=figsize)
    return fig, fig.subplots(nrows, ncols, squeeze=squeeze)


def confusion_figure(y_true, y_pred, class_names=None, title="Confusion matrix"):
    """Counts of class (rows) × cluster (columns), clusters ordered by the Hungarian map."""
    counts, clusters, classes = contingency(y_true, y_pred)  # clusters × classes
    mapping = hungarian_map(y_true, y_pred)
    order_class = {c: i for i, c in enumerate(classes)}
    # Matched clusters first, in the order of their class; unmatched ones at the end.
    order = sorted(range(len(clusters)), key=lambda i: order_class.get(mapping.get(clusters[i].item()), len(classes)))
    m = counts[order].T  # classes × clusters
    size = max(4.0, 0.45 * max(m.shape) + 2)
    fig, ax = new_figure(figsize=(size, size * 0.85))
    im = ax.imshow(m, cmap="Blues")
    ax.set_xticks(range(m.shape[1]), [str(clusters[i]) for i in order], fontsize=8)
    names = [str(class_names[c]) if class_names is not None and c < len(class_names) else str(c) for c in classes]
    ax.set_yticks(range(m.shape[0]), names, fontsize=8)
    ax.set_xlabel("cluster (ordered by the Hungarian map)")
    ax.set_ylabel("true class")
    if m.shape[0] * m.shape[1] <= 400:
        for (i, j), v in np.ndenumerate(m):
            ax.text(j, i, str(v), ha="center", va="center", fontsize=7,
                    color="white" if v > m.max() / 2 else "black")
    fig.colorbar(im, ax=ax, fraction=0.046)
    ax.set_title(title)
    fig.tight_layout()
    return fig


def cluster_sizes_figure(y_pred, title="Cluster sizes (no ground-truth labels)"):
    """Bar chart of the number of samples per cluster: what stands in for the confusion matrix without labels."""
    clusters, counts = np.unique(np.asarray(y_pred), return_counts=True)
    fig, ax = new_figure(figsize=(max(4.0, 0.4 * len(clusters) + 2), 3.5))
    ax.bar([str(c) for c in clusters], counts, color="tab:blue")
    ax.set_xlabel("cluster")
    ax.set_ylabel("samples")
    ax.set_title(title)
    fig.tight_layout()
    return fig


#: t-SNE needs this many distinct points (fewer: their own coordinates, see :func:`embed_2d`).
TSNE_MIN_POINTS = 5


def embed_2d(z: np.ndarray, seed: int = 0, max_points: int = 3000) -> tuple[np.ndarray, np.ndarray]:
    """t-SNE of at most ``max_points`` rows of ``z`` (a seeded subsample); returns (coords, row indices).

    t-SNE runs on the distinct rows only (duplicates get their row's coordinates): scikit-learn's Barnes-Hut
    t-SNE of identical points divides by a zero spread and crashes the process (a segfault, not an exception).
    Fewer than :data:`TSNE_MIN_POINTS` distinct points, or points that do not spread, are drawn at their first
    two principal coordinates (all at the origin when they are one point); non-finite rows at the origin."""
    z = np.asarray(z, dtype=np.float64).reshape(len(z), -1)
    rng = np.random.default_rng(seed)
    idx = np.sort(rng.choice(len(z), size=min(len(z), max_points), replace=False))
    sub = np.where(np.isfinite(z[idx]), z[idx], 0.0)
    unique, inverse = np.unique(sub, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    centred = unique - unique.mean(axis=0)
    spread = float(np.sqrt((centred ** 2).sum(axis=1).mean())) if len(unique) else 0.0
    if spread <= 1e-9 * (1.0 + float(np.abs(unique).max(initial=0.0))):
        coords = np.zeros((len(unique), 2))  # one point (or points closer than rounding): nothing to lay out
    elif len(unique) < TSNE_MIN_POINTS or unique.shape[1] <= 2:
        coords = principal_coordinates(centred)
    else:
        perplexity = float(min(30.0, max(2.0, (len(unique) - 1) / 3)))
        coords = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(
            (centred / spread).astype(np.float32))
    return np.asarray(coords, dtype=np.float64)[inverse], idx


def principal_coordinates(centred: np.ndarray) -> np.ndarray:
    """The first two principal coordinates of centred rows (zero-padded below two dimensions)."""
    u, s, _ = np.linalg.svd(centred, full_matrices=False)
    coords = u[:, :2] * s[:2]
    return np.pad(coords, ((0, 0), (0, 2 - coords.shape[1])))


def embedding_figure(z, y_true, y_pred, seed: int = 0, title: str = "t-SNE of the learned features"):
    """Side by side: the 2-D embedding coloured by true label and by cluster (by cluster only without labels)."""
    coords, idx = embed_2d(z, seed=seed)
    distinct = len(np.unique(np.round(coords, 12), axis=0))
    panels = [(np.asarray(y_pred)[idx], "cluster")]
    if y_true is not None:
        panels.insert(0, (np.asarray(y_true)[idx], "true label"))
    fig, axes = new_figure(1, len(panels), figsize=(5.5 * len(panels), 5), squeeze=False)
    for ax, (labels, name) in zip(axes[0], panels):
        ax.scatter(coords[:, 0], coords[:, 1], c=labels, cmap="tab20", s=4, linewidths=0)
        ax.set_title(f"coloured by {name}")
        ax.set_xticks([])
        ax.set_yticks([])
    where = f"{len(idx)} points" + (f", {distinct} distinct positions" if distinct < len(idx) else "")
    fig.suptitle(f"{title} ({where})")
    fig.tight_layout()
    return fig


def history_figure(history: dict[str, list[float]], title: str = "Training losses"):
    """One panel per training phase (key prefix before '/'), one line per loss term, log scale."""
    phases: dict[str, dict[str, list[float]]] = {}
    for key, values in history.items():
        phase, _, term = key.rpartition("/")
        phases.setdefault(phase or "train", {})[term] = values
    n = max(1, len(phases))
    fig, axes = new_figure(1, n, figsize=(5 * n, 3.8), squeeze=False)
    for ax, (phase, terms) in zip(axes[0], phases.items()):
        for term, values in terms.items():
            v = np.array([np.nan if u is None else u for u in values], dtype=float)  # None: term off
            if len(v) and np.all(v[np.isfinite(v)] > 0):
                ax.semilogy(np.arange(1, len(v) + 1), v, label=term)
            else:
                ax.plot(np.arange(1, len(v) + 1), v, label=term)
        ax.set_xlabel("epoch")
        ax.set_title(phase)
        ax.legend(fontsize=8)
    if not phases:
        axes[0][0].text(0.5, 0.5, "no losses recorded", ha="center", va="center")
    fig.suptitle(title)
    fig.tight_layout()
    return fig
