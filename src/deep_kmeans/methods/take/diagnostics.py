"""What the joint phase logs after every epoch, so that a run shows whether the head moved or the representation did.

Computed on z of all training rows (the TAE in eval mode), once per epoch:

- ``knet_acc`` / ``knet_nmi``: KNet's assignment against the labels, where the data has labels (read only to score:
  nothing the training does depends on them);
- ``kmeans_acc``: K-means on the current z (one k-means++ start, seeded), against the labels; ``kmeans_agreement``:
  the share of rows where KNet's assignment and that K-means agree, under the best matching of their clusters
  (label-free: how K-means-shaped KNet's partition is);
- ``nearest_agreement``: the share of rows whose KNet argmax is their nearest centre; ``start_agreement``: the share
  whose KNet argmax is their cluster at the start of the phase (the same cluster ids: KNet's k starts as the start's k);
- ``center_spread``: the root mean squared distance of the centres from their mean, and ``z_variance``: the total
  variance of z (mean ‖z − z̄‖²), both in z's own units; ``center_spread_ratio``: their ratio, scale-free;
- ``entropy``: the mean assignment entropy H(s)/log K (0: one-hot, 1: uniform).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from deep_kmeans.evaluation.metrics import clustering_scores
from deep_kmeans.models.clustering import nearest_center
from deep_kmeans.models.knet import KNet


@torch.no_grad()
def knet_assign(knet: KNet, z: torch.Tensor, batch_size: int = 4096) -> torch.Tensor:
    """KNet's soft assignment of every row of z, in eval mode, batch by batch: (N, K) on z's device."""
    was = knet.training
    knet.eval()
    out = torch.cat([knet(z[i:i + batch_size]) for i in range(0, len(z), batch_size)])
    knet.train(was)
    return out


def matched_agreement(a: np.ndarray, b: np.ndarray, k: int) -> float:
    """The share of rows on which two labellings agree under the best one-to-one matching of their clusters."""
    from scipy.optimize import linear_sum_assignment

    table = np.zeros((k, k), dtype=np.int64)
    np.add.at(table, (a, b), 1)
    rows, cols = linear_sum_assignment(-table)
    return float(table[rows, cols].sum() / max(len(a), 1))


@torch.no_grad()
def joint_diagnostics(z: torch.Tensor, knet: KNet, y: np.ndarray | None = None, seed: int = 0,
                      start: torch.Tensor | None = None) -> dict[str, float]:
    """The per-epoch diagnostics of the module docstring for z (N, d) of all rows and the current KNet."""
    from sklearn.cluster import KMeans

    k = knet.n_clusters
    s = knet_assign(knet, z)
    labels = s.argmax(dim=1)
    centers = knet.M.detach().T.to(z.dtype)  # (K, d)
    nearest = nearest_center(z, centers)
    plogp = torch.where(s > 0, s * torch.log(s.clamp(min=1e-30)), torch.zeros_like(s))
    entropy = (-plogp.sum(dim=1)).mean() / math.log(k)
    spread = (centers - centers.mean(dim=0)).pow(2).sum(dim=1).mean().sqrt()
    variance = (z - z.mean(dim=0)).pow(2).sum(dim=1).mean()
    # one transfer to the host per epoch: every value at once
    start = labels if start is None else start
    values = torch.stack([(labels == nearest).float().mean(), entropy, spread, variance,
                          (labels == start).float().mean()]).tolist()
    out = {"nearest_agreement": values[0], "entropy": values[1], "center_spread": values[2],
           "z_variance": values[3], "center_spread_ratio": values[2] / math.sqrt(max(values[3], 1e-30)),
           "start_agreement": values[4]}
    z_host, labels_host = z.cpu().double().numpy(), labels.cpu().numpy()
    kmeans = KMeans(k, n_init=1, random_state=seed).fit_predict(z_host)
    out["kmeans_agreement"] = matched_agreement(labels_host, kmeans, k)
    if y is not None:
        knet_scores = clustering_scores(y, labels_host)
        out.update(knet_acc=knet_scores["acc"], knet_nmi=knet_scores["nmi"],
                   kmeans_acc=clustering_scores(y, kmeans)["acc"])
    return out
