#!/usr/bin/env python
"""Clustering quality of TAKE (and its family) over data sets and seeds, beside the paper's figures.

    .venv/bin/python benchmarks/quality.py --scale cpu --datasets digits \
        --methods take,kmeans,dec,idec,dcn --seeds 0 1 2

writes ``benchmarks/results/quality-<scale>-<date>.md`` and ``.json`` (``--out-dir`` elsewhere): ACC,
NMI (scikit-learn's arithmetic normalisation), NMI_max (normalised by max{H(l), H(c)}, the TAKE paper's
eq. 17: the one to hold against the paper's NMI) and ARI as mean ± std over the seeds, with every run,
its wall time and the provenance (versions, git commit, a sha256 of src/ and conf/base, device, the
sha256 of the feature matrix, the command). The JSON and the table are rewritten after every run,
so a run cut short still leaves what it finished.

Route: the plain functions the Kedro nodes call (``load_raw_dataset`` → ``build_features`` →
``training.take.pretrain/kmeans_initialise/cluster/predict`` or a family ``fit_<method>``), with
the parameters read from ``conf/base/parameters_<method>.yml`` and the data set's ``overrides``
block merged as ``pipelines.method.params_for`` does. Not Kedro in-process: the GPU machine has
neither Kedro nor MLflow, and one route for both machines keeps the figures comparable. So
these runs are not MLflow runs; ``kedro run --pipeline=<method>`` gives the tracked equivalent.

The result scored is the model after the LAST epoch (TAKE: ``predict`` on the final state of
``cluster``), never a best epoch picked with the labels. TAKE's rows also carry ``take:init``,
the K-means assignment on the pretrained TAE's features (the "pretrain + K-means" of Table 12).

Data and training seeds: the data (subsample, augmented views) are drawn once with
``--data-seed`` (default 0), so every seed sees the same feature matrix (one sha256); ``--seeds``
vary the model's initialisation, batch order and K-means init.

Scales
------
``full``: what ``kedro run --pipeline=<method>`` runs (conf/base, the data set's ``overrides``
included), on all the data, with TAKE's schedule set to the paper's 150 warm-up / 50 update /
50 clustering epochs (Adam 1e-3, batch 256 unless the data set's block says otherwise). For a GPU.

``cpu``: finishes in well under 30 minutes on 2 CPU cores for ``digits`` with 3 seeds and
take,kmeans,dec,idec,dcn. Every method takes its ``overrides.digits`` block from conf/base — the
project's CPU-sized schedule and network, documented there — for whatever data set is run (TAKE
keeps the data set's own λ1, λ2, λ3); data sets larger than ``CPU_MAX_SAMPLES`` are cut to a seeded
class-balanced subset of that many samples. On ``digits`` this is exactly ``kedro run``'s setting.
TAKE on digits: D=32, depth 2, 2 heads, decoder depth 1, 30/15/10 epochs, batch 128.

``--epochs W,U,C`` (TAKE's three phases), ``--n-samples N`` and ``--set method.key=value`` override
either scale; whatever was overridden is in the output's ``settings``.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import logging
import math
import sys
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402  (sets up the import path of the project's src/)

import numpy as np  # noqa: E402
import yaml  # noqa: E402

ALL_METHODS = ["take", "kmeans", "dec", "idec", "dcn", "dekm", "emaec", "ulhe_dc", "dckm", "umap_gmm"]
CPU_MAX_SAMPLES = 2000
TAKE_DATASET_KEYS = {"lambda1", "lambda2", "lambda3", "use_ccl", "use_cl"}  # kept from the data set's block at cpu scale
PAPER_SCHEDULE = {"warmup_epochs": 150, "update_epochs": 50, "cluster_epochs": 50}

# The TAKE paper's Tables 3 and 4 (ACC, NMI). TAKE's NMI is normalised by max{H(l), H(c)} (eq. 17,
# compare with NMI_max); the baselines' figures are quoted or rerun by the paper with their authors'
# code and may use another normalisation. The paper's CIFAR-10 K-means NMI "0.8700" is as printed
# (probably 0.0870). digits and reuters21578 are not in the paper.
PAPER = {
    "mnist": {"kmeans": (0.5320, 0.5000), "dec": (0.8430, 0.8372), "idec": (0.8813, 0.8672),
              "dcn": (0.8300, 0.8100), "take": (0.9654, 0.9275)},
    "fashion_mnist": {"kmeans": (0.4740, 0.5120), "dec": (0.5180, 0.5463), "idec": (0.5290, 0.5570),
                      "dcn": (0.5122, 0.5547), "take": (0.6522, 0.6636)},
    "2mnist": {"kmeans": (0.3231, 0.4400), "dec": (0.4120, 0.5312), "idec": (0.4042, 0.5356),
               "dcn": (0.4135, 0.4689), "take": (0.7730, 0.8385)},
    "reuters10k": {"kmeans": (0.5240, 0.3120), "dec": (0.7217, 0.3140), "idec": (0.7564, 0.4981),
                   "dcn": (0.6820, 0.4106), "take": (0.8433, 0.6217)},
    "stl10": {"kmeans": (0.1920, 0.1250), "dec": (0.3590, 0.2760), "idec": (0.3253, 0.1885),
              "dcn": (0.3384, 0.2412), "take": (0.8765, 0.7850)},
    "cifar10": {"kmeans": (0.2290, 0.8700), "dec": (0.3010, 0.2570), "idec": (0.3160, 0.2730),
                "dcn": (0.4769, 0.4123), "take": (0.7523, 0.6543)},
    "agnews": {"kmeans": (0.6478, 0.3081), "dec": (0.5231, 0.4823), "idec": (0.5184, 0.2499),
               "dcn": (0.5000, 0.1928), "take": (0.7632, 0.4451)},
}

log = logging.getLogger("benchmarks.quality")


# ---------------------------------------------------------------------------------------------- data


def load_features(dataset: str, scale: str, n_samples: int | None, data_seed: int, device: str,
                  env: str | None = None, view_seed: int | None = None, views: bool | None = None) -> dict:
    """The ``features`` record, as the data and features pipelines build it from conf/base. ``view_seed``: the seed
    the views are drawn with (``kedro run`` draws them with the training seed); None: ``data_seed``. ``views``:
    None as the conf says, False is ``--params=features.views.enabled=false``, True gives views even to a data set
    in ``features.views.disabled_for``."""
    from deep_kmeans.data.loaders import load_raw_dataset, loader_options, stratified_indices
    from deep_kmeans.features.build import build_features

    raw_dir_for = C.raw_dir_for

    data_params = C.load_conf("data", env)["data"]
    feat_params = C.load_conf("features", env)["features"]
    if views is not None:
        feat_params = {**feat_params, "views": {**(feat_params.get("views") or {}), "enabled": views,
                                                "disabled_for": []}}
    options = dict((data_params.get("options") or {}).get(dataset) or {})
    if dataset == "2mnist":
        for key, name in (("mnist_dir", "mnist"), ("fashion_dir", "fashion_mnist")):
            folder = Path(options.get(key) or raw_dir_for(name, data_params))
            options[key] = folder if folder.is_absolute() else C.REPO / folder
    cap = n_samples if n_samples is not None else (CPU_MAX_SAMPLES if scale == "cpu" else None)
    post_cap = None
    if cap is not None:
        if "n_samples" in loader_options(dataset):
            options["n_samples"] = cap
        else:
            post_cap = cap
    raw_dir = Path(raw_dir_for(dataset, data_params))
    raw_dir = raw_dir if raw_dir.is_absolute() else C.REPO / raw_dir
    download = bool(data_params.get("download", False))
    try:
        raw = load_raw_dataset(dataset, raw_dir, options=options, seed=data_seed, download=download)
    except ValueError as e:  # the cap is above the data set's size (digits: 1,797): take it all
        if "n_samples" not in str(e) or "n_samples" not in options:
            raise
        options.pop("n_samples")
        raw = load_raw_dataset(dataset, raw_dir, options=options, seed=data_seed, download=download)
    features = build_features(raw, feat_params, seed=data_seed if view_seed is None else view_seed, device=device,
                              progress=False)
    if post_cap is not None and post_cap < len(features["y"]):
        try:
            idx = np.sort(stratified_indices(features["y"], post_cap, data_seed))  # class-balanced
            options["subsample"] = f"{post_cap}, class-balanced"
        except ValueError:  # a class too small for a balanced cap (Reuters-21578's crude: 355): proportional
            from sklearn.model_selection import train_test_split

            idx = np.sort(train_test_split(np.arange(len(features["y"])), train_size=post_cap,
                                           stratify=features["y"], random_state=data_seed)[0])
            options["subsample"] = f"{post_cap}, class proportions kept"
        features = {**features, "x": features["x"][idx], "y": features["y"][idx],
                    "views": None if features["views"] is None else features["views"][idx]}
    features["loader_options"] = {k: str(v) for k, v in options.items()}
    features["view_params"] = feat_params.get("views")  # what take.fresh_views draws with
    return features


def sha256(a: np.ndarray | None) -> str | None:
    if a is None:
        return None
    a = np.ascontiguousarray(a)
    h = hashlib.sha256(str((a.shape, a.dtype.str)).encode())
    h.update(memoryview(a).cast("B"))
    return h.hexdigest()


# ---------------------------------------------------------------------------------------------- params


def parse_sets(items: list[str]) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for item in items:
        key, _, value = item.partition("=")
        method, _, name = key.partition(".")
        if not name or not _:
            raise SystemExit(f"--set expects method.key=value, got {item!r}")
        out.setdefault(method, {})[name] = yaml.safe_load(value)
    return out


def method_params(method: str, dataset: str, scale: str, epochs: tuple[int, int, int] | None,
                  sets: dict[str, dict], env: str | None = None, preset: str | None = None,
                  checkpoint_every: int = 0) -> dict:
    """The parameters a method runs with: conf/base (+ conf/<env>) + the data set's block (+ the cpu scale),
    or with ``preset`` (TAKE's ``paper`` or ``cpu``) that preset over the data set's block, as
    ``kedro run --params=take.preset=...`` runs it."""
    conf = copy.deepcopy(C.load_conf(method, env)[method])
    if method == "take":  # None: the data set's own settings, whatever the machine (not `auto`)
        conf["preset"] = preset
    params = C.params_for(conf, dataset)
    if preset is not None and method == "take":
        scale = "preset"  # the preset's schedule and network, not the scale's
    params.pop("split", None)
    if scale == "cpu" and dataset != "digits":
        digits = copy.deepcopy(((conf.get("overrides") or {}).get("digits")) or {})
        if method == "take":
            digits = {k: v for k, v in digits.items() if k not in TAKE_DATASET_KEYS}
        params.update(digits)
    if method == "take":
        if scale == "full":
            params.update(PAPER_SCHEDULE)
        if epochs is not None:
            params.update(dict(zip(("warmup_epochs", "update_epochs", "cluster_epochs"), epochs)))
        params.update(checkpoint_every=checkpoint_every, resume=checkpoint_every > 0)
    params.update(sets.get(method, {}))
    return params


# TAKE schedules (warm-up, update, clustering epochs) from the paper's down, for --budget-s.
SCHEDULES = [(150, 50, 50), (100, 35, 35), (75, 25, 25), (60, 20, 20), (45, 15, 15), (30, 10, 10), (20, 8, 8),
             (15, 5, 5), (10, 4, 4), (6, 2, 2)]


def pick_schedule(speed_json: str | None, seconds: float, n: int, n_seeds: int, views: bool) -> tuple[tuple, dict]:
    """The largest of ``SCHEDULES`` whose time, predicted from a speed.py run's per-sample epoch
    times of the grayscale configuration (the paper's MNIST TAE), fits ``seconds`` for all seeds."""
    import json

    if not speed_json:
        raise SystemExit("--budget-s needs --speed-json")
    tae = json.loads(Path(speed_json).read_text())["tae"]["gray_mnist_16patches_depth8"]
    per = {p: tae[p]["epoch_s"] / tae["n"] for p in ("warmup", "update", "cluster")}
    overhead = 10.0  # K-means init, predict, model set-up, per seed
    for w, u, c in SCHEDULES:
        per_seed = n * (w * per["warmup"] + u * (per["update"] if views else per["warmup"]) + c * per["cluster"])
        if n_seeds * (per_seed + overhead) <= seconds:
            return (w, u, c), {"budget_s": round(seconds, 1), "predicted_s": round(n_seeds * (per_seed + overhead), 1),
                               "per_sample_epoch_s": per, "from": speed_json}
    w, u, c = SCHEDULES[-1]
    return (w, u, c), {"budget_s": round(seconds, 1), "note": "nothing fits; the smallest schedule", "from": speed_json}


# ---------------------------------------------------------------------------------------------- runs


def run_take(features: dict, k: int, params: dict, seed: int, device: str,
             checkpoints: str | None = None, progress: bool = False) -> tuple[np.ndarray, dict]:
    from deep_kmeans.data.registry import Geometry
    from deep_kmeans.evaluation.metrics import clustering_scores
    from deep_kmeans.store import DirectoryStore
    from deep_kmeans.methods import take as T

    cfg = T.TAKEConfig.from_params(params)
    augment = T.view_augmenter(features, cfg, features.get("view_params"))
    # --checkpoints: each phase saves every checkpoint_every epochs, and a rerun of the same command resumes
    store = DirectoryStore(checkpoints) if checkpoints else None
    out = T.fit_take(features["x"], features.get("views"), Geometry.from_dict(features["geometry"]), cfg, k,
                     seed=seed, device=device, progress=progress, augment=augment, store=store,
                     data_key=sha256(features["x"]) or "")
    extra = {"init_scores": clustering_scores(features["y"], out["init"]["labels"]), "phases": out["phases"]}
    if cfg.assignment != "kmeans":
        extra["final_losses"] = {k: v[-1] for k, v in out["history"].items() if v and v[-1] is not None}
        extra["changed_last_epoch"] = out["history"].get("cluster/changed", [None])[-1]
    return out["labels"], extra


def fit_function(method: str):
    import importlib

    module = importlib.import_module(f"deep_kmeans.methods.{method}")
    return getattr(module, f"fit_{method}")


def run_method(method: str, features: dict, k: int, params: dict, seed: int, device: str,
               checkpoints: str | None = None, progress: bool = False) -> tuple[np.ndarray, dict]:
    from deep_kmeans.data.registry import Geometry

    if method == "take":
        return run_take(features, k, params, seed, device, checkpoints, progress)
    result = fit_function(method)(features["x"], k, Geometry.from_dict(features["geometry"]), params, seed=seed,
                                  device=device, views=features.get("views"), progress=False)
    extra = {"train_seconds": result.train_seconds}
    hist = result.history or {}
    extra["final_losses"] = {k: v[-1] for k, v in hist.items() if v and v[-1] is not None}
    return np.asarray(result.labels), extra


# ---------------------------------------------------------------------------------------------- report


def summarise(runs: list[dict]) -> list[dict]:
    rows: dict[tuple[str, str], dict] = {}
    for r in runs:
        if r.get("error"):
            continue
        for name, scores in ((r["method"], r["scores"]), (f"{r['method']}:init", r.get("init_scores"))):
            if scores is None:
                continue
            row = rows.setdefault((r["dataset"], name), {"dataset": r["dataset"], "method": name, "seeds": [],
                                                         "scores": {m: [] for m in scores}, "wall_s": []})
            row["seeds"].append(r["seed"])
            for m, v in scores.items():
                row["scores"][m].append(v)
            if name == r["method"]:
                row["wall_s"].append(r["wall_s"])
    out = []
    for (dataset, name), row in rows.items():
        stats = {m: (float(np.mean(v)), float(np.std(v, ddof=1)) if len(v) > 1 else 0.0) for m, v in row["scores"].items()}
        paper = PAPER.get(dataset, {}).get(name)
        out.append({"dataset": dataset, "method": name, "n": len(row["seeds"]), "seeds": row["seeds"],
                    "mean_std": stats, "wall_s_mean": float(np.mean(row["wall_s"])) if row["wall_s"] else None,
                    "paper_acc": paper[0] if paper else None, "paper_nmi": paper[1] if paper else None})
    return out


def markdown(report: dict) -> str:
    p = report["provenance"]
    s = report["settings"]
    lines = [
        f"# Clustering quality — scale `{s['scale']}` — {p['date']}",
        "",
        f"Command: `{p['command']}`",
        "",
        f"Machine: {p['machine'].get('gpu') or p['machine']['cpu']} ({p['machine']['device']}, "
        f"{p['machine']['cpu_count']} CPUs, torch threads {p['machine']['torch_threads']}); "
        + ", ".join(f"{k} {v}" for k, v in p["versions"].items())
        + f"; deep_kmeans commit {p['git']['commit'][:12]} (uncommitted src/conf changes: {p['git']['dirty_paths'] or 'none'}); "
        f"sha256(src/deep_kmeans + conf/base) {p['src_conf_sha256'][:16]}.",
        "",
        "ACC with the Hungarian map; NMI = scikit-learn's arithmetic-mean normalisation; **NMI_max = "
        "normalised by max{H(l), H(c)}, the paper's eq. 17 — compare it with the paper's NMI**; ARI. "
        "Mean ± sample std over the seeds; the model after its last epoch (never a best epoch). "
        "`take:init` = K-means on the pretrained TAE's features, before the clustering phase. Paper = TAKE "
        "paper Tables 3–4 (baselines' NMI normalisation unknown).",
        "",
        "| data | method | n | ACC | NMI | NMI_max | ARI | paper ACC | paper NMI | wall s/run |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in report["summary"]:
        ms = row["mean_std"]
        lines.append(
            f"| {row['dataset']} | {row['method']} | {row['n']} | {C.fmt(*ms['acc'])} | {C.fmt(*ms['nmi'])} | "
            f"{C.fmt(*ms['nmi_max'])} | {C.fmt(*ms['ari'])} | {C.fmt(row['paper_acc'])} | {C.fmt(row['paper_nmi'])} | "
            f"{C.fmt(row['wall_s_mean'], digits=1)} |")
    lines += ["", "## Data", "", "| data | N | dim | geometry | views | sha256(x) | loader options |",
              "|---|---|---|---|---|---|---|"]
    for name, d in report["data"].items():
        lines.append(f"| {name} | {d['n']} | {d['dim']} | {d['geometry']} | {d['views_shape']} | "
                     f"`{d['x_sha256'][:16]}…` | {d['loader_options']} |")
    lines += ["", "## Runs", "", "| data | method | seed | ACC | NMI_max | ARI | wall s | note |", "|---|---|---|---|---|---|---|---|"]
    for r in report["runs"]:
        if r.get("error"):
            lines.append(f"| {r['dataset']} | {r['method']} | {r['seed']} | | | | | error: {r['error'][:120]} |")
            continue
        sc = r["scores"]
        note = ""
        if r.get("init_scores"):
            note = f"init ACC {r['init_scores']['acc']:.4f}; phases " + ", ".join(
                f"{k} {v:.1f}" for k, v in r.get("phases", {}).items())
        lines.append(f"| {r['dataset']} | {r['method']} | {r['seed']} | {sc['acc']:.4f} | {sc['nmi_max']:.4f} | "
                     f"{sc['ari']:.4f} | {r['wall_s']:.1f} | {note} |")
    lines += ["", "## Parameters", ""]
    for key, params in report["params"].items():
        lines.append(f"- `{key}`: `{params}`")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scale", choices=["cpu", "full"], default="cpu")
    ap.add_argument("--datasets", default="digits", help="comma-separated data set names")
    ap.add_argument("--methods", default="take", help=f"comma-separated, from {','.join(ALL_METHODS)}")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--data-seed", type=int, default=0)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--epochs", default=None, help="TAKE's warm-up,update,cluster epochs, e.g. 30,10,10")
    ap.add_argument("--n-samples", type=int, default=None, help="cap on the samples per data set")
    ap.add_argument("--set", action="append", default=[], metavar="METHOD.KEY=VALUE")
    ap.add_argument("--budget-s", type=float, default=None,
                    help="with --speed-json: pick TAKE's largest schedule of SCHEDULES whose predicted time for "
                         "all seeds fits in this many seconds (counted from the start of this script)")
    ap.add_argument("--speed-json", default=None, help="a speed.py JSON of the same machine (its tae section)")
    ap.add_argument("--out-dir", default=str(C.REPO / "benchmarks" / "results"))
    ap.add_argument("--tag", default="", help="suffix of the output files' names")
    ap.add_argument("--preset", default=None, help="TAKE's preset (paper: exactly the paper; cpu), as "
                                                   "`kedro run --params=take.preset=...`; overrides --scale for TAKE")
    ap.add_argument("--checkpoints", default=None, metavar="DIR",
                    help="TAKE saves a checkpoint every --checkpoint-every epochs in DIR; the same command resumes")
    ap.add_argument("--checkpoint-every", type=int, default=5)
    ap.add_argument("--progress", action="store_true",
                    help="TAKE's epoch bars on stderr (TQDM_MININTERVAL=SECONDS thins them in a log)")
    ap.add_argument("--env", default=None,
                    help="a configuration environment merged over conf/base, as `kedro run --env`: `offline` "
                         "reads the offline copies and backbones (docs/offline.md)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = sorted(set(methods) - set(ALL_METHODS))
    if unknown:
        ap.error(f"unknown methods {unknown}; known: {ALL_METHODS}")
    datasets = [d.strip() for d in args.datasets.split(",") if d.strip()]
    epochs = tuple(int(e) for e in args.epochs.split(",")) if args.epochs else None
    if epochs is not None and len(epochs) != 3:
        ap.error("--epochs takes three numbers: warm-up,update,cluster")
    sets = parse_sets(args.set)

    from deep_kmeans.evaluation.metrics import clustering_scores

    resolve_n_clusters = C.resolve_n_clusters
    stem = f"quality-{args.scale}-{C.today()}{('-' + args.tag) if args.tag else ''}"
    out_json = Path(args.out_dir) / f"{stem}.json"
    out_md = Path(args.out_dir) / f"{stem}.md"
    report = {"provenance": C.provenance(args.device),
              "settings": {"scale": args.scale, "datasets": datasets, "methods": methods, "seeds": args.seeds,
                           "data_seed": args.data_seed, "epochs_override": epochs, "n_samples": args.n_samples,
                           "preset": args.preset, "checkpoints": args.checkpoints,
                           "sets": sets, "env": args.env, "cpu_max_samples": CPU_MAX_SAMPLES,
                           "helpers": C.HELPERS},
              "data": {}, "params": {}, "runs": [], "summary": []}
    started = time.perf_counter()

    def save():
        report["summary"] = summarise(report["runs"])
        report["total_wall_s"] = time.perf_counter() - started
        C.write_json(out_json, report)
        out_md.write_text(markdown(report))

    for dataset in datasets:
        t0 = time.perf_counter()
        features = load_features(dataset, args.scale, args.n_samples, args.data_seed, args.device, args.env)
        k = resolve_n_clusters(None, features)
        views = features.get("views")
        report["data"][dataset] = {
            "n": int(len(features["y"])), "dim": int(features["x"].shape[1]), "k": k,
            "geometry": features["geometry"], "extractor": features["extractor"],
            "views_shape": None if views is None else list(views.shape),
            "x_sha256": sha256(features["x"]), "views_sha256": sha256(views), "y_sha256": sha256(features["y"]),
            "class_counts": np.bincount(features["y"]).tolist(), "loader_options": features["loader_options"],
            "load_s": time.perf_counter() - t0}
        print(f"[{dataset}] N={len(features['y'])} dim={features['x'].shape[1]} K={k} "
              f"sha256(x)={report['data'][dataset]['x_sha256'][:16]} ({time.perf_counter() - t0:.1f}s)", flush=True)
        if args.budget_s is not None and "take" in methods:
            epochs, report["settings"]["schedule_pick"] = pick_schedule(
                args.speed_json, args.budget_s - (time.perf_counter() - started), len(features["y"]),
                len(args.seeds), views is not None)
            report["settings"]["epochs_override"] = epochs
            print(f"[{dataset}] schedule picked: {epochs} ({report['settings']['schedule_pick']})", flush=True)
        params = {m: method_params(m, dataset, args.scale, epochs, sets, args.env, args.preset,
                                   args.checkpoint_every if args.checkpoints else 0) for m in methods}
        for m, p in params.items():
            report["params"][f"{dataset}/{m}"] = p
        for seed in args.seeds:
            for m in methods:
                t0 = time.perf_counter()
                run = {"dataset": dataset, "method": m, "seed": seed}
                try:
                    labels, extra = run_method(m, features, k, params[m], seed, args.device, args.checkpoints,
                                               args.progress)
                    run["wall_s"] = time.perf_counter() - t0
                    run["scores"] = clustering_scores(features["y"], labels)
                    run["n_clusters_found"] = int(len(np.unique(labels)))
                    run.update(extra)
                    print(f"[{dataset}] {m:8s} seed {seed}: ACC {run['scores']['acc']:.4f} NMI_max "
                          f"{run['scores']['nmi_max']:.4f} ARI {run['scores']['ari']:.4f} ({run['wall_s']:.1f}s)",
                          flush=True)
                except Exception as e:  # noqa: BLE001 - one failed run must not lose the others
                    run["wall_s"] = time.perf_counter() - t0
                    run["error"] = f"{type(e).__name__}: {e}"
                    run["traceback"] = traceback.format_exc()
                    print(f"[{dataset}] {m} seed {seed}: FAILED {run['error']}", flush=True)
                report["runs"].append(run)
                save()
    save()
    print(f"wrote {out_md} and {out_json} ({time.perf_counter() - started:.0f}s)")
    return 0 if not any(r.get("error") for r in report["runs"]) else 1


if __name__ == "__main__":
    sys.exit(main())
