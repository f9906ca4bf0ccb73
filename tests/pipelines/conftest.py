"""Run Kedro pipelines in-process on a scratch copy of the project (its own data/ and mlflow.db)."""

from __future__ import annotations

from pathlib import Path

import mlflow
import pytest
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

# A TAKE small enough for seconds on 2 cores; merged into take.overrides.digits.
TINY_TAKE = {"embed_dim": 16, "depth": 1, "heads": 2, "decoder_depth": 1, "decoder_heads": 2, "mlp_ratio": 2.0,
             "head_hidden": 16, "head_out": 8, "warmup_epochs": 8, "update_epochs": 2, "cluster_epochs": 2,
             "batch_size": 64,
             # the digits preset starts KNet from UMAP + GMM on z; K-means' start keeps the many tiny runs fast
             # (test_take_end_to_end_logs_everything_to_mlflow runs the preset's start)
             "knet_init": "kmeans"}


@pytest.fixture(autouse=True)
def quick_estimate(monkeypatch):
    """TAKE's estimate times the fewest steps of each phase: the runs here are seconds long, and what it measures is
    tested in test_long_run_warning.py."""
    monkeypatch.setattr("deep_kmeans.methods.take.estimate.STEADY_SECONDS", 0.0)


def tiny_params(**extra) -> dict:
    params = {
        "dataset": "digits",
        "progress": False,
        "device": "cpu",
        "data": {"options": {"digits": {"n_samples": 300}}},
        "take": {"overrides": {"digits": TINY_TAKE}},
    }
    for key, value in extra.items():
        params[key] = value
    return params


class ScratchProject:
    def __init__(self, path: Path):
        self.path = path

    def run(self, pipeline: str = "take", params: dict | None = None, env: str | None = None, runner=None,
            load_versions: dict | None = None):
        bootstrap_project(self.path)
        try:
            with KedroSession.create(project_path=self.path, env=env,
                                     runtime_params=params or tiny_params()) as session:
                return session.run(pipeline_names=[pipeline], runner=runner, load_versions=load_versions)
        finally:
            # kedro-mlflow finishes the run in the store, but MLflow's in-process stack of active
            # runs can keep it; a second session in the same process must not log into it.
            while mlflow.active_run() is not None:
                mlflow.end_run()

    def runs(self):
        mlflow.set_tracking_uri(f"sqlite:///{self.path / 'mlflow.db'}")
        return mlflow.search_runs(experiment_names=["deep_kmeans"], order_by=["start_time ASC"])

    def versions(self, relative: str) -> list[str]:
        folder = self.path / relative
        return sorted(p.name for p in folder.iterdir()) if folder.exists() else []

    def latest(self, relative: str) -> Path:
        """The newest version of a versioned dataset's file (``data/.../x.pt/<version>/x.pt``)."""
        versions = self.versions(relative)
        assert versions, f"no version of {relative}"
        return self.path / relative / versions[-1] / Path(relative).name

    def load(self, relative: str, version: str | None = None):
        """What a versioned ``.pt`` dataset holds (its newest version, or ``version``), read the safe way."""
        from deep_kmeans.io import SafeTorchDataset

        path = self.latest(relative) if version is None else self.path / relative / version / Path(relative).name
        return SafeTorchDataset(filepath=str(path)).load()


@pytest.fixture
def scratch_project(blank_project, monkeypatch) -> ScratchProject:
    dest = blank_project
    # An absolute sqlite URI: MLflow caches its store per URI string, so a relative one would keep
    # pointing at the first test's database.
    (dest / "conf" / "local" / "mlflow.yml").write_text(
        "server:\n"
        f"  mlflow_tracking_uri: sqlite:///{dest / 'mlflow.db'}\n"
        "  mlflow_registry_uri: null\n"
        "  credentials: null\n"
        "  request_header_provider: {type: null, pass_context: false, init_kwargs: {}}\n"
    )
    for layer in ("01_raw", "02_intermediate", "04_feature", "05_model_input", "06_models", "07_model_output",
                  "08_reporting"):
        (dest / "data" / layer).mkdir(parents=True)
    monkeypatch.chdir(dest)  # relative sqlite URI and mlruns/ land in the scratch copy
    yield ScratchProject(dest)
    mlflow.set_tracking_uri(None)
