"""Checks on the ``raw_data`` record (docs/architecture.md) before anything downstream sees it.

A bad raw file (a truncated download, a wrong copy, an array with NaNs) otherwise surfaces much later
as a shape error inside a model or as a silently wrong clustering score. Every check here raises a
``ValueError`` that names the file or folder the data came from, the problem, and how to fix it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from deep_kmeans.data.registry import DATASETS
from deep_kmeans.errors import UserError

KINDS = ("gray", "rgb", "text", "tfidf", "vector")
RECORD_KEYS = ("name", "kind", "x", "texts", "y", "classes", "source")


class CorruptRawFileError(UserError, ValueError):
    """A raw file exists but cannot be read as what it should be (truncated or corrupt)."""


def corrupt_file_error(path: str | Path, problem: str) -> CorruptRawFileError:
    """The error for an unreadable raw file: names it, says what is wrong and to re-download it.

    Truncated downloads are the common cause, and the fix is always the same: delete the file and
    fetch it again, so the message says so instead of leaking a bare ``EOFError`` or ``zlib.error``.
    """
    return CorruptRawFileError(
        f"{path}: {problem}. The file is truncated or corrupt: delete it and re-download it "
        "(or copy it again from its source)."
    )


class InvalidRawDataError(UserError, ValueError):
    """Raw data that does not have the shape, type or values its kind needs; the message says what to fix."""


def _fail(source: str, problem: str, fix: str) -> InvalidRawDataError:
    return InvalidRawDataError(f"invalid raw data from {source}: {problem}. {fix}")


def _check_array_kind(x, kind: str, source: str) -> None:
    """Rank, dtype and value range of ``x`` for its kind (the table of docs/architecture.md)."""
    if kind == "text":
        if x is not None:
            raise _fail(source, f"a text data set must have x=None, got {type(x).__name__}",
                        "Put the texts under 'texts' and set x to None.")
        return
    if not isinstance(x, np.ndarray):
        raise _fail(source, f"x must be a numpy array, got {type(x).__name__}",
                    "Convert it with numpy.asarray.")
    expected = {
        "gray": (3, "float32 (N, H, W) in [0, 1]"),
        "rgb": (4, "uint8 (N, H, W, 3)"),
        "tfidf": (2, "float32 (N, V), finite and non-negative"),
        "vector": (2, "float32 (N, D), finite"),
    }[kind]
    rank, what = expected
    if x.ndim != rank or (kind == "rgb" and x.shape[-1] != 3):
        raise _fail(source, f"{kind} x must be {what}, got shape {x.shape}",
                    "Check that the file holds the expected images/documents and was read with the right layout.")
    if kind == "rgb":
        if x.dtype != np.uint8:
            raise _fail(source, f"rgb x must be uint8, got {x.dtype}",
                        "Keep colour images as uint8 0..255 (x.astype(np.uint8) after rounding).")
        return
    if x.dtype != np.float32:
        raise _fail(source, f"{kind} x must be float32, got {x.dtype}", "Convert it with x.astype(np.float32).")
    if x.size and not np.isfinite(x).all():
        n_bad = int(x.size - np.count_nonzero(np.isfinite(x)))
        raise _fail(source, f"x holds {n_bad} NaN or infinite values",
                    "The file is probably corrupt: re-download it.")
    if kind == "vector":
        return
    if x.size and x.min() < 0:
        raise _fail(source, f"{kind} x has negative values (min {float(x.min()):.4g})",
                    "Gray images must be scaled to [0, 1] and tf-idf is non-negative.")
    if kind == "gray" and x.size and x.max() > 1:
        raise _fail(source, f"gray x exceeds 1 (max {float(x.max()):.4g})",
                    "Scale the pixels to [0, 1] (e.g. divide uint8 pixels by 255).")


def _check_labels(y, n: int, classes, source: str) -> None:
    """Labels are int64 0..K-1 of length N with every one of the K classes present."""
    if not isinstance(y, np.ndarray) or y.ndim != 1:
        raise _fail(source, f"y must be a 1-d numpy array, got {getattr(y, 'shape', type(y).__name__)}",
                    "Give one label per sample.")
    if y.dtype != np.int64:
        raise _fail(source, f"y must be int64, got {y.dtype}", "Convert it with y.astype(np.int64).")
    if len(y) != n:
        raise _fail(source, f"{n} samples but {len(y)} labels",
                    "The label file does not match the data file: re-download both.")
    if not isinstance(classes, (list, tuple)) or not classes:
        raise _fail(source, "classes must be a non-empty list of class names", "List the class names in label order.")
    k = len(classes)
    if y.min() < 0 or y.max() >= k:
        raise _fail(source, f"labels must lie in 0..{k - 1} for {k} classes, got {y.min()}..{y.max()}",
                    "Map the labels to 0..K-1 in the order of 'classes'.")
    counts = np.bincount(y, minlength=k)
    missing = [str(classes[i]) for i in np.flatnonzero(counts == 0)]
    if missing:
        raise _fail(source, f"classes without any sample: {', '.join(missing)}",
                    "The file is incomplete, or the sample is too small to cover every class: "
                    "re-download it or take a larger sample.")


def _check_texts(texts, n: int, kind: str, source: str) -> None:
    if texts is None:
        if kind == "text":
            raise _fail(source, "a text data set has no texts", "Put the list of texts under 'texts'.")
        return
    if not isinstance(texts, list) or len(texts) != n:
        raise _fail(source, f"texts must be a list of {n} strings, got {type(texts).__name__} "
                            f"of length {len(texts) if hasattr(texts, '__len__') else '?'}",
                    "Give one text per sample.")
    if kind == "text":
        empty = [i for i, t in enumerate(texts) if not isinstance(t, str) or not t.strip()]
        if empty:
            raise _fail(source, f"{len(empty)} empty texts (first at index {empty[0]})",
                        "Drop the empty rows before sampling, or check the file.")


class DegenerateDataError(UserError, ValueError):
    """Data with too few distinct rows to cluster (constant, duplicated, zero variance)."""


def distinct_rows(x: np.ndarray, enough: int | None = None) -> int:
    """How many distinct rows ``x`` (N, ...) holds, compared byte for byte; counting stops at ``enough``.

    Counting stops early because the callers only ask "at least K?": on ordinary data that is decided by the
    first K rows, and the whole pass (70,000 MNIST rows: about 0.5 s) is paid only by data that repeats itself."""
    rows = np.ascontiguousarray(x).reshape(len(x), -1)
    seen: set[bytes] = set()
    for row in rows:
        seen.add(row.tobytes())
        if enough is not None and len(seen) >= enough:
            break
    return len(seen)


def check_distinct_rows(x: np.ndarray, n_clusters: int | None, source: str) -> int:
    """Refuse data that cannot be clustered into ``n_clusters`` groups (at least 2 groups whatever K): every row
    the same (constant or zero-variance columns everywhere, a row repeated N times), or fewer distinct rows than
    K. Returns the number of distinct rows found (at most ``max(2, K)``: counting stops there)."""
    need = max(2, int(n_clusters or 2))
    found = distinct_rows(x, enough=need)
    n = len(x)
    if found < 2:
        raise DegenerateDataError(
            f"{source}: all {n} rows are identical (every column is constant): there is nothing to cluster. "
            "Check that this is the data you meant; a table needs rows that differ in at least one column.")
    if found < need:
        raise DegenerateDataError(
            f"{source}: only {found} distinct rows among {n} (the others repeat them), fewer than "
            f"n_clusters={need}: ask for at most {found} clusters (--params=n_clusters={found}), or remove the "
            "duplicates.")
    return found


def validate_raw(raw: dict, source: str) -> dict:
    """Check a ``raw_data`` record and return it unchanged; ``source`` names the file/folder in errors."""
    source = str(source)
    missing = [k for k in RECORD_KEYS if k not in raw]
    if missing:
        raise _fail(source, f"the raw_data record lacks {', '.join(missing)}",
                    f"A raw_data record has the keys {', '.join(RECORD_KEYS)}.")
    kind = raw["kind"]
    if kind not in KINDS:
        raise _fail(source, f"unknown kind {kind!r}", f"Use one of {', '.join(KINDS)}.")
    info = DATASETS.get(raw["name"])
    if raw["name"] == "custom":  # the user's data: kind, classes and labels (optional) come from the file
        info = None
    if info is not None and info.kind != kind:
        raise _fail(source, f"data set {raw['name']!r} is of kind {info.kind!r}, the record says {kind!r}",
                    "Set the kind from data.registry.")
    x, texts = raw["x"], raw["texts"]
    _check_array_kind(x, kind, source)
    if kind == "text" and not isinstance(texts, list):
        raise _fail(source, f"a text data set needs texts as a list of strings, got {type(texts).__name__}",
                    "Put the list of texts under 'texts'.")
    n = len(texts) if kind == "text" else x.shape[0]
    if n == 0:
        raise _fail(source, "no samples (N = 0)", "The file is empty or every sample was filtered out.")
    _check_texts(texts, n, kind, source)
    if raw["y"] is None and info is None:  # custom data without labels: clustered, scored without ground truth
        if raw["classes"]:
            raise _fail(source, "class names but no labels", "Give the labels under 'y', or no classes.")
    else:
        _check_labels(raw["y"], n, raw["classes"], source)
    ids = raw.get("ids")
    if ids is not None and len(ids) != n:
        raise _fail(source, f"{n} samples but {len(ids)} ids", "Give one id per sample.")
    if info is not None and len(raw["classes"]) != info.n_classes:
        raise _fail(source, f"{raw['name']} has {info.n_classes} classes, got {len(raw['classes'])}",
                    "Check the class list file (classes.txt, batches.meta, class_names.txt).")
    return raw
