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


# ---- degenerate data and bounded reading (docs/reliability.md, section 9) ---------------------------------------

@pytest.mark.parametrize("name,frame", [
    ("constant", pd.DataFrame(np.ones((200, 5)), columns=list("abcde"))),
    ("one row repeated", pd.DataFrame(np.tile(np.arange(5.0), (200, 1)), columns=list("abcde"))),
    ("a single row", pd.DataFrame([[1.0, 2.0]], columns=["a", "b"])),
])
def test_data_with_one_distinct_row_is_refused_before_any_feature(tmp_path, name, frame):
    from deep_kmeans.data.validation import DegenerateDataError

    frame.to_csv(tmp_path / "t.csv", index=False)
    with pytest.raises(DegenerateDataError, match=r"all \d+ rows are identical \(every column is constant\): there is "
                                              "nothing to cluster"):
        read_custom(tmp_path / "t.csv")
    # the same rows to assign by a trained model (take_predict): nothing is clustered, so they are read
    assert read_custom(tmp_path / "t.csv", new_rows=True)["x"].shape == frame.shape


def test_one_new_text_to_assign_is_read_and_one_text_to_train_on_is_refused(tmp_path):
    pd.DataFrame({"title": ["Google shares jump after strong earnings"]}).to_csv(tmp_path / "one.csv", index=False)
    with pytest.raises(CustomDataError, match="all 1 texts are the same"):
        read_custom(tmp_path / "one.csv")
    raw = read_custom(tmp_path / "one.csv", new_rows=True)
    assert raw["kind"] == "text" and raw["texts"] == ["Google shares jump after strong earnings"]


def test_fewer_distinct_rows_than_clusters_is_refused_and_enough_pass():
    from deep_kmeans.data.validation import DegenerateDataError, check_distinct_rows, distinct_rows
    from deep_kmeans.methods.config import resolve_n_clusters

    x = np.repeat(np.random.default_rng(0).normal(size=(3, 4)).astype(np.float32), 50, axis=0)  # 3 points × 50
    assert distinct_rows(x) == 3 and distinct_rows(x, enough=2) == 2
    features = {"name": "custom", "x": x, "classes": []}
    with pytest.raises(DegenerateDataError, match=r"only 3 distinct rows among 150 .* fewer than n_clusters=4: ask "
                                                  r"for at most 3 clusters \(--params=n_clusters=3\)"):
        resolve_n_clusters(4, features)
    assert resolve_n_clusters(3, features) == 3  # duplicates, but enough distinct points: clustered
    assert check_distinct_rows(x, 3, "x") == 3
    with pytest.raises(DegenerateDataError, match="all 150 rows are identical"):
        resolve_n_clusters("auto", {**features, "x": np.zeros((150, 4), np.float32)})


def test_a_header_only_table_says_no_rows(tmp_path):
    (tmp_path / "h.csv").write_text("a,b,c\n")
    with pytest.raises(CustomDataError, match=r"no rows \(only a header: a, b, c\)"):
        read_custom(tmp_path / "h.csv")


def test_a_device_a_fifo_or_a_link_to_one_is_refused_before_reading(tmp_path):
    import os

    (tmp_path / "zero.csv").symlink_to("/dev/zero")
    with pytest.raises(CustomDataError, match=r"zero.csv: is a character device \(it points to /dev/zero\), not a file"):
        read_custom(tmp_path / "zero.csv")
    os.mkfifo(tmp_path / "pipe.csv")  # opening it to read would block until a writer comes: never opened
    with pytest.raises(CustomDataError, match="is a FIFO"):
        read_custom(tmp_path / "pipe.csv")


def test_data_larger_than_max_bytes_is_refused_before_reading(tmp_path, table):
    from deep_kmeans.data.custom import auto_max_bytes

    table[["a", "b"]].to_csv(tmp_path / "t.csv", index=False)
    size = (tmp_path / "t.csv").stat().st_size
    with pytest.raises(CustomDataError, match=rf"more than custom.max_bytes={size - 1} .*custom.max_bytes=<bytes>"):
        read_custom(tmp_path / "t.csv", max_bytes=size - 1)
    assert read_custom(tmp_path / "t.csv", max_bytes=size)["x"].shape == (30, 2)
    # an .npz is counted unpacked: 2 MB of zeros compress to a few KB
    np.savez_compressed(tmp_path / "z.npz", X=np.zeros((1000, 250)))
    assert (tmp_path / "z.npz").stat().st_size < 100_000
    with pytest.raises(CustomDataError, match="1.9 MiB of data, more than custom.max_bytes=1000000"):
        read_custom(tmp_path / "z.npz", max_bytes=1_000_000)
    assert 2 ** 28 < auto_max_bytes()  # an eighth of any machine this runs on: more than 256 MiB


def test_a_table_records_its_column_types_and_id_and_label_columns(tmp_path, table):
    table["count"] = np.arange(30)
    table.to_csv(tmp_path / "t.csv", index=False)
    raw = read_custom(tmp_path / "t.csv", label_column="species", id_column="name")
    assert raw["table_schema"] == {"columns": {"a": "double", "b": "double", "c": "double", "d": "double",
                                               "count": "long"},
                                   "id_column": ["name", "string"], "label_column": ["species", "string"]}
    # new rows to assign may come without the labels (optional_columns): read, without them
    table.drop(columns=["species"]).to_csv(tmp_path / "new.csv", index=False)
    with pytest.raises(CustomDataError, match="custom.label_column='species' is not a column"):
        read_custom(tmp_path / "new.csv", label_column="species", id_column="name")
    raw = read_custom(tmp_path / "new.csv", label_column="species", id_column="name", optional_columns=True)
    assert raw["y"] is None and raw["ids"][0] == "row0" and raw["table_schema"]["label_column"] is None


def test_a_column_of_free_text_makes_a_text_record(tmp_path):
    from deep_kmeans.data.custom import is_text_column

    path = tmp_path / "news.csv"
    titles = [f"the {w} car is red number {i}" for i, w in enumerate(["good", "big", "fast", "red"] * 5)]
    pd.DataFrame({"id": range(20), "title": titles, "topic": ["a", "b"] * 10}).to_csv(path, index=False)
    raw = validate_raw(read_custom(path, label_column="topic", id_column="id"), path)
    assert raw["kind"] == "text" and raw["x"] is None and raw["texts"] == titles
    assert raw["columns"] == ["title"] and raw["classes"] == ["a", "b"] and raw["ids"][:2] == ["0", "1"]
    assert raw["table_schema"]["columns"] == {"title": "string"}
    assert is_text_column(pd.Series(titles)) and not is_text_column(pd.Series(["Biscoe", "Dream", "Biscoe"] * 5))


def test_categories_and_text_beside_numbers_are_errors_that_say_what_to_do(tmp_path):
    path = tmp_path / "mixed.csv"
    pd.DataFrame({"island": ["Biscoe", "Dream"] * 5, "mass": np.arange(10.0)}).to_csv(path, index=False)
    with pytest.raises(CustomDataError, match="non-numeric columns island"):
        read_custom(path)
    path = tmp_path / "both.csv"
    pd.DataFrame({"note": [f"a long note number {i}" for i in range(10)], "mass": np.arange(10.0)}).to_csv(path,
                                                                                                        index=False)
    with pytest.raises(CustomDataError, match=r"text columns \(note\) beside numeric feature columns \(mass\)"):
        read_custom(path)
