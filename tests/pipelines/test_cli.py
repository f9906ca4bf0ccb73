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


# ---- what used to be raw tracebacks: one line naming the file or parameter, exit code 2 (docs/reliability.md, 9)


def one_error_line(result) -> str:
    assert result.exit_code == 2, (result.output[-3000:], result.exception)
    lines = [ln for ln in result.output.splitlines() if ln.startswith("Error: ")]
    assert len(lines) == 1 and "Traceback" not in result.output, result.output[-3000:]
    return lines[0]


def test_a_damaged_mlflow_db_is_named(scratch_project):
    (scratch_project.path / "mlflow.db").write_text("garbage, not an sqlite file")
    line = one_error_line(invoke(scratch_project, "--pipeline=data"))
    assert f"the MLflow tracking store {scratch_project.path / 'mlflow.db'} cannot be opened (file is not a " \
           "database)" in line and "mv " in line


def test_an_output_folder_the_run_may_not_write_is_named(scratch_project, monkeypatch):
    """The operating system refuses the save (a read-only folder; as root, chmod would not stop the test)."""
    import errno

    from deep_kmeans import io

    def refused(blob, target, prefix):
        raise PermissionError(errno.EACCES, "Permission denied", str(target))

    monkeypatch.setattr(io, "save_atomically", refused)
    line = one_error_line(invoke(scratch_project, "--pipeline=data"))
    assert "cannot write " in line and "raw_data.pt: no permission to write there (Permission denied)" in line
    assert scratch_project.runs().iloc[-1]["status"] == "FAILED"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_output_folder_is_named(scratch_project):
    folder = scratch_project.path / "data/02_intermediate"
    folder.chmod(0o555)
    try:
        line = one_error_line(invoke(scratch_project, "--pipeline=data"))
    finally:
        folder.chmod(0o755)
    assert "cannot write " in line and "02_intermediate" in line


def test_a_planted_file_is_refused_in_one_line(scratch_project):
    planted = scratch_project.path / "data/04_feature/digits/features.pt/2999-01-01T00.00.00.000Z/features.pt"
    planted.parent.mkdir(parents=True)
    planted.write_bytes(b"cos\nsystem\n(S'touch planted_ran'\ntR.")
    line = one_error_line(invoke(scratch_project, "--pipeline=take_pretrain"))
    assert f"Refused to load {planted}" in line
    assert not (scratch_project.path / "planted_ran").exists()


def test_a_load_version_that_does_not_exist_is_named(scratch_project):
    line = one_error_line(invoke(scratch_project, "--pipeline=take_pretrain",
                                 "--load-versions=features:2020-01-01T00.00.00.000Z"))
    assert "--load-versions=features:2020-01-01T00.00.00.000Z: no such version of features" in line
    assert scratch_project.runs().empty  # said before the MLflow run opens


def test_sweep_seeds_on_the_command_line_stop_before_the_run_opens(scratch_project):
    (scratch_project.path / "conf/local/parameters_sweep.yml").write_text("sweep:\n  methods: [kmeans]\n  seeds: [0]\n")
    result = invoke(scratch_project, "--pipeline=sweep", "--params=sweep.seeds=7")
    assert result.exit_code == 2, result.output[-3000:]
    assert "sweep.methods/seeds ['kmeans'] × [7] differ from the ones this pipeline was built from" in result.output
    assert scratch_project.runs().empty


def test_an_unreachable_dask_scheduler_is_named(scratch_project, monkeypatch):
    import socket

    import dask

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("DASK_SCHEDULER_ADDRESS", f"tcp://127.0.0.1:{port}")
    with dask.config.set({"distributed.comm.timeouts.connect": "2s"}):
        line = one_error_line(invoke(scratch_project, "--pipeline=data", "--runner=deep_kmeans.runners.DaskRunner"))
    assert f"the Dask scheduler tcp://127.0.0.1:{port} (DASK_SCHEDULER_ADDRESS or the runner's address) cannot be " \
           "reached" in line
