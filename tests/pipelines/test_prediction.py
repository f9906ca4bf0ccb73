"""take_predict and the MLflow model on your own table, end to end: which model is used (and said), what a bad
table gets (one line, exit code 2), and what the logged model carries and serves (its metrics, its signature)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest

from deep_kmeans.errors import UserError
from deep_kmeans.ledger import RunLedger

from .conftest import ScratchProject
from .test_custom_data import blobs_table, custom_params, latest_table
from .test_run_honesty import KEDRO, cli_params, make_project, user_env

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_thread")]
MODEL = "data/06_models/custom/take/model.pt"
PREDICTIONS = "data/07_model_output/custom/take/predictions.csv"


@pytest.fixture(scope="module")
def trained(project_root, tmp_path_factory):
    """TAKE trained on a 120-row table of four blobs with an id column (`sample`) and labels (`kind`)."""
    with pytest.MonkeyPatch.context() as mp:
        dest = make_project(tmp_path_factory.mktemp("prediction") / "project", project_root)
        mp.chdir(dest)
        project = ScratchProject(dest)
        path = dest / "train.csv"
        blobs_table(path, labels=True, ids=True)
        params = custom_params(path, custom={"path": str(path), "label_column": "kind", "id_column": "sample"})
        project.run("take", params)
        yield project, params, pd.read_csv(path)
        mlflow.set_tracking_uri(None)


def predict(project, params, table: pd.DataFrame, name="new.csv", load_versions=None):
    """``kedro run --pipeline=take_predict --params=custom.path=<table>``, without naming the id or label column."""
    table.to_csv(project.path / name, index=False)
    return project.run("take_predict", {**params, "custom": {"path": str(project.path / name)}},
                       load_versions=load_versions)


def newest_predictions(project) -> pd.DataFrame:
    return pd.read_csv(project.latest(PREDICTIONS))


def test_take_predict_says_which_model_it_used_and_carries_the_id_and_label(trained, caplog):
    project, params, table = trained
    version = project.versions(MODEL)[-1]
    train_run = project.runs().iloc[-1]
    with caplog.at_level("INFO"):
        predict(project, params, table[list(reversed(table.columns))])  # the training table, columns shuffled
    assert (f"take_predict: using take.model version {version} (the newest of a finished run, MLflow run "
            f"{train_run.run_id})") in caplog.text
    predicted, trained_table = newest_predictions(project), latest_table(project, "take")
    assert list(predicted["id"]) == list(table["sample"]) and list(predicted["label"]) == list(table["kind"])
    np.testing.assert_array_equal(predicted["cluster"], trained_table["cluster"])
    run = project.runs().iloc[-1]
    assert run["tags.input.take.model"] == f"{version} (MLflow run {train_run.run_id})"
    # one new row is a row to assign, not data to cluster ("all 1 rows are identical" before 2026-12-07)
    predict(project, params, table.iloc[[3]], name="one.csv")
    one = newest_predictions(project)
    assert list(one["id"]) == [table["sample"][3]] and one["cluster"][0] == trained_table["cluster"][3]


@pytest.mark.parametrize("change,message", [
    (lambda t: t.drop(columns=["f3"]), "missing f3. Expected the columns f0, f1, f2, f3"),
    (lambda t: t.rename(columns={"f3": "g3"}), "missing f3; unexpected g3. Expected the columns f0"),
    (lambda t: t.assign(extra=1.0), "unexpected extra. Expected the columns f0"),
    (lambda t: t.iloc[:0], "no rows (only a header: f0, f1, f2"),
    (lambda t: t.assign(f2="high"), "non-numeric columns f2. .* The model expects the columns f0, f1, f2"),
])
def test_a_table_that_does_not_match_the_model_is_one_line_naming_the_expected_columns(trained, change, message):
    project, params, table = trained
    before = project.versions(PREDICTIONS)
    with pytest.raises(UserError) as err:
        predict(project, params, change(table), name="bad.csv")
    import re

    assert re.search(message.replace("(", r"\(").replace(")", r"\)"), str(err.value)), str(err.value)
    assert "\n" not in str(err.value)
    assert project.versions(PREDICTIONS) == before  # a failed run writes no new version


def plant_newer_model(project, version: str, content: bytes | None = None) -> None:
    """A newer take.model, as a later run would have saved it (a copy of the newest), or ``content``."""
    source = project.latest(MODEL)
    target = project.path / MODEL / version / "model.pt"
    target.parent.mkdir(parents=True)
    if content is None:
        shutil.copy(source, target)
    else:
        target.write_bytes(content)


def test_a_collapsed_model_is_used_only_when_pinned(trained, caplog):
    project, params, table = trained
    finished = project.versions(MODEL)[-1]
    collapsed = "2999-01-01T00.00.00.000Z"
    plant_newer_model(project, collapsed)
    RunLedger(project.path / "data/runs").write(collapsed, status="COLLAPSED",
                                                warning="take used only 2 of the 4 clusters asked for")
    try:
        with caplog.at_level("INFO"):
            predict(project, params, table)
        assert f"using take.model version {finished}" in caplog.text
        assert f"not the newer version {collapsed} (COLLAPSED: take used only 2" in caplog.text
        caplog.clear()
        with caplog.at_level("INFO"):
            predict(project, params, table, load_versions={"take.model": collapsed})
        assert f"using take.model version {collapsed} (pinned with --load-versions" in caplog.text
        assert "this model's run collapsed (take used only 2 of the 4 clusters" in caplog.text
    finally:
        shutil.rmtree(project.path / MODEL / collapsed)


def test_user_errors_of_take_predict_exit_2_in_one_line(trained):
    """As a user runs it: a table with a column missing, then a planted model.pt (a pickle that would run a
    command): each a one-line `Error:` and exit code 2, no traceback (before 2026-12-04: exit 1 and a traceback
    of 86 lines for the planted file)."""
    project, params, table = trained
    table.drop(columns=["f3"]).to_csv(project.path / "fewer.csv", index=False)
    base = {k: v for k, v in params.items() if k != "custom"}
    command = [KEDRO, "run", "--pipeline=take_predict",
               f"--params={cli_params(base)},custom.path={project.path / 'fewer.csv'}"]
    out = subprocess.run(command, cwd=project.path, env=user_env(), capture_output=True, text=True, timeout=600)
    assert out.returncode == 2, (out.stdout + out.stderr)[-3000:]
    assert "Traceback" not in out.stdout + out.stderr
    assert "Error: the new data's columns differ from the training data's: missing f3." in out.stderr
    planted = "2999-06-01T00.00.00.000Z"
    plant_newer_model(project, planted, b"cos\nsystem\n(S'touch /tmp/deep_kmeans_planted'\ntR.")
    try:
        table.to_csv(project.path / "ok.csv", index=False)
        command[-1] = f"--params={cli_params(base)},custom.path={project.path / 'ok.csv'}"
        out = subprocess.run(command, cwd=project.path, env=user_env(), capture_output=True, text=True, timeout=600)
        assert out.returncode == 2, (out.stdout + out.stderr)[-3000:]
        assert "Traceback" not in out.stdout + out.stderr
        errors = [ln for ln in out.stderr.splitlines() if ln.startswith("Error:")]
        assert len(errors) == 1 and f"{planted}/model.pt" in errors[0] and "Refused to load" in errors[0]
    finally:
        shutil.rmtree(project.path / MODEL / planted)


def test_a_failed_take_evaluate_saves_no_new_plot(trained, monkeypatch):
    project, params, _ = trained
    from deep_kmeans.pipelines.evaluation import nodes

    monkeypatch.setattr(nodes, "embedding_figure", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("t-SNE broke")))
    before = {name: project.versions(f"data/08_reporting/custom/take/{name}")
              for name in ("losses.png", "confusion.png", "scores.json")}
    with pytest.raises(RuntimeError, match="t-SNE broke"):
        project.run("take_evaluate", params)
    assert {name: project.versions(f"data/08_reporting/custom/take/{name}") for name in before} == before


def test_the_logged_model_carries_its_runs_final_metrics_and_its_signature(trained):
    project, _, _ = trained
    run = project.runs()
    run = run[run["tags.pipeline"] == "take"].iloc[-1]
    info = mlflow.models.get_model_info(f"runs:/{run.run_id}/model")
    names = [(c.name, repr(c.type), c.required) for c in info.signature.inputs.inputs]
    assert names == [(name, "Any", False) for name in [f"f{j}" for j in range(20)] + ["sample", "kind"]]
    assert info.metadata["input_columns"] == {f"f{j}": "double" for j in range(20)}
    assert info.metadata["dropped_columns"] == ["sample", "kind"]
    metrics = {m.key: m.value for m in mlflow.get_logged_model(info.model_id).metrics}
    for key in ("acc", "nmi", "ari", "n_clusters_found"):  # the run's own final scores (before: init_* only)
        assert metrics[key] == pytest.approx(run[f"metrics.{key}"]), key


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def post(port: int, payload: dict) -> tuple[int, dict]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/invocations", data=json.dumps(payload).encode(),
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_mlflow_models_serve_answers_with_the_signature(trained):
    """`mlflow models serve`: the training rows (with their id and label columns) get the run's clusters; a row
    without a column is a 400 whose message names it, with no stack trace."""
    project, _, table = trained
    run = project.runs()
    run = run[run["tags.pipeline"] == "take"].iloc[-1]
    port = free_port()
    bin_dir = Path(KEDRO).parent  # `mlflow models serve` starts uvicorn from the environment's bin/
    env = {**user_env(), "MLFLOW_TRACKING_URI": f"sqlite:///{project.path / 'mlflow.db'}",
           "PATH": f"{bin_dir}:{os.environ.get('PATH', '')}"}
    log = (project.path / "serve.log").open("w")
    server = subprocess.Popen([str(bin_dir / "mlflow"), "models", "serve", "-m", f"runs:/{run.run_id}/model",
                               "--env-manager", "local", "-p", str(port)], cwd=project.path, env=env, stdout=log,
                              stderr=subprocess.STDOUT)
    try:
        for _ in range(240):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2)
                break
            except OSError:
                assert server.poll() is None, (project.path / "serve.log").read_text()[-3000:]
                time.sleep(1)
        rows = table.head(5)
        status, body = post(port, {"dataframe_split": rows.to_dict(orient="split", index=False)})
        assert status == 200, body
        assert body["predictions"] == list(latest_table(project, "take")["cluster"][:5])
        status, body = post(port, {"dataframe_split": rows.drop(columns=["f3"]).to_dict(orient="split", index=False)})
        assert status == 400 and "missing f3. Expected the columns f0, f1" in body["message"].splitlines()[-1], body
        assert "stack_trace" not in body
    finally:
        server.terminate()
        server.wait(timeout=60)
        log.close()
