"""The commands the README gives, run as a user would (subprocesses in a scratch project)."""

import json
import os
import subprocess
import sys
from pathlib import Path

KEDRO = str(Path(sys.executable).parent / "kedro")
ENV = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "true", "HF_HUB_OFFLINE": "1"}


def test_kedro_run_cli_and_unknown_dataset_message(scratch_project):
    ok = subprocess.run([KEDRO, "run", "--pipeline=data", "--params=data.options.digits.n_samples=100"],
                        cwd=scratch_project.path, env=ENV, capture_output=True, text=True, timeout=300)
    assert ok.returncode == 0, ok.stderr[-2000:]
    assert scratch_project.latest("data/02_intermediate/digits/raw_data.pkl").exists()
    bad = subprocess.run([KEDRO, "run", "--pipeline=data", "--params=dataset=imagenet"],
                         cwd=scratch_project.path, env=ENV, capture_output=True, text=True, timeout=300)
    assert bad.returncode != 0
    assert "known data sets: 2mnist, agnews, cifar10, custom, digits" in " ".join((bad.stdout + bad.stderr).split())


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
