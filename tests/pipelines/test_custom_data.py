"""dataset=custom end to end: the README's "Your own data" command on a table the test writes, with and
without labels, every method, the assignments table, and the errors that come before any training."""

from __future__ import annotations

import shlex
import subprocess

import mlflow
import numpy as np
import pandas as pd
import pytest

from .conftest import TINY_TAKE, tiny_params
from .test_cli import ENV, KEDRO


def blobs_table(path, n=120, k=4, d=20, seed=0, labels=False, ids=False):
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=4.0, size=(k, d))
    y = np.arange(n) % k
    df = pd.DataFrame(centers[y] + rng.normal(size=(n, d)), columns=[f"f{j}" for j in range(d)])
    if labels:
        df["kind"] = [f"group{v}" for v in y]
    if ids:
        df["sample"] = [f"s{i:03d}" for i in range(n)]
    df.to_csv(path, index=False)
    return y


def custom_params(path, **extra) -> dict:
    params = tiny_params(**{"dataset": "custom", "n_clusters": 4, "custom": {"path": str(path)}, **extra})
    params["take"] = {"overrides": {"custom": {**TINY_TAKE, "update_epochs": 0}}}
    return params


def latest_table(project, method: str) -> pd.DataFrame:
    folder = project.path / f"data/07_model_output/custom/{method}/assignments.csv"
    return pd.read_csv(folder / project.versions(f"data/07_model_output/custom/{method}/assignments.csv")[-1]
                       / "assignments.csv")


@pytest.mark.slow
def test_readme_example_runs_as_written(scratch_project, project_root):
    readme = (project_root / "README.md").read_text()
    block = readme.split("## Your own data", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    command = shlex.split(block.strip())
    (scratch_project.path / "data/01_raw").mkdir(exist_ok=True)
    blobs_table(scratch_project.path / "data/01_raw/my_table.csv")
    # the README's command, with the tiny schedule of the tests added to its --params
    tiny = ",".join(f"take.overrides.custom.{k}={v}" for k, v in {**TINY_TAKE, "update_epochs": 0}.items())
    assert command[:3] == ["kedro", "run", "--pipeline=take"] and command[3].startswith("--params=")
    command = [KEDRO, *command[1:3], f"{command[3]},{tiny}"]
    out = subprocess.run(command, cwd=scratch_project.path, env=ENV, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, (out.stdout + out.stderr)[-3000:]
    table = latest_table(scratch_project, "take")
    assert list(table.columns[:3]) == ["id", "cluster", "distance"] and len(table) == 120
    assert [f"p_{k}" for k in range(4)] == list(table.columns[3:])
    np.testing.assert_allclose(table[[f"p_{k}" for k in range(4)]].sum(axis=1), 1.0, atol=1e-5)  # s on the simplex
    run = scratch_project.runs().iloc[-1]
    assert run["status"] == "FINISHED" and run["tags.dataset"] == "custom"
    assert run["metrics.silhouette_input"] > 0.3
    assert "metrics.acc" not in run.index or np.isnan(run["metrics.acc"])


@pytest.mark.parametrize("method", ["kmeans", "dec", "umap_gmm"])
def test_family_on_a_labelled_table_with_ids(scratch_project, method):
    path = scratch_project.path / "t.csv"
    y = blobs_table(path, labels=True, ids=True)
    params = custom_params(path, custom={"path": str(path), "label_column": "kind", "id_column": "sample"})
    if method == "dec":
        params["dec"] = {"overrides": {"custom": {"hidden": [32], "pretrain_epochs": 5, "batch_size": 32,
                                                  "update_interval": 4, "max_iter": 8, "kmeans_n_init": 3}}}
    if method == "umap_gmm":
        params["umap_gmm"] = {"n_neighbors": 10, "n_init": 2}
    scratch_project.run(method, params)
    run = scratch_project.runs().iloc[-1]
    assert run["status"] == "FINISHED" and run["metrics.acc"] > 0.9, run["metrics.acc"]  # four far-apart blobs
    table = latest_table(scratch_project, method)
    assert table["id"].iloc[0] == "s000" and set(table["label"]) == {f"group{k}" for k in range(4)}
    assert (table["label"].str[-1].astype(int).to_numpy() == y).all()


def test_compare_shows_label_free_scores(scratch_project):
    path = scratch_project.path / "t.csv"
    blobs_table(path)
    scratch_project.run("kmeans", custom_params(path))
    scratch_project.run("compare", tiny_params(dataset="custom"))
    folder = scratch_project.path / "data/08_reporting/custom/compare/table.csv"
    table = pd.read_csv(next(folder.iterdir()) / "table.csv")
    assert "silhouette_input_mean" in table.columns and table["silhouette_input_mean"].iloc[0] > 0.3


@pytest.mark.parametrize("params,match", [
    ({"n_clusters": None}, "no labels to count clusters from.*n_clusters=auto"),
    ({"custom": {"path": ""}}, "needs your data.*custom.path=PATH"),
    ({"custom": {"path": "nowhere.csv"}}, "no such file"),
])
def test_errors_before_training(scratch_project, params, match):
    path = scratch_project.path / "t.csv"
    blobs_table(path)
    base = custom_params(path)
    base.update(params)
    with pytest.raises(Exception, match=match):
        scratch_project.run("take", base)
    assert scratch_project.versions("data/06_models/custom/take/pretrained.pt") == []


@pytest.mark.slow
def test_n_clusters_auto_finds_the_blobs(scratch_project):
    path = scratch_project.path / "t.csv"
    blobs_table(path)
    scratch_project.run("kmeans", custom_params(path, n_clusters="auto"))
    assert latest_table(scratch_project, "kmeans")["cluster"].nunique() == 4
    mlflow.set_tracking_uri(None)


@pytest.mark.slow
def test_take_predict_assigns_new_rows_with_the_trained_model(scratch_project):
    path = scratch_project.path / "train.csv"
    blobs_table(path, ids=True)
    params = custom_params(path, custom={"path": str(path), "id_column": "sample"})
    scratch_project.run("take", params)
    trained = latest_table(scratch_project, "take")
    # the same rows, columns shuffled, as new data: the same clusters, no training
    df = pd.read_csv(path)
    df[list(reversed(df.columns))].to_csv(scratch_project.path / "new.csv", index=False)
    scratch_project.run("take_predict", {**params, "custom": {"path": str(scratch_project.path / "new.csv"),
                                                              "id_column": "sample"}})
    folder = scratch_project.path / "data/07_model_output/custom/take/predictions.csv"
    predicted = pd.read_csv(next(folder.iterdir()) / "predictions.csv")
    assert list(predicted["id"]) == list(trained["id"])
    np.testing.assert_array_equal(predicted["cluster"], trained["cluster"])
    assert len(scratch_project.versions("data/06_models/custom/take/model.pt")) == 1  # nothing retrained
    # new data of another width: a clear error naming what was expected
    df.drop(columns=["f3"]).assign(extra=1.0).to_csv(scratch_project.path / "bad.csv", index=False)
    with pytest.raises(Exception, match="missing f3; unexpected extra. Expected the columns f0, f1"):
        scratch_project.run("take_predict", {**params, "custom": {"path": str(scratch_project.path / "bad.csv"),
                                                                  "id_column": "sample"}})


@pytest.mark.slow
def test_an_image_folder_through_the_backbone(scratch_project, tmp_path):
    """A folder of class sub-folders → ResNet50 features (2048-d, weights from a local file, as a user without
    internet gives them) → K-means → the assignments table, one row per file with its class as the label.
    The weights here are a seeded random initialisation: the test is of the path, not of ImageNet."""
    import torch
    from PIL import Image
    from torchvision.models import resnet50

    rng = np.random.default_rng(0)
    colours = {"red": (220, 30, 30), "green": (30, 200, 30), "blue": (30, 30, 220)}
    for name, rgb in colours.items():
        (tmp_path / "images" / name).mkdir(parents=True)
        for i in range(8):
            img = np.clip(np.array(rgb) + rng.normal(0, 12, (32, 32, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(img).save(tmp_path / "images" / name / f"{name}_{i}.png")
    torch.manual_seed(0)
    torch.save(resnet50(weights=None).state_dict(), tmp_path / "resnet50.pt")
    params = tiny_params(dataset="custom", n_clusters=3, custom={"path": str(tmp_path / "images")},
                         features={"backbone": "resnet50", "backbone_weights": str(tmp_path / "resnet50.pt")})
    scratch_project.run("kmeans", params)
    table = latest_table(scratch_project, "kmeans")
    assert len(table) == 24 and set(table["label"]) == set(colours)
    assert sorted(table["id"])[0].endswith("blue_0.png")
    run = scratch_project.runs().iloc[-1]
    assert run["status"] == "FINISHED" and run["metrics.acc"] == 1.0  # three colours, three clusters
    feats = scratch_project.latest("data/04_feature/custom/features.pt")
    assert feats.exists()
    mlflow.set_tracking_uri(None)


@pytest.mark.slow  # 19 s: a run on an image array with its views
def test_an_image_array_pretrains_with_image_views_logged_as_they_apply(scratch_project, caplog):
    """The digits as an .npz of 0-16 pixels: detected as 8×8 images (said in the log), kept at their scale, and
    TAKE's update epochs learn from their crops and rotations (L_cl and L_ccl logged); MLflow records the
    custom options and the views."""
    import logging

    from sklearn.datasets import load_digits

    digits = load_digits()
    path = scratch_project.path / "digits.npz"
    np.savez(path, X=digits.data[:300], y=digits.target[:300])
    params = custom_params(path, n_clusters=None)
    # pretraining + K-means on z (Table 12's assignment): what the views act on, without the joint phase
    params["take"] = {"overrides": {"custom": {**TINY_TAKE, "warmup_epochs": 2, "update_epochs": 1,
                                              "cluster_epochs": 0, "assignment": "kmeans"}}}
    with caplog.at_level(logging.INFO, logger="deep_kmeans"):
        scratch_project.run("take", params)
    assert "8×8 images (detected" in caplog.text and "standardize pixels" in caplog.text
    run = scratch_project.runs().iloc[-1]
    assert run["status"] == "FINISHED" and run["metrics.acc"] > 0.3  # 10 digits, 4 epochs in all
    client = mlflow.MlflowClient()
    history = [m.value for m in client.get_metric_history(run["run_id"], "pretrain.l_cl")]
    assert len(history) == 1 and history[0] > 0  # the one update epoch learnt from the views
    assert run["params.custom.image_shape"] == "auto" and run["params.features.standardize"] == "auto"
    assert "params.features.tabular_views.corruption" in run.index and "params.custom.image_size" not in run.index
