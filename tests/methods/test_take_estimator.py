"""The scikit-learn-style TAKE estimator, ClustPy-test style: tiny data, tiny net, few epochs."""

import numpy as np
import pytest
from sklearn.datasets import load_digits

from deep_kmeans.data.registry import geometry_for
from deep_kmeans.evaluation.metrics import cluster_accuracy
from deep_kmeans.methods.take import TAKE

TINY = dict(embed_dim=16, depth=1, heads=2, decoder_depth=1, decoder_heads=2, mlp_ratio=2.0,
            warmup_epochs=15, update_epochs=0, cluster_epochs=3, batch_size=64, lambda3=0.1)


@pytest.fixture(scope="module")
def data():
    d = load_digits(n_class=4)
    x = (d.data / 16).astype(np.float32)
    return x[:300], d.target[:300]


def test_fit_predict_deterministic_and_above_chance(data):
    x, y = data
    a = TAKE(n_clusters=4, geometry=geometry_for("digits", 64), seed=0, **TINY).fit(x)
    b = TAKE(n_clusters=4, geometry=geometry_for("digits", 64), seed=0, **TINY).fit(x)
    np.testing.assert_array_equal(a.labels_, b.labels_)
    np.testing.assert_array_equal(a.predict(x), a.labels_)
    assert a.cluster_centers_.shape == (4, 10) and a.embedding_.shape == (300, 10)
    assert cluster_accuracy(y, a.labels_) > 0.6  # chance is 0.25
    assert a.transform(x[:7]).shape == (7, 10)


def test_kmeans_assignment_ablation_and_default_geometry(data):
    x, y = data
    m = TAKE(n_clusters=4, assignment="kmeans", **TINY).fit(x)  # geometry: 8×8, grid 4
    np.testing.assert_array_equal(m.predict(x), m.labels_)
    np.testing.assert_array_equal(m.labels_, m.init_labels_)


def test_errors(data):
    x, _ = data
    with pytest.raises(RuntimeError, match="not fitted"):
        TAKE(n_clusters=3).predict(x)
    with pytest.raises(ValueError, match="larger than the number of samples"):
        TAKE(n_clusters=50, **TINY).fit(x[:10])
    with pytest.raises(ValueError, match="2-D"):
        TAKE(n_clusters=2, **TINY).fit(x[0])
    # hyperparameters are stored as given and validated in fit (scikit-learn's rule), before any training
    with pytest.raises(ValueError, match="fresh_views is an option of the Kedro pipeline"):
        TAKE(n_clusters=2, fresh_views=True, **TINY).fit(x)
    with pytest.raises(ValueError, match=r"knet_lambda .*\[0, 1\]"):
        TAKE(n_clusters=2, knet_lambda=3.0, **TINY).fit(x)


def test_scikit_learn_protocol(data):
    from sklearn.base import clone

    model = TAKE(n_clusters=4, seed=3, **TINY)
    params = model.get_params()
    assert params["n_clusters"] == 4 and params["seed"] == 3 and params["embed_dim"] == 16
    twin = clone(model)
    assert twin.get_params() == params and not hasattr(twin, "labels_")
    assert model.set_params(lambda3=0.5).lambda3 == 0.5


@pytest.mark.slow
def test_readme_example_runs_as_written(project_root):
    # The "Without Kedro" block of the README, executed verbatim on 120 digits.
    readme = (project_root / "README.md").read_text()
    section = readme.split("## Without Kedro", 1)[1]
    code = section.split("```python", 1)[1].split("```", 1)[0]
    x = (load_digits().data[:120] / 16).astype(np.float32)
    namespace = {"X": x[:100], "X_new": x[100:]}
    exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102 - our own README
    model = namespace["model"]
    assert model.labels_.shape == (100,) and model.transform(x[100:]).shape == (20, 10)
    np.testing.assert_array_equal(model.predict(x[:100]), model.labels_)


def test_presets_and_own_views(data, project_root):
    import yaml

    conf = yaml.safe_load((project_root / "conf/base/parameters_take.yml").read_text())["take"]
    from deep_kmeans.methods.config import preset_layers

    assert TAKE.PRESETS["cpu"] == preset_layers(conf["presets"]["cpu"], "custom")[0]  # less its data set blocks
    assert TAKE(sample_budget=1000)._config().sample_budget == 1000  # fit sizes the epochs as the pipeline does
    assert TAKE(preset="paper")._config().embed_dim == 128 and TAKE()._config().embed_dim == 32
    assert TAKE(embed_dim=48)._config().embed_dim == 48  # a hyperparameter given wins over the preset
    x, _ = data
    model = TAKE(n_clusters=4, geometry=geometry_for("digits", 64), **{**TINY, "update_epochs": 1})
    views = model._own_views(x[:20], geometry_for("digits", 64))  # gray images: the pipeline's crops/rotations
    assert views.shape == (20, 4, 64) and 0 <= views.min() and views.max() <= 1
    assert model._own_views(x[:20] * 5 - 1, geometry_for("digits", 64)) is None  # not images: said, not faked


@pytest.mark.slow
def test_umap_gmm_head_on_the_pretrained_z(data):
    x, y = data
    m = TAKE(n_clusters=4, geometry=geometry_for("digits", 64), assignment="umap_gmm", umap_neighbors=10,
             **{**TINY, "update_epochs": 0})
    a = m.fit(x)
    assert a.state_["knet"] is None and set(a.state_["head"]) == {"umap", "gmm"}
    assert cluster_accuracy(y, a.labels_) > 0.6
    np.testing.assert_array_equal(a.predict(x), a.labels_)
    b = TAKE(**m.get_params()).fit(x)
    np.testing.assert_array_equal(a.labels_, b.labels_)  # same seed, same labels
