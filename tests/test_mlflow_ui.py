"""The links a run prints open MLflow 3's UI on the runs, with the scores as columns (mlflow_ui.py; checked in a
real browser by scripts/mlflow_check.py)."""

import json

from deep_kmeans.mlflow_ui import (EXPERIMENT_KIND, EXPERIMENT_KIND_TAG, NOTE_TAG, VIEW_KEY, VIEW_TAG, compare_url,
                                   experiment_tags, run_url, runs_url, tags_to_set)


def test_every_link_opens_the_model_training_workflow():
    base = "http://127.0.0.1:5000/"
    assert run_url(base, "1", "abc") == "http://127.0.0.1:5000/#/experiments/1/runs/abc?workflowType=machine_learning"
    assert runs_url(base, "1") == (f"http://127.0.0.1:5000/#/experiments/1/runs?workflowType=machine_learning"
                                   f"&viewStateShareKey={VIEW_KEY}")
    assert compare_url(base, "1", ["a", "b"]).startswith('http://127.0.0.1:5000/#/compare-runs?runs=["a","b"]')


def test_the_experiment_carries_its_kind_and_a_runs_view_with_the_scores():
    tags = experiment_tags("1")
    assert tags[EXPERIMENT_KIND_TAG] == EXPERIMENT_KIND == "custom_model_development"
    view = json.loads(tags[VIEW_TAG])
    assert VIEW_TAG == f"mlflow.sharedViewState.{VIEW_KEY}"
    assert view["selectedColumns"][:3] == ["metrics.`acc`", "metrics.`nmi`", "metrics.`ari`"]
    assert view["orderByKey"] == "attributes.start_time" and view["orderByAsc"] is False
    assert len(tags[VIEW_TAG]) < 5000  # MLflow's limit on a tag value


def test_the_experiment_says_where_its_runs_are_unless_it_has_a_description_of_its_own():
    tags = experiment_tags("7")
    assert "/#/experiments/7/runs?workflowType=machine_learning" in tags[NOTE_TAG]
    assert tags_to_set({}, "7") == tags
    assert tags_to_set(tags, "7") == {}
    # a view of an older version is replaced; a description the user wrote stays
    assert tags_to_set({**tags, VIEW_TAG: "{}", NOTE_TAG: "mine"}, "7") == {VIEW_TAG: tags[VIEW_TAG]}
