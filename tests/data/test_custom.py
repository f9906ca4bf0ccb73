"""Your own data (dataset=custom): tables, arrays and image folders as raw_data records, and the errors a
user gets for each kind of bad input, before any training."""

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from deep_kmeans.data.custom import CustomDataError, CustomSource, read_custom
from deep_kmeans.data.validation import validate_raw


@pytest.fixture
def table(tmp_path):
    rng = np.random.default_rng(0)
    df = pd.DataFrame(rng.normal(size=(30, 4)), columns=["a", "b", "c", "d"])
    df["species"] = ["x", "y", "z"] * 10
    df["name"] = [f"row{i}" for i in range(30)]
    return df


def test_csv_features_labels_and_ids(tmp_path, table):
    path = tmp_path / "t.csv"
    table.to_csv(path, index=False)
    raw = validate_raw(read_custom(CustomSource(str(path)), label_column="species", id_column="name"), path)
    assert raw["kind"] == "vector" and raw["x"].shape == (30, 4) and raw["x"].dtype == np.float32
    assert raw["columns"] == ["a", "b", "c", "d"] and raw["classes"] == ["x", "y", "z"]
    np.testing.assert_array_equal(raw["y"][:3], [0, 1, 2])
    assert raw["ids"][:2] == ["row0", "row1"]
    np.testing.assert_allclose(raw["x"][:, 0], table["a"].to_numpy(), rtol=1e-6)


def test_parquet_without_labels(tmp_path, table):
    path = tmp_path / "t.parquet"
    table[["a", "b"]].to_parquet(path)
    raw = validate_raw(read_custom(path), path)
    assert raw["y"] is None and raw["classes"] == [] and raw["ids"] is None and raw["x"].shape == (30, 2)


def test_npy_and_npz(tmp_path):
    x = np.arange(12, dtype=np.float64).reshape(6, 2)
    np.save(tmp_path / "x.npy", x)
    assert read_custom(tmp_path / "x.npy")["x"].shape == (6, 2)
    np.savez(tmp_path / "xy.npz", X=x, y=np.array([3, 3, 5, 5, 7, 7]), ids=np.array(list("abcdef")))
    raw = validate_raw(read_custom(tmp_path / "xy.npz"), "xy.npz")
    assert raw["classes"] == ["3", "5", "7"] and raw["y"].tolist() == [0, 0, 1, 1, 2, 2] and raw["ids"][0] == "a"


def test_image_folder_with_class_subfolders(tmp_path):
    for cls, value in (("cats", 10), ("dogs", 200)):
        (tmp_path / "img" / cls).mkdir(parents=True)
        for i in range(3):
            Image.fromarray(np.full((20, 24, 3), value + i, np.uint8)).save(tmp_path / "img" / cls / f"{i}.png")
    raw = validate_raw(read_custom(tmp_path / "img", image_size=16), "img")
    assert raw["kind"] == "rgb" and raw["x"].shape == (6, 16, 16, 3) and raw["x"].dtype == np.uint8
    assert raw["classes"] == ["cats", "dogs"] and raw["y"].tolist() == [0, 0, 0, 1, 1, 1]
    assert raw["ids"][0] == "cats/0.png"


@pytest.mark.parametrize("make,kwargs,match", [
    (lambda d: None, {}, "needs your data"),
    (lambda d: d / "missing.csv", {}, "no such file"),
    (lambda d: (d / "x.txt").write_text("1,2") and d / "x.txt", {}, "unsupported file type .txt"),
    (lambda d: (d / "bad.parquet").write_bytes(b"not a parquet file") and d / "bad.parquet", {}, "cannot be read as a table"),
    (lambda d: pd.DataFrame({"s": ["a", "b"]}).to_csv(d / "s.csv", index=False) or d / "s.csv", {},
     "no numeric columns"),
    (lambda d: pd.DataFrame({"a": [1.0, 2.0], "s": ["a", "b"]}).to_csv(d / "m.csv", index=False) or d / "m.csv", {},
     "non-numeric columns s"),
    (lambda d: pd.DataFrame({"a": [1.0, np.nan, 3.0], "b": [np.inf, 1.0, 2.0]}).to_csv(d / "n.csv", index=False)
     or d / "n.csv", {}, r"2 NaN or infinite cells in 2 rows, in columns a \(1\), b \(1\).*custom.nan=drop"),
    (lambda d: pd.DataFrame({"a": [1.0, 2.0]}).to_csv(d / "l.csv", index=False) or d / "l.csv",
     {"label_column": "label"}, "custom.label_column='label' is not a column.*The columns are: a"),
    (lambda d: (d / "empty").mkdir() or d / "empty", {}, "no images in this folder"),
    (lambda d: np.save(d / "3d.npy", np.zeros((2, 3, 4))) or d / "3d.npy", {}, "2-D numeric array"),
    (lambda d: pd.DataFrame({"a": [1.0]}).to_csv(d / "a.csv", index=False) or d / "a.csv", {"nan": "ignore"},
     "not a NaN policy"),
])
def test_bad_input_names_the_problem_and_the_fix(tmp_path, make, kwargs, match):
    target = make(tmp_path)
    with pytest.raises(CustomDataError, match=match):
        read_custom(CustomSource("" if target is None else str(target)), **kwargs)


def test_nan_drop_drops_the_rows(tmp_path):
    pd.DataFrame({"a": [1.0, np.nan, 3.0], "b": [1.0, 2.0, 3.0]}).to_csv(tmp_path / "n.csv", index=False)
    raw = read_custom(tmp_path / "n.csv", nan="drop")
    assert raw["x"].tolist() == [[1.0, 1.0], [3.0, 3.0]]
