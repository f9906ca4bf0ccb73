#!/usr/bin/env python
"""TAKE's joint phase (TAE + KNet) measured against its own start, on pretrained TAEs kept on disk.

    .venv/bin/python benchmarks/joint_phase.py pretrain --datasets digits --seeds 0 1 2
    .venv/bin/python benchmarks/joint_phase.py joint --datasets digits --seeds 0 1 2 \
        --variant default --variant paper:preset=paper

``pretrain`` trains the TAE of each (data set, seed) exactly as ``kedro run --pipeline=take`` does on this
machine (``take.preset: auto``: the data set's own block on digits and your own data, else the ``cpu`` preset)
and keeps the pretrained state with the features in ``--cache`` (default ``benchmarks/cache``, not in git).

``joint`` runs, for each variant, what follows pretraining in the user's run: K-means on z (``init``), KNet's start
(``start``), the joint phase and the final prediction, and reports ACC/NMI of init, start and final (the model
after its LAST epoch) with the per-epoch diagnostics the MLflow run logs. A variant is ``name:key=value,...``
over the run's own TAKE parameters (``preset=paper`` applies that preset's clustering keys). The labels are
read only to score; nothing the training does depends on them.

Writes ``benchmarks/results/joint-<date>[-tag].md`` and ``.json``.
"""

from __future__ import annotations

import argparse
import copy
import logging
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402

import numpy as np  # noqa: E402
import yaml  # noqa: E402

log = logging.getLogger("benchmarks.joint_phase")


def take_conf(dataset: str, env: str | None, preset: str = "auto", cuda: bool = False) -> dict:
    """``params:take`` as a run of ``dataset`` gets it, with ``preset`` resolved (``auto`` on a machine with or
    without CUDA), before its data set's blocks are merged in."""
    from deep_kmeans.methods.config import chosen_preset

    conf = copy.deepcopy(C.load_conf("take", env)["take"])
    conf["preset"] = chosen_preset({**conf, "preset": preset}, dataset, cuda=cuda)
    return conf


def take_params(dataset: str, env: str | None, preset: str = "auto", cuda: bool = False) -> dict:
    """``params:take`` as ``kedro run`` resolves it for ``dataset`` (preset auto on a machine with or without CUDA)."""
    from deep_kmeans.methods.config import params_for

    params = params_for(take_conf(dataset, env, preset, cuda), dataset)
    params.pop("split", None)
    return params


def cache_path(cache: Path, dataset: str, seed: int, tag: str = "") -> Path:
    return cache / f"{dataset}{('-' + tag) if tag else ''}-seed{seed}.pt"


def cached_z(cache: Path, spec: str, seed: int) -> tuple[dict, "np.ndarray"]:
    """(the cached pretraining of ``DATASET[:TAG]`` and ``seed``, its pretrained z of every row, encoded on the CPU)."""
    import torch

    from deep_kmeans.data.registry import Geometry
    from deep_kmeans.methods import take as T

    name, _, tag = spec.partition(":")
    blob = torch.load(cache_path(Path(cache), name, seed, tag), weights_only=False)
    cfg = T.TAKEConfig.from_params(blob["config"])
    tae = T.load_tae(blob["pretrained"], Geometry.from_dict(blob["geometry"]), cfg)
    return blob, T.encode(tae, blob["x"], cfg.predict_batch_size, torch.device("cpu"))


def load_dataset(dataset: str, env: str | None, device: str, custom: str | None = None,
                 n_samples: int | None = None, seed: int = 0, views: bool | None = None) -> dict:
    """The features record of ``dataset`` as ``kedro run --params=seed=<seed>`` builds it: the rows drawn with
    data_seed 0, the views with the training seed."""
    if dataset.startswith("custom"):
        from deep_kmeans.data.custom import read_custom
        from deep_kmeans.features.build import build_features

        if not custom:
            raise SystemExit("a custom data set needs --custom PATH[:label_column]")
        path, _, label = custom.partition(":")
        raw = read_custom(path, label_column=label or None)
        feat = C.load_conf("features", env)["features"]
        return build_features(raw, feat, seed=seed, device=device, progress=False)
    from quality import load_features

    return load_features(dataset, "full", n_samples, 0, device, env, view_seed=seed, views=views)


def cmd_pretrain(args) -> None:
    import torch

    from deep_kmeans.data.registry import Geometry
    from deep_kmeans.methods import take as T
    from deep_kmeans.methods.config import resolve_n_clusters
    from deep_kmeans.pipelines.take.nodes import data_kind

    cache = Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)
    for dataset in args.datasets:
        params = take_params("custom" if dataset.startswith("custom") else dataset, args.env, args.preset)
        params.update(parse_kv(args.set))
        for seed in args.seeds:
            out = cache_path(cache, dataset, seed, args.tag)
            if out.exists() and not args.force:
                print(f"[{dataset}] seed {seed}: cached at {out}")
                continue
            features = load_dataset(dataset, args.env, args.device, args.custom, args.n_samples, seed,
                                    views=False if args.no_views else True if args.with_views else None)
            cfg = T.TAKEConfig.from_params(params)
            geometry = Geometry.from_dict(features["geometry"])
            cfg, note = T.sized_for_data(cfg, len(features["x"]), geometry)
            if note:
                print(note)
            k = resolve_n_clusters(None, features)
            if args.word_dropout:  # an experiment: views for a bag of words, where the data set has none
                features = {**features, "views": word_dropout_views(features["x"], args.word_dropout, seed)}
            augment = T.view_augmenter(features, cfg, features.get("view_params"))
            t0 = time.perf_counter()
            state, history = T.pretrain(features["x"], features.get("views"), geometry, cfg, seed=seed,
                                        device=args.device, progress=args.progress, augment=augment)
            torch.save({"dataset": dataset, "seed": seed, "x": features["x"], "y": features["y"],
                        "geometry": features["geometry"], "config": cfg.to_dict(), "n_clusters": k,
                        "data_kind": data_kind(features),
                        "pretrained": state, "history": history, "seconds": time.perf_counter() - t0}, out)
            print(f"[{dataset}] seed {seed}: pretrained in {time.perf_counter() - t0:.0f}s → {out}", flush=True)


def word_dropout_views(x, p: float, seed: int, n_views: int = 4):
    """(N, 4, D) views of tf-idf rows: each of a row's words dropped with probability ``p``, the row brought back to
    its L2 norm (a document read with some of its words missing; the augmentation of bag-of-words contrastive
    clustering). Not in the features layer: ``--word-dropout`` measures whether such views would help first."""
    import numpy as np

    rng = np.random.default_rng(seed)
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    out = np.empty((len(x), n_views, x.shape[1]), dtype=np.float32)
    for v in range(n_views):
        kept = x * (rng.random(x.shape) >= p)
        out[:, v] = kept * (norms / np.maximum(np.linalg.norm(kept, axis=1, keepdims=True), 1e-12))
    return out


def parse_kv(items) -> dict:
    out = {}
    for item in items or []:
        for part in item.split(","):
            if part:
                key, _, value = part.partition("=")
                out[key.strip()] = yaml.safe_load(value)
    return out


def variant_config(stored: dict, dataset: str, env: str | None, spec: str, kind: str | None, n_rows: int,
                   geometry):
    """(name, TAKEConfig): what ``kedro run --pipeline=take_cluster`` would cluster with now
    (``nodes.cluster_config``: the stored pretraining config with the current conf's clustering keys for the data set,
    or ``preset=NAME``'s, sized to the ``n_rows`` training rows and with the start for ``kind`` of data), then the
    variant's own keys."""
    from deep_kmeans.methods import take as T
    from deep_kmeans.pipelines.take.nodes import cluster_config

    name, _, rest = spec.partition(":")
    sets = parse_kv([rest])
    conf = take_conf(dataset, env, preset=sets.pop("preset", "auto"))
    pretrained = {"config": stored, "dataset": dataset, "train_rows": range(n_rows), "geometry": geometry.to_dict(),
                  "data_kind": kind}
    return name or "default", T.TAKEConfig.from_params({**cluster_config(pretrained, conf), **sets})


def cmd_joint(args) -> None:
    import torch

    from deep_kmeans.data.registry import Geometry
    from deep_kmeans.evaluation.metrics import clustering_scores
    from deep_kmeans.methods import take as T

    rows, report = [], {"provenance": C.provenance(args.device), "runs": []}
    stem = f"joint-{C.today()}{('-' + args.out_tag) if args.out_tag else ''}"
    out_dir = Path(args.out_dir)
    for dataset in args.datasets:
        for seed in args.seeds:
            blob = torch.load(cache_path(Path(args.cache), dataset, seed, args.tag), weights_only=False)
            x, y, geometry = blob["x"], blob["y"], Geometry.from_dict(blob["geometry"])
            kind = blob.get("data_kind") or args.kind
            if kind is None and dataset.startswith("custom"):  # auto would not see text: a run's start may differ
                print(f"[{dataset}] seed {seed}: the cached pretraining does not record what its features were made "
                      "from (cached before data kinds were); a text set's start is the run's only with --kind text",
                      flush=True)
            views = None
            for spec in args.variant or ["default:"]:
                name, cfg = variant_config(blob["config"], dataset if not dataset.startswith("custom") else "custom",
                                           args.env, spec, kind, len(x), geometry)
                if cfg.uses_stored_views and views is None:  # not in the cache
                    views = load_dataset(dataset, args.env, args.device, args.custom, args.n_samples, seed)["views"]
                t0 = time.perf_counter()
                init = T.kmeans_initialise(x, blob["pretrained"], geometry, cfg, blob["n_clusters"], seed=seed,
                                           device=args.device)
                state, history = T.cluster(x, blob["pretrained"], init["start_centers"], geometry, cfg, seed=seed,
                                           device=args.device, progress=args.progress,
                                           init_labels=init["start_labels"],
                                           confidence=init.get("start_confidence"), y=y,
                                           views=views)  # for knet_view_targets, cluster_contrastive
                model = {**state, "centers": state["knet"]["M"].T.numpy()}
                labels, _ = T.predict(x, model, geometry, cfg, device=args.device)
                run = {"dataset": dataset, "seed": seed, "variant": name, "spec": spec,
                       "init": clustering_scores(y, init["labels"]), "start": clustering_scores(y, init["start_labels"]),
                       "final": clustering_scores(y, labels), "history": history,
                       "mistakes": {"start": top_mistakes(y, init["start_labels"]), "final": top_mistakes(y, labels)},
                       "start_agreement": init.get("start_agreement"),  # knet_init auto: the head's ARI with itself
                       "seconds": time.perf_counter() - t0}
                report["runs"].append(run)
                rows.append(run)
                agree = run["start_agreement"]
                print(f"[{dataset}] seed {seed} {name:>14s}: init {run['init']['acc']:.4f} start "
                      f"{run['start']['acc']:.4f} final {run['final']['acc']:.4f} "
                      f"(NMI {run['final']['nmi']:.4f}; {run['seconds']:.0f}s"
                      f"{'' if agree is None else f'; head agreement {agree:.3f}'})", flush=True)
                print("  largest mistakes [class, taken by, rows]: start", run["mistakes"]["start"], "final",
                      run["mistakes"]["final"], flush=True)
                if args.epochs_table:
                    print(epoch_table(history))
                C.write_json(out_dir / f"{stem}.json", report)
    (out_dir / f"{stem}.md").write_text(markdown(report))
    print(f"wrote {out_dir / stem}.md")


def top_mistakes(y, labels, n: int = 6) -> list[list[int]]:
    """The ``n`` largest off-diagonal cells under the Hungarian map: [class, the class whose cluster took it,
    rows], largest first (where the remaining ACC points are)."""
    from deep_kmeans.evaluation.metrics import hungarian_map

    to_class = hungarian_map(y, labels)
    mapped = np.array([to_class.get(int(c), -1) for c in labels])  # -1: a cluster no class maps to
    wrong = mapped != y
    pairs, counts = np.unique(np.stack([np.asarray(y)[wrong], mapped[wrong]]), axis=1, return_counts=True)
    order = np.argsort(-counts)[:n]
    return [[int(pairs[0, i]), int(pairs[1, i]), int(counts[i])] for i in order]


def epoch_table(history: dict) -> str:
    keys = [k for k in history if k.startswith(("cluster/", "joint/"))
            and k.split("/", 1)[1] not in ("center_spread", "z_variance", "knet_nmi")]
    lines = ["  epoch " + " ".join(f"{k.split('/', 1)[1]:>10s}" for k in keys)]
    for e in range(len(history[keys[0]]) if keys else 0):
        lines.append(f"  {e + 1:5d} " + " ".join(
            f"{history[k][e]:10.4f}" if history[k][e] is not None else f"{'':10s}" for k in keys))
    return "\n".join(lines)


def markdown(report: dict) -> str:
    p = report["provenance"]
    lines = [f"# Joint phase — {p['date']}", "", f"Command: `{p['command']}`", "",
             f"Versions: {', '.join(f'{k} {v}' for k, v in p['versions'].items())}; commit "
             f"{p['git']['commit'][:12]} (dirty: {p['git']['dirty_paths'] or 'none'})", "",
             "| data | variant | seed | init ACC (K-means on z) | start ACC | final ACC | final − start | final − init | "
             "final NMI | s |", "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in report["runs"]:
        lines.append(f"| {r['dataset']} | {r['variant']} | {r['seed']} | {r['init']['acc']:.4f} | "
                     f"{r['start']['acc']:.4f} | {r['final']['acc']:.4f} | {r['final']['acc'] - r['start']['acc']:+.4f} | "
                     f"{r['final']['acc'] - r['init']['acc']:+.4f} | {r['final']['nmi']:.4f} | {r['seconds']:.0f} |")
    by = {}
    for r in report["runs"]:
        by.setdefault((r["dataset"], r["variant"]), []).append(r)
    lines += ["", "| data | variant | seeds | mean final ACC | min final − start | mean final − init |",
              "|---|---|---|---:|---:|---:|"]
    for (d, v), rs in by.items():
        lines.append(f"| {d} | {v} | {' '.join(str(r['seed']) for r in rs)} | "
                     f"{np.mean([r['final']['acc'] for r in rs]):.4f} | "
                     f"{min(r['final']['acc'] - r['start']['acc'] for r in rs):+.4f} | "
                     f"{np.mean([r['final']['acc'] - r['init']['acc'] for r in rs]):+.4f} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("pretrain", "joint"):
        s = sub.add_parser(name)
        s.add_argument("--datasets", nargs="+", default=["digits"])
        s.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
        s.add_argument("--device", default="auto")
        s.add_argument("--env", default="offline")
        s.add_argument("--cache", default=str(C.REPO / "benchmarks" / "cache"))
        s.add_argument("--tag", default="", help="name suffix of the cached pretraining")
        s.add_argument("--custom", default=None, help="custom data: PATH[:label_column]")
        s.add_argument("--progress", action="store_true")
        s.add_argument("--n-samples", type=int, default=None, help="a class-balanced subsample (data_seed 0)")
    sub.choices["pretrain"].add_argument("--preset", default="auto")
    sub.choices["pretrain"].add_argument("--no-views", action="store_true",
                                         help="features.views.enabled=false (TAKE on L_r alone)")
    sub.choices["pretrain"].add_argument("--with-views", action="store_true",
                                         help="views even for a data set in features.views.disabled_for (the "
                                              "offline env's cifar10: its rows with views before 2026-12-06)")
    sub.choices["pretrain"].add_argument("--set", action="append", help="key=value,... over the TAKE parameters")
    sub.choices["pretrain"].add_argument("--force", action="store_true")
    sub.choices["pretrain"].add_argument("--word-dropout", type=float, default=0.0,
                                         help="views of tf-idf rows with each word dropped with this probability "
                                              "(an experiment: Reuters has no views); add --set use_cl=true,...")
    sub.choices["joint"].add_argument("--variant", action="append", help="name:key=value,... (repeatable)")
    sub.choices["joint"].add_argument("--epochs-table", action="store_true")
    sub.choices["joint"].add_argument("--out-dir", default=str(C.REPO / "benchmarks" / "results"))
    sub.choices["joint"].add_argument("--out-tag", default="")
    sub.choices["joint"].add_argument("--kind", default=None, choices=["gray", "rgb", "text", "tfidf", "vector"],
                                      help="what the features were made from, for a cached pretraining that does not "
                                           "record it (take.start_for_data reads it)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    {"pretrain": cmd_pretrain, "joint": cmd_joint}[args.cmd](args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
