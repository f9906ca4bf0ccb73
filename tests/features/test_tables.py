"""Tables and arrays of your own as model input (features/tables.py): the transform that fits the data, tabular
views drawn as SCARF / masking / noise, image views of image arrays, all deterministic from the seed and cached
under a key that holds their parameters."""

import logging

import numpy as np
import pytest
from sklearn.datasets import load_digits, load_iris, load_wine

from deep_kmeans.data.loaders import load_digits_raw
from deep_kmeans.features.build import build_features, features_like, fingerprint
from deep_kmeans.features.tables import choose_standardize, tabular_views, transform_of


def _raw(x, y=None, layout=None, columns=None):
    return {"name": "custom", "kind": "vector", "x": np.asarray(x, dtype=np.float32), "texts": None, "y": y,
            "classes": [] if y is None else sorted(set(map(str, y))), "source": "t", "ids": None, "columns": columns,
            "table_schema": None, "image_layout": layout}


def test_auto_standardize_fits_the_data():
    wine, iris = load_wine().data, load_iris().data
    assert choose_standardize(wine, "auto", image=False)[0] == "zscore"  # proline in the 1,000s beside hue ~1
    how, why = choose_standardize(iris, "auto", image=False)
    assert how == "center" and "one scale" in why  # four lengths in cm: their own distances kept
    assert choose_standardize(wine, "auto", image=True)[0] == "pixels"
    assert choose_standardize(wine, None, image=False)[0] == "zscore"
    assert choose_standardize(wine, "none", image=False) == ("none", "as given")
    assert choose_standardize(wine, True, image=False)[0] == "zscore"  # the old spelling


def test_the_transforms():
    x = np.array([[0.0, 10.0], [2.0, 30.0], [4.0, 50.0]])
    center = transform_of(x, "center")
    assert center["shift"] == [2.0, 30.0] and center["scale"][0] == center["scale"][1]  # one common scale
    np.testing.assert_allclose(center["scale"][0], np.sqrt((np.var(x[:, 0]) + np.var(x[:, 1])) / 2))
    assert transform_of(x * 5, "pixels")["scale"] == [250.0, 250.0]  # the largest value: to [0, 1]
    assert transform_of(x / 100, "pixels")["scale"] == [1.0, 1.0]  # already in [0, 1]
    with pytest.raises(ValueError, match="features.standardize must be one of"):
        transform_of(x, "robust")


def test_tabular_views_draw_from_each_columns_marginal_and_depend_only_on_the_seed():
    rng = np.random.default_rng(0)
    x = np.stack([rng.integers(0, 3, 500), 100 + rng.integers(0, 2, 500)], axis=1).astype(np.float32)
    v = tabular_views(x, seed=3, corruption=0.5, noise=0.0)
    assert v.shape == (500, 4, 2) and v.dtype == np.float32
    np.testing.assert_array_equal(v, tabular_views(x, seed=3, corruption=0.5, noise=0.0))
    assert not np.array_equal(v, tabular_views(x, seed=4, corruption=0.5, noise=0.0))
    # a corrupted cell holds a value of its own column: the marginal, never another column's values
    assert set(np.unique(v[:, :, 0])) <= {0.0, 1.0, 2.0} and set(np.unique(v[:, :, 1])) <= {100.0, 101.0}
    changed = (v != x[:, None, :]).mean()
    assert 0.2 < changed < 0.4  # half the cells replaced, about a third of those by another value


def test_masking_sets_cells_to_the_column_mean_and_noise_scales_with_each_column():
    rng = np.random.default_rng(0)
    x = np.stack([rng.normal(0, 1, 4000), rng.normal(50, 100, 4000)], axis=1).astype(np.float32)
    masked = tabular_views(x, seed=0, corruption=0.0, masking=0.25, noise=0.0)
    hit = masked != x[:, None, :]
    assert 0.22 < hit.mean() < 0.28
    np.testing.assert_allclose(masked[:, :, 1][hit[:, :, 1]], x[:, 1].mean(), rtol=1e-5)
    noisy = tabular_views(x, seed=0, corruption=0.0, noise=0.1)
    spread = (noisy - x[:, None, :]).std(axis=(0, 1))
    np.testing.assert_allclose(spread, 0.1 * x.std(axis=0), rtol=0.05)
    np.testing.assert_array_equal(tabular_views(x, seed=0, corruption=0.0, noise=0.0), np.repeat(x[:, None], 4, axis=1))


def test_a_table_gets_tabular_views_cached_under_its_view_parameters(tmp_path):
    from deep_kmeans.io import DirectoryStore

    wine = load_wine()
    raw = _raw(wine.data, wine.target, columns=list(wine.feature_names))
    store = DirectoryStore(tmp_path)
    f = build_features(raw, {}, seed=0, cache=store)
    assert f["views"].shape == (178, 4, 13) and f["extractor"] == "table (zscore)"
    assert np.isfinite(f["views"]).all()
    again = build_features(raw, {"tabular_views": {"corruption": 0.0, "noise": 0.1}}, seed=0, cache=store)
    assert again["fingerprint"] == f["fingerprint"]  # the defaults spelt out: the same features
    other = {"tabular_views": {"corruption": 0.6}}
    assert fingerprint(raw, other, 0) != f["fingerprint"]
    assert not np.array_equal(build_features(raw, other, seed=0)["views"], f["views"])
    assert build_features(raw, {"views": {"enabled": False}}, seed=0)["views"] is None  # TAKE without views


def test_an_image_array_gets_the_digits_own_features_views_and_geometry(caplog):
    """The digits as a 64-column table of 0-16 pixels: detected as 8×8 images, the same model input, views and
    geometry as dataset=digits (no z-scoring)."""
    digits = load_digits()
    from deep_kmeans.data.image_layout import image_layout

    layout = image_layout(digits.data.astype(np.float32), "auto")
    raw = _raw(digits.data, digits.target, layout=layout)
    params = {"views": {"enabled": True, "crop_scale": [0.6, 1.0], "max_rotation": 15.0}}
    with caplog.at_level(logging.INFO, logger="deep_kmeans.features.build"):
        mine = build_features(raw, params, seed=0)
    assert "standardize pixels: an image array" in caplog.text
    builtin = build_features(load_digits_raw(), params, seed=0)
    np.testing.assert_array_equal(mine["x"], builtin["x"])
    np.testing.assert_allclose(mine["views"], builtin["views"], atol=1e-6)
    assert mine["geometry"] == builtin["geometry"] and mine["extractor"] == "pixels"
    # new rows get the same transform (take_predict, the MLflow model)
    np.testing.assert_allclose(features_like({"kind": "vector", "x": digits.data[:5]}, mine["preprocess"]),
                               builtin["x"][:5])


def test_mnist_exported_to_an_npz_is_the_same_model_input_as_dataset_mnist(tmp_path, caplog):
    """MNIST as a user would export it (70,000 × 784 floats in [0, 1], X and y in an .npz) through dataset=custom:
    detected as 28×28 images, the same model input, views and geometry as dataset=mnist from its IDX files. So with
    the same schedule both train the same (docs/results.md: the digits .csv reaches dataset=digits' ACC)."""
    from data.test_loaders import write_idx  # tests/data: a package on pytest's path, as tests/syncs.py

    from deep_kmeans.data.custom import read_custom
    from deep_kmeans.data.loaders import load_mnist_raw

    digits = load_digits()  # 8×8 strokes drawn at 24×24 in a 28×28 frame: images with MNIST's layout
    images = np.zeros((60, 28, 28), np.uint8)
    images[:, 2:26, 2:26] = np.kron(digits.images[:60] / 16.0 * 255, np.ones((3, 3))).round()
    for split, part in (("train", slice(0, 40)), ("t10k", slice(40, 60))):
        write_idx(tmp_path / "mnist" / f"{split}-images-idx3-ubyte.gz", images[part])
        write_idx(tmp_path / "mnist" / f"{split}-labels-idx1-ubyte.gz", digits.target[:60][part])
    builtin_raw = load_mnist_raw(tmp_path / "mnist")
    np.savez(tmp_path / "mnist.npz", X=builtin_raw["x"].reshape(60, -1), y=builtin_raw["y"])
    with caplog.at_level(logging.INFO):
        raw = read_custom(tmp_path / "mnist.npz")
    assert raw["image_layout"]["shape"] == [28, 28, 1] and "28×28 images" in caplog.text
    params = {"views": {"enabled": True, "crop_scale": [0.6, 1.0], "max_rotation": 15.0}}
    mine, builtin = build_features(raw, params, seed=3), build_features(builtin_raw, params, seed=3)
    np.testing.assert_array_equal(mine["x"], builtin["x"])
    np.testing.assert_allclose(mine["views"], builtin["views"], atol=1e-6)
    assert mine["geometry"] == builtin["geometry"] == {"dim": 784, "channels": 1, "side": 28, "patch": 7}


def test_colour_arrays_get_crops_and_rotations_of_every_channel():
    rng = np.random.default_rng(0)
    images = np.zeros((6, 8, 8, 3), np.float32)
    images[:, 2:6, 2:6, 0] = 200  # a red square
    images += rng.integers(0, 20, images.shape)
    raw = _raw(images.reshape(6, -1), layout={"shape": [8, 8, 3], "how": "declared", "why": "test"})
    f = build_features(raw, {}, seed=0)
    assert f["views"].shape == (6, 4, 192) and f["extractor"] == "image array 8x8x3 (pixels)"
    views = f["views"].reshape(6, 4, 8, 8, 3)
    # the square stays red: the channels move together
    assert (views[..., 0].mean(axis=(2, 3)) > 3 * views[..., 1].mean(axis=(2, 3))).all()


def test_a_square_side_not_divisible_by_4_keeps_its_native_side():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 255, (20, 900)).astype(np.float32)
    f = build_features(_raw(x, layout={"shape": [30, 30, 1], "how": "declared", "why": "t"}), {}, seed=0)
    assert f["geometry"] == {"dim": 900, "channels": 1, "side": 30, "patch": 6}  # 5×5 patches, no padding


def test_a_text_table_goes_through_the_sentence_encoder_with_synonym_views(tmp_path, tiny_bert, ppdb_file,
                                                                            nltk_root, capsys):
    import pandas as pd

    from deep_kmeans.data.custom import read_custom

    tokenizer, model = tiny_bert
    encoder = tmp_path / "encoder"
    tokenizer.save_pretrained(encoder)
    model.save_pretrained(encoder)
    path = tmp_path / "notes.csv"
    texts = [f"{a} {b} {c}" for a in ("the good car", "a big dog", "the red car", "good news")
             for b in ("is", "runs") for c in ("fast", "nice")][:12]
    pd.DataFrame({"note": texts, "label": [0, 1] * 6}).to_csv(path, index=False)
    raw = read_custom(path, label_column="label")
    params = {"text_encoder": str(encoder), "batch_size": 4,
              "text_augment": {"source": "ppdb", "ppdb_path": str(ppdb_file), "aug_p": 0.5}}
    f = build_features(raw, params, seed=0, device="cpu", progress=False)
    assert f["x"].shape == (12, 32) and f["views"].shape == (12, 4, 32)
    # (the tiny tokenizer maps these words to [UNK], so the views' embeddings equal the rows'; the synonyms
    # themselves are test_text.py's)
    assert np.isfinite(f["views"]).all()
    assert f["geometry"]["dim"] == 32 and f["extractor"] == str(encoder)
    assert "synonym views" not in capsys.readouterr().err  # progress=False silences every bar
    # take_predict: new texts through the same encoder land where the training texts did (in batches of 4 at
    # training and the default at prediction; the features do not depend on it)
    from deep_kmeans.errors import InputMismatchError

    again = features_like({"kind": "text", "texts": raw["texts"][:5], "columns": ["note"]}, f["preprocess"],
                          device="cpu", progress=False)
    np.testing.assert_allclose(again, f["x"][:5], rtol=1e-5, atol=1e-6)
    with pytest.raises(InputMismatchError, match="text columns differ.*missing note.*unexpected title"):
        features_like({"kind": "text", "texts": ["a car"], "columns": ["title"]}, f["preprocess"], device="cpu")
    with pytest.raises(InputMismatchError, match="no texts: give one text per row in the columns note"):
        features_like({"kind": "text", "texts": [], "columns": ["note"]}, f["preprocess"], device="cpu")
