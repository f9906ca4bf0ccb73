#!/usr/bin/env python
"""Would SCAN's neighbour consistency do better than the joint phase on frozen text features? A prototype head
(K centres, softmax of −‖f − m_k‖²/T on L2-normalised rows) started from K-means and trained on SCAN's loss: each
row and one of its 20 nearest neighbours should fall in the same cluster, minus ``--entropy`` × the entropy of the
mean assignment (SCAN's term against one cluster taking everything). Run on the input features and on the
pretrained z of each cached pretraining.

    .venv/bin/python benchmarks/neighbour_head.py agnews:wordnet reuters21578 --seeds 0 1 2

Reads ``joint_phase.py pretrain``'s cache (``DATASET[:TAG]``). The labels only score. docs/take_joint_phase.md,
"Where self-labelling stays off", gives what it measured.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402,F401  (puts src/ on the path)
import joint_phase as J  # noqa: E402

import numpy as np  # noqa: E402


def neighbour_head(f: np.ndarray, k: int, seed: int, entropy: float, neighbours: int = 20,
                   temperature: float = 0.1, epochs: int = 60) -> tuple[np.ndarray, np.ndarray]:
    """(K-means' labels, the trained head's labels) on the L2-normalised rows of ``f``."""
    import torch
    from sklearn.cluster import KMeans
    from sklearn.neighbors import NearestNeighbors

    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    f = f.reshape(len(f), -1).astype(np.float32)
    f = f / np.linalg.norm(f, axis=1, keepdims=True).clip(1e-12)
    near = torch.from_numpy(NearestNeighbors(n_neighbors=neighbours + 1).fit(f).kneighbors(
        f, return_distance=False)[:, 1:])  # (N, neighbours), itself left out
    km = KMeans(k, n_init=10, random_state=seed).fit(f)
    rows = torch.from_numpy(f)
    centres = torch.nn.Parameter(torch.tensor(km.cluster_centers_, dtype=torch.float32))
    opt = torch.optim.Adam([centres], lr=1e-2)

    def soft(i):
        return torch.softmax(-torch.cdist(rows[i], centres) ** 2 / temperature, 1)

    for _ in range(epochs):
        for batch in torch.randperm(len(f), generator=g).split(256):
            other = near[batch, torch.randint(neighbours, (len(batch),), generator=g)]
            p, q = soft(batch), soft(other)
            mean = p.mean(0)
            loss = (-torch.log((p * q).sum(1).clamp_min(1e-8)).mean()
                    + entropy * (mean * torch.log(mean.clamp_min(1e-8))).sum())
            opt.zero_grad()
            loss.backward()
            opt.step()
    with torch.no_grad():
        return km.labels_, torch.cdist(rows, centres).argmin(1).numpy()


def main(argv=None) -> None:
    from deep_kmeans.evaluation.metrics import clustering_scores

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("datasets", nargs="+", help="DATASET[:TAG] of the cached pretrainings")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--entropy", type=float, nargs="+", default=[1.0, 3.0], help="weights of the entropy term")
    ap.add_argument("--cache", default=str(C.REPO / "benchmarks" / "cache"))
    args = ap.parse_args(argv)
    for spec in args.datasets:
        for seed in args.seeds:
            blob, z = J.cached_z(args.cache, spec, seed)
            for where, f in (("input", blob["x"]), ("z", z)):
                for weight in args.entropy:
                    km, head = neighbour_head(f, blob["n_clusters"], seed, weight)
                    acc = [clustering_scores(blob["y"], labels)["acc"] for labels in (km, head)]
                    print(f"[{spec}] seed {seed} {where:>5s} entropy {weight}: K-means {acc[0]:.4f}, neighbour head "
                          f"{acc[1]:.4f}, cluster sizes {np.bincount(head, minlength=blob['n_clusters']).tolist()}",
                          flush=True)


if __name__ == "__main__":
    main()
