"""Which tables and arrays of your own are images: declared with ``custom.image_shape=HxW[xC]``, or detected.

A row of an image array is an image flattened row by row (``(H, W)`` or ``(H, W, C)``, numpy's order of
``images.reshape(N, -1)``). Rows that are images get image views (crops, rotations) and keep their pixel
scale; other rows are a table (tabular views, standardised per column where their scales differ).

Detection (``custom.image_shape: auto``, the default) says yes only where it is unambiguous, and then says why:

- the width is a square ``S × S`` with ``S ≥ 8`` (fewer columns are more likely a table);
- every value is a pixel intensity: in [0, 1], or whole numbers in 0-255;
- neighbouring pixels correlate: the mean correlation of the horizontally and vertically adjacent columns, laid
  out as ``S × S``, is at least ``NEIGHBOUR_CORRELATION`` and that much above the mean over random pairs of
  columns. Images have it (digits: 0.40 against 0.01, MNIST more); a table whose columns happen to be in
  range does not (the digits' own columns shuffled: −0.01), so a one-hot or a proportions table stays a table.

``custom.image_shape=none`` treats any data as a table.
"""

from __future__ import annotations

import logging
import math
import re

import numpy as np

from deep_kmeans.errors import ParameterError

logger = logging.getLogger(__name__)

AUTO, NONE = "auto", "none"
MIN_DETECTED_SIDE = 8
NEIGHBOUR_CORRELATION = 0.2
_SAMPLE_ROWS = 2000
_SHAPE = re.compile(r"^\s*(\d+)\s*[x×]\s*(\d+)\s*(?:[x×]\s*(\d+)\s*)?$")


def parse_image_shape(value) -> str | tuple[int, int, int]:
    """``custom.image_shape`` as given: ``auto``, ``none`` (also null/false) or ``(H, W, C)`` from ``HxW``,
    ``HxWxC`` or a list ``[H, W]`` / ``[H, W, C]``. Anything else is a :class:`ParameterError` saying the forms."""
    if value is None or value is False or (isinstance(value, str) and value.strip().lower() in (NONE, "null")):
        return NONE
    if isinstance(value, str) and value.strip().lower() == AUTO:
        return AUTO
    dims = None
    if isinstance(value, str):
        m = _SHAPE.match(value)
        dims = None if m is None else [int(g) for g in m.groups() if g is not None]
    elif isinstance(value, (list, tuple)) and all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        dims = list(value)
    if dims is None or len(dims) not in (2, 3) or min(dims) < 1 or (len(dims) == 3 and dims[2] not in (1, 3)):
        raise ParameterError(f"custom.image_shape = {value!r} is invalid: expected auto (detect images), none (a "
                             "table) or HxW / HxWxC with C 1 or 3 (e.g. 28x28, 32x32x3)")
    return (dims[0], dims[1], dims[2] if len(dims) == 3 else 1)


def neighbour_correlation(x: np.ndarray, side: int, seed: int = 0) -> tuple[float, float]:
    """(mean correlation of adjacent pixels, mean correlation of random pairs of columns) of rows laid out as
    ``side × side``, on a seeded sample of at most 2,000 rows; constant columns (an empty border) are left out."""
    rng = np.random.default_rng(seed)
    if len(x) > _SAMPLE_ROWS:
        x = x[np.sort(rng.choice(len(x), _SAMPLE_ROWS, replace=False))]
    x = np.asarray(x, dtype=np.float64)
    sd = x.std(axis=0)
    varies = sd > 0
    z = np.where(varies, (x - x.mean(axis=0)) / np.where(varies, sd, 1.0), 0.0)
    corr = z.T @ z / len(z)
    grid = np.arange(side * side).reshape(side, side)
    pairs = np.concatenate([np.stack([grid[:, :-1].ravel(), grid[:, 1:].ravel()], axis=1),
                            np.stack([grid[:-1].ravel(), grid[1:].ravel()], axis=1)])
    pairs = pairs[varies[pairs[:, 0]] & varies[pairs[:, 1]]]
    a, b = rng.integers(0, side * side, 5000), rng.integers(0, side * side, 5000)
    keep = (a != b) & varies[a] & varies[b]
    if not len(pairs) or not keep.any():
        return 0.0, 0.0
    return float(corr[pairs[:, 0], pairs[:, 1]].mean()), float(corr[a[keep], b[keep]].mean())


def pixel_range(x: np.ndarray) -> str | None:
    """``[0, 1]`` or ``0-255`` where every value of ``x`` is a pixel intensity of that range, else None."""
    lo, hi = float(x.min()), float(x.max())
    if lo < 0:
        return None
    if hi <= 1:
        return "[0, 1]"
    if hi <= 255 and np.array_equal(x, np.round(x)):
        return "0-255"
    return None


def image_layout(x: np.ndarray, image_shape="auto", source: str = "") -> dict | None:
    """The image layout of the rows of ``x``: ``{"shape": [H, W, C], "how": "declared" | "detected", "why"}``,
    or None for a table. Declared shapes are checked against the width and the values (a
    :class:`ParameterError` naming the fix); ``auto`` detects as the module docstring says. The choice is logged."""
    shape = parse_image_shape(image_shape)
    n, width = x.shape
    if shape == NONE:
        return None
    if shape != AUTO:
        h, w, c = shape
        if h * w * c != width:
            raise ParameterError(f"custom.image_shape = {image_shape!r} makes rows of {h * w * c} values, but "
                                 f"{source or 'the data'} has {width} columns: give the shape its rows were "
                                 "flattened from (H×W×C = the width), or custom.image_shape=none for a table")
        if float(np.min(x)) < 0:
            raise ParameterError(f"custom.image_shape = {image_shape!r}: {source or 'the data'} has negative values, "
                                 "which are not pixel intensities: give intensities (≥ 0), or "
                                 "custom.image_shape=none to treat it as a table")
        layout = {"shape": [h, w, c], "how": "declared", "why": f"custom.image_shape={h}x{w}x{c}"}
    else:
        layout = _detected(x, width)
        if layout is None:
            return None
    h, w, c = layout["shape"]
    logger.info("custom: the %d rows of %d columns are %s×%s%s images (%s: %s): image views (crops, rotations), "
                "pixels kept at their scale; custom.image_shape=none treats them as a table", n, width, h, w,
                f"×{c}" if c > 1 else "", layout["how"], layout["why"])
    return layout


def _detected(x: np.ndarray, width: int) -> dict | None:
    side = math.isqrt(width)
    if side * side != width or side < MIN_DETECTED_SIDE:
        return None
    values = pixel_range(x)
    if values is None:
        return None
    adjacent, other = neighbour_correlation(x, side)
    if adjacent < NEIGHBOUR_CORRELATION or adjacent - other < NEIGHBOUR_CORRELATION:
        logger.info("custom: %d columns (a %d×%d square) of values in %s read as a table: neighbouring pixels "
                    "correlate %.2f against %.2f for other pairs, not an image's; custom.image_shape=%dx%d says "
                    "they are images", width, side, side, values, adjacent, other, side, side)
        return None
    return {"shape": [side, side, 1], "how": "detected",
            "why": f"a square width of {width} columns, values in {values}, neighbouring pixels correlating "
                   f"{adjacent:.2f} against {other:.2f} for other pairs"}
