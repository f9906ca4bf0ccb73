"""One TAKE configuration on the full digits set, through the training functions (no Kedro, no MLflow).

    .venv/bin/python benchmarks/take_digits_sweep.py '{"tau": 0.5}' [seed]

Starts from the paper-style small preset below, applies the JSON overrides (``patch`` sets the patch
size), and prints the ACC/NMI of K-means on the pretrained z ("init") and of the final epoch's KNet
assignment ("final"). The figures in docs/results.md come from this script.
"""

import json
import sys
import time

import numpy as np
import torch

from deep_kmeans.data.loaders import load_digits_raw
from deep_kmeans.data.registry import Geometry
from deep_kmeans.evaluation.metrics import clustering_scores
from deep_kmeans.features.build import build_features
from deep_kmeans.methods import take as T

BASE = dict(embed_dim=32, depth=2, heads=2, decoder_depth=1, mlp_ratio=2.0, head_hidden=64, head_out=32,
            warmup_epochs=30, update_epochs=15, cluster_epochs=10, batch_size=128, lambda1=0.1, lambda2=0.1,
            lambda3=0.01)


def main(overrides: dict, seed: int = 0) -> dict:
    torch.set_num_threads(1)
    f = build_features(load_digits_raw(), {"views": {"enabled": True}}, seed=0)
    g = Geometry.from_dict(f["geometry"])
    params = {**BASE, **overrides}
    patch = params.pop("patch", None)
    if patch:
        g = Geometry(dim=g.dim, channels=1, side=g.side, patch=patch)
    cfg = T.TAKEConfig.from_params(params)
    start = time.perf_counter()
    pre, _ = T.pretrain(f["x"], f["views"] if cfg.update_epochs else None, g, cfg, seed, "cpu", False)
    init = T.kmeans_initialise(f["x"], pre, g, cfg, 10, seed, "cpu")
    state, _ = T.cluster(f["x"], pre, init["centers"], g, cfg, seed, "cpu", False)
    labels, _ = T.predict(f["x"], state, g, cfg, "cpu")
    s_init, s_final = clustering_scores(f["y"], init["labels"]), clustering_scores(f["y"], labels)
    return {"overrides": overrides, "seed": seed, "init_acc": s_init["acc"], "init_nmi": s_init["nmi"],
            "acc": s_final["acc"], "nmi": s_final["nmi"], "seconds": time.perf_counter() - start}


if __name__ == "__main__":
    r = main(json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}, int(sys.argv[2]) if len(sys.argv) > 2 else 0)
    print(json.dumps(r), flush=True)
