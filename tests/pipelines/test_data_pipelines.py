"""The data and feature pipelines through Kedro, on digits."""

import numpy as np

from .conftest import tiny_params


def test_features_pipeline_on_digits(scratch_project):
    scratch_project.run("features", tiny_params())
    raw = scratch_project.load("data/02_intermediate/digits/raw_data.pt")
    assert raw["x"].shape == (300, 8, 8) and raw["x"].dtype == np.float32
    assert np.bincount(raw["y"]).tolist() == [30] * 10
    feats = scratch_project.load("data/04_feature/digits/features.pt")
    assert feats["x"].shape == (300, 64) and 0 <= feats["x"].min() and feats["x"].max() <= 1
    assert feats["views"].shape == (300, 4, 64)
    assert feats["geometry"] == {"dim": 64, "channels": 1, "side": 8, "patch": 2}
    assert feats["extractor"] == "pixels"


def test_changed_feature_parameters_invalidate_the_cache(scratch_project):
    scratch_project.run("features", tiny_params())
    params = tiny_params()
    params["features"] = {"views": {"enabled": True, "crop_scale": [0.8, 1.0], "max_rotation": 10.0}}
    scratch_project.run("features", params)
    scratch_project.run("features", tiny_params())
    assert len(list((scratch_project.path / "data/04_feature/cache").glob("*.pt"))) == 2


def _raw_labels(project) -> np.ndarray:
    return project.load("data/02_intermediate/digits/raw_data.pt")["y"]


def _raw_pixels(project) -> np.ndarray:
    return project.load("data/02_intermediate/digits/raw_data.pt")["x"]


def test_data_seed_draws_the_subset_and_seed_does_not(scratch_project):
    scratch_project.run("data", tiny_params())
    first = _raw_pixels(scratch_project)
    scratch_project.run("data", tiny_params(seed=5))  # another training seed: the same 300 images
    np.testing.assert_array_equal(_raw_pixels(scratch_project), first)
    scratch_project.run("data", tiny_params(data_seed=1))  # another data seed: another balanced subset
    other = _raw_pixels(scratch_project)
    assert other.shape == first.shape and not np.array_equal(other, first)
    assert np.bincount(_raw_labels(scratch_project)).tolist() == [30] * 10
