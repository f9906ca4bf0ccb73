"""Raw loaders: one function per data set, each returning the ``raw_data`` record of docs/architecture.md.

Each loader reads the files a user has in the data set's folder (``data/01_raw/<name>`` by default).
With ``download=True`` it fetches missing files through the usual public route (torchvision,
scikit-learn, the AG News CSV mirror). With ``download=False`` a missing file is a
:class:`MissingRawDataError` that names the data set, the folder, the exact file names, the online
command and, where one exists, the offline route of ``../shared/datasets/README.md``. An unreadable
file (a truncated download) is a :class:`~deep_kmeans.data.validation.CorruptRawFileError` naming it.
Every record passes :func:`~deep_kmeans.data.validation.validate_raw` before it is returned.
"""

from __future__ import annotations

import inspect
from pathlib import Path

from deep_kmeans.data.registry import get_dataset_info
from deep_kmeans.errors import ParameterError
from deep_kmeans.data.validation import CorruptRawFileError
# One module per kind of data set over the shared readers; the names below stay importable from here.
from deep_kmeans.data.image_loaders import (CIFAR10_CLASSES, CIFAR_BATCHES, load_2mnist_raw, load_cifar10_raw,
                                            load_digits_raw, load_fashion_mnist_raw, load_mnist_pickle,
                                            load_mnist_raw, load_stl10_raw)
from deep_kmeans.data.readers import MissingRawDataError, read_idx, stratified_indices, subsample
from deep_kmeans.data.text_loaders import load_agnews_raw, load_reuters10k_raw, load_reuters21578_raw


__all__ = [
    "MissingRawDataError",
    "CorruptRawFileError",
    "load_raw_dataset",
    "raw_dir_for",
    "loader_options",
    "load_digits_raw",
    "load_mnist_raw",
    "load_fashion_mnist_raw",
    "load_2mnist_raw",
    "load_stl10_raw",
    "load_cifar10_raw",
    "load_reuters10k_raw",
    "load_reuters21578_raw",
    "load_agnews_raw",
    "read_idx",
    "stratified_indices",
    "subsample",
    "load_mnist_pickle",
    "CIFAR10_CLASSES",
    "CIFAR_BATCHES",
]

# ---- dispatcher -------------------------------------------------------------------------------

LOADERS = {
    "digits": load_digits_raw,
    "mnist": load_mnist_raw,
    "fashion_mnist": load_fashion_mnist_raw,
    "2mnist": load_2mnist_raw,
    "stl10": load_stl10_raw,
    "cifar10": load_cifar10_raw,
    "reuters10k": load_reuters10k_raw,
    "reuters21578": load_reuters21578_raw,
    "agnews": load_agnews_raw,
}


def loader_options(name: str) -> list[str]:
    """The per-data-set options a loader accepts (its keyword arguments besides seed and download)."""
    params = inspect.signature(LOADERS[name]).parameters
    return [p for p, v in params.items() if v.kind == v.KEYWORD_ONLY and p not in ("seed", "download")]


def load_raw_dataset(name: str, raw_dir: str | Path, options: dict | None = None, seed: int = 0,
                     download: bool = False) -> dict:
    """The ``raw_data`` record of data set ``name`` read from ``raw_dir`` (the folder of this data set).

    ``options`` are the data set's knobs (``data.options.<name>``); ``None`` values mean "default", so
    the YAML can list every knob with ``null``. ``download=True`` lets missing files be fetched.
    """
    get_dataset_info(name)  # the unknown-name error, listing the known names
    accepted = loader_options(name)
    options = {k: v for k, v in (options or {}).items() if v is not None}
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ParameterError(f"unknown option(s) {', '.join(unknown)} for data set {name!r}; "
                         f"accepted: {', '.join(accepted) or 'none'}")
    return LOADERS[name](raw_dir, seed=seed, download=download, **options)


def raw_dir_for(dataset: str, data_params: dict) -> Path:
    """The folder of ``dataset``'s raw files: ``raw_dirs[dataset]`` or ``<raw_root>/<dataset>``."""
    override = (data_params.get("raw_dirs") or {}).get(dataset)
    return Path(override) if override else Path(data_params.get("raw_root", "data/01_raw")) / dataset
