"""Runs at once never mix: each `kedro run` reads only the versions it wrote (catalog_hooks.RunIsolationHook).

Before the hook, `kedro run --params=seed=1 & kedro run --params=seed=2` finished both, yet the second run's
labels differed from the same run alone: it had loaded the other run's newer `take.pretrained`, features
or raw data (the latest version on disk)."""

from __future__ import annotations

import subprocess

import mlflow
import pandas as pd
import pytest

from .conftest import tiny_params
from .test_run_honesty import KEDRO, cli_params, client, make_project, user_env


def start(project, seed: int) -> subprocess.Popen:
    params = tiny_params(seed=seed, data_seed=seed)
    return subprocess.Popen([KEDRO, "run", "--pipeline=take", f"--params={cli_params(params)}"], cwd=project,
                            env=user_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def finish(proc: subprocess.Popen) -> str:
    out = proc.communicate(timeout=900)[0]
    assert proc.returncode == 0, out[-3000:]
    return out


def tables_by_seed(project) -> dict[str, pd.DataFrame]:
    """The assignments table (row, cluster, label, distance, soft assignment) each MLflow run logged."""
    c = client(project)
    experiment = c.get_experiment_by_name("deep_kmeans")
    out = {}
    for run in c.search_runs([experiment.experiment_id]):
        path = mlflow.artifacts.download_artifacts(run_id=run.info.run_id, artifact_path="outputs/assignments.csv",
                                                   tracking_uri=f"sqlite:///{project / 'mlflow.db'}")
        out[run.data.params["seed"]] = pd.read_csv(path)
    return out


@pytest.fixture(scope="module")
def together_and_alone(project_root, tmp_path_factory):
    """Seeds 1 and 2 started at once in one project (two data seeds, so even the raw data differs), as in
    `kedro run --params=seed=1 & kedro run --params=seed=2`; seed 1 alone in another project. Seed 1 is the
    run at risk: its session started first, so every version the other run saves is newer than its own."""
    together = make_project(tmp_path_factory.mktemp("together") / "project", project_root)
    alone = make_project(tmp_path_factory.mktemp("alone") / "project", project_root)
    first, second = start(together, seed=1), start(together, seed=2)
    finish(first), finish(second)
    finish(start(alone, seed=1))
    yield tables_by_seed(together), tables_by_seed(alone)
    mlflow.set_tracking_uri(None)


@pytest.mark.slow
def test_two_runs_at_once_give_what_each_gives_alone(together_and_alone):
    together, alone = together_and_alone
    assert sorted(together) == ["1", "2"] and sorted(alone) == ["1"]
    pd.testing.assert_frame_equal(together["1"], alone["1"])
    assert not together["1"]["cluster"].equals(together["2"]["cluster"])  # the two runs did differ


def pinned_session(project, pipeline_name: str):
    """A session's catalog after the isolation hook ran for ``pipeline_name`` (what `kedro run` does before the
    first node), and a copy of ``features`` as a run started later would save it (a newer version)."""
    from kedro.framework.project import pipelines
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project
    from kedro.io import Version

    from deep_kmeans.catalog_hooks import RunIsolationHook

    bootstrap_project(project)
    with KedroSession.create(project_path=project, runtime_params=tiny_params()) as session:
        catalog = session.load_context().catalog
    RunIsolationHook().before_pipeline_run({"load_versions": {}}, pipelines[pipeline_name], catalog)
    later_run = catalog.get("features")._copy(_version=Version(None, "2999-01-01T00.00.00.000Z"))
    return catalog, later_run


def test_a_run_reads_the_version_it_wrote_not_a_newer_one(tmp_path, project_root):
    """The race two runs at once meet: the run started a moment later saves its features (a newer version)
    just before this one saves its own; Kedro resolves "latest" as this save ends (its warning "Save version
    ... did not match load version ...") and this run's next nodes would read the other run's."""
    catalog, later_run = pinned_session(make_project(tmp_path / "project", project_root), "take")
    later_run.save({"run": "other"})
    catalog.save("features", {"run": "this"})
    assert catalog.load("features") == {"run": "this"}


def test_a_stage_pipeline_reads_the_version_latest_when_it_started(tmp_path, project_root):
    """`take_pretrain` starts from an earlier run's features; a run that saves newer ones meanwhile is not read."""
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    project = make_project(tmp_path / "project", project_root)
    bootstrap_project(project)
    with KedroSession.create(project_path=project, runtime_params=tiny_params()) as session:
        session.load_context().catalog.save("features", {"run": "earlier"})
    catalog, later_run = pinned_session(project, "take_pretrain")
    later_run.save({"run": "other"})
    assert catalog.load("features") == {"run": "earlier"}


def test_load_versions_given_by_the_user_are_kept(tmp_path, project_root):
    from kedro.framework.project import pipelines
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    from deep_kmeans.catalog_hooks import RunIsolationHook

    project = make_project(tmp_path / "project", project_root)
    bootstrap_project(project)
    versions = []
    for run in ("first", "second"):
        with KedroSession.create(project_path=project, runtime_params=tiny_params()) as session:
            catalog = session.load_context().catalog
            catalog.save("features", {"run": run})
            versions.append(catalog.get("features").resolve_save_version())
    with KedroSession.create(project_path=project, runtime_params=tiny_params()) as session:
        catalog = session.load_context().catalog
    # what `kedro run --load-versions=features:<first>` hands the catalog and the hook
    catalog = catalog.__class__.from_config(*catalog.to_config()[:2], load_versions={"features": versions[0]})
    RunIsolationHook().before_pipeline_run({"load_versions": {"features": versions[0]}}, pipelines["take_pretrain"],
                                           catalog)
    assert catalog.load("features") == {"run": "first"}


def test_a_stage_pipeline_without_its_input_says_which_run_writes_it(scratch_project):
    """`take_cluster` before any pretraining: a user error naming each missing input, its file and the pipeline
    that writes it, before any node runs and before an MLflow run opens."""
    from deep_kmeans.errors import user_error_in
    from deep_kmeans.catalog_hooks import MissingInputError

    with pytest.raises(Exception) as caught:
        scratch_project.run("take_cluster")
    error = user_error_in(caught.value)
    assert isinstance(error, MissingInputError)
    assert "take.pretrained (" in str(error) and "`kedro run --pipeline=take_pretrain` writes it" in str(error)
    assert "`kedro run --pipeline=features` writes it" in str(error)
    assert scratch_project.runs().empty
