#!/usr/bin/env python
"""Label-free partitions of a cached pretrained z, scored against the labels: how much cluster structure z holds
for any head, before the joint phase.

    .venv/bin/python benchmarks/joint_phase.py pretrain --datasets reuters21578 --seeds 0 1 2
    .venv/bin/python benchmarks/z_partitions.py --dataset reuters21578 --seeds 0 1 2

Encodes the rows with the cached pretrained TAE (``benchmarks/cache``, written by ``joint_phase.py pretrain``) and
fits K-means (10 starts; what TAKE's ``init`` is), spherical K-means, K-means on standardised z, Gaussian mixtures
(full and diagonal covariance; full started from K-means' centres) and Ward's agglomerative clustering, each with
the seed. ``--umap-neighbors 15 30 50`` adds TAKE's UMAP + GMM start (``knet_init: umap_gmm``: UMAP of z to K
dimensions, min_dist 0, then a full GMM) with each n_neighbors; ``--methods`` keeps only the named partitions
(Ward holds an n × n matrix: leave it out on MNIST-70k). Prints ACC per method and seed, and writes
``benchmarks/results/z_partitions-<date>-<dataset>[-<tag>].json``.

    .venv/bin/python benchmarks/z_partitions.py --dataset mnist --seeds 0 1 2 --methods kmeans \
        --umap-neighbors 15 30 50 --tag umap
"""

from __future__ import annotations

import argparse
import functools
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402

import numpy as np  # noqa: E402


def partitions(z: np.ndarray, k: int, seed: int, methods: list[str] | None = None) -> dict[str, np.ndarray]:
    from sklearn.cluster import AgglomerativeClustering, KMeans
    from sklearn.mixture import GaussianMixture
    from sklearn.preprocessing import normalize

    @functools.cache  # one fit for both partitions that use it
    def fitted_kmeans():
        return KMeans(k, n_init=10, random_state=seed).fit(z)

    fits = {
        "kmeans": lambda: fitted_kmeans().labels_,
        "spherical_kmeans": lambda: KMeans(k, n_init=10, random_state=seed).fit_predict(normalize(z)),
        "kmeans_standardised": lambda: KMeans(k, n_init=10, random_state=seed).fit_predict((z - z.mean(0)) / z.std(0)),
        "gmm_full": lambda: GaussianMixture(k, covariance_type="full", n_init=3, random_state=seed).fit_predict(z),
        "gmm_diag": lambda: GaussianMixture(k, covariance_type="diag", n_init=3, random_state=seed).fit_predict(z),
        "gmm_full_from_kmeans": lambda: GaussianMixture(k, covariance_type="full",
                                                        means_init=fitted_kmeans().cluster_centers_,
                                                        random_state=seed).fit_predict(z),
        "ward": lambda: AgglomerativeClustering(k).fit_predict(z),
    }
    unknown = set(methods or []) - set(fits)
    if unknown:
        raise SystemExit(f"--methods: unknown {sorted(unknown)}; choose among {', '.join(fits)}")
    return {name: fit() for name, fit in fits.items() if methods is None or name in methods}


def umap_gmm_start(z: np.ndarray, cfg, k: int, seed: int, n_neighbors: int) -> np.ndarray:
    """TAKE's UMAP + GMM start on z (``knet_init: umap_gmm``, ``take.model.fit_head``), with this n_neighbors."""
    import dataclasses

    from deep_kmeans.methods.take.model import fit_head

    return fit_head(z, dataclasses.replace(cfg, umap_neighbors=n_neighbors), k, seed, progress=False)["labels"]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dataset", required=True)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--cache", default=str(C.REPO / "benchmarks" / "cache"))
    ap.add_argument("--methods", nargs="+", default=None, help="only these partitions (default: all)")
    ap.add_argument("--umap-neighbors", type=int, nargs="*", default=[],
                    help="also TAKE's UMAP + GMM start with each of these n_neighbors")
    ap.add_argument("--tag", default="", help="a suffix of the results file's name")
    args = ap.parse_args(argv)

    import torch

    from deep_kmeans.data.registry import Geometry
    from deep_kmeans.evaluation.metrics import cluster_accuracy
    from deep_kmeans.methods.take.config import TAKEConfig
    from deep_kmeans.methods.take.model import encode, load_tae

    report = {"provenance": C.provenance("cpu"), "dataset": args.dataset, "runs": []}
    for seed in args.seeds:
        blob = torch.load(Path(args.cache) / f"{args.dataset}-seed{seed}.pt", weights_only=False)
        cfg = TAKEConfig.from_params(blob["config"])
        z = encode(load_tae(blob["pretrained"], Geometry.from_dict(blob["geometry"]), cfg), blob["x"],
                   cfg.predict_batch_size, torch.device("cpu"))
        y = np.asarray(blob["y"])
        found = partitions(z, blob["n_clusters"], seed, args.methods)
        for n in args.umap_neighbors:
            found[f"umap_gmm_n{n}"] = umap_gmm_start(z, cfg, blob["n_clusters"], seed, n)
        acc = {name: float(cluster_accuracy(y, labels)) for name, labels in found.items()}
        report["runs"].append({"seed": seed, "majority_share": float(np.bincount(y).max() / len(y)), "acc": acc})
        print(f"[{args.dataset}] seed {seed}: " + ", ".join(f"{k} {v:.4f}" for k, v in acc.items()), flush=True)
    tag = f"-{args.tag}" if args.tag else ""
    out = C.REPO / "benchmarks" / "results" / f"z_partitions-{C.today()}-{args.dataset}{tag}.json"
    C.write_json(out, report)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
