import numpy as np
import pytest

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


def test_a_data_set_named_in_disabled_for_is_built_without_views_under_the_key_of_views_off(tmp_path):
    raw = load_digits_raw(n_samples=20, seed=0)
    store = DirectoryStore(tmp_path)
    others = build_features(raw, {**PARAMS, "views": {**PARAMS["views"], "disabled_for": ["cifar10"]}}, seed=0,
                            cache=store)
    # naming other data sets changes nothing here, down to the cache key
    assert others["views"].shape == (20, 4, 64) and others["fingerprint"] == fingerprint(raw, PARAMS, 0)
    off = build_features(raw, {**PARAMS, "views": {**PARAMS["views"], "disabled_for": "digits"}}, seed=0,
                         cache=store)
    assert off["views"] is None
    assert off["fingerprint"] == fingerprint(raw, {**PARAMS, "views": {**PARAMS["views"], "enabled": False}}, 0)
    assert len(store.keys()) == 2


def _same(a, b, where="features"):
    """Exactly equal, down to the types and dtypes of the arrays."""
    assert type(a) is type(b), (where, type(a), type(b))
    if isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape, where
        np.testing.assert_array_equal(a, b)
    elif isinstance(a, dict):
        assert list(a) == list(b), where
        for k in a:
            _same(a[k], b[k], f"{where}[{k!r}]")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (u, v) in enumerate(zip(a, b)):
            _same(u, v, f"{where}[{i}]")
    else:
        assert a == b, where


def test_cached_features_come_back_exactly(tmp_path):
    raw = load_digits_raw(n_samples=30, seed=0)
    store = DirectoryStore(tmp_path)
    built = build_features(raw, PARAMS, seed=0, cache=store)
    _same(store.get(built["fingerprint"]), built)
    # a table of your own: string ids, column names, a standardizer, no labels
    table = {"name": "custom", "kind": "vector", "x": np.random.default_rng(0).normal(size=(12, 5)), "y": None,
             "ids": [f"row-{i}" for i in range(12)], "columns": list("abcde"), "classes": [], "source": "t.csv"}
    built = build_features(table, {"standardize": "zscore"}, seed=0, cache=store)
    assert built["y"] is None and built["ids"][0] == "row-0"
    _same(store.get(built["fingerprint"]), built)


class _Planted:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        import os

        return os.system, (f"touch {self.marker}",)


@pytest.mark.parametrize("damage", ["planted", "truncated", "empty"])
def test_a_bad_cache_entry_is_named_discarded_and_rebuilt(tmp_path, caplog, damage):
    import pickle

    raw = load_digits_raw(n_samples=30, seed=0)
    store = DirectoryStore(tmp_path / "cache")
    built = build_features(raw, PARAMS, seed=0, cache=store)
    path = store.path / f"{built['fingerprint']}.pt"
    marker = tmp_path / "owned"
    data = {"planted": pickle.dumps(_Planted(marker)), "truncated": path.read_bytes()[:len(path.read_bytes()) // 2],
            "empty": b""}[damage]
    path.write_bytes(data)
    with caplog.at_level("WARNING", logger="deep_kmeans.store"):
        again = build_features(raw, PARAMS, seed=0, cache=store)
    assert not marker.exists()
    assert f"Discarding unreadable store entry {path}" in caplog.text
    if damage == "planted":
        assert "the weights-only load refused it" in caplog.text
    _same(again, built)
    _same(store.get(built["fingerprint"]), built)  # rebuilt and cached again
    caplog.clear()
    build_features(raw, PARAMS, seed=0, cache=store)  # and the next run reads it quietly
    assert "Discarding" not in caplog.text


def test_a_legacy_pickle_is_never_read(tmp_path):
    import pickle

    raw = load_digits_raw(n_samples=30, seed=0)
    store = DirectoryStore(tmp_path)
    key = fingerprint(raw, PARAMS, 0)
    marker = tmp_path / "owned"
    (tmp_path / f"{key}.pkl").write_bytes(pickle.dumps(_Planted(marker)))
    built = build_features(raw, PARAMS, seed=0, cache=store)
    assert not marker.exists() and built["fingerprint"] == key
    assert [(e.key, e.kind) for e in store.entries()] == [(key, "legacy"), (key, "entry")]
