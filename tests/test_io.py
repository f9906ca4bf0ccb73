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
