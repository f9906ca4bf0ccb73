"""What the raw loaders share: the missing-data error and its message, byte, IDX and pickle readers that
turn a truncated or planted file into a clear error, seeded class-balanced sampling, and the record builder."""

from __future__ import annotations

import gzip
import io
import pickle
import struct
import zlib
from pathlib import Path

import numpy as np

from deep_kmeans.data.registry import get_dataset_info
from deep_kmeans.errors import UserError
from deep_kmeans.data.validation import corrupt_file_error, validate_raw

SHARED_README = "../shared/datasets/README.md"


class MissingRawDataError(UserError, FileNotFoundError):
    """Raw files are absent and downloading is off (or impossible); the message says what to put where."""


# ---- messages ---------------------------------------------------------------------------------


def _online_command(name: str) -> str:
    return f'kedro run --params="dataset={name},data.download=true"'


def missing_error(name: str, folder: Path, expected: str, offline: str, download_note: str = "") -> MissingRawDataError:
    """The offline error: data set, folder, the exact files, the online command and the offline route."""
    folder = Path(folder).resolve()
    return MissingRawDataError(
        f"raw data for {name!r} not found in {folder}.\n"
        f"  Expected: {expected}\n"
        f"  With internet: {_online_command(name)}{download_note}\n"
        f"  Offline: {offline}\n"
        f"  Or point data.raw_dirs.{name} (conf/base/parameters_data.yml) at a folder holding these files."
    )


# ---- low-level readers ------------------------------------------------------------------------


def read_bytes(path: Path) -> bytes:
    """The file's bytes, gunzipped when it starts with the gzip magic; truncation becomes a clear error."""
    path = Path(path)
    raw = path.read_bytes()
    if raw[:2] != b"\x1f\x8b":
        return raw
    try:
        return gzip.decompress(raw)
    except EOFError as e:
        raise corrupt_file_error(path, f"the gzip stream ends early ({e})") from e
    except (gzip.BadGzipFile, zlib.error, OSError) as e:
        raise corrupt_file_error(path, f"invalid gzip data ({e})") from e


_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (MNIST's format), gzipped or not, checking its magic number and size.

    The header gives the item count and shape, so a file cut short by an interrupted download is
    caught here rather than as a reshape error later.
    """
    path = Path(path)
    data = read_bytes(path)
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_DTYPES:
        raise corrupt_file_error(path, f"not an IDX file (bad magic number {data[:4].hex() or 'empty'})")
    ndim = data[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(data) < header:
        raise corrupt_file_error(path, f"the IDX header is incomplete ({len(data)} bytes)")
    dims = struct.unpack(f">{ndim}I", data[4:header])
    dtype = np.dtype(_IDX_DTYPES[data[2]])
    count = int(np.prod(dims, dtype=np.int64))
    need, have = count * dtype.itemsize, len(data) - header
    if have < need:
        raise corrupt_file_error(
            path, f"the IDX header announces {dims[0]} items of shape {tuple(dims[1:])} ({need} bytes) "
                  f"but the file holds only {have} bytes after the header")
    if have > need:
        raise corrupt_file_error(path, f"{have - need} unexpected bytes after the {dims[0]} items the header announces")
    arr = np.frombuffer(data, dtype=dtype, count=count, offset=header).reshape(dims)
    return arr.astype(dtype.newbyteorder("="))


# What the data sets' own pickles (MNIST's mnist.pkl.gz, CIFAR-10's python batches) are made of: NumPy arrays
# in tuples, lists and dicts. Nothing else is built, so a planted file cannot run code when it is read.
_ARRAY_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode"),
}


class _ArraysOnly(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) in _ARRAY_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"it asks for {module}.{name}; a data file holds arrays only, so it was refused")


def load_pickle(path: Path, encoding: str = "latin1"):
    """Unpickle a (possibly gzipped) file of NumPy arrays, building nothing but arrays and containers; a
    truncated, garbled or planted file becomes a clear error naming it."""
    data = read_bytes(path)
    try:
        return _ArraysOnly(io.BytesIO(data), encoding=encoding).load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, IndexError, KeyError, AttributeError) as e:
        raise corrupt_file_error(path, f"cannot unpickle it ({type(e).__name__}: {e})") from e


def stratified_indices(y: np.ndarray, n: int, seed: int) -> np.ndarray:
    """A seeded sample of ``n`` indices, balanced over the classes of ``y``, in their original order.

    Every class gets ``n // K`` samples; the remainder goes one each to the first classes. Sorting the
    result keeps the data in file order, so the same seed always gives the same array.
    """
    classes = np.unique(y)
    k = len(classes)
    if not k <= n <= len(y):
        raise ValueError(f"n_samples must lie between the number of classes ({k}) "
                         f"and the data size ({len(y)}), got {n}")
    base, extra = divmod(n, k)
    return balanced_indices(y, [base + (i < extra) for i in range(k)], seed)


def balanced_indices(y: np.ndarray, counts: list[int], seed: int) -> np.ndarray:
    """``counts[i]`` seeded picks (without replacement) from the i-th class of ``np.unique(y)``, sorted."""
    rng = np.random.default_rng(seed)
    picks = []
    for c, k in zip(np.unique(y), counts):
        idx = np.flatnonzero(y == c)
        if k > len(idx):
            raise ValueError(f"class {c} has only {len(idx)} samples, {k} requested")
        picks.append(rng.choice(idx, size=k, replace=False))
    return np.sort(np.concatenate(picks))


def subsample(x: np.ndarray, y: np.ndarray, n_samples: int | None, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A seeded class-balanced subsample of ``n_samples`` rows (for CPU-scale runs); None = all."""
    if n_samples is None:
        return x, y
    idx = stratified_indices(np.asarray(y), int(n_samples), seed)
    return x[idx], np.asarray(y)[idx]


def raw_record(name: str, x, y, classes, source: str, texts=None) -> dict:
    """Build and validate the ``raw_data`` record."""
    raw = {
        "name": name,
        "kind": get_dataset_info(name).kind,
        "x": x,
        "texts": texts,
        "y": np.asarray(y, dtype=np.int64),
        "classes": list(classes),
        "source": source,
    }
    return validate_raw(raw, source)
