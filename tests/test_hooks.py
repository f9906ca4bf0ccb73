"""The pieces of the project's MLflow hook that need no run (the runs are in tests/pipelines/test_run_honesty.py)."""

import logging
import os
import subprocess
import time
from pathlib import Path

import pytest

from deep_kmeans import hooks
from deep_kmeans.hooks import RunHook, process_alive


def test_a_process_is_alive_until_it_is_gone_or_a_zombie_or_its_pid_reused():
    assert process_alive(os.getpid())
    done = subprocess.Popen(["true"])
    done.wait()
    assert not process_alive(done.pid)
    zombie = subprocess.Popen(["true"])
    stat = Path(f"/proc/{zombie.pid}/stat")
    deadline = time.monotonic() + 10
    while stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] != "Z" and time.monotonic() < deadline:
        time.sleep(0.05)  # exited, not yet reaped: a zombie
    if stat.exists():
        os.kill(zombie.pid, 0)  # the pid still answers...
        assert not process_alive(zombie.pid)  # ...but nothing runs
    zombie.wait()
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        assert process_alive(sleeper.pid, since=time.time())
        # a run that started an hour before this process: the pid was reused, the run's process is gone
        assert not process_alive(sleeper.pid, since=time.time() - 3600)
    finally:
        sleeper.kill()
        sleeper.wait()


def test_the_files_of_a_run_are_listed_by_folder(tmp_path):
    hook = RunHook()
    hook._project_path, hook._save_version = tmp_path, "2026-01-01T00.00.00.000Z"
    for path in ("data/07_model_output/digits/take/assignments.pt", "data/08_reporting/digits/take/scores.json",
                 "data/08_reporting/digits/take/confusion.png"):
        (tmp_path / path / hook._save_version).mkdir(parents=True)
    (tmp_path / "data/08_reporting/digits/take/losses.png/2025-01-01T00.00.00.000Z").mkdir(parents=True)  # older run
    lines = [" ".join(line.split()) for line in hook._written_files()]
    assert lines == ["data/07_model_output/digits/take/ assignments.pt",
                     "data/08_reporting/digits/take/ confusion.png, scores.json"]


def test_known_warnings_are_dropped_from_the_log_and_others_kept():
    from deep_kmeans import settings

    if settings.VERBOSE:
        return
    (known_filter,) = [f for f in logging.getLogger("py.warnings").filters if isinstance(f, settings.KnownWarnings)]

    def record(message):
        return logging.LogRecord("py.warnings", logging.WARNING, __file__, 1, message, None, None)

    assert not known_filter.filter(record("x.py:187: UserWarning: \x1b[33mAdd type hints to the `predict` method to"))
    assert not known_filter.filter(record("KedroDeprecationWarning: Option '--pipeline' is deprecated and will be"))
    assert known_filter.filter(record("UserWarning: something this project should hear about"))


def test_command_line_wins_over_the_preset():
    from deep_kmeans.hooks import command_line_wins

    group = {"cluster_epochs": 50, "lr": 1e-3, "overrides": {"digits": {"cluster_epochs": 10}, "mnist": {}}}
    out = command_line_wins(group, {"cluster_epochs": 1, "lr": 0.5}, "digits")
    assert out["overrides"]["digits"] == {"cluster_epochs": 1}  # lr is not in the preset: the top level applies
    assert group["overrides"]["digits"] == {"cluster_epochs": 10}  # not mutated
    assert command_line_wins(group, {"overrides": {"digits": {"cluster_epochs": 3}}}, "digits") is group


def test_command_line_wins_over_a_chosen_preset_too():
    from deep_kmeans.hooks import command_line_wins
    from deep_kmeans.methods.config import params_for

    group = {"warmup_epochs": 150, "preset": "cpu", "presets": {"cpu": {"warmup_epochs": 40, "depth": 2}},
             "overrides": {"mnist": {"depth": 8, "warmup_epochs": 150}}}
    out = command_line_wins(group, {"warmup_epochs": 3, "preset": "cpu"}, "mnist")
    # what the user typed beats both layers; the preset beats the data set's block elsewhere
    assert params_for(out, "mnist") == {"warmup_epochs": 3, "depth": 2}
    assert params_for(group, "mnist") == {"warmup_epochs": 40, "depth": 2}

def test_other_ranks_keep_every_output_in_memory(tmp_path, monkeypatch):
    """Under torchrun, ranks > 0 run the session without MLflow and write nothing: outputs become MemoryDatasets,
    inputs still load from disk (settings.py registers OtherRankHook on those ranks instead of RunHook)."""
    from kedro.io import DataCatalog, MemoryDataset
    from kedro.pipeline import node, pipeline
    from kedro_datasets.pickle import PickleDataset

    from deep_kmeans.catalog_hooks import OtherRankHook
    from deep_kmeans.runtime import is_main_process, torchrun_world

    (tmp_path / "in.pkl").write_bytes(__import__("pickle").dumps(1))
    catalog = DataCatalog({"a": PickleDataset(filepath=str(tmp_path / "in.pkl")),
                           "b": PickleDataset(filepath=str(tmp_path / "out.pkl"))})
    pipe = pipeline([node(lambda a: a + 1, "a", "b")])
    OtherRankHook().before_pipeline_run({}, pipe, catalog)
    assert isinstance(catalog["b"], MemoryDataset) and isinstance(catalog["a"], PickleDataset)
    catalog.save("b", 2)
    assert not (tmp_path / "out.pkl").exists() and catalog.load("b") == 2

    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert torchrun_world() == (1, 2, 1) and not is_main_process()
    monkeypatch.delenv("WORLD_SIZE")
    monkeypatch.delenv("RANK")
    monkeypatch.delenv("LOCAL_RANK")
    assert torchrun_world() == (0, 1, 0) and is_main_process()


@pytest.mark.parametrize("knet_init, agreement, said", [
    ("umap_gmm", None, "UMAP + GMM on z"), ("input", None, "UMAP + GMM on the input"), ("kmeans", None, "K-means on z"),
    ("auto", 0.95, "UMAP + GMM on z"), ("auto", 0.6, "K-means on z")])
def test_the_summary_names_the_start_the_run_took(knet_init, agreement, said):
    metrics = {"start_acc": 0.9} if agreement is None else {"start_acc": 0.9, "start_agreement": agreement}
    assert hooks.start_described({"take.knet_init": knet_init}, metrics) == f"KNet's start: {said}"
