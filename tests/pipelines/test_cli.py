"""The commands the README gives, run as a user would (subprocesses in a scratch project)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

KEDRO = str(Path(sys.executable).parent / "kedro")
ENV = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "true", "HF_HUB_OFFLINE": "1"}


@pytest.mark.slow
def test_kedro_run_cli_and_unknown_dataset_message(scratch_project):
    ok = subprocess.run([KEDRO, "run", "--pipeline=data", "--params=data.options.digits.n_samples=100"],
                        cwd=scratch_project.path, env=ENV, capture_output=True, text=True, timeout=300)
    assert ok.returncode == 0, ok.stderr[-2000:]
    assert scratch_project.latest("data/02_intermediate/digits/raw_data.pt").exists()
    bad = subprocess.run([KEDRO, "run", "--pipeline=data", "--params=dataset=imagenet"],
                         cwd=scratch_project.path, env=ENV, capture_output=True, text=True, timeout=300)
    assert bad.returncode != 0
    assert "known data sets: 2mnist, agnews, cifar10, custom, digits" in " ".join((bad.stdout + bad.stderr).split())


@pytest.mark.slow
def test_kedro_viz_shows_the_whole_lineage(scratch_project):
    out = subprocess.run([KEDRO, "viz", "build"], cwd=scratch_project.path, env=ENV, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    graph = json.loads((scratch_project.path / "build/api/main").read_text())
    names = {n["name"] for n in graph["nodes"]}
    # raw data → features → pretraining → clustering → metrics, in one graph
    for name in ("load_raw_data", "extract_features", "take_pretrain", "take_cluster", "evaluate"):
        assert any(name in n for n in names), name
    assert {p["id"] for p in graph["pipelines"]} >= {"__default__", "take", "dec", "compare"}


# ---- user errors: a short message and exit code 2, before any work; bugs keep their tracebacks -----------

PROBE = ("take.knet_iters=0,take.predict_batch_size=0,take.kmeans_n_init=0,take.lr=fast,seed=abc,"
         "take.warmup_epochs=2.5,n_cluster=5")


def written(project, layer: str = "data/06_models") -> list[str]:
    return sorted(str(p.relative_to(project.path)) for p in (project.path / layer).rglob("*") if p.is_file())


def test_bad_parameters_stop_kedro_run_before_any_work(scratch_project):
    out = subprocess.run([KEDRO, "run", "--pipeline=take", f"--params={PROBE}"], cwd=scratch_project.path, env=ENV,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 2, out.stderr[-3000:]
    err = out.stderr
    assert "Traceback" not in err + out.stdout
    assert err.startswith("Error: 7 invalid parameters, nothing was run:"), err[-3000:]
    for line in ("take.knet_iters = 0 is invalid: expected an integer ≥ 1",
                 "take.predict_batch_size = 0 is invalid: expected an integer ≥ 1",
                 "take.kmeans_n_init = 0 is invalid: expected an integer ≥ 1 or 'auto'",
                 "take.lr = 'fast' is invalid: expected a number > 0",
                 "seed = 'abc' is invalid: expected an integer ≥ 0",
                 "take.warmup_epochs = 2.5 is invalid: expected an integer ≥ 0",
                 "n_cluster: unknown parameter (did you mean 'n_clusters'?)"):
        assert f"  - {line}" in err, line
    assert len(err.splitlines()) == 9  # the header, one line per parameter, where to fix them
    assert written(scratch_project) == [] and written(scratch_project, "data/02_intermediate") == []
    assert scratch_project.runs().empty  # no MLflow run was opened for it


def invoke(project, *args):
    from click.testing import CliRunner
    from kedro.framework.startup import bootstrap_project

    from deep_kmeans.cli import cli

    bootstrap_project(project.path)
    return CliRunner().invoke(cli, ["run", *args])


def test_the_project_cli_is_kedros_run_with_the_same_options():
    from kedro.framework.cli.project import run as kedro_run

    from deep_kmeans.cli import cli

    ours = cli.commands["run"]
    assert [p.name for p in ours.params] == [p.name for p in kedro_run.params]
    assert ours.help == kedro_run.help


def test_every_pipeline_checks_its_parameters_first(scratch_project):
    """Stage pipelines, the sweep and the tuner too: the check runs before the first node of any run."""
    for pipeline in ("take_cluster", "sweep", "tune", "data"):
        result = invoke(scratch_project, f"--pipeline={pipeline}", "--params=n_cluster=5,dec.lrr=1")
        assert result.exit_code == 2, (pipeline, result.output[-2000:], result.exception)
        assert "n_cluster: unknown parameter (did you mean 'n_clusters'?)" in result.output
        assert "dec.lrr: unknown parameter (did you mean 'lr'?)" in result.output
    assert written(scratch_project, "data") == []


def test_a_data_error_is_a_user_error(scratch_project):
    result = invoke(scratch_project, "--pipeline=data", "--params=dataset=mnist")
    assert result.exit_code == 2, result.output[-2000:]
    assert "Error: raw data for 'mnist' not found" in result.output


def test_a_bug_keeps_its_traceback(scratch_project, monkeypatch):
    from deep_kmeans.data import loaders

    def broken(raw_dir=None, *, n_samples=None, seed=0, download=False):
        return 1 / 0

    monkeypatch.setitem(loaders.LOADERS, "digits", broken)
    result = invoke(scratch_project, "--pipeline=data")
    assert isinstance(result.exception, ZeroDivisionError)  # re-raised as it was: Kedro prints its traceback
    assert result.exit_code == 1
    assert not any(line.startswith("Error: ") for line in result.output.splitlines())  # not our short report
