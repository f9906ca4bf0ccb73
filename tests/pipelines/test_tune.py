"""`kedro run --pipeline=tune`: parameters checked before any training; a tiny Optuna study whose trials are
MLflow child runs and whose best parameters file matches the best trial."""

from __future__ import annotations

import pytest
import yaml

from deep_kmeans.pipelines.tune.nodes import check_tune

from .conftest import tiny_params
from .test_family_pipelines import TINY_OVERRIDES

pytestmark = pytest.mark.usefixtures("one_thread")
SPACE = {"n_init": {"low": 1, "high": 4}, "algorithm": {"choices": ["lloyd", "elkan"]}}


@pytest.mark.parametrize("tune, message", [
    ({"method": "nope", "trials": 2, "space": SPACE}, "'nope' cannot be tuned"),
    ({"method": "take", "trials": 2, "space": SPACE}, "several nodes"),
    ({"method": "dec", "trials": 2, "space": {}}, "tune.space is empty"),
    ({"method": "dec", "trials": 0, "space": SPACE}, "positive integer"),
    ({"method": "dec", "trials": 2, "space": {"lr": {"low": 0.1, "high": 0.01}}}, "must be below high"),
    ({"method": "dec", "trials": 2, "space": {"lr": {"low": 0.0, "high": 0.1, "log": True}}}, "log scale needs low > 0"),
    ({"method": "dec", "trials": 2, "space": {"lr": {"choices": []}}}, "non-empty list"),
    ({"method": "dec", "trials": 2, "space": SPACE, "objective": "acc"}, "label peeking"),
    ({"method": "dec", "trials": 2, "space": SPACE, "objective": "loss"}, "not one of"),
])
def test_bad_tune_parameters_are_refused(tune, message):
    with pytest.raises(ValueError, match=message):
        check_tune(tune)


def test_label_based_objective_needs_the_explicit_flag(caplog):
    plan = check_tune({"method": "dec", "trials": 2, "space": SPACE, "objective": "acc", "allow_label_peeking": True})
    assert plan["objective"] == "acc"
    assert "label peeking" in caplog.text


def test_tune_writes_the_best_trial_as_a_parameters_file(scratch_project):
    space = {"n_init": SPACE["n_init"]}  # K-means takes no other parameter
    params = tiny_params(kmeans={"overrides": {"digits": TINY_OVERRIDES["kmeans"]}},
                         tune={"method": "kmeans", "trials": 4, "seeds": [0, 1], "space": space})
    scratch_project.run("tune", params)
    runs = scratch_project.runs()
    parent = runs[(runs["tags.pipeline"] == "tune") & runs["tags.mlflow.parentRunId"].isna()]
    assert len(parent) == 1 and parent.iloc[0]["status"] == "FINISHED"
    trials = runs[runs["tags.mlflow.parentRunId"] == parent.iloc[0]["run_id"]]
    assert len(trials) == 4
    finished = trials[trials["status"] == "FINISHED"]
    assert len(finished) >= 2 and set(trials["status"]) <= {"FINISHED", "KILLED"}  # KILLED: pruned
    files = sorted((scratch_project.path / "data/08_reporting/digits/tune/best_params.yml").glob("*/best_params.yml"))
    best = yaml.safe_load(files[-1].read_text())
    chosen = best["kmeans"]["overrides"]["digits"]
    assert set(chosen) == set(space)
    assert 1 <= chosen["n_init"] <= 4
    top = finished.sort_values("metrics.objective", ascending=False).iloc[0]
    assert str(chosen["n_init"]) == top["params.kmeans.n_init"]
    assert parent.iloc[0]["metrics.best_silhouette"] == pytest.approx(top["metrics.objective"])


def test_a_trial_point_wins_over_the_data_set_block_and_the_preset():
    from deep_kmeans.methods.config import params_for
    from deep_kmeans.pipelines.tune.nodes import with_point

    group = {"lambda3": 1e-3, "depth": 8, "preset": "cpu", "presets": {"cpu": {"lambda3": 1e-2, "depth": 2}},
             "overrides": {"mnist": {"lambda3": 1e-5}}}
    assert params_for(with_point(group, "mnist", {"lambda3": 0.5}), "mnist") == {"lambda3": 0.5, "depth": 2}
    assert params_for(with_point(group, "mnist", {"tau": 0.2}), "mnist")["tau"] == 0.2
