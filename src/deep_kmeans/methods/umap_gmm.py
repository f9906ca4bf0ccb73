"""UMAP + GMM — the last two steps of N2D (McConville et al., ICPR 2020), the cheap yardstick.

1. UMAP (umap-learn) embeds the input in ``n_components`` dimensions (N2D: the number of clusters),
   with ``n_neighbors`` neighbours and ``min_dist`` 0 (tight clusters).
2. A Gaussian mixture with ``n_init`` starts (full covariances) clusters the embedding; the labels are its
   most likely components.

No network is trained. ``predict`` embeds new rows with the fitted UMAP (``transform``) and assigns them
with the mixture; UMAP's ``transform`` of the training rows is close to their fitted embedding but not the
same, so ``predict(X_train)`` agrees with ``labels_`` on nearly all rows, not all.
Same ``seed`` → same labels: a seeded UMAP runs single-threaded (``n_jobs=1``).
"""

from __future__ import annotations

import time

import numpy as np

from deep_kmeans.data.registry import Geometry
from deep_kmeans.methods.kit import ClusterEstimator, ClusteringResult, ParamReader, check_inputs, seed_everything
from deep_kmeans.runtime import torch_threads_kept


def _umap():
    try:
        import umap
    except ImportError as err:  # an optional dependency of a slim install
        raise ImportError("umap_gmm needs umap-learn: pip install umap-learn (it is in the project's "
                          "dependencies; reinstall with `pip install -e .`)") from err
    return umap


def read_params(p: ParamReader, geometry: Geometry, n_clusters: int) -> dict:
    """umap_gmm's parameters, checked (the fit and the run's parameter check read them here)."""
    n_components = p.int("n_components", None, min=1)  # null: K
    n_components = n_clusters if n_components is None else n_components
    n_neighbors = p.int("n_neighbors", 20, min=2)
    min_dist = p.float("min_dist", 0.0, min=0.0)
    metric = p.choice("metric", "euclidean", ("euclidean", "cosine", "manhattan", "correlation"))
    covariance = p.choice("covariance_type", "full", ("full", "tied", "diag", "spherical"))
    n_init = p.int("n_init", 10, min=1)
    return {"n_components": n_components, "n_neighbors": n_neighbors, "min_dist": min_dist, "metric": metric,
            "covariance": covariance, "n_init": n_init}


def fit_umap_gmm(x: np.ndarray, n_clusters: int, geometry: Geometry, params: dict, seed: int = 0,
                 device: str = "auto", views: np.ndarray | None = None, progress: bool = True) -> ClusteringResult:
    """UMAP of ``x``, then a GMM. ``device`` and ``views`` are unused (both run on the CPU, on the input)."""
    from sklearn.mixture import GaussianMixture

    p = ParamReader(params, "umap_gmm")
    cfg = read_params(p, geometry, n_clusters)
    p.reject_unknown()
    n_components, n_neighbors, min_dist = cfg["n_components"], cfg["n_neighbors"], cfg["min_dist"]
    metric, covariance, n_init = cfg["metric"], cfg["covariance"], cfg["n_init"]
    x = check_inputs(x, geometry, "umap_gmm", n_clusters)
    if n_neighbors >= len(x):
        raise ValueError(f"umap_gmm.n_neighbors = {n_neighbors} must be smaller than the number of samples "
                         f"({len(x)}): lower it with --params=umap_gmm.n_neighbors=...")
    seed_everything(seed)
    start = time.perf_counter()
    reducer = _umap().UMAP(n_components=n_components, n_neighbors=n_neighbors, min_dist=min_dist, metric=metric,
                           random_state=seed, n_jobs=1, verbose=False, tqdm_kwds={"disable": not progress})
    with torch_threads_kept():  # numba's first start resets the process's thread count
        z = reducer.fit_transform(x).astype(np.float32)
    gmm = GaussianMixture(n_components=n_clusters, covariance_type=covariance, n_init=n_init, random_state=seed)
    labels = gmm.fit_predict(z).astype(np.int64)
    return ClusteringResult(labels=labels, embedding=z, history={"cluster/log_likelihood": [float(gmm.score(z))]},
                            model={"umap": reducer, "gmm": gmm}, train_seconds=time.perf_counter() - start,
                            centers=gmm.means_.astype(np.float32))


def predict_umap_gmm(model: dict, x: np.ndarray, device: str = "auto") -> np.ndarray:
    """The GMM's component of each row of ``x``, embedded by the fitted UMAP (``model`` fitted or as
    :func:`model_state` stores it)."""
    model = model_from_state(model)
    with torch_threads_kept():
        return model["gmm"].predict(model["umap"].transform(x)).astype(np.int64)


# The model as plain arrays and values, for a file read without unpickling code (io.SafeTorchDataset). The
# mixture is its fitted arrays, rebuilt exactly. A fitted UMAP holds a nearest-neighbour search index
# (pynndescent, numba) that no safe format keeps: it is stored as what fitted it (its parameters and the rows
# it was fitted on) and fitted again on load; a seeded UMAP (n_jobs=1) fits the same embedding, which the
# load checks against the stored one.
STATE_KIND = "umap_gmm.state"


def _gmm_state(gmm) -> dict:
    fitted = {k: v for k, v in vars(gmm).items() if k.endswith("_") and not k.startswith("_")}
    return {"params": gmm.get_params(), "fitted": fitted}


def _gmm_from_state(state: dict):
    from sklearn.mixture import GaussianMixture

    gmm = GaussianMixture(**state["params"])
    for k, v in state["fitted"].items():
        setattr(gmm, k, v)
    return gmm


def _umap_params(reducer) -> dict:
    return {k: (dict(v) if isinstance(v, dict) else v) for k, v in reducer.get_params().items()}


def model_state(model: dict) -> dict:
    """``{"umap", "gmm"}`` fitted (as :func:`fit_umap_gmm` returns it) as plain arrays and values; a state
    already is one and is returned as it is."""
    if is_state(model):
        return model
    reducer, gmm = model["umap"], model["gmm"]
    if getattr(reducer, "_raw_data", None) is None or getattr(reducer, "embedding_", None) is None:
        raise ValueError("umap_gmm: the UMAP is not fitted")
    return {"kind": STATE_KIND, "umap": {"params": _umap_params(reducer), "x": np.asarray(reducer._raw_data),
                                         "embedding": np.asarray(reducer.embedding_)},
            "gmm": _gmm_state(gmm)}


def is_state(model) -> bool:
    return isinstance(model, dict) and model.get("kind") == STATE_KIND


def model_from_state(model: dict) -> dict:
    """The fitted ``{"umap", "gmm"}`` of a :func:`model_state` (a fitted model is returned as it is): the
    mixture rebuilt from its arrays, the UMAP fitted again on its rows with its parameters and seed."""
    if not is_state(model):
        return model
    import warnings

    u = model["umap"]
    reducer = _umap().UMAP(**u["params"])
    with warnings.catch_warnings(), torch_threads_kept():
        warnings.simplefilter("ignore")  # the notices of the first fit were shown then
        reducer.fit(u["x"])
    if reducer.embedding_.shape != u["embedding"].shape or not np.allclose(reducer.embedding_, u["embedding"],
                                                                           atol=1e-4):
        import logging

        logging.getLogger(__name__).warning(
            "umap_gmm: the UMAP fitted again on load differs from the stored one (another machine or library "
            "version?): new rows are embedded by the refitted UMAP")
    return {"umap": reducer, "gmm": _gmm_from_state(model["gmm"])}


class UMAPGMM(ClusterEstimator):
    """``UMAPGMM(n_clusters=10, params={"n_neighbors": 30}).fit(X)``: see :func:`fit_umap_gmm`."""

    _fit = staticmethod(fit_umap_gmm)
    _predict = staticmethod(predict_umap_gmm)
