#!/usr/bin/env python
"""Is there a better start in z than K-means' own? Many single K-means starts on the pretrained z, ranked by their
inertia (what ``kmeans_n_init`` picks by), beside K-means on the L2-normalised z (spherical) and Gaussian mixtures
with diagonal and full covariances.

    .venv/bin/python benchmarks/start_landscape.py reuters21578 agnews:wordnet --seeds 0 1 2

Reads the cached pretrainings of ``joint_phase.py pretrain`` (``DATASET[:TAG]``, as ``--tag`` named them) and prints,
per seed, the ACC (labels: for the report only) of the lowest-inertia start, of the next four, the best ACC any
start reached and its inertia rank, and the ACC of the other partitions. docs/take_joint_phase.md, "Where
self-labelling stays off", gives what it measured.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402,F401  (puts src/ on the path)
import joint_phase as J  # noqa: E402

import numpy as np  # noqa: E402


def landscape(z: np.ndarray, y: np.ndarray, k: int, seed: int, starts: int) -> dict:
    """ACC of ``starts`` single K-means runs on ``z`` sorted by inertia (lowest first), and of the other
    partitions."""
    from sklearn.cluster import KMeans
    from sklearn.mixture import GaussianMixture

    from deep_kmeans.evaluation.metrics import clustering_scores

    def acc(labels):
        return clustering_scores(y, labels)["acc"]

    runs = sorted((km.inertia_, acc(km.labels_)) for s in range(starts)
                  for km in [KMeans(k, n_init=1, random_state=1000 * seed + s).fit(z)])
    unit = z / np.linalg.norm(z, axis=1, keepdims=True)
    return {"by_inertia": [a for _, a in runs],
            "spherical": acc(KMeans(k, n_init=10, random_state=seed).fit_predict(unit)),
            **{f"gmm_{cov}": acc(GaussianMixture(k, covariance_type=cov, n_init=3, reg_covar=1e-4,
                                                 random_state=seed).fit(z).predict(z)) for cov in ("diag", "full")}}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("datasets", nargs="+", help="DATASET[:TAG] of the cached pretrainings")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--starts", type=int, default=40, help="single K-means runs per seed")
    ap.add_argument("--cache", default=str(C.REPO / "benchmarks" / "cache"))
    args = ap.parse_args(argv)
    for spec in args.datasets:
        for seed in args.seeds:
            blob, z = J.cached_z(args.cache, spec, seed)
            got = landscape(z, blob["y"], blob["n_clusters"], seed, args.starts)
            ranked = got["by_inertia"]
            best = int(np.argmax(ranked))
            print(f"[{spec}] seed {seed}: lowest inertia {ranked[0]:.4f}, next "
                  f"{' '.join(f'{a:.4f}' for a in ranked[1:5])}; best of {args.starts} {ranked[best]:.4f} "
                  f"(inertia rank {best + 1}); spherical {got['spherical']:.4f}, GMM diag {got['gmm_diag']:.4f}, "
                  f"full {got['gmm_full']:.4f}", flush=True)


if __name__ == "__main__":
    main()
