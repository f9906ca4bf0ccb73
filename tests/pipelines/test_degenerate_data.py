"""Constant, duplicated and one-distinct-row data: a clear error before training, or a clean result, never a
crash. Before 2026-12-04 such data killed `kedro run` with a segfault (exit 139, no message) in the t-SNE of the
embedding plot, for K-means and for TAKE, and the MLflow run stayed RUNNING."""

from __future__ import annotations

import subprocess

import numpy as np
import pandas as pd
import pytest

from deep_kmeans.data.validation import DegenerateDataError

from .test_custom_data import custom_params
from .test_run_honesty import KEDRO, cli_params, make_project, user_env

#: Every pipeline that draws an embedding plot (each method's, the sweep of them); take_cluster and
#: take_evaluate draw it from a stored model and are run on one below.
EMBEDDING_PIPELINES = ["take", "kmeans", "umap_gmm", "dec", "idec", "dcn", "dekm", "emaec", "ulhe_dc", "dckm", "sweep"]


def write(path, x) -> str:
    pd.DataFrame(x, columns=[f"f{j}" for j in range(x.shape[1])]).to_csv(path, index=False)
    return str(path)


def constant(path):
    return write(path, np.ones((200, 5)))


def one_row_repeated(path):
    return write(path, np.tile(np.random.default_rng(0).normal(size=5), (200, 1)))


def few_distinct(path, distinct=8):
    """``distinct`` far-apart points, each repeated: duplicates, but clusters to find."""
    rng = np.random.default_rng(1)
    return write(path, np.repeat(rng.normal(scale=5.0, size=(distinct, 6)), 200 // distinct, axis=0))


def test_constant_data_is_refused_before_training(scratch_project):
    path = constant(scratch_project.path / "constant.csv")
    with pytest.raises(DegenerateDataError, match="all 200 rows are identical"):
        scratch_project.run("kmeans", custom_params(path))
    assert scratch_project.runs().iloc[-1]["status"] == "FAILED"
    assert not (scratch_project.path / "data/04_feature/custom").exists()


def test_duplicated_data_that_still_clusters_is_clustered_and_drawn(scratch_project):
    path = few_distinct(scratch_project.path / "few.csv")
    scratch_project.run("kmeans", custom_params(path))
    assert scratch_project.runs().iloc[-1]["status"] == "FINISHED"
    assert scratch_project.latest("data/08_reporting/custom/kmeans/embedding.png").stat().st_size > 0
    with pytest.raises(DegenerateDataError, match=r"only 8 distinct rows among 200 .* n_clusters=10"):
        scratch_project.run("kmeans", custom_params(path, n_clusters=10))


def kedro_run(project, pipeline: str, params: dict) -> subprocess.CompletedProcess:
    return subprocess.run([KEDRO, "run", f"--pipeline={pipeline}", f"--params={cli_params(params)}"], cwd=project,
                          env=user_env(), capture_output=True, text=True, timeout=900)


@pytest.mark.slow
def test_every_pipeline_that_draws_an_embedding_exits_2_or_0_never_on_a_signal(project_root, tmp_path):
    """`kedro run` as a user runs it, in a child process: a negative return code would be the signal (139 from a
    shell) of the segfault. Constant data: every pipeline that draws an embedding says what is wrong (exit 2);
    one row repeated: the same; eight distinct rows repeated: K-means, TAKE and TAKE's stages on the stored model
    finish (exit 0) with their plots, and K=10 on them is refused (exit 2)."""
    project = make_project(tmp_path / "project", project_root)
    (project / "conf/local/parameters_sweep.yml").write_text("sweep:\n  methods: [kmeans]\n  seeds: [0]\n")
    outcomes = {}
    data = {"constant": constant(project / "constant.csv"), "repeated": one_row_repeated(project / "repeated.csv")}
    for name, path in data.items():
        for pipeline in EMBEDDING_PIPELINES if name == "constant" else ["kmeans", "take"]:
            out = kedro_run(project, pipeline, custom_params(path))
            outcomes[(name, pipeline)] = out.returncode
            assert out.returncode == 2, (name, pipeline, (out.stdout + out.stderr)[-3000:])
            assert "rows are identical (every column is constant): there is nothing to cluster" in out.stderr
            assert "Traceback" not in out.stdout + out.stderr
    few = few_distinct(project / "few.csv")
    for pipeline in ("kmeans", "take", "take_evaluate", "take_cluster"):
        out = kedro_run(project, pipeline, custom_params(few))
        outcomes[("few", pipeline)] = out.returncode
        assert out.returncode == 0, (pipeline, (out.stdout + out.stderr)[-3000:])
    plots = sorted((project / "data/08_reporting/custom/take/embedding.png").iterdir())
    assert len(plots) == 3  # take, take_evaluate, take_cluster: each drew the embedding
    out = kedro_run(project, "take", custom_params(few, n_clusters=10))
    assert out.returncode == 2 and "only 8 distinct rows among 200" in out.stderr, out.stderr[-3000:]
    assert all(code in (0, 2) for code in outcomes.values()), outcomes
