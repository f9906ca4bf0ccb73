"""Your own tables and arrays as model input: the column transform that fits them, and their augmented views.

TAKE's pretraining learns from views that keep a row's cluster: crops and rotations for images (the paper).
A table has no crops, so its views come from the tabular self-supervision literature, each a parameter of
``features.tabular_views`` (applied together, each with its own draws, to every one of the 4 views):

- ``corruption``: SCARF (Bahri et al., ICLR 2022): each cell is replaced, with this probability, by the same
  column of a random row, i.e. a draw from that column's empirical marginal;
- ``masking``: each cell is, with this probability, set to its column's mean (a masked cell carries no
  information about the row; VIME, Yoon et al., NeurIPS 2020, masks cells with a Bernoulli mask, and fills
  them from the marginal, which is ``corruption`` here);
- ``noise``: Gaussian noise of this many standard deviations of each column.

Rows that are images (:mod:`deep_kmeans.data.image_layout`) get image views instead: the crops and rotations of
the built-in gray sets (:func:`deep_kmeans.features.images.image_views`).

``features.standardize: auto`` (the default) picks the column transform from the data, and the log says which:
image arrays keep their pixels (divided by the array's largest value, to [0, 1]: z-scoring would weigh an
image's empty border as much as its strokes); a table whose columns' scales differ more than
``MIXED_SCALES``-fold is z-scored per column; a table of one scale is centred and divided by one common
standard deviation, which keeps the distances as the table has them.

Every draw comes from a ``numpy`` generator seeded with the run's seed: the same data and seed give the same
views; the view parameters are in the features' fingerprint (the cache key).
"""

from __future__ import annotations

import logging

import numpy as np

logger = logging.getLogger(__name__)

STANDARDIZE = ("auto", "zscore", "minmax", "center", "pixels", "none")
# a table is "of mixed scales" when its largest column standard deviation is more than this many times its
# smallest (non-constant) one: wine's proline against its hue is ~3,000×, iris's four lengths in cm ~4×
MIXED_SCALES = 10.0
# Gaussian noise of 0.1 σ: measured best of SCARF corruption 0.1/0.3, masking and noise 0.1/0.3 on four tables
# (wine, breast cancer, iris, penguins; seeds 0-2, docs/results.md "Your own data")
TABULAR_VIEW_DEFAULTS = {"corruption": 0.0, "masking": 0.0, "noise": 0.1}
_CHUNK = 4096


def choose_standardize(x: np.ndarray, how, image: bool) -> tuple[str, str]:
    """The column transform for ``x`` and why: ``how`` as given, or for ``auto``/null the one that fits the data
    (the module docstring). ``true``/``false`` are the old spellings of ``zscore``/``none``."""
    how = {True: "zscore", False: "none", None: "auto"}.get(how, how)
    if how != "auto":
        return how, "as given"
    if image:
        return "pixels", "an image array: its pixels divided by the largest value, not z-scored"
    sd = np.asarray(x, dtype=np.float64).std(axis=0)
    varies = sd[sd > 0]
    ratio = float(varies.max() / varies.min()) if len(varies) else 1.0
    if ratio > MIXED_SCALES:
        return "zscore", f"a table of mixed scales (column standard deviations {ratio:,.0f}× apart): z-scored"
    return "center", (f"a table of one scale (column standard deviations within {ratio:.1f}× of each other): "
                      "centred, one common scale")


def transform_of(x: np.ndarray, how: str) -> dict:
    """``{"how", "shift", "scale"}`` (lists, one per column) of :func:`deep_kmeans.features.build.fit_standardizer`
    for ``how`` in :data:`STANDARDIZE` (not ``auto``: :func:`choose_standardize` first)."""
    x = np.asarray(x, dtype=np.float64)
    d = x.shape[1]
    if how == "zscore":
        shift, scale = x.mean(axis=0), x.std(axis=0)
    elif how == "minmax":
        shift, scale = x.min(axis=0), np.ptp(x, axis=0)
    elif how == "center":  # one common scale: the root of the mean column variance
        shift = x.mean(axis=0)
        scale = np.full(d, np.sqrt(np.mean(x.var(axis=0))))
    elif how == "pixels":  # one factor for the whole array: pixels to [0, 1], 0 stays black
        shift, scale = np.zeros(d), np.full(d, pixel_scale(x))
    elif how == "none":
        shift, scale = np.zeros(d), np.ones(d)
    else:
        raise ValueError(f"features.standardize must be one of {', '.join(STANDARDIZE)}, got {how!r}")
    return {"how": how, "shift": shift.tolist(), "scale": np.where(scale > 0, scale, 1.0).tolist()}


def tabular_view_params(params: dict) -> dict:
    """``features.tabular_views`` with its defaults filled in."""
    given = params.get("tabular_views") or {}
    return {k: float(given.get(k, v)) for k, v in TABULAR_VIEW_DEFAULTS.items()}


def tabular_views(x: np.ndarray, seed: int, corruption: float = TABULAR_VIEW_DEFAULTS["corruption"],
                  masking: float = TABULAR_VIEW_DEFAULTS["masking"], noise: float = TABULAR_VIEW_DEFAULTS["noise"],
                  n_views: int = 4) -> np.ndarray:
    """(N, n_views, D) float32 views of the rows of ``x`` (the model input, already transformed): each cell
    replaced from its column's marginal with probability ``corruption``, set to its column's mean with
    probability ``masking``, plus ``noise`` × its column's standard deviation of Gaussian noise. Drawn in row
    chunks from one generator seeded with ``seed``: the same input and seed give the same views."""
    x = np.asarray(x, dtype=np.float32)
    n, d = x.shape
    for name, p in (("corruption", corruption), ("masking", masking)):
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"features.tabular_views.{name} must be in [0, 1], got {p}")
    if noise < 0:
        raise ValueError(f"features.tabular_views.noise must be ≥ 0, got {noise}")
    rng = np.random.default_rng(seed)
    mean, sd = x.mean(axis=0), x.std(axis=0)
    columns = np.arange(d)
    out = np.empty((n, n_views, d), dtype=np.float32)
    for start in range(0, n, _CHUNK):
        rows = x[start:start + _CHUNK]
        b = len(rows)
        for v in range(n_views):
            view = rows.copy()
            if corruption > 0:
                cells = rng.random((b, d)) < corruption
                donors = rng.integers(0, n, size=(b, d))
                view[cells] = x[donors, columns][cells]
            if masking > 0:
                cells = rng.random((b, d)) < masking
                view[cells] = np.broadcast_to(mean, (b, d))[cells]
            if noise > 0:
                view += (rng.standard_normal((b, d)) * (noise * sd)).astype(np.float32)
            out[start:start + b, v] = view
    return out


def image_array_views(raw_x: np.ndarray, shape: list[int], transform: dict, seed: int, view_params: dict,
                      apply) -> np.ndarray:
    """(N, 4, D) views of rows that are images of ``shape`` (H, W, C): the crops and rotations of
    :func:`~deep_kmeans.features.images.image_views`, drawn on the pixels brought to [0, 1] (where a rotation's
    corners are black, 0), then put through the same column ``transform`` as the rows (``apply``:
    :func:`~deep_kmeans.features.build.apply_standardizer`), so views and rows share one feature space."""
    from deep_kmeans.features.images import image_views

    h, w, c = shape
    x = np.asarray(raw_x, dtype=np.float32)
    top = pixel_scale(x)
    images = (x / top).reshape((len(x), h, w) if c == 1 else (len(x), h, w, c))
    views = image_views(images, seed=seed, crop_scale=tuple(view_params.get("crop_scale", (0.6, 1.0))),
                        max_rotation=float(view_params.get("max_rotation", 15.0)))
    n, k = views.shape[:2]
    views = views.reshape(n * k, -1)
    out = np.empty((n * k, x.shape[1]), dtype=np.float32)
    for start in range(0, n * k, _CHUNK):  # in chunks: MNIST's 280,000 views would take gigabytes at once
        out[start:start + _CHUNK] = apply(views[start:start + _CHUNK].astype(np.float64) * top, transform)
    return out.reshape(n, k, -1)


def pixel_scale(x: np.ndarray) -> float:
    """What brings pixels to [0, 1]: the largest value where it is above 1 (0-255, 0-16), else 1."""
    top = float(np.max(x))
    return top if top > 1 else 1.0
