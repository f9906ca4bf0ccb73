"""Each method's fit function on tiny well separated blobs: accuracy above chance, same seed → same labels,
the ClusteringResult contract, parameter errors; and each method's Kedro pipeline and parameter file fit it."""

from __future__ import annotations

import importlib
import logging
from pathlib import Path

import numpy as np
import pytest
import yaml

from deep_kmeans.evaluation.metrics import cluster_accuracy
from deep_kmeans.methods.config import params_for
from deep_kmeans.methods.kit import ClusteringResult

METHODS = ["kmeans", "dec", "idec", "dcn", "dekm", "emaec", "ulhe_dc", "dckm"]
CONF = Path(__file__).resolve().parents[2] / "conf" / "base"

pytestmark = pytest.mark.usefixtures("one_thread")


def fitter(name):
    return getattr(importlib.import_module(f"deep_kmeans.methods.{name}"), f"fit_{name}")


@pytest.mark.parametrize("name", METHODS)
def test_fit_clusters_blobs_reproducibly(name, blobs, tiny_params):
    x, y, g = blobs
    fit = fitter(name)
    a = fit(x, 4, g, tiny_params[name], seed=1, device="cpu", progress=False)
    b = fit(x, 4, g, tiny_params[name], seed=1, device="cpu", progress=False)
    assert isinstance(a, ClusteringResult)
    assert a.labels.shape == (len(x),) and a.labels.dtype == np.int64
    assert cluster_accuracy(y, a.labels) >= 0.75, name  # chance is 0.25 (4 balanced blobs)
    np.testing.assert_array_equal(a.labels, b.labels)
    assert a.centers is not None and a.centers.shape[0] == 4
    assert a.train_seconds > 0
    for key, values in a.history.items():
        assert key.startswith(("pretrain/", "cluster/")), key
        assert all(np.isfinite(values)), key
    if name != "kmeans":
        assert a.embedding.shape[0] == len(x) and a.embedding.dtype == np.float32
        np.testing.assert_array_equal(a.embedding, b.embedding)
        assert any(k.startswith("cluster/") for k in a.history)
        assert isinstance(a.model, dict) and all(v.device.type == "cpu" for v in a.model["state"].values())
        np.testing.assert_array_equal(a.model["centers"], a.centers)
    if name not in ("kmeans", "dckm"):
        assert len(a.history["pretrain/loss"]) == tiny_params[name]["pretrain_epochs"]


def test_dekm_conv_on_8x8_images(blobs_image, tiny_params):
    x, y, g = blobs_image
    params = {**tiny_params["dekm"], "ae": "auto", "channels": [4, 8, 8], "pretrain_epochs": 30}
    res = fitter("dekm")(x, 4, g, params, seed=0, device="cpu", progress=False)
    assert res.embedding.shape == (len(x), 4)  # conv AE: embedding = K units
    assert any("conv_encoder" in k for k in res.model["state"]) and res.model["ae"]["kind"] == "conv"
    assert cluster_accuracy(y, res.labels) >= 0.75


def test_emaec_augmentations(blobs_image, blobs, tiny_params, caplog):
    x, y, g = blobs_image
    params = {**tiny_params["emaec"], "augment": "auto", "pretrain_epochs": 3, "rounds": 1}
    res = fitter("emaec")(x, 4, g, params, seed=0, device="cpu", progress=False)  # affine on 8×8 images
    assert res.embedding.shape == (len(x), 4)  # d = K
    xs, _, gs = blobs
    views = np.stack([xs + 0.01 * i for i in range(4)], axis=1)
    gf = type(gs)(dim=15, channels=1, side=4, patch=2)  # a feature vector, not an image
    res = fitter("emaec")(xs[:, :15], 4, gf, params, seed=0, device="cpu", views=views[:, :, :15], progress=False)
    assert res.labels.shape == (len(xs),)
    with caplog.at_level(logging.WARNING):
        fitter("emaec")(xs[:, :15], 4, gf, params, seed=0, device="cpu", progress=False)
    assert "without data augmentation" in caplog.text


def test_emaec_repairs_the_clusters_its_fixed_centres_lose(tiny_params):
    """With the initial K-means centres fixed (Algorithm 1), a cluster that empties stays empty: 16 blobs and a
    large fine-tuning step end in 3 clusters. The repair moves an emptied centre onto the farthest sample."""
    from deep_kmeans.data.registry import Geometry
    from deep_kmeans.methods.emaec import predict_emaec

    from .conftest import make_blobs

    x, y = make_blobs(n_per=20, n_clusters=16, dim=16, spread=0.3)
    g = Geometry(dim=16, channels=1, side=4, patch=2)
    params = {**tiny_params["emaec"], "rounds": 10, "finetune_iters": 300, "lr": 0.1, "tol": 0}
    as_printed = fitter("emaec")(x, 16, g, {**params, "repair_empty": False}, seed=0, device="cpu", progress=False)
    repaired = fitter("emaec")(x, 16, g, params, seed=0, device="cpu", progress=False)
    assert len(np.unique(as_printed.labels)) < 8
    assert len(np.unique(repaired.labels)) == 16
    assert sum(repaired.history["cluster/repaired"]) > 0 and sum(as_printed.history["cluster/repaired"]) == 0
    assert cluster_accuracy(y, repaired.labels) > 2 * cluster_accuracy(y, as_printed.labels)  # 0.31 vs 0.12
    # labels stay the nearest centre to f(x) (eq. 17): what predict gives on the same rows
    np.testing.assert_array_equal(repaired.labels, predict_emaec(repaired.model, x, device="cpu"))


def test_dckm_warns_on_feature_vectors(blobs, tiny_params, caplog):
    x, _, g = blobs
    gf = type(g)(dim=15, channels=1, side=4, patch=2)
    with caplog.at_level(logging.WARNING):
        res = fitter("dckm")(x[:, :15], 4, gf, {**tiny_params["dckm"], "rounds": 1}, seed=0, device="cpu",
                             progress=False)
    assert "not an image" in caplog.text
    assert res.labels.shape == (len(x),)


@pytest.mark.parametrize("name,params,match", [
    ("dec", {"pretrain_epochs": -1}, r"dec\.pretrain_epochs"),
    ("dcn", {"lam": -0.5}, r"dcn\.lam"),
    ("idec", {"gamma": -1}, r"idec\.gamma"),
    ("dekm", {"ae": "conv"}, r"ae: mlp"),
    ("emaec", {"augment": "views"}, r"emaec\.augment"),
    ("ulhe_dc", {"lambda1": "big"}, r"ulhe_dc\.lambda1"),
    ("dckm", {"pool": 0}, r"dckm\.pool"),
    ("kmeans", {"n_init": 0}, r"kmeans\.n_init"),
])
def test_bad_parameters_raise_clear_errors(name, params, match, blobs):
    x, _, g = blobs  # 4×4 geometry: too small for the conv AE
    with pytest.raises(ValueError, match=match):
        fitter(name)(x, 4, g, params, seed=0, device="cpu", progress=False)


def test_bad_inputs_raise(blobs):
    x, _, g = blobs
    with pytest.raises(ValueError, match="n_clusters"):
        fitter("dec")(x, 1, g, {}, progress=False)
    with pytest.raises(ValueError, match="features"):
        fitter("dcn")(x[:, :10], 4, g, {}, progress=False)


@pytest.mark.parametrize("name", METHODS)
def test_pipeline_builds(name):
    pipe = importlib.import_module(f"deep_kmeans.pipelines.{name}.pipeline").create_pipeline()
    assert f"{name}_train" in {n.name for n in pipe.nodes}
    assert {f"{name}.assignments", f"{name}.model", f"{name}.loss_history"} <= set(pipe.all_outputs())


@pytest.mark.parametrize("name", METHODS)
def test_parameter_files(name):
    conf = yaml.safe_load((CONF / f"parameters_{name}.yml").read_text())
    assert set(conf) == {name}
    params = conf[name]
    assert "overrides" in params
    for dataset, block in (params["overrides"] or {}).items():
        unknown = set(block or {}) - set(params)
        assert not unknown, f"overrides.{dataset} sets keys absent from the defaults: {unknown}"
    merged = params_for(params, "digits")
    assert "overrides" not in merged


@pytest.mark.parametrize("name", ["dec", "dcn", "ulhe_dc"])
def test_yaml_parameters_are_accepted(name, blobs):
    """The YAML's values pass the fit function's checks (run with the training loops cut to nothing)."""
    x, _, g = blobs
    params = params_for(yaml.safe_load((CONF / f"parameters_{name}.yml").read_text())[name], "digits")
    cut = dict(pretrain_epochs=0, max_iter=0, cluster_epochs=0, hidden=[8])
    params.update({k: v for k, v in cut.items() if k in params})  # only the method's own keys: others are errors
    res = fitter(name)(x, 4, g, params, seed=0, device="cpu", progress=False)
    assert res.labels.shape == (len(x),)
