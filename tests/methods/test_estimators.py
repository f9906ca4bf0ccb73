"""The scikit-learn face of every family method: clone/get_params, same seed → same labels_, predict on the
training rows gives labels_ (where that is the method's rule), fit_predict, and pickling a fitted estimator."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from sklearn.base import clone

from deep_kmeans.methods.dckm import DCKM
from deep_kmeans.methods.dcn import DCN
from deep_kmeans.methods.dec import DEC
from deep_kmeans.methods.dekm import DEKM
from deep_kmeans.methods.emaec import EmAEC
from deep_kmeans.methods.idec import IDEC
from deep_kmeans.methods.kmeans import KMeansBaseline
from deep_kmeans.methods.ulhe_dc import ULHEDC
from deep_kmeans.methods.umap_gmm import UMAPGMM

from .conftest import make_blobs

pytestmark = pytest.mark.usefixtures("one_thread")

AE = {"hidden": [16], "embedding_dim": 3, "pretrain_epochs": 3, "batch_size": 32, "pretrain_lr": 0.01,
      "kmeans_n_init": 3}

ESTIMATORS = [
    (KMeansBaseline, {"n_init": 3}),
    (DEC, {**AE, "update_interval": 4, "max_iter": 8}),
    (IDEC, {**AE, "update_interval": 4, "max_iter": 8}),
    (DCN, {**AE, "cluster_epochs": 2, "optimizer": "adam", "lr": 0.001}),
    (DEKM, {**AE, "ae": "mlp", "iters": 2, "update_interval": 2}),
    (EmAEC, {**AE, "pretrain_optimizer": "adam", "augment": "none", "rounds": 2, "finetune_iters": 2}),
    (ULHEDC, {**AE, "pretrain_optimizer": "adam", "cluster_epochs": 2}),
    (DCKM, {"n_filters": 2, "kernel_size": 3, "pool": 1, "rounds": 2, "inner_epochs": 1, "batch_size": 32,
            "kmeans_n_init": 3}),
    (UMAPGMM, {"n_neighbors": 5, "n_init": 2}),
]


@pytest.fixture(scope="module")
def three_blobs():
    x, y = make_blobs(n_per=20, n_clusters=3, dim=16, seed=3)
    return x, y  # 60 × 16; the estimators' default geometry (a 4×4 "image")


@pytest.mark.parametrize("cls,params", ESTIMATORS, ids=lambda v: getattr(v, "__name__", ""))
def test_estimator_contract(cls, params, three_blobs):
    x, _ = three_blobs
    est = cls(n_clusters=3, params=params, seed=2, device="cpu")
    twin = clone(est)
    assert twin is not est and twin.get_params() == est.get_params()
    assert cls(**est.get_params()).get_params() == est.get_params()
    assert not hasattr(twin, "labels_")

    est.fit(x)
    twin.fit(x)
    assert est.labels_.shape == (len(x),) and est.labels_.dtype == np.int64
    np.testing.assert_array_equal(est.labels_, twin.labels_)
    assert est.cluster_centers_.shape[0] == 3

    pred = est.predict(x)
    assert pred.shape == (len(x),) and pred.dtype == np.int64
    if cls is DCKM:
        # DCKM's labels are the K-means partition of the free representation Z, which exists for the
        # training rows only; predict maps rows through the learned transform, which Z is fitted to, so
        # the two agree only as far as Z matches the transform after a couple of rounds.
        assert np.mean(pred == est.labels_) >= 0.8
    elif cls is UMAPGMM:
        # UMAP's transform places rows by their neighbours in the fitted embedding: close to, not the same
        # as, the training embedding; on well separated blobs the clusters agree
        assert np.mean(pred == est.labels_) >= 0.9
    else:  # every other method's final labels are its own assignment rule on the stored network and centres
        np.testing.assert_array_equal(pred, est.labels_)
    assert est.predict(x[:7] + 0.01).shape == (7,)  # unseen rows

    again = pickle.loads(pickle.dumps(est))  # model_ is plain data and CPU tensors
    np.testing.assert_array_equal(again.predict(x), pred)

    np.testing.assert_array_equal(clone(est).fit_predict(x), est.labels_)


def test_predict_before_fit_and_bad_rows(three_blobs):
    x, _ = three_blobs
    with pytest.raises(RuntimeError, match="not fitted"):
        DEC(n_clusters=3).predict(x)
    est = KMeansBaseline(n_clusters=3, params={"n_init": 2}).fit(x)
    with pytest.raises(ValueError, match="features"):
        est.predict(x[:, :10])


def test_a_misspelt_parameter_is_an_error_naming_the_closest_key(three_blobs):
    x, _ = three_blobs
    with pytest.raises(ValueError, match=r"unknown emaec parameter\(s\) 'pretrain_epoch' \(did you mean 'pretrain_epochs'\?\)"):
        EmAEC(n_clusters=3, params={**AE, "pretrain_epoch": 2}).fit(x)
    with pytest.raises(ValueError, match="unknown kmeans parameter"):
        KMeansBaseline(n_clusters=3, params={"n_inits": 3}).fit(x)


@pytest.mark.parametrize("cls,name", [(DEC, "dec"), (IDEC, "idec"), (DCN, "dcn"), (DEKM, "dekm"), (EmAEC, "emaec"),
                                      (ULHEDC, "ulhe_dc"), (DCKM, "dckm")])
def test_cpu_preset_is_the_kedro_preset_for_your_own_data(cls, name, project_root):
    import yaml

    conf = yaml.safe_load((project_root / "conf/base" / f"parameters_{name}.yml").read_text())[name]
    assert cls.PRESETS["cpu"] == conf["overrides"]["custom"]
    assert cls.PRESETS["paper"] == {} and cls().preset == "cpu"
    with pytest.raises(ValueError, match="preset must be one of cpu, paper"):
        cls(preset="gpu").fit(np.zeros((10, 16), np.float32))
