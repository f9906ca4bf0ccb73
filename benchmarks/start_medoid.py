#!/usr/bin/env python
"""A label-free choice of KNet's start among four partitions: K-means and N2D's head (UMAP + GMM), each on z and
on the input rows; the medoid is the one with the highest mean adjusted Rand index to the other three.

    .venv/bin/python benchmarks/start_medoid.py digits cifar10:noviews custom:iris --seeds 0 1 2

Reads the cached pretrainings of ``joint_phase.py pretrain`` (``DATASET[:TAG]``, as ``--tag`` named them), builds
the four partitions as TAKE's start does (``kmeans_initialise``, ``fit_head`` with ``take.umap_neighbors``), and
prints each one's ACC (labels: for the report only) and mean ARI, and the medoid's ACC. docs/take_joint_phase.md,
"A start from the input", gives what it measured.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402,F401  (puts src/ on the path)
import joint_phase as J  # noqa: E402

import numpy as np  # noqa: E402


def candidates(blob: dict, seed: int) -> dict[str, np.ndarray]:
    from sklearn.cluster import KMeans

    from deep_kmeans.data.registry import Geometry
    from deep_kmeans.methods import take as T

    cfg = T.TAKEConfig.from_params(blob["config"])
    x, k = blob["x"], blob["n_clusters"]
    # K-means on z alone: the head on z is fitted below, once
    init = T.kmeans_initialise(x, blob["pretrained"], Geometry.from_dict(blob["geometry"]),
                               T.dataclasses.replace(cfg, knet_init="kmeans"), k, seed=seed, device="cpu")
    flat = np.asarray(x, np.float32).reshape(len(x), -1)
    return {"kmeans_z": init["labels"], "head_z": T.fit_head(init["z"], cfg, k, seed, False)["labels"],
            "kmeans_input": KMeans(k, n_init=10, random_state=seed).fit_predict(flat),
            "head_input": T.fit_head(flat, cfg, k, seed, False)["labels"]}


def medoid(parts: dict[str, np.ndarray]) -> tuple[str, dict[str, float]]:
    """The partition with the highest mean ARI to the others, and every partition's mean ARI."""
    from sklearn.metrics import adjusted_rand_score

    names = list(parts)
    mean = {a: float(np.mean([adjusted_rand_score(parts[a], parts[b]) for b in names if b != a])) for a in names}
    return max(mean, key=mean.get), mean


def main(argv=None) -> None:
    import torch

    from deep_kmeans.evaluation.metrics import clustering_scores

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("datasets", nargs="+", help="DATASET[:TAG] of the cached pretrainings")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--cache", default=str(C.REPO / "benchmarks" / "cache"))
    args = ap.parse_args(argv)
    for spec in args.datasets:
        name, _, tag = spec.partition(":")
        picked = []
        for seed in args.seeds:
            blob = torch.load(J.cache_path(Path(args.cache), name, seed, tag), weights_only=False)
            parts = candidates(blob, seed)
            pick, mean = medoid(parts)
            acc = {a: clustering_scores(blob["y"], labels)["acc"] for a, labels in parts.items()}
            picked.append(acc[pick])
            print(f"[{spec}] seed {seed}: " + " ".join(f"{a} {acc[a]:.4f} (ARI {mean[a]:.2f})" for a in parts)
                  + f" → {pick} {acc[pick]:.4f}", flush=True)
        print(f"[{spec}] the medoid's mean ACC over seeds {args.seeds}: {np.mean(picked):.4f}")


if __name__ == "__main__":
    main()
