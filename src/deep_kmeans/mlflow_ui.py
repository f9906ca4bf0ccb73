"""Where MLflow's UI opens on this project's runs, and what the experiment carries for it (MLflow 3.x).

What MLflow 3.17's UI does, read in its bundled code (mlflow/server/js) and checked in a fresh headless Chromium
(``scripts/mlflow_check.py``):

- It has two workflows, GenAI and model training, switched in its sidebar. A browser that never switched is in
  GenAI, and there the experiment's ``mlflow.experimentKind`` tag is *ignored*: the home page, a click on the
  experiment and ``#/experiments/<id>`` all land on an empty GenAI overview. Only the URL's
  ``workflowType=machine_learning`` opens the model-training view without a click, so every link the run prints
  carries it. The tag stays set: MLflow versions that read it open the runs from it.
- The runs table's columns are per browser (local storage) and start without any metric. A *shared view*, an
  experiment tag ``mlflow.sharedViewState.<key>`` holding the view as JSON, opened by the URL's
  ``viewStateShareKey=<key>``, sets them: :data:`RUNS_VIEW` shows ``acc``, ``nmi`` and ``ari`` beside the run names.
- The experiment's description (the tag ``mlflow.note.content``) shows in the home page's list of experiments and
  on the experiment's page, in either workflow: it says where the runs are, for whoever did not follow a link.
  Set only where there is none, so a description of your own stays.
"""

from __future__ import annotations

import json

# MLflow 3's UI shows an experiment without this tag as a GenAI one (traces, evaluations) where it reads the tag;
# "custom_model_development" opens it on its runs (mlflow/server/js: ExperimentKind).
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
EXPERIMENT_KIND = "custom_model_development"

# The URL parameter that opens MLflow 3.17's model-training workflow in any browser.
WORKFLOW = "workflowType=machine_learning"

# The shared view of the runs table: its key, the experiment tag that holds it, and what it shows.
VIEW_KEY = "deep_kmeans_scores"
VIEW_TAG = f"mlflow.sharedViewState.{VIEW_KEY}"
SCORE_COLUMNS = ("acc", "nmi", "ari")
RUNS_VIEW = {
    "selectedColumns": [*(f"metrics.`{m}`" for m in SCORE_COLUMNS), "attributes.`Duration`", "tags.`dataset`"],
    "orderByKey": "attributes.start_time",
    "orderByAsc": False,
}


NOTE_TAG = "mlflow.note.content"


def experiment_tags(experiment_id: str) -> dict[str, str]:
    """The tags this project's experiment carries for MLflow's UI."""
    note = ("Switch to \"Model training\" (top left) to see these deep-kmeans runs, or "
            f"[open the runs with their scores]({runs_url('', experiment_id)}).")
    return {EXPERIMENT_KIND_TAG: EXPERIMENT_KIND, VIEW_TAG: json.dumps(RUNS_VIEW, separators=(",", ":")),
            NOTE_TAG: note}


def tags_to_set(current: dict, experiment_id: str) -> dict[str, str]:
    """Of :func:`experiment_tags`, those an experiment with the tags ``current`` lacks or holds otherwise (its
    description only where it has none)."""
    return {key: value for key, value in experiment_tags(experiment_id).items()
            if key not in current or (current[key] != value and key != NOTE_TAG)}


def runs_url(base: str, experiment_id: str) -> str:
    """The experiment's runs table with the score columns: ``<base>/#/experiments/1/runs?workflowType=...``."""
    return f"{base.rstrip('/')}/#/experiments/{experiment_id}/runs?{WORKFLOW}&viewStateShareKey={VIEW_KEY}"


def run_url(base: str, experiment_id: str, run_id: str) -> str:
    """One run's page, in the model-training workflow."""
    return f"{base.rstrip('/')}/#/experiments/{experiment_id}/runs/{run_id}?{WORKFLOW}"


def compare_url(base: str, experiment_id: str, run_ids: list[str]) -> str:
    """MLflow's page that compares ``run_ids``: parameters, metrics and the artifacts they share."""
    runs = json.dumps(list(run_ids), separators=(",", ":"))
    return f"{base.rstrip('/')}/#/compare-runs?runs={runs}&experiments=[\"{experiment_id}\"]&{WORKFLOW}"
