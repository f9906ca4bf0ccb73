"""How a run's parameters become one method's configuration: resolved once per run, then passed on.

The Kedro nodes, the benchmarks and notebooks use these same helpers, so a method sees the same
configuration whichever way it is run.
"""

from __future__ import annotations

from deep_kmeans.data.registry import get_dataset_info
from deep_kmeans.methods.kit import check_n_clusters


def params_for(params: dict | None, dataset: str) -> dict:
    """A method's parameters with its ``overrides[<dataset>]`` block merged in (and removed)."""
    params = dict(params or {})
    overrides = params.pop("overrides", None) or {}
    params.update(overrides.get(dataset) or {})
    return params


def resolve_n_clusters(n_clusters: int | None, features: dict) -> int:
    """``n_clusters`` or, when null, the data set's number of classes; checked against the data."""
    k = get_dataset_info(features["name"]).n_classes if n_clusters is None else n_clusters
    check_n_clusters(k, len(features["x"]))
    return int(k)
