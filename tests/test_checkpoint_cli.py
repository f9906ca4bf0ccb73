"""`kedro checkpoints list|clean` (deep_kmeans.checkpoint_cli) on a scratch copy of the project."""

import os
import pickle
import time

import numpy as np
import pytest
from click.testing import CliRunner

from deep_kmeans.checkpoint_cli import catalog_stores, checkpoints
from deep_kmeans.io import DirectoryStore

DAY = 86400


@pytest.fixture
def project(blank_project, monkeypatch):
    monkeypatch.chdir(blank_project)
    return blank_project


def age(path, days):
    t = time.time() - days * DAY
    os.utime(path, (t, t))


# keys as the project makes them: methods.kit.run_key (checkpoints) and a feature fingerprint (the cache)
OLD, NEW, LEGACY = "take-pretrain-" + "a" * 16, "take-cluster-" + "b" * 16, "take-pretrain-" + "c" * 16


def fill(project, root="data"):
    ckpt = DirectoryStore(project / root / "06_models/checkpoints")
    cache = DirectoryStore(project / root / "04_feature/cache")
    age(ckpt.put(OLD, {"epoch": 3, "w": np.zeros(1000, np.float32)}), 10)
    age(ckpt.put(NEW, {"epoch": 1}), 0.5)
    (ckpt.path / f"{LEGACY}.pkl").write_bytes(pickle.dumps({"epoch": 1}, protocol=pickle.HIGHEST_PROTOCOL))
    (ckpt.path / f".{NEW}.x1y2z3w4.tmp").write_bytes(b"PK\x03\x04half")
    age(ckpt.path / f".{NEW}.x1y2z3w4.tmp", 1)
    (ckpt.path / f".{OLD}.freshsav.tmp").write_bytes(b"PK\x03\x04being written")  # a save in progress: kept
    age(cache.put("f" * 20, {"x": np.ones((100, 64), np.float32)}), 30)
    (cache.path / ("e" * 20 + ".pkl")).write_bytes(pickle.dumps({"x": 1}, protocol=pickle.HIGHEST_PROTOCOL))
    return ckpt, cache


def plant_user_files(folder):
    """What a user may keep beside the checkpoints: a model of theirs (30 days old), a pickle, a torch file
    named like a checkpoint and a temporary file of another program. None is the project's."""
    import torch

    torch.save({"weight": torch.ones(3)}, folder / "model.pt")
    torch.save({"weight": torch.ones(3)}, folder / f"take-pretrain-{'d' * 16}.pt")  # our name, not our header
    (folder / "notes.pkl").write_bytes(pickle.dumps({"mine": True}))
    (folder / f".{'e' * 20}.abcdefgh.tmp").write_bytes(b"an editor's swap file")
    for f in ("model.pt", f"take-pretrain-{'d' * 16}.pt", "notes.pkl", f".{'e' * 20}.abcdefgh.tmp"):
        age(folder / f, 30)
    return {"model.pt", f"take-pretrain-{'d' * 16}.pt", "notes.pkl", f".{'e' * 20}.abcdefgh.tmp"}


def test_the_stores_come_from_the_catalog(project):
    (project / "conf/local/catalog.yml").write_text(
        "checkpoints:\n  type: deep_kmeans.io.DirectoryStoreDataset\n  path: elsewhere/ckpt\n")
    stores = {s.name: s.store.path for s in catalog_stores(project)}
    assert stores == {"feature_cache": project / "data/04_feature/cache", "checkpoints": project / "elsewhere/ckpt"}
    stores = {s.name: s.store.path for s in catalog_stores(project, env="base")}
    assert stores["checkpoints"] == project / "data/06_models/checkpoints"


def test_list_shows_every_checkpoint_with_its_age_and_size_and_the_cache_size(project):
    fill(project)
    out = CliRunner().invoke(checkpoints, ["list"])
    assert out.exit_code == 0, out.output
    text = out.output
    assert "checkpoints: " in text and "2 checkpoint(s)" in text
    assert f"{OLD}.pt" in text and "10.0 days" in text and f"{NEW}.pt" in text
    assert f"{LEGACY}.pkl" in text and "legacy" in text and f".{NEW}.x1y2z3w4.tmp" in text
    assert "feature_cache: " in text and "1 entr(y/ies)" in text and "KiB" in text
    assert "f" * 20 + ".pt" not in text  # cache entries are counted, not listed


def test_clean_removes_old_checkpoints_legacy_and_stray_files_and_says_so(project):
    ckpt, cache = fill(project)
    runner = CliRunner()
    dry = runner.invoke(checkpoints, ["clean", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "would remove" in dry.output and f"{OLD}.pt" in dry.output
    assert len(ckpt.entries()) == 5  # nothing removed
    out = runner.invoke(checkpoints, ["clean"])  # default: older than 7 days
    assert out.exit_code == 0, out.output
    left = sorted(e.path.name for e in ckpt.entries())
    assert left == [f".{OLD}.freshsav.tmp", f"{NEW}.pt"]
    assert "removed" in out.output and f"{OLD}.pt" in out.output and "legacy" in out.output
    assert [e.kind for e in cache.entries()] == ["entry"]  # the cache's legacy file goes, its entry stays
    out = runner.invoke(checkpoints, ["clean", "--older-than", "0", "--cache"])
    assert out.exit_code == 0, out.output
    assert [e.path.name for e in ckpt.entries()] == [f".{OLD}.freshsav.tmp"] and cache.entries() == []
    again = runner.invoke(checkpoints, ["clean", "--older-than", "0"])
    assert "nothing to remove" in again.output


def test_project_option_and_kedro_metadata(project, tmp_path, monkeypatch):
    fill(project)
    monkeypatch.chdir(tmp_path)
    out = CliRunner().invoke(checkpoints, ["list", "--project", str(project)])
    assert out.exit_code == 0 and "2 checkpoint(s)" in out.output

    class Metadata:  # what `kedro` hands a project command
        project_path = project

    out = CliRunner().invoke(checkpoints, ["list"], obj=Metadata())
    assert out.exit_code == 0 and "2 checkpoint(s)" in out.output


def test_clean_removes_only_what_the_project_wrote(project):
    """A user's files beside the checkpoints, older than any limit, some named like ours: clean (and clean
    --older-than 0 --cache) removes the project's files and leaves every one of the user's, naming them."""
    ckpt, cache = fill(project)
    mine = plant_user_files(ckpt.path) | {f"cache:{n}" for n in plant_user_files(cache.path)}
    runner = CliRunner()
    dry = runner.invoke(checkpoints, ["clean", "--older-than", "0", "--cache", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "model.pt" not in "".join(ln for ln in dry.output.splitlines() if ln.startswith("would remove"))
    assert "left alone" in dry.output and "model.pt" in dry.output
    out = runner.invoke(checkpoints, ["clean", "--older-than", "0", "--cache"])
    assert out.exit_code == 0, out.output
    left = {p.name for p in ckpt.path.iterdir()} | {f"cache:{p.name}" for p in cache.path.iterdir()}
    assert left == mine | {f".{OLD}.freshsav.tmp"}  # the user's files, and a save still in progress
    listed = runner.invoke(checkpoints, ["list"])
    assert "model.pt" in listed.output and "not written by this project" in listed.output


def test_clean_refuses_a_folder_outside_data_unless_forced(project, tmp_path):
    """The catalog's `checkpoints` pointed at a folder of the user's: clean refuses (exit 2, nothing removed);
    --force cleans the project's files there and still leaves the user's."""
    elsewhere = tmp_path / "my_models"
    (project / "conf/local/catalog.yml").write_text(
        f"checkpoints:\n  type: deep_kmeans.io.DirectoryStoreDataset\n  path: {elsewhere / '06_models/checkpoints'}\n")
    ckpt, _ = fill(tmp_path / "my_models", root=".")
    mine = plant_user_files(ckpt.path)
    before = {p.name for p in ckpt.path.iterdir()}
    runner = CliRunner()
    out = runner.invoke(checkpoints, ["clean", "--older-than", "0"])
    assert out.exit_code == 2 and "outside the project's data/" in out.output and "--force" in out.output
    assert {p.name for p in ckpt.path.iterdir()} == before
    out = runner.invoke(checkpoints, ["clean", "--older-than", "0", "--force"])
    assert out.exit_code == 0, out.output
    assert {p.name for p in ckpt.path.iterdir()} == mine | {f".{OLD}.freshsav.tmp"}
