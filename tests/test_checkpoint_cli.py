"""`kedro checkpoints list|clean` (deep_kmeans.checkpoint_cli) on a scratch copy of the project."""

import os
import pickle
import shutil
import time

import numpy as np
import pytest
from click.testing import CliRunner

from deep_kmeans.checkpoint_cli import catalog_stores, checkpoints
from deep_kmeans.io import DirectoryStore

DAY = 86400


@pytest.fixture
def project(project_root, tmp_path, monkeypatch):
    dest = tmp_path / "project"
    dest.mkdir()
    shutil.copy(project_root / "pyproject.toml", dest)
    (dest / "src").mkdir()
    shutil.copytree(project_root / "conf" / "base", dest / "conf" / "base")
    (dest / "conf" / "local").mkdir()
    monkeypatch.chdir(dest)
    return dest


def age(path, days):
    t = time.time() - days * DAY
    os.utime(path, (t, t))


def fill(project):
    ckpt = DirectoryStore(project / "data/06_models/checkpoints")
    cache = DirectoryStore(project / "data/04_feature/cache")
    age(ckpt.put("take-pretrain-old", {"epoch": 3, "w": np.zeros(1000, np.float32)}), 10)
    age(ckpt.put("take-cluster-new", {"epoch": 1}), 0.5)
    (ckpt.path / "take-pretrain-legacy.pkl").write_bytes(pickle.dumps({"epoch": 1}))
    (ckpt.path / ".take-cluster-new.x1y2.tmp").write_bytes(b"half")
    age(ckpt.path / ".take-cluster-new.x1y2.tmp", 1)
    (ckpt.path / ".take-a.fresh.tmp").write_bytes(b"being written")  # a save in progress: kept
    age(cache.put("f" * 20, {"x": np.ones((100, 64), np.float32)}), 30)
    (cache.path / ("e" * 20 + ".pkl")).write_bytes(b"old")
    return ckpt, cache


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
    assert "take-pretrain-old.pt" in text and "10.0 days" in text and "take-cluster-new.pt" in text
    assert "take-pretrain-legacy.pkl" in text and "legacy" in text and ".take-cluster-new.x1y2.tmp" in text
    assert "feature_cache: " in text and "1 entr(y/ies)" in text and "KiB" in text
    assert "f" * 20 + ".pt" not in text  # cache entries are counted, not listed


def test_clean_removes_old_checkpoints_legacy_and_stray_files_and_says_so(project):
    ckpt, cache = fill(project)
    runner = CliRunner()
    dry = runner.invoke(checkpoints, ["clean", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "would remove" in dry.output and "take-pretrain-old.pt" in dry.output
    assert len(ckpt.entries()) == 5  # nothing removed
    out = runner.invoke(checkpoints, ["clean"])  # default: older than 7 days
    assert out.exit_code == 0, out.output
    left = sorted(e.path.name for e in ckpt.entries())
    assert left == [".take-a.fresh.tmp", "take-cluster-new.pt"]
    assert "removed" in out.output and "take-pretrain-old.pt" in out.output and "legacy" in out.output
    assert [e.kind for e in cache.entries()] == ["entry"]  # the cache's legacy file goes, its entry stays
    out = runner.invoke(checkpoints, ["clean", "--older-than", "0", "--cache"])
    assert out.exit_code == 0, out.output
    assert [e.path.name for e in ckpt.entries()] == [".take-a.fresh.tmp"] and cache.entries() == []
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
