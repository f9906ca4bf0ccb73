#!/usr/bin/env python
"""Which start should KNet take, K-means on z or UMAP + GMM on z, without labels? Candidate rules on real z.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/start_rule.py --inputs iris wine --seeds 0 1 2 3 4

For each input and seed: the pretraining of ``dataset=custom`` (``own_data.py``'s route and parameters), then on
its z: K-means (the project's ``kmeans_initialise``), UMAP + GMM with the run's seed and with ``--head-seeds``
more seeds, and per partition its ACC (labels: for the report only) and label-free statistics: the agreement
(ARI) between the head's runs, the head against K-means, the smallest cluster's share. One JSON line per
input and seed to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import own_data as O  # noqa: E402  (puts src/ on the path)

from deep_kmeans.data.custom import read_custom  # noqa: E402
from deep_kmeans.data.registry import Geometry  # noqa: E402
from deep_kmeans.evaluation.metrics import clustering_scores  # noqa: E402
from deep_kmeans.features.build import build_features  # noqa: E402
from deep_kmeans.methods.config import params_for  # noqa: E402


def one(name: str, seed: int, head_seeds: int, data_dir: Path) -> dict:
    from sklearn.metrics import adjusted_rand_score as ari

    from deep_kmeans.methods.take import TAKEConfig, sized_for_data
    from deep_kmeans.methods.take.joint import fit_head, kmeans_initialise
    from deep_kmeans.methods.take.pretrain import pretrain

    path, custom = O.write_input(name, data_dir, O.MNIST)
    features = build_features(read_custom(path, **custom), O.conf("features"), seed=seed)
    k = len(features["classes"])
    geometry = Geometry.from_dict(features["geometry"])
    cfg, _ = sized_for_data(TAKEConfig.from_params(params_for(O.conf("take"), "custom")), len(features["x"]),
                            geometry)
    start = time.perf_counter()
    pretrained, _ = pretrain(features["x"], features["views"], geometry, cfg, seed=seed, device="cpu",
                             progress=False)
    init = kmeans_initialise(features["x"], pretrained, geometry, cfg, k, seed=seed, device="cpu")
    y, z = features["y"], init["z"]
    heads = [init["start_labels"]] + [np.asarray(fit_head(z, cfg, k, seed + i, False)["labels"])
                                      for i in range(1, head_seeds + 1)]
    acc = lambda labels: clustering_scores(y, labels)["acc"]  # noqa: E731
    pairs = [ari(heads[i], heads[j]) for i in range(len(heads)) for j in range(i + 1, len(heads))]
    return {"input": name, "seed": seed, "rows": len(z), "k": k,
            "kmeans_acc": acc(init["labels"]), "head_accs": [acc(h) for h in heads],
            "head_stability": float(np.mean(pairs)), "head_pairs": pairs,
            "head_vs_kmeans": float(ari(heads[0], init["labels"])),
            "head_min_share": float(np.bincount(heads[0], minlength=k).min() / len(z)),
            "kmeans_min_share": float(np.bincount(init["labels"], minlength=k).min() / len(z)),
            "seconds": round(time.perf_counter() - start, 1)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--inputs", nargs="+", default=["iris", "wine", "breast_cancer", "penguins", "digits_csv"])
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--head-seeds", type=int, default=2)
    ap.add_argument("--data-dir", type=Path, default=O.REPO / "data" / "01_raw" / "custom" / "own_data")
    ap.add_argument("--out", type=Path, default=O.REPO / "benchmarks" / "results" / "start_rule.jsonl")
    args = ap.parse_args()
    for name in args.inputs:
        for seed in args.seeds:
            row = one(name, seed, args.head_seeds, args.data_dir)
            with args.out.open("a") as f:
                f.write(json.dumps(row) + "\n")
            print(json.dumps({k: (round(v, 3) if isinstance(v, float) else v) for k, v in row.items()
                              if k != "head_pairs"}), flush=True)


if __name__ == "__main__":
    main()
