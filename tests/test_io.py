import mlflow
import numpy as np
import pytest

from deep_kmeans.io import DirectoryStoreDataset, MlflowVersionedArtifactDataset


def test_directory_store_round_trip(tmp_path):
    store = DirectoryStoreDataset(str(tmp_path / "s")).load()
    assert store.get("a") is None and "a" not in store
    store.put("a", {"x": np.arange(3)})
    assert "a" in store and store.keys() == ["a"]
    np.testing.assert_array_equal(store.get("a")["x"], np.arange(3))
    store.delete("a")
    assert store.keys() == [] and not list((tmp_path / "s").glob(".*tmp"))
    with pytest.raises(ValueError, match="store keys"):
        store.put("../escape", 1)


def test_a_checkpoint_state_round_trips_exactly_with_the_random_states(tmp_path):
    import random

    import torch

    from deep_kmeans.io import DirectoryStore
    from deep_kmeans.methods.kit import rng_state, set_rng_state

    torch.manual_seed(0)
    net = torch.nn.Linear(3, 2)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    net(torch.randn(4, 3)).sum().backward()
    opt.step()
    gen = torch.Generator().manual_seed(5)
    torch.randn(3, generator=gen)
    np.random.seed(1)
    random.seed(2)
    state = {"epoch": 3, "net": net.state_dict(), "optimizer": opt.state_dict(), "rng": rng_state(gen),
             "history": {"pretrain/loss": [1.5, None, float("inf")]}, "previous": np.arange(5, dtype=np.int64),
             "odd": {"__store__": (1, "x"), 2: np.float16(0.5), "shape": torch.Size([2, 3]), "t": torch.float64,
                     "u": np.array([["ab", "c"]]), "obj": np.array(["id-1", None], dtype=object),
                     "empty": np.zeros((0, 4), np.uint16), "be": np.arange(3, dtype=">f8"), "b": b"\x00\x01",
                     "np_float": np.float64(0.1), "np_str": np.str_("s"), "np_int": np.int64(7),
                     "read_only": np.arange(4.0)[::2]}}
    state["odd"]["read_only"].flags.writeable = False
    store = DirectoryStore(tmp_path)
    store.put("run-1", state)
    back = store.get("run-1")

    def same(a, b):
        assert type(a) is type(b), (type(a), type(b))
        if isinstance(a, np.ndarray):
            assert a.dtype == b.dtype and a.shape == b.shape
            np.testing.assert_array_equal(a, b)
        elif isinstance(a, torch.Tensor):
            assert a.dtype == b.dtype and torch.equal(a, b)
        elif isinstance(a, dict):
            assert list(a) == list(b)
            for k in a:
                same(a[k], b[k])
        elif isinstance(a, (list, tuple)):
            assert len(a) == len(b)
            for u, v in zip(a, b):
                same(u, v)
        else:
            assert a == b
    same(back, state)
    # the random states restore: the same draws after
    expected = (torch.rand(2), np.random.rand(2), random.random(), torch.rand(2, generator=gen))
    set_rng_state(back["rng"], gen)
    again = (torch.rand(2), np.random.rand(2), random.random(), torch.rand(2, generator=gen))
    assert torch.equal(again[0], expected[0]) and np.array_equal(again[1], expected[1])
    assert again[2] == expected[2] and torch.equal(again[3], expected[3])


def test_what_the_store_cannot_keep_is_a_type_error_naming_the_key(tmp_path):
    from deep_kmeans.io import DirectoryStore

    store = DirectoryStore(tmp_path)
    with pytest.raises(TypeError, match=r"store entry 'k'\['model'\]\[0\]: a .*Path cannot be stored"):
        store.put("k", {"model": [tmp_path]})
    with pytest.raises(TypeError, match="structured dtype"):
        store.put("k", np.zeros(2, dtype=[("a", "i4")]))
    assert store.entries() == []  # nothing written


def test_bad_files_are_discarded_with_a_warning_and_legacy_files_listed(tmp_path, caplog):
    import os
    import pickle
    import time

    import torch

    from deep_kmeans.io import DirectoryStore

    store = DirectoryStore(tmp_path)
    store.put("good", {"x": np.ones(2)})
    (tmp_path / "good.pt").rename(tmp_path / "moved.pt")  # a file under another key's name
    torch.save({"x": 1}, tmp_path / "plain.pt")  # a torch file, not the store's
    (tmp_path / "old.pkl").write_bytes(pickle.dumps({"x": 1}))
    (tmp_path / ".half.abcdefgh.tmp").write_bytes(b"12")
    os.utime(tmp_path / "old.pkl", (time.time() - 3600, time.time() - 3600))
    with caplog.at_level("WARNING", logger="deep_kmeans.store"):
        assert store.get("moved") is None and store.get("plain", "missing") == "missing"
    assert str(tmp_path / "moved.pt") in caplog.text and "holds key 'good'" in caplog.text
    assert str(tmp_path / "plain.pt") in caplog.text and "not a deep_kmeans store file" in caplog.text
    assert store.get("old") is None  # the pickled store of before is never read
    assert [(e.key, e.kind, e.size) for e in store.entries()] == [("old", "legacy", len(pickle.dumps({"x": 1}))),
                                                                    ("half", "tmp", 2)]
    assert store.keys() == [] and store.entries()[0].age_seconds() >= 3599


def test_versioned_artifact_dataset_logs_each_version(tmp_path, monkeypatch):
    from kedro.io import Version

    monkeypatch.chdir(tmp_path)
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    config = {"type": "json.JSONDataset", "filepath": str(tmp_path / "out" / "scores.json")}
    try:
        mlflow.set_experiment("io-test")  # not whatever experiment an earlier Kedro run left active
        with mlflow.start_run() as run:
            for version in ("2026-01-01T00.00.00.000Z", "2026-01-02T00.00.00.000Z"):
                ds = MlflowVersionedArtifactDataset(config, artifact_path="reports", version=Version(None, version))
                ds.save({"v": version})
        assert sorted(p.name for p in (tmp_path / "out" / "scores.json").iterdir()) == [
            "2026-01-01T00.00.00.000Z", "2026-01-02T00.00.00.000Z"]
        assert ds.load() == {"v": "2026-01-02T00.00.00.000Z"}
        paths = [a.path for a in mlflow.MlflowClient().list_artifacts(run.info.run_id, "reports")]
        assert paths == ["reports/scores.json"]
    finally:
        mlflow.set_tracking_uri(None)


def test_versioned_artifact_dataset_shows_kedro_viz_its_file_and_a_preview(tmp_path):
    """kedro-viz reads the file path from `_describe()["filepath"]` and previews through `preview()`, typed by
    its return annotation: the wrapper passes the wrapped dataset's through."""
    import inspect

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from kedro.io import Version

    png = str(tmp_path / "plots" / "confusion.png")
    ds = MlflowVersionedArtifactDataset({"type": "matplotlib.MatplotlibDataset", "filepath": png},
                                        version=Version(None, "2026-01-01T00.00.00.000Z"))
    assert str(ds._describe()["filepath"]).endswith("plots/confusion.png")
    fig = plt.figure()
    plt.plot([0, 1])
    ds.save(fig)
    def kind(dataset):  # as kedro-viz names it
        annotation = inspect.signature(dataset.preview).return_annotation
        return getattr(annotation, "__name__", str(annotation))

    assert kind(ds) == "ImagePreview"
    assert len(ds.preview()) > 100  # base64 PNG
    table = MlflowVersionedArtifactDataset({"type": "pandas.CSVDataset", "filepath": str(tmp_path / "a.csv")})
    assert kind(table) == "TablePreview"
    pickled = MlflowVersionedArtifactDataset({"type": "pickle.PickleDataset", "filepath": str(tmp_path / "m.pkl")})
    assert not hasattr(pickled, "preview")


def test_a_checkpoint_without_a_training_state_is_discarded(tmp_path, caplog):
    from deep_kmeans.io import DirectoryStore
    from deep_kmeans.methods.kit import Checkpointer

    store = DirectoryStore(tmp_path)
    store.put("take-pretrain-x", {"tae": {}})
    with caplog.at_level("WARNING", logger="deep_kmeans.methods.kit"):
        assert Checkpointer(store, "take-pretrain-x").load() is None
    assert "take-pretrain-x" in caplog.text and store.keys() == []
    store.put("take-pretrain-x", {"epoch": 2})
    assert Checkpointer(store, "take-pretrain-x").load() == {"epoch": 2}
    assert Checkpointer(store, "take-pretrain-x", resume=False).load() is None


class _Planted:
    """A pickle that runs a shell command when unpickled."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        import os

        return (os.system, (f"touch {self.marker}",))


def _versioned(path, load=None, save=None):
    from kedro.io import Version

    from deep_kmeans.io import SafeTorchDataset

    return SafeTorchDataset(filepath=str(path), version=Version(load, save))


def test_safe_torch_dataset_round_trips_versions_and_loads_a_pinned_one(tmp_path):
    import torch

    from deep_kmeans.io import SafeTorchDataset

    path = tmp_path / "data" / "model.pt"
    first = {"labels": np.arange(5, dtype=np.int64), "state": {"w": torch.ones(2, 3)}, "config": {"k": 3},
             "soft": None, "name": "digits", "seconds": 1.5}
    second = {**first, "labels": np.arange(5, dtype=np.int64)[::-1].copy(), "config": {"k": 4}}
    _versioned(path, save="2026-01-01T00.00.00.000Z").save(first)
    _versioned(path, save="2026-01-02T00.00.00.000Z").save(second)
    assert sorted(p.name for p in path.iterdir()) == ["2026-01-01T00.00.00.000Z", "2026-01-02T00.00.00.000Z"]
    assert not list(path.rglob(".*tmp"))  # the temporary files were renamed into place
    latest = _versioned(path).load()
    assert latest["config"] == {"k": 4} and latest["labels"].dtype == np.int64
    np.testing.assert_array_equal(latest["labels"], second["labels"])
    pinned = _versioned(path, load="2026-01-01T00.00.00.000Z").load()
    np.testing.assert_array_equal(pinned["labels"], first["labels"])
    assert torch.equal(pinned["state"]["w"], first["state"]["w"]) and pinned["config"] == {"k": 3}
    assert (pinned["soft"], pinned["name"], pinned["seconds"]) == (None, "digits", 1.5)
    assert _versioned(path).exists() and not _versioned(tmp_path / "other.pt").exists()
    # unversioned, and through the project's MLflow wrapper (which builds it with the catalog's version)
    plain = SafeTorchDataset(filepath=str(tmp_path / "plain.pt"))
    plain.save([1, (2, "x")])
    assert plain.load() == [1, (2, "x")]
    wrapped = MlflowVersionedArtifactDataset({"type": "deep_kmeans.io.SafeTorchDataset",
                                              "filepath": str(tmp_path / "w.pt")}, artifact_path="weights",
                                             version=__import__("kedro.io", fromlist=["Version"]).Version(None, None))
    assert wrapped.versioned
    wrapped.save({"x": np.float32(2.0)})
    assert wrapped.load() == {"x": np.float32(2.0)} and type(wrapped.load()["x"]) is np.float32


def test_safe_torch_dataset_refuses_what_it_cannot_store(tmp_path):
    from kedro.io import DatasetError

    from deep_kmeans.io import SafeTorchDataset

    ds = SafeTorchDataset(filepath=str(tmp_path / "m.pt"))
    with pytest.raises(DatasetError, match=r"m\.pt.*\['model'\]: a .*Path cannot be stored"):
        ds.save({"model": tmp_path})
    assert not (tmp_path / "m.pt").exists() and not list(tmp_path.glob(".*tmp"))


@pytest.mark.parametrize("bad", ["planted", "truncated", "garbled", "foreign"])
def test_a_planted_or_damaged_file_is_refused_and_never_run(tmp_path, bad):
    import pickle

    import torch
    from kedro.io import DatasetError

    path = tmp_path / "data" / "assignments.pt"
    version = "2026-01-01T00.00.00.000Z"
    _versioned(path, save=version).save({"labels": np.arange(300, dtype=np.int64)})
    target = path / version / "assignments.pt"
    marker = tmp_path / "pwned"
    if bad == "planted":
        target.write_bytes(pickle.dumps({"labels": _Planted(marker)}))
    elif bad == "truncated":
        target.write_bytes(target.read_bytes()[:len(target.read_bytes()) // 2])
    elif bad == "garbled":
        target.write_bytes(b"\x00not a file this project wrote" * 10)
    else:  # a safe torch file, but not one of this project's datasets
        torch.save({"labels": torch.arange(3)}, target)
    for ds in (_versioned(path), _versioned(path, load=version)):
        with pytest.raises(DatasetError, match="rerun the stage that writes it") as err:
            ds.load()
        text = str(err.value)
        assert str(target) in text and "Refused to load" in text and "left in place" in text
    if bad == "planted":
        assert "weights-only load refused it" in text
    assert not marker.exists()
    assert target.exists()  # a user's artifact: refused, not deleted


def test_an_array_over_a_tensor_s_memory_is_stored_next_to_the_tensor(tmp_path):
    """A TAKE model holds KNet's M and ``M.T.numpy()`` (the centres): one storage, two types for torch.save."""
    import torch

    from deep_kmeans.io import SafeTorchDataset

    m = torch.arange(6, dtype=torch.float32).reshape(2, 3)
    ds = SafeTorchDataset(filepath=str(tmp_path / "model.pt"))
    ds.save({"knet": {"M": m}, "centers": m.numpy(), "rows": m[0].numpy(), "t": m.T.numpy()})
    back = ds.load()
    assert torch.equal(back["knet"]["M"], m)
    np.testing.assert_array_equal(back["centers"], m.numpy())
    np.testing.assert_array_equal(back["rows"], m[0].numpy())
    np.testing.assert_array_equal(back["t"], m.T.numpy())


def test_folder_datasets_rebuild_from_the_catalog_s_own_config(tmp_path):
    """`--load-versions` rebuilds the catalog from ``to_config()``: the folder datasets (store, run ledger) must
    record their own arguments, not the ``{"args", "kwargs"}`` of a twice-wrapped __init__."""
    from kedro.io import DataCatalog

    config = {"checkpoints": {"type": "deep_kmeans.io.DirectoryStoreDataset", "path": str(tmp_path / "c")},
              "run_ledger": {"type": "deep_kmeans.ledger.RunLedgerDataset", "path": str(tmp_path / "l")}}
    described = DataCatalog.from_config(config).to_config()[0]
    assert described == config
    rebuilt = DataCatalog.from_config(described)
    assert rebuilt.load("checkpoints").path == tmp_path / "c"
