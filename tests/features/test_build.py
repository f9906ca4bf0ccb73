import numpy as np

from deep_kmeans.data.loaders import load_digits_raw
from deep_kmeans.features.build import build_features, fingerprint
from deep_kmeans.io import DirectoryStore

PARAMS = {"views": {"enabled": True, "crop_scale": [0.6, 1.0], "max_rotation": 15.0}, "batch_size": 8}


def test_digits_features_views_geometry_and_cache(tmp_path):
    raw = load_digits_raw(n_samples=50, seed=0)
    store = DirectoryStore(tmp_path)
    f = build_features(raw, PARAMS, seed=0, cache=store)
    assert f["x"].shape == (50, 64) and f["views"].shape == (50, 4, 64) and f["x"].dtype == np.float32
    assert f["geometry"] == {"dim": 64, "channels": 1, "side": 8, "patch": 2}
    assert store.keys() == [f["fingerprint"]]
    again = build_features(raw, {**PARAMS, "batch_size": 999}, seed=0, cache=store)  # batch size: same key
    assert again["fingerprint"] == f["fingerprint"] and len(store.keys()) == 1
    other = build_features(raw, {**PARAMS, "views": {**PARAMS["views"], "max_rotation": 5.0}}, seed=0, cache=store)
    assert other["fingerprint"] != f["fingerprint"] and len(store.keys()) == 2
    assert fingerprint(raw, PARAMS, 1) != fingerprint(raw, PARAMS, 0)


def test_views_off_and_patch_override():
    raw = load_digits_raw(n_samples=20, seed=0)
    f = build_features(raw, {"views": {"enabled": False}, "patch": 4}, seed=0)
    assert f["views"] is None and f["geometry"]["patch"] == 4
