"""How a run's parameters become one method's configuration: resolved once per run, then passed on.

The Kedro nodes, the benchmarks and notebooks use these same helpers, so a method sees the same
configuration whichever way it is run.
"""

from __future__ import annotations

import logging

import numpy as np

from deep_kmeans.data.registry import get_dataset_info
from deep_kmeans.data.validation import check_distinct_rows, distinct_rows
from deep_kmeans.errors import ParameterError
from deep_kmeans.methods.kit import check_n_clusters

logger = logging.getLogger(__name__)


def params_for(params: dict | None, dataset: str) -> dict:
    """A method's parameters with its ``overrides[<dataset>]`` block merged in, then the chosen
    ``presets[<preset>]`` (``--params=take.preset=cpu``: a schedule for any data set; ``auto``: see
    :func:`chosen_preset`), then that preset's own block for the data set (``presets[<preset>].overrides[<dataset>]``,
    e.g. the cpu schedule measured on full MNIST); the structure keys removed."""
    params = dict(params or {})
    preset = chosen_preset(params, dataset)
    overrides = params.pop("overrides", None) or {}
    presets = params.pop("presets", None) or {}
    params.pop("preset", None)
    params.update(overrides.get(dataset) or {})
    if preset is not None:
        if preset not in presets:
            known = ", ".join(map(str, presets)) or "none defined"
            raise ParameterError(f"preset {preset!r} is not defined for this method (presets: {known}); "
                                 f"pass one of them, {AUTO_PRESET} or null for the data set's own settings")
        flat, refined = preset_layers(presets[preset], dataset)
        params.update(flat)
        params.update(refined)
    return params


def listed(value) -> list | None:
    """A list parameter as a run can get it: a list, a single value, or a space-separated string (``kedro run``
    splits ``--params`` at commas: ``--params="compare.seeds=0 1 2"``); None stays None."""
    if value is None:
        return None
    if isinstance(value, str):
        return value.split()
    return list(value) if isinstance(value, (list, tuple)) else [value]


AUTO_PRESET = "auto"
# the keys that size a run: a data set block holding one of them is already sized for a CPU (digits, your own data)
SCHEDULE_KEYS = ("warmup_epochs", "update_epochs", "cluster_epochs", "sample_budget")


def chosen_preset(group: dict, dataset: str, cuda: bool | None = None) -> str | None:
    """The preset a run of ``dataset`` uses: ``group["preset"]`` as given, or for ``auto`` the ``cpu`` preset on a
    machine without CUDA (``cuda``: None asks torch) unless the data set's own block sets its schedule; otherwise
    none: the data set's own settings (on a GPU, the paper's λ, depth and heads with the paper's schedule)."""
    preset = group.get("preset")
    if preset != AUTO_PRESET:
        return preset
    own = (group.get("overrides") or {}).get(dataset) or {}
    if "cpu" not in (group.get("presets") or {}) or any(k in own for k in SCHEDULE_KEYS):
        return None
    if cuda is None:
        import torch

        cuda = torch.cuda.is_available()
    return None if cuda else "cpu"


def preset_layers(block: dict | None, dataset: str) -> tuple[dict, dict]:
    """A preset's two layers: its keys for any data set, and its own block for ``dataset`` (its ``overrides``)."""
    flat = dict(block or {})
    refined = (flat.pop("overrides", None) or {}).get(dataset) or {}
    return flat, dict(refined)


def command_line_wins(group: dict, given: dict, dataset: str, log: bool = True) -> dict:
    """A method's parameter group where the keys given on the command line (``--params=take.cluster_epochs=1``)
    also replace the data set's block (``take.overrides.<dataset>``) and the chosen preset
    (``take.presets.<preset>``), which would otherwise win when the nodes merge them in: what the user typed
    is what runs (and what MLflow records)."""
    typed = {k: v for k, v in given.items() if k not in ("overrides", "presets", "preset")}
    out, applied = dict(group), {}
    for block, name in (("overrides", dataset), ("presets", chosen_preset(group, dataset))):
        layer = (group.get(block) or {}).get(name) if name is not None else None
        if not isinstance(layer, dict):
            continue
        hit = {k: v for k, v in typed.items() if k in layer and k != "overrides"}
        own = (layer.get("overrides") or {}).get(dataset) if block == "presets" else None
        own_hit = {k: v for k, v in typed.items() if isinstance(own, dict) and k in own}
        if hit or own_hit:
            layer = {**layer, **hit}
            if own_hit:
                layer["overrides"] = {**layer["overrides"], dataset: {**own, **own_hit}}
            out[block] = {**group[block], name: layer}
            applied.update(hit)
            applied.update(own_hit)
    if not applied:
        return group
    if log:
        logger.info("command line over the %s settings: %s", dataset,
                    ", ".join(f"{k}={v!r}" for k, v in applied.items()))
    return out


AUTO_RANGE = (2, 10)


def choose_n_clusters(x: np.ndarray, k_range: tuple[int, int] = AUTO_RANGE, seed: int = 0,
                      sample_size: int = 3000) -> tuple[int, dict[int, float]]:
    """``n_clusters=auto``, a heuristic: the K in ``k_range`` whose K-means on ``x`` (a seeded sample of at
    most ``sample_size`` rows) has the highest silhouette. Returns (K, {K: silhouette})."""
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score

    x = np.asarray(x, dtype=np.float64)
    rng = np.random.default_rng(seed)
    if len(x) > sample_size:
        x = x[np.sort(rng.choice(len(x), sample_size, replace=False))]
    # no more clusters than distinct rows: K-means cannot fill more (duplicated data)
    lo, hi = k_range[0], min(k_range[1], len(x) - 1, distinct_rows(x, enough=k_range[1] + 1))
    if hi < lo:
        raise ParameterError(f"n_clusters=auto needs at least {lo + 1} samples, got {len(x)}: give "
                             "--params=n_clusters=K (an integer)")
    scores = {}
    for k in range(lo, hi + 1):
        labels = KMeans(n_clusters=k, random_state=seed, n_init=3).fit_predict(x)
        scores[k] = float(silhouette_score(x, labels)) if len(np.unique(labels)) > 1 else -1.0
    best = max(scores, key=scores.get)
    logger.info("n_clusters=auto chose K=%d (the best silhouette of K-means on the input for K in %d..%d: %s)",
                best, lo, hi, ", ".join(f"{k}: {v:.3f}" for k, v in scores.items()))
    return best, scores


def resolve_n_clusters(n_clusters: int | str | None, features: dict, seed: int = 0) -> int:
    """``n_clusters``; when null, the data set's number of classes; ``auto``: :func:`choose_n_clusters`.
    Checked against the data: K no larger than the rows, and the model input holds at least K distinct rows
    (constant or duplicated data is refused here, before any training, with what is wrong)."""
    source = f"the {features['name']} model input"
    if n_clusters == "auto":
        check_distinct_rows(features["x"], 2, source)
        return choose_n_clusters(features["x"], seed=seed)[0]
    if n_clusters is None:
        k = get_dataset_info(features["name"]).n_classes
        if not k:
            classes = features.get("classes") or []
            if not classes:
                raise ParameterError(f"{features['name']} data has no labels to count clusters from: pass "
                                 "--params=n_clusters=K (an integer), or n_clusters=auto to choose K by the "
                                 f"silhouette of K-means over K = {AUTO_RANGE[0]}..{AUTO_RANGE[1]} (a heuristic)")
            k = len(classes)
    else:
        k = n_clusters
    check_n_clusters(k, len(features["x"]))
    check_distinct_rows(features["x"], k, source)
    return int(k)
