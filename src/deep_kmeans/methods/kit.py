"""The training kit every method shares: device and seeding, checked parameters, batching, checkpoint
and resume, per-epoch histories, the K-means initialisation, the result record and the estimator base.

Nothing here knows a method: ``methods/<name>.py`` builds its fit loop from these pieces and the torch
modules of :mod:`deep_kmeans.models`. Nothing here imports Kedro.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import random
import time
from dataclasses import dataclass, field
from typing import Any, Iterator, Sequence

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.cluster import KMeans
from torch import nn
from tqdm.auto import tqdm

from deep_kmeans.data.registry import Geometry, vector_geometry
from deep_kmeans.errors import ParameterError
from deep_kmeans.runtime import resolve_device, seed_everything

__all__ = [
    "Checkpointer", "ClusterEstimator", "ClusteringResult", "ParamReader", "as_tensor", "check_inputs",
    "check_n_clusters", "cpu_state_dict", "cycle_minibatches", "encode_tensor", "embed", "epoch_bar",
    "kmeans_init", "label_change_rate", "make_optimizer", "minibatches", "record", "resolve_device",
    "rng_state", "run_key", "seed_everything", "set_rng_state",
]

logger = logging.getLogger(__name__)


# --------------------------------------------------------------------------------------------------
# the result record


@dataclass
class ClusteringResult:
    """The outcome of fitting one clustering method on one data set.

    ``labels``: (N,) int64 cluster of every sample; ``embedding``: (N, d) float32 learned features
    (None for methods without one, such as K-means on raw input); ``history``: per-epoch values of each
    loss term, ``{"pretrain/loss": [...], "cluster/loss": [...]}``; ``model``: what :func:`predict` of the
    method needs (a ``state_dict`` and the settings it was built with); ``train_seconds``: wall time.
    """

    labels: np.ndarray
    embedding: np.ndarray | None = None
    history: dict[str, list[float]] = field(default_factory=dict)
    model: Any = None
    train_seconds: float = 0.0
    centers: np.ndarray | None = None


def record(history: dict[str, list], prefix: str, values: dict[str, float]) -> None:
    """Append one epoch's ``values`` to ``history`` under ``<prefix>/<name>``."""
    for k, v in values.items():
        history.setdefault(f"{prefix}/{k}", []).append(None if v is None else float(v))


# --------------------------------------------------------------------------------------------------
# parameters and inputs


class ParamReader:
    """Typed, range-checked reads of a method's ``params`` dict: the one definition of what each parameter
    allows, shared by the fit functions and the run's parameter check (:mod:`deep_kmeans.schema`).

    A bad value raises a :class:`~deep_kmeans.errors.ParameterError` (a ``ValueError``) that names
    ``<method>.<key>``, the value, what is expected and where to change it. With ``collect=True`` nothing is
    raised: each problem becomes one line of ``errors`` and the read returns the default, so that every
    problem of a run can be reported at once. ``names`` maps a key to the dotted name it came from
    (``take.overrides.digits.heads``), else ``<method>.<key>``. A null value reads as the default unless
    ``nullable=False``. The data set's ``overrides`` block is merged before
    (:func:`methods.config.params_for`).
    """

    def __init__(self, params: dict | None, method: str, *, collect: bool = False, names: dict | None = None,
                 conf_file: str | None = None):
        self.method = method
        self.collect = collect
        self.errors: list[str] = []
        self.names = dict(names or {})
        root = method.split(".")[0]
        self.conf_file = conf_file or f"conf/base/parameters_{root}.yml"
        self.read: set[str] = set()
        if params is not None and not isinstance(params, dict):
            self._problem(f"{method or 'parameters'} = {params!r} is invalid: expected a mapping of parameters",
                          f"{method} parameters must be a mapping, got {type(params).__name__}")
            params = None
        self.params = dict(params or {})

    def name(self, key: str) -> str:
        return self.names.get(key) or (f"{self.method}.{key}" if self.method else key)

    def _problem(self, short: str, long: str | None = None) -> None:
        if not self.collect:
            raise ParameterError(long or short)
        self.errors.append(short)

    def reject_unknown(self, ignore: Sequence[str] = ("overrides",)) -> None:
        """After every read: a key that no read asked for is a typo or a parameter of another method, an error
        naming it and the closest known key (a misspelt schedule must not silently run the paper's)."""
        import difflib

        unknown = sorted(set(self.params) - self.read - set(ignore), key=str)
        if not unknown:
            return
        known = sorted(self.read)
        hints, shorts = [], []
        for key in unknown:
            close = difflib.get_close_matches(str(key), known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            hints.append(f"{key!r}{hint}")
            shorts.append(f"{self.name(str(key))}: unknown parameter{hint or '; known: ' + ', '.join(known)}")
        if self.collect:
            self.errors += shorts
            return
        self._problem("", f"unknown {self.method} parameter(s) {', '.join(hints)}; known: {', '.join(known)}. "
                          f"Fix them under `{self.method}:` in {self.conf_file} or on the command line.")

    def _fail(self, key: str, value, expected: str, default=None, show_default: bool = True):
        """Reports a bad value (raises unless collecting) and returns ``default``, what the read goes on with."""
        shown = "" if default is None or not show_default else f" (default {default!r})"
        self._problem(
            f"{self.name(key)} = {value!r} is invalid: expected {expected}{shown}",
            f"{self.name(key)} = {value!r} is invalid: expected {expected}. "
            f"Fix `{key}` under `{self.method}:` in {self.conf_file} (or pass --params={self.name(key)}=...).")
        return default

    def get(self, key: str, default=None):
        self.read.add(key)
        v = self.params.get(key, default)
        return default if v is None else v

    def _null(self, key: str, nullable: bool) -> bool:
        """Whether ``key`` is given as null; an error where null is not allowed."""
        self.read.add(key)
        return key in self.params and self.params[key] is None and not nullable

    def int(self, key: str, default: int | None, min: int | None = None, max: int | None = None,
            nullable: bool = True, also: Sequence[str] = ()) -> int | None:
        """An integer in [min, max]; ``also``: strings allowed besides (``auto``)."""
        expected = ("an integer" + (f" ≥ {min}" if min is not None and max is None else "")
                    + (f" in [{min}, {max}]" if min is not None and max is not None else "")
                    + (f" ≤ {max}" if max is not None and min is None else "")
                    + "".join(f" or {a!r}" for a in also) + (" or null" if nullable and default is None else ""))
        if self._null(key, nullable):
            return self._fail(key, None, expected, default)
        v = self.get(key, default)
        if v is None or (isinstance(v, str) and v in also):
            return v
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            if isinstance(v, float) and v.is_integer():
                v = int(v)
            else:
                return self._fail(key, v, expected, default)
        if (min is not None and v < min) or (max is not None and v > max):
            return self._fail(key, v, expected, default)
        return int(v)

    def float(self, key: str, default: float | None, min: float | None = None, max: float | None = None,
              exclusive_min: bool = False, exclusive_max: bool = False, nullable: bool = True,
              also: Sequence[str] = ()) -> float | None:
        """A finite number in the range; ``also``: strings allowed besides (``auto``)."""
        lo, hi = "(" if exclusive_min else "[", ")" if exclusive_max else "]"
        bounds = (min, max)
        min, max = (None if b is None else f"{b:g}" for b in bounds)  # 0.0 → 0 in the message
        if min is not None and max is not None:
            rng = f" in {lo}{min}, {max}{hi}"
        elif min is not None:
            rng = f" {'>' if exclusive_min else '≥'} {min}"
        elif max is not None:
            rng = f" {'<' if exclusive_max else '≤'} {max}"
        else:
            rng = ""
        expected = (f"a number{rng}" + "".join(f" or {a!r}" for a in also)
                    + (" or null" if nullable and default is None else ""))
        if self._null(key, nullable):
            return self._fail(key, None, expected, default)
        v = self.get(key, default)
        if v is None or (isinstance(v, str) and v in also):
            return v
        if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) or not math.isfinite(v):
            return self._fail(key, v, expected, default)
        v = float(v)
        lo_v, hi_v = bounds
        if lo_v is not None and (v < lo_v or (exclusive_min and v == lo_v)):
            return self._fail(key, v, expected, default)
        if hi_v is not None and (v > hi_v or (exclusive_max and v == hi_v)):
            return self._fail(key, v, expected, default)
        return v

    def choice(self, key: str, default: str | None, choices: Sequence, nullable: bool = True):
        expected = f"one of {', '.join(map(str, choices))}"
        if self._null(key, nullable):
            return self._fail(key, None, expected, default)
        v = self.get(key, default)
        if v is None and default is None:
            return None
        if isinstance(v, bool) or v not in choices:
            return self._fail(key, v, expected, default)
        return v

    def bool(self, key: str, default: bool, nullable: bool = True) -> bool:
        if self._null(key, nullable):
            return self._fail(key, None, "true or false", default)
        v = self.get(key, default)
        if not isinstance(v, (bool, np.bool_)):
            return self._fail(key, v, "true or false", default)
        return bool(v)

    def text(self, key: str, default: str | None, nullable: bool = True) -> str | None:
        """A string (a name, a path); null where ``nullable``."""
        expected = "a string" + (" or null" if nullable else "")
        if self._null(key, nullable):
            return self._fail(key, None, expected, default)
        v = self.get(key, default)
        if v is None or isinstance(v, str):
            return v
        return self._fail(key, v, expected, default)

    def texts(self, key: str, default: Sequence[str] | None, choices: Sequence[str] | None = None,
              nullable: bool = True) -> list[str] | None:
        """A list of strings (of ``choices`` where given); a single string counts as a list of one."""
        expected = "a list of " + (f"names among {', '.join(choices)}" if choices else "strings")
        if self._null(key, nullable):
            return self._fail(key, None, expected, default, show_default=False)
        v = self.get(key, default)
        if v is None:
            return None
        if isinstance(v, str):
            v = [v]
        if not isinstance(v, (list, tuple)) or not all(isinstance(i, str) for i in v):
            return self._fail(key, v, expected, default, show_default=False)
        if choices is not None and any(i not in choices for i in v):
            import difflib

            bad = [i for i in v if i not in choices]
            close = difflib.get_close_matches(bad[0], list(choices), n=1)
            return self._fail(key, v, expected + (f" ({bad[0]!r}: did you mean {close[0]!r}?)" if close else ""),
                              default, show_default=False)
        return list(v)

    def ints(self, key: str, default: Sequence[int], min: int = 1, length: int | None = None) -> list[int]:
        v = self.get(key, default)
        if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
            v = [v]
        expected = (f"a list of {length} integers" if length is not None else "a list of integers") + f" ≥ {min}"
        if not isinstance(v, (list, tuple)) or not all(
                isinstance(i, (int, np.integer)) and not isinstance(i, bool) for i in v):
            return self._fail(key, v, expected, list(default))
        if any(i < min for i in v) or (length is not None and len(v) != length):
            return self._fail(key, v, expected, list(default))
        return [int(i) for i in v]

    def mapping(self, key: str) -> dict:
        """A nested block (``views:``); null reads as empty."""
        v = self.get(key, {})
        if not isinstance(v, dict):
            return self._fail(key, v, "a mapping of parameters", {})
        return v


def check_n_clusters(n_clusters: int, n_samples: int) -> None:
    """Clear errors for K < 2 and K larger than the data, before any long work starts."""
    if not isinstance(n_clusters, (int, np.integer)) or isinstance(n_clusters, bool):
        raise ParameterError(f"n_clusters must be an integer, got {n_clusters!r}")
    if n_clusters < 2:
        raise ParameterError(f"n_clusters must be at least 2, got {n_clusters}")
    if n_clusters > n_samples:
        raise ParameterError(
            f"n_clusters={n_clusters} is larger than the number of samples ({n_samples}): "
            "use fewer clusters or more data"
        )


def check_inputs(x, geometry: Geometry, method: str, n_clusters: int | None = None,
                 views: np.ndarray | None = None) -> np.ndarray:
    """Every fit function's input checks, before any long work; returns ``x`` as float32 (N, dim).

    ``views`` (N, n_views, dim), when given, must match ``x``.
    """
    if not hasattr(x, "shape"):
        x = np.asarray(x)
    if getattr(x, "ndim", 0) != 2:
        raise ValueError(f"{method}: x must be a 2-D array (samples × features), got shape {getattr(x, 'shape', None)}")
    x = np.asarray(x, dtype=np.float32)
    if x.shape[1] != geometry.dim:
        raise ValueError(f"{method}: x has {x.shape[1]} features but the geometry says dim={geometry.dim}")
    if not np.isfinite(x).all():
        raise ValueError(f"{method}: x contains NaN or infinite values; clean the input first")
    if n_clusters is not None:
        check_n_clusters(n_clusters, len(x))
    if views is not None:
        if views.ndim != 3 or views.shape[0] != x.shape[0] or views.shape[2] != x.shape[1]:
            raise ValueError(f"{method}: views must have shape ({x.shape[0]}, n_views, {x.shape[1]}), "
                             f"got {views.shape}")
        if not np.isfinite(views).all():
            raise ValueError(f"{method}: views contain NaN or infinite values")
    return x


# --------------------------------------------------------------------------------------------------
# K-means


def kmeans_init(z: np.ndarray, n_clusters: int, seed: int = 0, n_init: int | str = "auto"):
    """scikit-learn K-means (its defaults, as the TAKE paper says) on features ``z``: the one K-means
    initialisation every deep method starts from. Returns ``(centers (K, d) float32, labels (N,) int64, inertia)``.
    """
    z = np.asarray(z, dtype=np.float64)
    if z.ndim != 2:
        raise ValueError(f"features must be a 2-D array (samples × dims), got shape {z.shape}")
    if not np.isfinite(z).all():
        raise ValueError("features contain NaN or infinite values; the encoder has diverged or the input is bad")
    check_n_clusters(n_clusters, len(z))
    km = KMeans(n_clusters=n_clusters, random_state=seed, n_init=n_init).fit(z)
    return km.cluster_centers_.astype(np.float32), km.labels_.astype(np.int64), float(km.inertia_)


def label_change_rate(previous, current, n_clusters: int | None = None, matched: bool = False) -> float:
    """Fraction of samples whose label changed between two assignments.

    ``matched=True`` first maps ``previous``'s cluster ids onto ``current``'s with the Hungarian
    algorithm (needed when the clusters are re-found from scratch, e.g. a fresh K-means each round,
    whose cluster numbering is arbitrary) — what DEKM's code does.
    """
    prev = np.asarray(previous.cpu() if isinstance(previous, torch.Tensor) else previous, dtype=np.int64)
    cur = np.asarray(current.cpu() if isinstance(current, torch.Tensor) else current, dtype=np.int64)
    if prev.shape != cur.shape:
        raise ValueError(f"assignments of different lengths: {prev.shape} and {cur.shape}")
    if len(cur) == 0:
        return 0.0
    if matched:
        k = int(max(prev.max(), cur.max()) + 1) if n_clusters is None else int(n_clusters)
        w = np.zeros((k, k), dtype=np.int64)
        np.add.at(w, (prev, cur), 1)
        rows, cols = linear_sum_assignment(-w)
        mapping = np.arange(k)
        mapping[rows] = cols
        prev = mapping[prev]
    return float(np.mean(prev != cur))


# --------------------------------------------------------------------------------------------------
# batching, optimisers, progress


def make_optimizer(parameters, name: str, lr: float, momentum: float = 0.9) -> torch.optim.Optimizer:
    """``adam`` (β = 0.9, 0.999) or ``sgd`` with momentum."""
    if name == "adam":
        return torch.optim.Adam(parameters, lr=lr)
    if name == "sgd":
        return torch.optim.SGD(parameters, lr=lr, momentum=momentum)
    raise ValueError(f"optimizer must be 'adam' or 'sgd', got {name!r}")


def minibatches(n: int, batch_size: int, generator: torch.Generator, device: torch.device | str = "cpu",
                shuffle: bool = True, min_size: int = 1) -> Iterator[torch.Tensor]:
    """Index tensors of one epoch, shuffled with the seeded CPU ``generator`` (same seed → same order).

    A last batch smaller than ``min_size`` is dropped (a lone sample carries no contrastive signal)
    unless it is the whole epoch.
    """
    order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
    order = order.to(device)
    for start in range(0, n, batch_size):
        idx = order[start:start + batch_size]
        if len(idx) >= min_size or start == 0:
            yield idx


def cycle_minibatches(n: int, batch_size: int, generator: torch.Generator,
                      device: torch.device | str = "cpu") -> Iterator[torch.Tensor]:
    """Endless mini-batches: one shuffled epoch after another (for loops counted in iterations)."""
    while True:
        yield from minibatches(n, batch_size, generator, device)


def epoch_bar(total: int, desc: str, progress: bool, start: int = 0):
    """A tqdm bar over epochs ``start..total`` (disabled when ``progress`` is false)."""
    return tqdm(range(start, total), desc=desc, initial=start, total=total, disable=not progress, leave=False,
                dynamic_ncols=True)


def as_tensor(x, device: torch.device) -> torch.Tensor:
    """A float32 tensor on ``device`` from an array or tensor."""
    if isinstance(x, torch.Tensor):
        return x.to(device=device, dtype=torch.float32)
    return torch.as_tensor(np.asarray(x, dtype=np.float32), device=device)


@torch.no_grad()
def encode_tensor(model: nn.Module, x: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
    """``model.encode`` over ``x`` (already on the model's device) in chunks, in eval mode, no grad."""
    was_training = model.training
    model.eval()
    out = [model.encode(x[i:i + batch_size]) for i in range(0, len(x), batch_size)]
    model.train(was_training)
    return torch.cat(out) if out else x.new_zeros((0, 0))


def embed(model: nn.Module, x, batch_size: int = 1024, device: str | torch.device = "auto") -> np.ndarray:
    """The embedding ``f(x)`` of every row of ``x`` as a float32 NumPy array (N, d); rows go to the
    device chunk by chunk, so a large array never sits on the GPU whole."""
    dev = resolve_device(device) if not isinstance(device, torch.device) else device
    model.to(dev)
    was_training = model.training
    model.eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(x), batch_size):
            out.append(model.encode(as_tensor(x[i:i + batch_size], dev)).float().cpu())
    model.train(was_training)
    return torch.cat(out).numpy().astype(np.float32) if out else np.zeros((0, 0), np.float32)


# --------------------------------------------------------------------------------------------------
# checkpoint and resume


def cpu_state_dict(module: nn.Module) -> dict[str, torch.Tensor]:
    """The module's ``state_dict`` with every tensor detached and copied to the CPU (loads on any device)."""
    return {k: v.detach().to("cpu").clone() for k, v in module.state_dict().items()}


def run_key(prefix: str, *parts: Any) -> str:
    """A store key unique to a phase, its training options, its data and its seed (``parts``: JSON-able)."""
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return f"{prefix}-{hashlib.sha256(blob).hexdigest()[:16]}"


def rng_state(generator: torch.Generator) -> dict:
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
        "numpy": np.random.get_state(),
        "python": random.getstate(),
        "generator": generator.get_state(),
    }


def set_rng_state(state: dict, generator: torch.Generator) -> None:
    torch.set_rng_state(state["torch"])
    if state.get("cuda") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    generator.set_state(state["generator"])


class Checkpointer:
    """Saves a phase's state every ``every`` epochs under ``key``; resumes from it; clears it at the end.

    ``store`` is a :class:`deep_kmeans.io.DirectoryStore` (or None: no checkpoints). ``key`` (:func:`run_key`)
    should hash what changes the phase's training only, so that a rerun resumes whatever else changed; every
    phase calls :meth:`clear` when it finishes, so a checkpoint left in the store is an interrupted run's.
    """

    def __init__(self, store, key: str, every: int = 10, resume: bool = True):
        if every < 0:
            raise ValueError(f"checkpoint_every must be ≥ 0 (0 = never), got {every}")
        self.store, self.key, self.every, self.resume = store, key, int(every), bool(resume)

    def load(self) -> dict | None:
        if self.store is None or not self.resume:
            return None
        state = self.store.get(self.key)  # a file that does not load safely is discarded there: None
        if state is not None and not self.holds_training(state):
            logger.warning("Discarding the checkpoint %s of %s: it holds no training state; the phase starts "
                           "from its first epoch", self.key, self.store)
            self.store.delete(self.key)
            return None
        if state is not None:
            logger.info("Resuming %s from its checkpoint after epoch %d", self.key, state["epoch"])
        return state

    def saved_epoch(self) -> int:
        """The epochs a resume skips: those of the stored checkpoint, 0 where there is none (or resume is off)."""
        if self.store is None or not self.resume:
            return 0
        state = self.store.get(self.key)
        return state["epoch"] if self.holds_training(state) else 0

    @staticmethod
    def holds_training(state) -> bool:
        """Whether a stored entry is a phase's training state (what :meth:`load` resumes from)."""
        return isinstance(state, dict) and isinstance(state.get("epoch"), int)

    def maybe_save(self, epoch: int, total: int, make_state) -> None:
        if self.store is None or self.every == 0 or epoch % self.every or epoch >= total:
            return
        self.store.put(self.key, {"epoch": epoch, **make_state()})

    def save_final(self, total: int, make_state) -> None:
        """The finished phase's state as a checkpoint after its last epoch (``total``): a resume returns it at
        once. Kept until :meth:`clear` (by whoever needs the phase's result no longer); none where checkpoints
        are off (``every`` 0)."""
        if self.store is None or self.every == 0:
            self.clear()
            return
        self.store.put(self.key, {"epoch": total, **make_state()})

    def clear(self) -> None:
        if self.store is not None:
            self.store.delete(self.key)


# --------------------------------------------------------------------------------------------------
# the scikit-learn face of every method


def estimator_geometry(geometry: Geometry | dict | None, dim: int) -> Geometry:
    """An estimator's ``geometry`` hyperparameter as a Geometry; None: the smallest square holding ``dim``
    values, cut into a 4×4 grid of patches."""
    if geometry is None:
        return vector_geometry(dim, 4)
    return Geometry.from_dict(geometry) if isinstance(geometry, dict) else geometry


class ClusterEstimator(ClusterMixin, BaseEstimator):
    """A method's fit function as a scikit-learn estimator.

    Subclasses set ``_fit`` (the method's ``fit_<name>``), ``_predict`` (its ``predict_<name>``) and
    ``PRESETS``: ``cpu`` (the default: a schedule that finishes in minutes on a CPU for a few thousand rows,
    the same as the Kedro preset for your own data) and ``paper`` (the paper's schedule, a GPU's job).
    ``params`` override the preset key by key; an unknown key is an error. Hyperparameters are stored as
    given; everything is validated in :meth:`fit`. Learned state:
    ``labels_``, ``cluster_centers_``, ``embedding_``, ``history_``, ``model_``, ``geometry_``,
    ``train_seconds_``.
    """

    _fit = None
    _predict = None
    PRESETS: dict[str, dict] = {"cpu": {}, "paper": {}}

    def __init__(self, n_clusters: int = 10, params: dict | None = None, preset: str = "cpu",
                 geometry: Geometry | dict | None = None, seed: int = 0, device: str = "auto",
                 progress: bool = False):
        self.n_clusters = n_clusters
        self.params = params
        self.preset = preset
        self.geometry = geometry
        self.seed = seed
        self.device = device
        self.progress = progress

    def _geometry_for(self, dim: int) -> Geometry:
        return estimator_geometry(self.geometry, dim)

    def fit(self, X, y=None, views: np.ndarray | None = None):
        X = np.asarray(X, dtype=np.float32)
        if X.ndim != 2:
            raise ValueError(f"X must be 2-D (samples × features), got shape {X.shape}")
        if self.preset not in self.PRESETS:
            raise ValueError(f"preset must be one of {', '.join(self.PRESETS)}, got {self.preset!r}")
        geometry = self._geometry_for(X.shape[1])
        start = time.perf_counter()
        params = {**self.PRESETS[self.preset], **(self.params or {})}
        result = type(self)._fit(X, self.n_clusters, geometry, params, seed=self.seed,
                                 device=self.device, views=views, progress=self.progress)
        self.labels_ = np.asarray(result.labels, dtype=np.int64)
        self.cluster_centers_ = result.centers
        self.embedding_ = result.embedding
        self.history_ = result.history
        self.model_ = result.model
        self.geometry_ = geometry
        self.train_seconds_ = result.train_seconds or time.perf_counter() - start
        return self

    def predict(self, X) -> np.ndarray:
        """Cluster of each row of ``X`` (data seen in training or not)."""
        if not hasattr(self, "model_"):
            raise RuntimeError(f"this {type(self).__name__} model is not fitted yet: call fit(X) first")
        X = check_inputs(X, self.geometry_, type(self).__name__)
        return type(self)._predict(self.model_, X, device=self.device)

    def fit_predict(self, X, y=None, views: np.ndarray | None = None) -> np.ndarray:
        return self.fit(X, views=views).labels_
