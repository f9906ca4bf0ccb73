"""Which tables and arrays of your own are images (data/image_layout.py): declared, detected where unambiguous, and
said in the log; a table stays a table."""

import logging

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_digits

from deep_kmeans.data.custom import read_custom
from deep_kmeans.data.image_layout import image_layout, parse_image_shape
from deep_kmeans.errors import ParameterError


@pytest.fixture(scope="module")
def digits_pixels():
    return load_digits().data.astype(np.float32)  # 1,797 rows of 8×8 pixels, whole numbers 0-16


@pytest.mark.parametrize("given,expected", [("auto", "auto"), ("none", "none"), (None, "none"), ("28x28", (28, 28, 1)),
                                            ("32x32x3", (32, 32, 3)), ("28×28", (28, 28, 1)), ([8, 8], (8, 8, 1))])
def test_the_forms_of_image_shape(given, expected):
    assert parse_image_shape(given) == expected


@pytest.mark.parametrize("bad", ["28by28", "28x28x2", "0x5", [28], 28])
def test_a_bad_image_shape_says_the_forms(bad):
    with pytest.raises(ParameterError, match="HxW / HxWxC"):
        parse_image_shape(bad)


def test_digits_pixels_are_detected_as_8x8_images_and_the_log_says_why(digits_pixels, caplog):
    with caplog.at_level(logging.INFO, logger="deep_kmeans.data.image_layout"):
        layout = image_layout(digits_pixels, "auto", "digits.csv")
    assert layout["shape"] == [8, 8, 1] and layout["how"] == "detected"
    assert "values in 0-255" in layout["why"] and "8×8 images (detected" in caplog.text


def test_the_same_columns_shuffled_are_a_table(digits_pixels, caplog):
    shuffled = digits_pixels[:, np.random.default_rng(1).permutation(64)]  # same values, no image neighbourhoods
    with caplog.at_level(logging.INFO, logger="deep_kmeans.data.image_layout"):
        assert image_layout(shuffled, "auto") is None
    assert "read as a table" in caplog.text and "custom.image_shape=8x8" in caplog.text


def test_tables_that_are_not_pixels_or_not_square_stay_tables(digits_pixels):
    assert image_layout(digits_pixels - 5, "auto") is None  # negative values are not intensities
    assert image_layout(digits_pixels * 20, "auto") is None  # past 255
    assert image_layout(digits_pixels[:, :63], "auto") is None  # not a square width
    small = np.random.default_rng(0).random((50, 16)).astype(np.float32)  # 4×4: too few columns to tell
    assert image_layout(small, "auto") is None
    assert image_layout(digits_pixels, "none") is None


def test_a_declared_shape_is_checked_against_the_data(digits_pixels):
    assert image_layout(digits_pixels, "8x8")["how"] == "declared"
    assert image_layout(np.zeros((4, 12), np.float32) + np.arange(12), "2x2x3")["shape"] == [2, 2, 3]
    with pytest.raises(ParameterError, match="rows of 49 values, but d.npz has 64 columns"):
        image_layout(digits_pixels, "7x7", "d.npz")
    with pytest.raises(ParameterError, match="negative values"):
        image_layout(digits_pixels - 1, "8x8")


def test_read_custom_records_the_layout_of_a_csv_and_an_npz(tmp_path, digits_pixels):
    csv = tmp_path / "digits.csv"
    pd.DataFrame(digits_pixels, columns=[f"p{i}" for i in range(64)]).to_csv(csv, index=False)
    assert read_custom(csv)["image_layout"]["shape"] == [8, 8, 1]
    assert read_custom(csv, image_shape="none")["image_layout"] is None
    npz = tmp_path / "wide.npz"
    np.savez(npz, X=np.random.default_rng(0).normal(size=(40, 64)))
    assert read_custom(npz)["image_layout"] is None  # a table of 64 normal columns
