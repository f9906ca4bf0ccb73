"""Nothing that failed is ever "the latest" (deep_kmeans.ledger): the run ledger says how the run that wrote each
version ended, an input is read at the newest version a finished run wrote, and a failed run leaves no output."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
from kedro.framework.project import pipelines
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

from deep_kmeans.errors import UserError
from deep_kmeans.catalog_hooks import RunIsolationHook, versioned_core
from deep_kmeans.io import SafeTorchDataset
from deep_kmeans.ledger import LOADED_VERSIONS, RunLedger, choose_load_version

from .conftest import tiny_params

FEATURES = "data/04_feature/digits/features.pt"


def ledger(project) -> RunLedger:
    return RunLedger(project.path / "data/runs")


def versions_of_run(project, version: str) -> list[str]:
    """Every version folder of ``version`` under data/ (what the run wrote)."""
    return sorted(str(p.relative_to(project.path)) for p in (project.path / "data").rglob(version) if p.is_dir())


def dead_pid() -> int:
    """The pid of a process that has ended (a crashed run's)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def plant_version(project, version: str, **changes) -> None:
    """A newer version of the features, as another run would have saved it (``changes`` mark it)."""
    record = project.load(FEATURES)
    target = project.path / FEATURES / version / "features.pt"
    SafeTorchDataset(filepath=str(target)).save({**record, **changes})


def pinned_features(project, params: dict, load_versions: dict | None = None) -> tuple[str, dict]:
    """The version of ``features`` a ``take_pretrain`` run would read, and what it is told about it: the project's
    isolation hook applied to the run's own catalog, without running a node."""
    bootstrap_project(project.path)
    with KedroSession.create(project_path=project.path, runtime_params=params) as session:
        catalog = session.load_context()._get_catalog(load_versions=load_versions or {})
        RunIsolationHook().before_pipeline_run({"load_versions": load_versions or {},
                                                "pipeline_names": ["take_pretrain"]},
                                               pipelines["take_pretrain"], catalog)
        version = versioned_core(catalog.get("features"))._version.load
        return version, catalog.load(LOADED_VERSIONS)


def test_a_finished_run_is_recorded_with_its_mlflow_run(scratch_project):
    scratch_project.run("data", tiny_params())
    version = scratch_project.versions("data/02_intermediate/digits/raw_data.pt")[-1]
    record = ledger(scratch_project).record(version)
    run = scratch_project.runs().iloc[-1]
    assert record["status"] == "FINISHED" and record["mlflow_run_id"] == run.run_id
    assert record["pipelines"] == ["data"] and record["pid"] == os.getpid()


@pytest.mark.parametrize("status,record", [
    ("CRASHED", lambda: {"status": "RUNNING", "host": socket.gethostname(), "pid": dead_pid(), "started": 0}),
    ("COLLAPSED", lambda: {"status": "COLLAPSED", "warning": "take used only 2 of the 4 clusters asked for"}),
    pytest.param("FAILED", lambda: {"status": "FAILED", "error": "RuntimeError: boom"}, marks=pytest.mark.slow),
    pytest.param("KILLED", lambda: {"status": "KILLED"}, marks=pytest.mark.slow),
    pytest.param("RUNNING", lambda: {"status": "RUNNING", "host": socket.gethostname(), "pid": os.getpid(),
                                     "started": time.time()}, marks=pytest.mark.slow),
])
def test_an_input_is_read_from_the_newest_finished_run(scratch_project, caplog, status, record):
    """A newer version from a run that crashed (segfault, SIGKILL: still RUNNING, its process gone), collapsed,
    failed, was killed or is still running is passed over for the newest finished one, with a warning naming
    it; --load-versions still reads it, as asked."""
    scratch_project.run("features", tiny_params())
    finished = scratch_project.versions(FEATURES)[-1]
    newer = "2999-01-01T00.00.00.000Z"
    plant_version(scratch_project, newer, fingerprint="the newer run's")
    ledger(scratch_project).write(newer, **record())
    assert ledger(scratch_project).status(newer) == status
    with caplog.at_level("WARNING"):
        version, told = pinned_features(scratch_project, tiny_params())
    assert version == finished and told["features"]["version"] == finished and not told["features"]["pinned"]
    assert f"not the newer version {newer} ({status}" in caplog.text
    version, told = pinned_features(scratch_project, tiny_params(), load_versions={"features": newer})
    assert version == newer and told["features"]["pinned"] and told["features"]["status"] == status


@pytest.mark.slow
def test_a_version_without_a_record_was_written_before_the_ledger_and_counts(scratch_project):
    scratch_project.run("features", tiny_params())
    older = "2999-01-01T00.00.00.000Z"
    plant_version(scratch_project, older)
    assert pinned_features(scratch_project, tiny_params())[0] == older


def test_when_no_run_finished_the_error_names_the_versions_and_how_to_pin(scratch_project):
    scratch_project.run("features", tiny_params())
    only = scratch_project.versions(FEATURES)[-1]
    ledger(scratch_project).write(only, status="COLLAPSED", warning="kmeans used only 1 of the 10 clusters")
    dataset = SafeTorchDataset(filepath=str(scratch_project.path / FEATURES), version=None)
    from kedro.io import Version

    dataset = dataset._copy(_version=Version(None, None))
    with pytest.raises(UserError, match=rf"features: no run that wrote it finished: version {only} \(COLLAPSED: "
                                        r"kmeans used only 1 .*--load-versions=features:<version>"):
        choose_load_version("features", dataset, ledger(scratch_project))


def test_a_pinned_version_that_does_not_exist_is_one_line_naming_the_versions_there(scratch_project):
    scratch_project.run("features", tiny_params())
    there = scratch_project.versions(FEATURES)[-1]
    with pytest.raises(UserError, match=rf"--load-versions=features:2020-01-01T00.00.00.000Z: no such version of "
                                        rf"features .*the versions there, newest first: {there}"):
        scratch_project.run("take_pretrain", tiny_params(), load_versions={"features": "2020-01-01T00.00.00.000Z"})
    assert scratch_project.versions("data/06_models/digits/take/pretrained.pt") == []


def test_a_failed_run_removes_every_version_it_wrote(scratch_project, monkeypatch):
    """The last node fails (a plot): the raw data, features, model, assignments, scores and plots it had saved
    are removed, the ledger and MLflow say FAILED. Before 2026-12-04 they stayed, newest on disk."""
    from deep_kmeans.pipelines.evaluation import nodes

    def broken(*args, **kwargs):
        raise RuntimeError("the loss plot broke")

    monkeypatch.setattr(nodes, "history_figure", broken)
    with pytest.raises(RuntimeError, match="the loss plot broke"):
        scratch_project.run("kmeans", tiny_params())
    version = next(iter(ledger(scratch_project).path.glob("*.json"))).stem
    record = ledger(scratch_project).record(version)
    assert record["status"] == "FAILED" and "the loss plot broke" in record["error"]
    assert any("model.pt" in f for f in record["removed"]) and any("features.pt" in f for f in record["removed"])
    assert versions_of_run(scratch_project, version) == []
    assert scratch_project.runs().iloc[-1]["status"] == "FAILED"


def test_a_collapsed_run_is_recorded_collapsed(scratch_project, monkeypatch):
    from deep_kmeans.methods import kmeans

    def two_of_ten(x, k, seed=0, n_init="auto"):  # K-means that fills only 2 of the 10 clusters
        return np.zeros((k, x.shape[1]), np.float32), (np.arange(len(x)) % 2).astype(np.int64), 1.0

    monkeypatch.setattr(kmeans, "kmeans_init", two_of_ten)
    scratch_project.run("kmeans", tiny_params())
    version = scratch_project.versions("data/06_models/digits/kmeans/model.pt")[-1]
    record = ledger(scratch_project).record(version)
    assert record["status"] == "COLLAPSED" and "kmeans used only 2 of the 10 clusters" in record["warning"]
    assert scratch_project.runs().iloc[-1]["tags.warning"].startswith("kmeans used only 2")
