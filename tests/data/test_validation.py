"""validate_raw: every broken record is rejected with a message naming its source and the fix."""

from __future__ import annotations

import numpy as np
import pytest

from deep_kmeans.data.validation import CorruptRawFileError, corrupt_file_error, validate_raw

SRC = "data/01_raw/mnist/train-images-idx3-ubyte.gz"


def gray(n: int = 20) -> dict:
    rng = np.random.default_rng(0)
    return {"name": "mnist", "kind": "gray", "x": rng.random((n, 28, 28), dtype=np.float32), "texts": None,
            "y": np.arange(n, dtype=np.int64) % 10, "classes": [str(d) for d in range(10)], "source": SRC}


def rgb() -> dict:
    x = np.zeros((10, 32, 32, 3), dtype=np.uint8)
    return {"name": "cifar10", "kind": "rgb", "x": x, "texts": None, "y": np.arange(10, dtype=np.int64),
            "classes": [f"c{i}" for i in range(10)], "source": "cifar10-jpeg.tar.gz"}


def text() -> dict:
    return {"name": "agnews", "kind": "text", "x": None, "texts": ["a b", "c d", "e f", "g h"],
            "y": np.arange(4, dtype=np.int64), "classes": ["W", "S", "B", "T"], "source": "test.csv"}


def tfidf() -> dict:
    return {"name": "reuters21578", "kind": "tfidf", "x": np.eye(4, 6, dtype=np.float32), "texts": None,
            "y": np.arange(4, dtype=np.int64), "classes": ["earn", "acq", "crude", "trade"], "source": "reut"}


def rejects(raw: dict, pattern: str) -> None:
    with pytest.raises(ValueError, match=pattern) as e:
        validate_raw(raw, raw["source"])
    assert raw["source"] in str(e.value)


@pytest.mark.parametrize("make", [gray, rgb, text, tfidf])
def test_valid_records_pass_unchanged(make):
    raw = make()
    assert validate_raw(raw, raw["source"]) is raw


def test_nan_and_inf():
    raw = gray()
    raw["x"][3, 4, 5] = np.nan
    raw["x"][4, 4, 5] = np.inf
    rejects(raw, "2 NaN or infinite values.*re-download")


def test_wrong_shape_dtype_range():
    raw = gray()
    raw["x"] = raw["x"].reshape(20, -1)
    rejects(raw, r"gray x must be float32 \(N, H, W\).*shape \(20, 784\)")
    raw = gray()
    raw["x"] = raw["x"].astype(np.float64)
    rejects(raw, "must be float32, got float64")
    raw = gray()
    raw["x"] = raw["x"] * 255
    rejects(raw, "exceeds 1.*divide uint8 pixels by 255")
    raw = rgb()
    raw["x"] = raw["x"].astype(np.float32)
    rejects(raw, "rgb x must be uint8")
    raw = rgb()
    raw["x"] = raw["x"][..., :1]
    rejects(raw, r"rgb x must be uint8 \(N, H, W, 3\)")
    raw = tfidf()
    raw["x"][0, 0] = -1
    rejects(raw, "negative values")


def test_labels():
    raw = gray()
    raw["y"] = raw["y"][:-1]
    rejects(raw, "20 samples but 19 labels")
    raw = gray()
    raw["y"] = raw["y"].astype(np.int32)
    rejects(raw, "y must be int64")
    raw = gray()
    raw["y"][raw["y"] == 7] = 0
    rejects(raw, "classes without any sample: 7")
    raw = gray()
    raw["y"][0] = 10
    rejects(raw, r"labels must lie in 0..9")


def test_empty_and_texts():
    raw = gray()
    raw["x"], raw["y"] = raw["x"][:0], raw["y"][:0]
    rejects(raw, r"no samples \(N = 0\)")
    raw = text()
    raw["texts"][2] = "   "
    rejects(raw, "1 empty texts.*index 2")
    raw = text()
    raw["texts"] = None
    rejects(raw, "needs texts as a list")
    raw = text()
    raw["texts"] = raw["texts"][:3]
    rejects(raw, "3 samples but 4 labels")


def test_record_structure():
    raw = gray()
    del raw["classes"]
    with pytest.raises(ValueError, match="lacks classes") as e:
        validate_raw(raw, SRC)
    assert SRC in str(e.value)
    raw = gray()
    raw["kind"] = "rgb"
    rejects(raw, "'mnist' is of kind 'gray'")
    raw = gray()
    raw["classes"] = raw["classes"] + ["extra"]
    raw["y"][-1] = 10
    rejects(raw, "mnist has 10 classes, got 11")


def test_corrupt_file_error_message():
    e = corrupt_file_error("/d/x.gz", "the gzip stream ends early")
    assert isinstance(e, CorruptRawFileError) and isinstance(e, ValueError)
    assert str(e).startswith("/d/x.gz: the gzip stream ends early") and "re-download" in str(e)
