"""`kedro run` as a user runs it, in a scratch project: every ending is told truly in MLflow (FINISHED,
FAILED, KILLED for Ctrl-C and SIGTERM, KILLED for a run whose process died), the console says what the
run did in a few lines, no tracked file changes, and MLflow holds the parameters that applied."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import mlflow
import pytest

from .conftest import TINY_TAKE, tiny_params

KEDRO = str(Path(sys.executable).parent / "kedro")
LAYERS = ("01_raw", "02_intermediate", "04_feature", "05_model_input", "06_models", "07_model_output", "08_reporting")


def cli_params(params: dict, prefix: str = "") -> str:
    """A nested parameter dict as the value of ``kedro run --params``."""
    items = []
    for key, value in params.items():
        if isinstance(value, dict):
            items.append(cli_params(value, f"{prefix}{key}."))
        else:
            items.append(f"{prefix}{key}={str(value).lower() if isinstance(value, bool) else value}")
    return ",".join(items)


def make_project(dest: Path, root: Path) -> Path:
    """A scratch copy with what a checkout holds: pyproject.toml, .telemetry, conf/ (base + logging.yml)."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in ("pyproject.toml", ".telemetry"):
        shutil.copy(root / name, dest / name)
    (dest / "src").mkdir()  # kedro wants it; the package itself is imported from the install
    shutil.copytree(root / "conf" / "base", dest / "conf" / "base")
    shutil.copy(root / "conf" / "logging.yml", dest / "conf" / "logging.yml")
    (dest / "conf" / "local").mkdir()
    (dest / "conf" / "local" / "mlflow.yml").write_text(
        f"server:\n  mlflow_tracking_uri: sqlite:///{dest / 'mlflow.db'}\n")
    for layer in LAYERS:
        (dest / "data" / layer).mkdir(parents=True)
    return dest


def user_env() -> dict:
    """The environment of a user who did not opt out of telemetry by a variable (the .telemetry file does)."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("KEDRO_DISABLE_TELEMETRY", "DO_NOT_TRACK", "DEEP_KMEANS_VERBOSE", "KEDRO_LOGGING_CONFIG")}
    return {**env, "HF_HUB_OFFLINE": "1", "MPLBACKEND": "Agg"}


def client(project: Path) -> mlflow.MlflowClient:
    return mlflow.MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")


def only_run(project: Path, pipeline: str = "take"):
    c = client(project)
    experiment = c.get_experiment_by_name("deep_kmeans")
    runs = [r for r in c.search_runs([experiment.experiment_id]) if r.data.tags.get("pipeline") == pipeline]
    assert len(runs) == 1, [r.info.run_id for r in runs]
    return runs[0]


@pytest.fixture(scope="module")
def quick_run(project_root, tmp_path_factory):
    """One quick `kedro run --pipeline=take` (tiny TAKE, 300 digits) in a scratch copy whose experiment
    already holds two RUNNING runs of this host: one whose process is gone, one whose process lives."""
    project = make_project(tmp_path_factory.mktemp("quick") / "project", project_root)
    c = client(project)
    experiment_id = c.create_experiment("deep_kmeans")  # created without the UI-kind tag: the hook adds it
    gone = subprocess.Popen(["true"])
    gone.wait()
    alive = subprocess.Popen(["sleep", "600"])
    host = socket.gethostname()
    dead_run = c.create_run(experiment_id, tags={"host": host, "pid": str(gone.pid), "pipeline": "dec"})
    live_run = c.create_run(experiment_id, tags={"host": host, "pid": str(alive.pid), "pipeline": "dec"})
    pyproject = (project / "pyproject.toml").read_bytes()
    params = tiny_params()
    del params["progress"]  # the progress bars of a plain run
    try:
        out = subprocess.run([KEDRO, "run", "--pipeline=take", f"--params={cli_params(params)}"], cwd=project,
                             env=user_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=600)
    finally:
        alive.kill()
        alive.wait()
    yield SimpleNamespace(project=project, out=out, pyproject=pyproject, experiment_id=experiment_id,
                          dead_run=dead_run.info.run_id, live_run=live_run.info.run_id)
    mlflow.set_tracking_uri(None)


@pytest.mark.slow
def test_quick_run_is_quiet_and_ends_with_a_summary(quick_run):
    out = quick_run.out
    assert out.returncode == 0, out.stdout[-3000:]
    lines = out.stdout.split("\n")
    # the one warning a quick run may give: a busy machine (runtime.CpuLoad), said once
    busy = [line for line in lines if "this machine is busy" in line]
    assert len(busy) <= 1, busy
    assert not [line for line in lines if ("Warning" in line or "WARNING" in line) and line not in busy], out.stdout
    assert [line for line in lines if "torch thread" in line and "cores" in line]  # the threads it runs with
    assert len(lines) <= 60, out.stdout
    run = only_run(quick_run.project)
    run_id = run.info.run_id
    summary = out.stdout[out.stdout.index("take · digits · seed 0 — FINISHED"):]
    for expected in ("acc ", "nmi ", "ari ", "init_acc ", "input_kmeans_acc ", f"MLflow run {run_id}",
                     "ui --backend-store-uri sqlite:///mlflow.db",
                     f"http://127.0.0.1:5000/#/experiments/{quick_run.experiment_id}/runs/{run_id}"
                     "?workflowType=machine_learning",
                     f"http://127.0.0.1:5000/#/experiments/{quick_run.experiment_id}/runs?workflowType=machine_learning"
                     "&viewStateShareKey=deep_kmeans_scores",
                     "data/07_model_output/digits/take/", "data/08_reporting/digits/take/", "scores.json",
                     "kedro viz run"):
        assert expected in summary, (expected, summary)
    assert f"acc {run.data.metrics['acc']:.4f}" in summary  # read back from the MLflow run


def test_a_digits_run_logs_only_the_parameters_that_apply(quick_run):
    """Issue 27: a digits TAKE run logged 71 parameters, 14 of them for other inputs (your own data, backbones,
    sentence encoders, text augmentation)."""
    run = only_run(quick_run.project)
    params = run.data.params
    other_inputs = [k for k in params if k.startswith(("custom.", "features.backbone", "features.text_",
                                                        "features.standardize", "features.batch_size",
                                                        "features.grid", "data.raw_root", "data.download"))]
    assert not other_inputs, other_inputs
    assert params["features.views.enabled"] == "True"  # what does apply to pixels stays
    assert params["take.embed_dim"] == str(TINY_TAKE["embed_dim"]) and params["dataset"] == "digits"
    assert run.data.tags["torch_threads"].isdigit() and run.data.tags["load_average"]
    # the runs view that the summary's link opens, stored with the experiment
    experiment = client(quick_run.project).get_experiment(quick_run.experiment_id)
    assert "metrics.`acc`" in experiment.tags["mlflow.sharedViewState.deep_kmeans_scores"]


@pytest.mark.slow
def test_a_run_changes_no_tracked_file(quick_run, project_root):
    assert quick_run.out.returncode == 0
    # kedro-telemetry writes a project_id into pyproject.toml unless the committed .telemetry says no
    assert (quick_run.project / "pyproject.toml").read_bytes() == quick_run.pyproject
    assert (quick_run.project / ".telemetry").read_bytes() == (project_root / ".telemetry").read_bytes()


@pytest.mark.slow
def test_mlflow_holds_the_parameters_that_applied(quick_run):
    run = only_run(quick_run.project)
    params = run.data.params
    assert run.info.run_name == "take · digits · seed 0"
    assert params["take.embed_dim"] == str(TINY_TAKE["embed_dim"])  # the digits block, merged in
    assert params["take.warmup_epochs"] == str(TINY_TAKE["warmup_epochs"])
    assert not [k for k in params if k.startswith("take.overrides")]
    assert params["data.options.digits.n_samples"] == "300"
    assert not [k for k in params if k.startswith("data.options.") and not k.startswith("data.options.digits.")]
    assert run.data.tags["host"] == socket.gethostname() and run.data.tags["pid"].isdigit()
    experiment = client(quick_run.project).get_experiment(quick_run.experiment_id)
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"  # opens on its runs


@pytest.mark.slow
def test_the_next_run_marks_runs_whose_process_died_killed(quick_run):
    c = client(quick_run.project)
    dead = c.get_run(quick_run.dead_run)
    assert dead.info.status == "KILLED"
    assert "was gone" in dead.data.tags["found_dead"]
    assert c.get_run(quick_run.live_run).info.status == "RUNNING"  # its process still runs


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_an_interrupted_run_is_killed_and_keeps_its_losses(project_root, tmp_path, signum):
    project = make_project(tmp_path / "project", project_root)
    # long enough a clustering phase that the signal lands in it; no checkpoints to write
    params = tiny_params(take={"overrides": {"digits": {**TINY_TAKE, "warmup_epochs": 2, "update_epochs": 1,
                                                       "cluster_epochs": 100_000, "checkpoint_every": 0}}})
    proc = subprocess.Popen([KEDRO, "run", "--pipeline=take", f"--params={cli_params(params)}"], cwd=project,
                            env=user_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        pretrained = project / "data/08_reporting/digits/take/pretrain_losses.json"
        deadline = time.monotonic() + 300
        while not (pretrained.exists() and any(pretrained.iterdir())):  # pretraining done: clustering under way
            assert proc.poll() is None, proc.communicate()[0][-3000:]
            assert time.monotonic() < deadline, "pretraining did not finish in time"
            time.sleep(0.2)
        time.sleep(0.5)
        assert only_run(project).info.status == "RUNNING"
        proc.send_signal(signum)
        out = proc.communicate(timeout=120)[0]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode != 0
    run = only_run(project)
    assert run.info.status == "KILLED", out[-3000:]
    assert run.data.tags["ended_by"] == signal.Signals(signum).name
    assert f"MLflow run {run.info.run_id} marked KILLED" in out
    # the per-epoch losses of the finished pretraining are kept: 2 warm-up + 1 update epochs
    history = client(project).get_metric_history(run.info.run_id, "pretrain.l_r")
    assert [m.step for m in history] == [1, 2, 3]


def test_a_failing_node_marks_the_run_failed_with_its_error(scratch_project):
    # K larger than the data: only the node that sees the data can tell (invalid parameters alone stop the run
    # before it opens, tests/test_schema.py)
    with pytest.raises(Exception, match="larger than the number of samples"):
        scratch_project.run("take", tiny_params(n_clusters=301))
    run = scratch_project.runs().iloc[0]
    assert run["status"] == "FAILED"
    assert "n_clusters=301" in run["tags.error"] and run["tags.pid"] == str(os.getpid())
    assert run["tags.mlflow.runName"] == "take · digits · seed 0"
    assert "tags.ended_by" not in run or not isinstance(run["tags.ended_by"], str)
