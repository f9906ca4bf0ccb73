"""TAKE's nodes: thin wrappers that turn catalog records into calls of the phases in ``methods.take``.

The run's TAKE configuration is resolved once (:func:`resolve_take_config`) and stored with the
pretrained model; the clustering stage starts from that stored configuration (:func:`cluster_config`), so
``kedro run --pipeline=take_cluster`` re-clusters the model that was pretrained, whatever the current
pretraining parameters say.
"""

from __future__ import annotations

import logging
import time

import numpy as np

from deep_kmeans.data.registry import Geometry
from deep_kmeans.errors import InputMismatchError, ParameterError
from deep_kmeans.evaluation.metrics import clustering_scores, internal_scores
from deep_kmeans.methods import take
from deep_kmeans.methods.config import AUTO_PRESET, chosen_preset, params_for, resolve_n_clusters
from deep_kmeans.methods.kit import ParamReader, kmeans_init
from deep_kmeans.methods.umap_gmm import model_state
from deep_kmeans.features.build import features_like
from deep_kmeans.pipelines.data.nodes import load_raw_data
from deep_kmeans.pipelines.evaluation.nodes import as_mlflow_metrics, assignments_table

logger = logging.getLogger(__name__)

# Options of the clustering phase: taken from the current parameters when re-clustering a stored model.
# Everything else (the TAE's shape, the pretraining schedule and losses) comes from the stored config.
CLUSTER_KEYS = take.CLUSTER_TRAINING_KEYS + ("knet_init", "assignment", "umap_neighbors", "kmeans_n_init",
                                             "baseline_kmeans", "batch_size", "predict_batch_size", "amp",
                                             "checkpoint_every", "resume")


def train_indices(n: int, y: np.ndarray | None, split: dict | None, data_seed: int) -> np.ndarray:
    """Rows used for training. ``split.train_fraction`` (Table 5): a subset drawn with ``data_seed``,
    stratified by the labels where there are any; the rest is predicted as unseen data. null = all rows."""
    fraction = take.read_take_split(ParamReader(split, "take.split"))
    if fraction is None:
        return np.arange(n)
    from sklearn.model_selection import train_test_split

    idx, _ = train_test_split(np.arange(n), train_size=fraction, random_state=data_seed, stratify=y)
    return np.sort(idx)


def resolve_take_config(params: dict, features: dict, n_clusters, data_seed: int) -> dict:
    """``params:take`` with the data set's ``overrides`` block merged, checked, plus K and the training rows:
    everything the later nodes need, resolved once, before any long work."""
    merged = params_for(params, features["name"])
    cfg = take.TAKEConfig.from_params(merged)
    train_rows = train_indices(len(features["x"]), features["y"], merged.get("split"), data_seed)
    # your own data: the epochs sized to it (take.sample_budget, take.min_cluster_steps; cluster_config the same)
    cfg, note = take.sized_for_data(cfg, len(train_rows), Geometry.from_dict(features["geometry"]))
    if note:
        logger.info(note)
    cfg, note = take.start_for_data(cfg, data_kind(features))
    if note:
        logger.info(note)
    check_umap_neighbors(cfg, len(train_rows))
    # the faster schedule a long run's warning offers (pretrain_take), where the run is not on it already
    presets = params.get("presets") or {}
    preset = chosen_preset(params, features["name"])
    if params.get("preset") == AUTO_PRESET:
        logger.info("take.preset auto: %s", f"the {preset} preset (no CUDA here; take.preset=null runs the data set's "
                    "own settings)" if preset else "the data set's own settings")
    faster = None
    if preset != FASTER_PRESET and FASTER_PRESET in presets:
        faster = take.TAKEConfig.from_params(params_for({**params, "preset": FASTER_PRESET}, features["name"]))
    return {"config": cfg.to_dict(), "n_clusters": resolve_n_clusters(n_clusters, features),
            "train_rows": train_rows, "faster": None if faster is None else faster.to_dict()}


def data_kind(features: dict) -> str | None:
    """What the features were made from (``gray``, ``rgb``, ``text``, ``tfidf``, ``vector``), None for a record
    written before the features layer recorded it."""
    return (features.get("preprocess") or {}).get("kind")


def check_umap_neighbors(cfg: take.TAKEConfig, n_rows: int) -> None:
    """Before any training: the UMAP + GMM head needs more rows than neighbours. (KNet's UMAP + GMM start falls back
    to K-means' start on so few rows, with a warning: :func:`take.kmeans_initialise`.)"""
    if cfg.assignment == "umap_gmm" and cfg.umap_neighbors >= n_rows:
        raise ParameterError(f"take.umap_neighbors = {cfg.umap_neighbors} must be smaller than the {n_rows} training "
                             "rows for take.assignment=umap_gmm: lower it (--params=take.umap_neighbors=...) or use "
                             "take.assignment=knet")


# A run whose estimated training time passes this gets a warning before it starts (pretrain_take).
LONG_RUN_SECONDS = 600
FASTER_PRESET = "cpu"
# The faster preset is offered only where its own estimate is at most this fraction of the run's: a preset that
# is no faster (or is the run's own settings under another name) is not worth a rerun.
FASTER_AT_MOST = 0.67
# Steps of one phase that took this many times longer than others while timed: other processes stalled them (two
# OpenMP threads on shared cores: measured from 35 ms to 2.7 s), and the estimate can be several times off.
UNSTEADY_SPREAD = 4.0
# Where other processes hold cores that this run's threads need, its steps stall erratically, whatever the probe
# saw: beside one busy process on 2 cores, epochs with 2 threads ran 0.7 to 9 times the estimate (digits, MNIST-70k,
# a 20,000-row table; docs/benchmarks.md section 3), with one thread within 2x. Such a run warns from this long on,
# with what one thread takes.
STALLED_WARN_SECONDS = 60
STALLED_OBSERVED = "0.7 to 9 times"


def duration(seconds: float) -> str:
    """``3 h 05 min``, ``12 min``, ``40 s``."""
    minutes = round(seconds / 60)
    if seconds < 60:
        return f"{seconds:.0f} s"
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60:02d} min"


def assumptions(estimate: dict) -> str:
    """What an estimate was measured under: ``cpu, 2 torch threads on 2 cores, load average 0.4``, and where its
    steps were unsteady, by how much."""
    text = f"{estimate['device']}, {estimate['machine'].describe()}"
    spread = estimate["steps"]["spread"]
    if spread >= UNSTEADY_SPREAD:
        text += (f"; the steps' times swung {spread:.0f}x while measured (other processes stalled them), so this "
                 "is rough" + ("; OMP_NUM_THREADS=1 makes them steadier" if estimate["machine"].threads > 1 else ""))
    return text


def warn_if_long(x: np.ndarray, geometry: Geometry, cfg: take.TAKEConfig, config: dict, device: str, dataset: str,
                 views: np.ndarray | None = None, augment=None, done_epochs: int = 0,
                 done_cluster_epochs: int = 0) -> dict:
    """Estimate the training time (:func:`take.estimate_seconds`, measured here and now) and log it with what it
    assumed; past ``LONG_RUN_SECONDS``, warn before any epoch runs, with the faster preset's estimate where that
    preset is really faster; where the run's threads stall on other processes' work and one thread is really
    faster, from ``STALLED_WARN_SECONDS`` on, with one thread's estimate. A run that resumes after
    ``done_epochs`` pretraining epochs and ``done_cluster_epochs`` joint epochs (its checkpoints') is estimated,
    and said, as what is left of it. Returns the estimate."""
    n_clusters = int(config.get("n_clusters") or 10)
    estimate = take.estimate_seconds(x, geometry, cfg, device, views=views, augment=augment, n_clusters=n_clusters,
                                     done_epochs=done_epochs, done_cluster_epochs=done_cluster_epochs)
    one = estimate.get("one_thread")
    total_epochs = cfg.warmup_epochs + cfg.update_epochs
    joint = f" and joint epoch {done_cluster_epochs} of {cfg.cluster_epochs}" if done_cluster_epochs else ""
    resumed = (f"resuming after pretraining epoch {done_epochs} of {total_epochs}{joint}; " if done_epochs else "")
    single = "" if one is None else f"; with OMP_NUM_THREADS=1 about {duration(one['total'])}"
    logger.info("take: %s estimated at %s (%spretraining %s, K-means start %s, clustering %s; measured on %s)%s",
                "the rest of the training" if done_epochs else "training", duration(estimate["total"]), resumed,
                duration(estimate["pretrain"]), duration(estimate["start"]), duration(estimate["cluster"]),
                assumptions(estimate), single)
    stalled = one is not None and one["total"] <= FASTER_AT_MOST * estimate["total"]
    if estimate["total"] <= (STALLED_WARN_SECONDS if stalled else LONG_RUN_SECONDS):
        return estimate
    message = (f"take on {dataset}: {'the rest of ' if done_epochs else ''}this training will take about "
               f"{duration(estimate['total'])} ({resumed}{len(x):,} rows; {cfg.warmup_epochs} warm-up, "
               f"{cfg.update_epochs} update and {cfg.cluster_epochs} clustering epochs; timed on a few steps of "
               f"each phase on {assumptions(estimate)}).")
    if stalled:
        machine = estimate["machine"]
        message += (f" Other processes keep cores busy that this run's {machine.threads} threads need, so its steps "
                    f"stall, erratically (beside one busy process on 2 cores we measured epochs {STALLED_OBSERVED} "
                    f"this estimate): a warm-up step took {estimate['steps']['warmup'] * 1e3:.0f} ms here, with one "
                    f"thread {one['steps']['warmup'] * 1e3:.0f} ms. With OMP_NUM_THREADS=1 the same training takes "
                    f"about {duration(one['total'])}: another training, as another seed would be (sums taken in "
                    f"another order take another path; digits ended at 0.853 with one thread, 0.944 with two).")
    faster = take.TAKEConfig.from_params(config["faster"]) if config.get("faster") else None
    if faster is not None and faster != cfg:
        quick = take.estimate_seconds(x, geometry, faster, device, views=views, augment=augment,
                                      n_clusters=n_clusters)
        if quick["total"] <= FASTER_AT_MOST * estimate["total"]:
            message += (f" The {FASTER_PRESET} preset (a width-{faster.embed_dim} TAE, {faster.warmup_epochs}/"
                        f"{faster.update_epochs}/{faster.cluster_epochs} epochs) takes about "
                        f"{duration(quick['total'])}: --params=take.preset={FASTER_PRESET}.")
    if str(estimate["device"]).startswith("cpu"):
        message += " A GPU (device=auto picks it) is the paper's setting."
    message += " Ctrl-C stops the run (MLflow marks it KILLED) and the same command resumes from the last checkpoint."
    logger.warning(message)
    return estimate


def pretrain_take(features: dict, config: dict, seed: int, device: str, progress: bool, checkpoints,
                  feature_params: dict | None = None) -> tuple[dict, dict]:
    """Warm-up + update pretraining of the TAE on the training rows.

    ``feature_params`` (``params:features``): its ``views`` block sets the crops and rotations that
    ``take.fresh_views`` draws every epoch.
    """
    cfg = take.TAKEConfig.from_params(config["config"])
    rows = config["train_rows"]
    views = features.get("views")
    geometry = Geometry.from_dict(features["geometry"])
    augment = take.view_augmenter(features, cfg, (feature_params or {}).get("views"))
    x, train_views = features["x"][rows], None if views is None else views[rows]  # one copy of the training rows
    ckpt = take.pretrain_checkpointer(x, train_views, cfg, seed, checkpoints, features["fingerprint"], augment)
    done = ckpt.saved_epoch()
    # pretraining done: an interrupted joint phase may resume too (its checkpoint says after which epoch)
    done_joint = (take.saved_cluster_epoch(checkpoints, x, cfg, seed, features["fingerprint"])
                  if done >= cfg.warmup_epochs + cfg.update_epochs and cfg.assignment == "knet" else 0)
    warn_if_long(x, geometry, cfg, config, device, features["name"],
                 views=None if augment is not None else views, augment=augment, done_epochs=done,
                 done_cluster_epochs=done_joint)
    start = time.perf_counter()
    # keep_final: a run cut off in a later phase reruns without pretraining again; cluster_take clears it
    state, history = take.pretrain(x, train_views, geometry, cfg,
                                   seed=seed, device=device, progress=progress, store=checkpoints,
                                   data_key=features["fingerprint"], augment=augment, keep_final=True,
                                   checkpointer=ckpt)
    pretrained = {**state, "config": cfg.to_dict(), "geometry": geometry.to_dict(),
                  "n_clusters": config["n_clusters"], "train_rows": rows, "dataset": features["name"],
                  "fingerprint": features["fingerprint"], "data_kind": data_kind(features), "seed": seed,
                  "seconds": time.perf_counter() - start,
                  "pretrain_checkpoint": ckpt.key}
    return pretrained, history


def cluster_config(pretrained: dict, params: dict) -> dict:
    """The stored pretraining config with the clustering options of the current ``params:take``.

    A pretraining option that differs from the stored one is reported, not applied: it would need a new
    pretraining (``kedro run --pipeline=take``).
    """
    stored = dict(pretrained["config"])
    # sized to the training rows as resolve_take_config sized the pretraining (sample_budget, min_cluster_steps)
    current, _ = take.sized_for_data(take.TAKEConfig.from_params(params_for(params, pretrained["dataset"])),
                                     len(pretrained["train_rows"]), Geometry.from_dict(pretrained["geometry"]))
    current, note = take.start_for_data(current, pretrained.get("data_kind"))
    if note:
        logger.info(note)
    current = current.to_dict()
    ignored = sorted(k for k in current if k not in CLUSTER_KEYS and current[k] != stored.get(k))
    if ignored:
        logger.warning("take: %s differ from the pretrained model's and are not applied (they shape the "
                       "pretraining; rerun `kedro run --pipeline=take` to change them): %s", ", ".join(ignored),
                       ", ".join(f"{k}={stored.get(k)!r} kept" for k in ignored))
    stored.update({k: current[k] for k in CLUSTER_KEYS})
    return take.TAKEConfig.from_params(stored).to_dict()


def _train_x(features: dict, pretrained: dict) -> np.ndarray:
    if features["fingerprint"] != pretrained["fingerprint"]:
        raise ValueError(f"the pretrained TAKE model was trained on other features (fingerprint "
                         f"{pretrained['fingerprint']}) than the current ones ({features['fingerprint']}): "
                         "rerun `kedro run --pipeline=take` instead of a later stage")
    return features["x"][pretrained["train_rows"]]


def _train_views(features: dict, pretrained: dict) -> np.ndarray | None:
    """The stored views of the training rows (``take.knet_view_targets``, ``take.cluster_contrastive``), None where
    the data set has none (``take.cluster`` then says what it trains without)."""
    views = features.get("views")
    if views is None:
        logger.warning("take: %s was built without views (features.views.enabled: false, or no views for its kind of "
                       "data), so the joint phase trains on the rows alone", features.get("name"))
        return None
    return views[pretrained["train_rows"]]


def initialise_take(pretrained: dict, features: dict, config: dict, seed: int, device: str,
                    progress: bool = False) -> dict:
    """K-means on z of the training rows → initial centres and assignment, and where KNet starts (the same, or
    with ``take.knet_init: umap_gmm`` N2D's head on z)."""
    init = take.kmeans_initialise(_train_x(features, pretrained), pretrained,
                                  Geometry.from_dict(pretrained["geometry"]), take.TAKEConfig.from_params(config),
                                  pretrained["n_clusters"], seed=seed, device=device, progress=progress)
    return {k: init[k] for k in ("centers", "labels", "inertia", "start_centers", "start_labels", "start_confidence",
                                 "start_agreement")}


def cluster_take(pretrained: dict, init: dict, features: dict, config: dict, seed: int, device: str,
                 progress: bool, checkpoints) -> tuple[dict, dict]:
    """Joint TAE + KNet training (or, with ``assignment: kmeans``, the pretrained TAE and K-means centres)."""
    cfg = take.TAKEConfig.from_params(config)
    geometry = Geometry.from_dict(pretrained["geometry"])
    start = time.perf_counter()
    if cfg.assignment == "kmeans":
        state, history = {"tae": pretrained["tae"], "knet": None}, {}
    elif cfg.assignment == "umap_gmm":
        z = take.encode(take.load_tae(pretrained, geometry, cfg), _train_x(features, pretrained),
                        cfg.predict_batch_size, device)
        fitted = take.fit_head(z, cfg, pretrained["n_clusters"], seed, progress)
        # the head as plain arrays (umap_gmm.model_state): take.model is a file read without unpickling code
        state, history = {"tae": pretrained["tae"], "knet": None, "head": model_state(fitted["head"])}, {}
        init = {**init, "centers": fitted["centers"]}
    else:
        # an init stored before knet_init existed has no start: K-means' own
        # the labels, where there are any, score the per-epoch diagnostics only
        labels = None if features["y"] is None else features["y"][pretrained["train_rows"]]
        state, history = take.cluster(_train_x(features, pretrained), pretrained,
                                      init.get("start_centers", init["centers"]), geometry, cfg, seed=seed,
                                      device=device, progress=progress, store=checkpoints,
                                      data_key=features["fingerprint"],
                                      init_labels=init.get("start_labels", init["labels"]),
                                      confidence=init.get("start_confidence"), y=labels,
                                      views=_train_views(features, pretrained) if cfg.uses_stored_views else None)
    if checkpoints is not None and pretrained.get("pretrain_checkpoint"):
        checkpoints.delete(pretrained["pretrain_checkpoint"])  # the pretraining's final state: no longer needed
    model = {**state, "centers": init["centers"] if state["knet"] is None else state["knet"]["M"].T.numpy(),
             "config": cfg.to_dict(), "geometry": geometry.to_dict(), "n_clusters": pretrained["n_clusters"],
             "train_rows": pretrained["train_rows"], "dataset": features["name"], "seed": seed,
             "preprocess": features.get("preprocess"),
             "train_seconds": pretrained.get("seconds", 0.0) + time.perf_counter() - start}
    return model, history


def predict_take(model: dict, features: dict, device: str) -> dict:
    """Assignments of every row by the KNet forward (nearest K-means centre for ``assignment: kmeans``).

    With a train/unseen split, the scores of the unseen rows are added as ``*_unseen`` (Table 5).
    """
    cfg = take.TAKEConfig.from_params(model["config"])
    model = take.with_fitted_head(model)
    labels, z = take.predict(features["x"], model, Geometry.from_dict(model["geometry"]), cfg, device=device)
    assignments = {"method": "take", "labels": labels, "embedding": z, "centers": model["centers"],
                   "soft": take.soft_assignments(z, model, cfg, device),
                   "train_seconds": model["train_seconds"], "extra_scores": {}}
    train_idx = np.asarray(model.get("train_rows", np.arange(len(labels))))
    if len(train_idx) < len(labels) and features["y"] is not None:
        unseen = np.setdiff1d(np.arange(len(labels)), train_idx)
        for name, rows in (("train", train_idx), ("unseen", unseen)):
            for k, v in clustering_scores(features["y"][rows], labels[rows]).items():
                assignments["extra_scores"][f"{k}_{name}"] = v
    return assignments


def load_new_data(model: dict, dataset: str, data_params: dict, data_seed: int, custom_params: dict | None,
                  custom_source) -> dict:
    """``take_predict``'s rows: read like the data stage, with the id and label columns named at training taken
    as they were (an id carried to the predictions, labels carried too; either may be absent from new rows)
    unless ``custom.id_column`` / ``custom.label_column`` name others. A table the reader refuses (no rows, text
    columns) is said with the columns the model expects."""
    from deep_kmeans.data.custom import CustomDataError

    custom = dict(custom_params or {})
    schema = (model.get("preprocess") or {}).get("table_schema") or {}
    defaulted = False
    for role in ("id_column", "label_column"):
        if custom.get(role) is None and schema.get(role):
            custom[role], defaulted = schema[role][0], True
    if dataset == "custom" and defaulted:
        custom["optional_columns"] = True
    if dataset == "custom":
        custom["new_rows"] = True  # one row to assign is fine: nothing is clustered here
    try:
        return load_raw_data(dataset, data_params, data_seed, custom, custom_source)
    except CustomDataError as err:
        want = (model.get("preprocess") or {}).get("columns")
        if not want:
            raise
        raise CustomDataError(f"{err} The model expects the columns {', '.join(want)}.") from None


def predict_new_take(model: dict, new_data: dict, device: str, progress: bool, loaded_versions: dict | None = None):
    """``take_predict``: the clusters of new rows (a file of the same kind and columns as the training data)
    by a trained model, without training: the assignments table (id, cluster, label where given, distance,
    p_0 … p_{K-1}). ``loaded_versions`` (from the run's hooks) says which version of ``take.model``, written by
    which MLflow run, this is; the log says it."""
    source = (loaded_versions or {}).get("take.model") or {}
    if source:
        run = f", MLflow run {source['mlflow_run_id']}" if source.get("mlflow_run_id") else ""
        how = "pinned with --load-versions" if source.get("pinned") else "the newest of a finished run"
        logger.info("take_predict: using take.model version %s (%s%s)", source["version"], how, run)
        if source.get("warning"):
            logger.warning("take_predict: this model's run collapsed (%s); it is used because it was pinned",
                           source["warning"])
    preprocess = model.get("preprocess")
    if preprocess is None:
        raise InputMismatchError("this TAKE model was saved without its preprocessing (trained before take_predict "
                                 "existed): retrain it with `kedro run --pipeline=take`")
    x = features_like(new_data, preprocess, device=device, progress=progress)
    geometry = Geometry.from_dict(model["geometry"])
    if x.shape[1] != geometry.dim:
        raise InputMismatchError(f"the new data has {x.shape[1]} features, the model expects {geometry.dim}")
    cfg = take.TAKEConfig.from_params(model["config"])
    model = take.with_fitted_head(model)
    labels, z = take.predict(x, model, geometry, cfg, device=device)
    assignments = {"labels": labels, "embedding": z, "centers": model["centers"],
                   "soft": take.soft_assignments(z, model, cfg, device)}
    table = assignments_table(assignments, {"x": x, "y": new_data.get("y"), "classes": new_data.get("classes"),
                                            "ids": new_data.get("ids")})
    logger.info("take_predict: %d new rows of %s assigned to %d clusters by the model trained on %s (seed %s%s)",
                len(table), new_data.get("source"), table["cluster"].nunique(), model.get("dataset"), model.get("seed"),
                f", version {source['version']}" if source else "")
    return table


def mlflow_model(model: dict, scores: dict | None = None):
    """The trained model as an MLflow pyfunc model (artifact path ``model``), loadable without the project. It
    takes the run's scores so that it is logged after the evaluation: MLflow links the run's final metrics to
    the model it logs (and a collapsed run's warning goes with it)."""
    from deep_kmeans.serving import TAKEPyfunc

    return TAKEPyfunc(take.with_fitted_head(model), scores)


def merge_histories(pretrain_history: dict, cluster_history: dict) -> dict:
    """One record of every per-epoch loss, pretraining then clustering."""
    return {**pretrain_history, **cluster_history}


def kmeans_baseline_scores(init: dict, pretrained: dict, features: dict, config: dict, seed: int) -> dict:
    """Scores of the two K-means baselines, logged beside TAKE's so one run shows what TAKE adds:

    - ``init_*``: K-means on the pretrained TAE's z (the initialisation; Table 12's "pretrain + K-means");
    - ``start_*``: where KNet starts when ``knet_init`` is not kmeans (N2D's head on z, or on the input), so that
      the gain of the joint phase shows against both;
    - ``input_kmeans_*``: K-means on the model input itself (pixels, backbone features or tf-idf), with
      the same seed and ``kmeans_n_init``: the plain baseline. ``take.baseline_kmeans: false`` skips it
      (it costs one K-means on the raw input: about a minute on MNIST's 70,000 × 784 on 2 cores).

    Without labels (your own data) both are scored by the silhouette etc. on the input instead.
    """
    cfg = take.TAKEConfig.from_params(config)
    x = _train_x(features, pretrained)
    if features["y"] is None:
        def score(labels):
            return {f"{k}_input": v for k, v in internal_scores(x, labels, seed).items()}
        first = "silhouette_input"
    else:
        y = features["y"][pretrained["train_rows"]]

        def score(labels):
            return clustering_scores(y, labels)
        first = "acc"
    scores = {f"init_{k}": v for k, v in score(init["labels"]).items()}
    own_start = cfg.knet_init != "kmeans" and cfg.assignment == "knet" and init.get("start_labels") is not None
    if own_start:
        scores.update({f"start_{k}": v for k, v in score(init["start_labels"]).items()})
    if init.get("start_agreement") is not None:  # knet_init auto: the label-free statistic it chose by
        scores["start_agreement"] = init["start_agreement"]
    if cfg.baseline_kmeans:
        _, labels, _ = kmeans_init(x, len(init["centers"]), seed=seed, n_init=cfg.kmeans_n_init)
        scores.update({f"input_kmeans_{k}": v for k, v in score(labels).items()})

    def fmt(v):
        return "n/a" if v is None else f"{v:.4f}"
    message = f"K-means on the pretrained z: {first} {fmt(scores[f'init_{first}'])}"
    if own_start:
        start = take.start_name(cfg.knet_init, init.get("start_agreement"))
        message += f"; KNet's start ({start}): {first} {fmt(scores[f'start_{first}'])}"
    if cfg.baseline_kmeans:
        message += f"; K-means on the input: {first} {fmt(scores[f'input_kmeans_{first}'])}"
    logger.info(message)
    return as_mlflow_metrics(scores)
