"""Hooks: tags that make MLflow runs easy to filter and compare."""

from __future__ import annotations

import logging
import subprocess
from pathlib import Path
from typing import Any

from kedro.framework.hooks import hook_impl

logger = logging.getLogger(__name__)


def git_commit(path: str | Path) -> str:
    """The commit of the project checkout (with ``-dirty`` when it has changes), or ``unknown``."""
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=path, capture_output=True, text=True,
                             timeout=5, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=path,
                               capture_output=True, text=True, timeout=5).stdout.strip()
        return sha + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


class RunTagsHook:
    """Tags every MLflow run with data set, pipeline, device, seed, data_seed and git commit.

    kedro-mlflow starts the run in its own ``before_pipeline_run``; plugins registered through entry
    points are called before project hooks, so the run is active when ours runs. We tag on the first
    node too, in case the order ever changes.
    """

    def __init__(self):
        self._tags: dict[str, str] = {}
        self._tagged = False

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], catalog) -> None:
        from deep_kmeans.runtime import resolve_device

        def param(name, default=None):
            try:
                return catalog.load(f"params:{name}")
            except Exception:  # a project without that parameter
                return default

        try:
            device = str(resolve_device(param("device", "auto")))
        except ValueError as err:  # reported properly by the node that uses the device
            device = f"invalid ({err})"
        names = run_params.get("pipeline_names") or [run_params.get("pipeline_name") or "__default__"]
        self._tags = {
            "dataset": str(param("dataset")),
            "device": device,
            "seed": str(param("seed")),
            "data_seed": str(param("data_seed")),
            "pipeline": "+".join(names),
            "git_commit": git_commit(run_params.get("project_path") or "."),
        }
        self._tagged = False
        self._set_tags()

    @hook_impl
    def before_node_run(self) -> None:
        if not self._tagged:
            self._set_tags()

    def _set_tags(self) -> None:
        import mlflow

        if self._tags and mlflow.active_run() is not None:
            mlflow.set_tags(self._tags)
            self._tagged = True
