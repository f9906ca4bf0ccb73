#!/usr/bin/env python
"""TAKE on your own data (``dataset=custom``): with and without views, beside K-means and UMAP + GMM on the same
input, for tables and arrays that ship with packages or that the script writes.

    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python benchmarks/own_data.py --inputs wine breast_cancer \\
        --variants take take:views.enabled=false kmeans umap_gmm

Route: what ``kedro run --pipeline=<method> --params=dataset=custom,custom.path=FILE,...`` runs, through the
same functions (``read_custom`` → ``build_features`` → ``params_for`` + ``sized_for_data`` → ``fit_take`` or
``fit_<method>``), with ``conf/base``'s parameters; not Kedro in-process (no MLflow runs), so that many
variants run in one process. Each input is written once as the file a user would give (``--data-dir``).

A variant is ``method[:key=value,...]``: keys ``features.<name>`` (``views.enabled``, ``standardize``,
``tabular_views.corruption``, ...), ``custom.<name>`` (``image_shape``) and the method's own
(``take.sample_budget``, ``take.warmup_epochs``, ...). Writes one JSON line per run to ``--out`` as it
finishes (a run cut short keeps what it finished) and prints the table.

Inputs: ``wine``, ``breast_cancer``, ``iris`` (scikit-learn's tables, as .csv with a ``label`` column),
``penguins`` (the Palmer penguins' four measurements and species, ``pip install -e ".[bench]"``),
``digits_csv`` (the digits as a 64-column .csv), ``mnist_npz`` / ``mnist_npz_<N>`` (MNIST's 70,000 rows or a
seeded class-balanced N of them as an .npz of X (float32 in [0, 1], as
``dataset=mnist`` reads them) and y; needs ``--mnist`` or the offline copy).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO  # noqa: E402  (puts src/ on the path)

import yaml  # noqa: E402

from deep_kmeans.data.custom import read_custom  # noqa: E402
from deep_kmeans.data.registry import Geometry  # noqa: E402
from deep_kmeans.evaluation.metrics import clustering_scores  # noqa: E402
from deep_kmeans.features.build import build_features  # noqa: E402
from deep_kmeans.methods.config import params_for  # noqa: E402

logger = logging.getLogger("own_data")
MNIST = REPO / "data" / "01_raw" / "mnist" / "mnist.pkl.gz"


def conf(group: str) -> dict:
    return yaml.safe_load((REPO / "conf" / "base" / f"parameters_{group}.yml").read_text())[group]


def write_input(name: str, data_dir: Path, mnist: Path) -> tuple[Path, dict]:
    """The input as the file a user would give, and the ``custom`` options it needs."""
    import pandas as pd
    from sklearn import datasets

    data_dir.mkdir(parents=True, exist_ok=True)
    loaders = {"wine": datasets.load_wine, "breast_cancer": datasets.load_breast_cancer, "iris": datasets.load_iris,
               "digits_csv": datasets.load_digits}
    if name in loaders:
        path = data_dir / f"{name}.csv"
        if not path.exists():
            d = loaders[name]()
            columns = [str(c) for c in getattr(d, "feature_names", [])] or [f"pixel_{i}" for i in
                                                                           range(d.data.shape[1])]
            pd.DataFrame(d.data, columns=columns).assign(label=d.target).to_csv(path, index=False)
        return path, {"label_column": "label"}
    if name == "penguins":
        path = data_dir / "penguins.csv"
        if not path.exists():
            import palmerpenguins  # pip install -e ".[bench]"

            df = palmerpenguins.load_penguins()
            columns = ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g"]
            df[columns + ["species"]].dropna().rename(columns={"species": "label"}).to_csv(path, index=False)
        return path, {"label_column": "label"}
    if name.startswith("mnist_npz"):
        from deep_kmeans.data.loaders import load_mnist_pickle, subsample

        n = int(name.split("_")[-1]) if name != "mnist_npz" else None
        path = data_dir / f"{name}.npz"
        if not path.exists():
            x, y = load_mnist_pickle(mnist)  # float32 in [0, 1], what dataset=mnist reads
            x = np.asarray(x).reshape(len(x), -1)
            if n is not None:
                x, y = subsample(x, np.asarray(y), n, 0)
            np.savez(path, X=x, y=np.asarray(y))
        return path, {}
    raise SystemExit(f"unknown input {name!r}")


def parse_variant(text: str) -> tuple[str, dict]:
    method, _, rest = text.partition(":")
    overrides = {}
    for item in filter(None, rest.split(",")):
        key, _, value = item.partition("=")
        overrides[key] = yaml.safe_load(value)
    return method, overrides


def nested(d: dict, dotted: str, value) -> dict:
    out = dict(d)
    head, _, tail = dotted.partition(".")
    out[head] = nested(out.get(head) or {}, tail, value) if tail else value
    return out


def run(name: str, variant: str, seed: int, data_dir: Path, mnist: Path, n_clusters: int | None) -> dict:
    from deep_kmeans.methods.take import TAKEConfig, fit_take, sized_for_data
    from deep_kmeans.methods.kmeans import fit_kmeans
    from deep_kmeans.methods.umap_gmm import fit_umap_gmm

    method, overrides = parse_variant(variant)
    path, custom = write_input(name, data_dir, mnist)
    features_params = conf("features")
    method_params, typed = conf(method), {}
    for key, value in overrides.items():
        group, _, rest = key.partition(".")
        if group == "features":
            features_params = nested(features_params, rest, value)
        elif group == "custom":
            custom[rest] = value
        else:  # as on kedro's command line: over the data set's block and the preset (command_line_wins)
            typed = nested(typed, rest, value)
    start = time.perf_counter()
    raw = read_custom(path, **custom)
    features = build_features(raw, features_params, seed=seed)
    k = n_clusters or len(features["classes"])
    geometry = Geometry.from_dict(features["geometry"])
    merged = {**params_for(method_params, "custom"), **typed}
    extra = {}
    if method == "take":
        cfg = TAKEConfig.from_params(merged)
        cfg, note = sized_for_data(cfg, len(features["x"]), geometry)
        if note:
            logger.info(note)
        out = fit_take(features["x"], features["views"], geometry, cfg, k, seed=seed, device="cpu", progress=False,
                       y=features["y"])
        labels = out["labels"]
        extra = {"init_acc": clustering_scores(features["y"], out["init"]["labels"])["acc"],
                 "epochs": [cfg.warmup_epochs, cfg.update_epochs, cfg.cluster_epochs]}
        if out["init"].get("start_labels") is not None:
            extra["start_acc"] = clustering_scores(features["y"], out["init"]["start_labels"])["acc"]
    else:
        fit = {"kmeans": fit_kmeans, "umap_gmm": fit_umap_gmm}[method]
        labels = fit(features["x"], k, geometry, merged, seed=seed, device="cpu", progress=False).labels
    scores = clustering_scores(features["y"], labels)
    return {"input": name, "variant": variant, "seed": seed, "rows": len(features["x"]),
            "columns": int(features["x"].shape[1]), "extractor": features["extractor"],
            "views": features["views"] is not None, "acc": scores["acc"], "nmi": scores["nmi"], "ari": scores["ari"],
            "seconds": round(time.perf_counter() - start, 1), **extra}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--inputs", nargs="+", default=["wine", "breast_cancer"])
    ap.add_argument("--variants", nargs="+", default=["take", "take:features.views.enabled=false", "kmeans",
                                                       "umap_gmm"])
    ap.add_argument("--seeds", nargs="+", type=int, default=[0])
    ap.add_argument("--n-clusters", type=int, default=None, help="default: the number of labels")
    ap.add_argument("--data-dir", type=Path, default=REPO / "data" / "01_raw" / "custom" / "own_data")
    ap.add_argument("--mnist", type=Path, default=MNIST)
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "own_data.jsonl")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", datefmt="%H:%M:%S")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    rows = []
    for name in args.inputs:
        for variant in args.variants:
            for seed in args.seeds:
                row = run(name, variant, seed, args.data_dir, args.mnist, args.n_clusters)
                rows.append(row)
                with args.out.open("a") as fh:
                    fh.write(json.dumps(row) + "\n")
                logger.info("%s", row)
    print("| input | variant | seed | ACC | NMI | ARI | init ACC | start ACC | epochs | seconds |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---|---:|")
    for r in rows:
        def f(k):
            return "" if r.get(k) is None else f"{r[k]:.4f}"
        print(f"| {r['input']} | {r['variant']} | {r['seed']} | {f('acc')} | {f('nmi')} | {f('ari')} | "
              f"{f('init_acc')} | {f('start_acc')} | {'/'.join(map(str, r.get('epochs', [])))} | {r['seconds']} |")


if __name__ == "__main__":
    main()
