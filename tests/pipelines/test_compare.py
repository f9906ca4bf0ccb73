"""`kedro run --pipeline=compare`: the table builder on hand-made runs, then end to end on real MLflow runs."""

from __future__ import annotations

import math

import mlflow
import numpy as np
import pandas as pd
import pytest

from deep_kmeans.pipelines.compare.nodes import (
    build_comparison_table, comparison_bars, comparison_metrics, comparison_table, method_of, table_markdown,
)

from .conftest import tiny_params

METRICS = ["acc", "nmi", "nmi_max", "ari", "train_seconds"]


def fake_runs(rows) -> pd.DataFrame:
    """``mlflow.search_runs``-shaped runs from (pipeline, seed, acc, minute, status) tuples."""
    records = []
    for i, (pipeline, seed, acc, minute, status) in enumerate(rows):
        records.append({
            "run_id": f"r{i}", "status": status,
            "start_time": pd.Timestamp("2025-01-01", tz="UTC") + pd.Timedelta(minutes=minute),
            "tags.pipeline": pipeline, "tags.seed": None if seed is None else str(seed), "tags.dataset": "digits",
            "metrics.acc": acc, "metrics.nmi": None if acc is None else acc / 2,
            "metrics.nmi_max": None if acc is None else acc / 4, "metrics.ari": None if acc is None else acc - 0.5,
            "metrics.train_seconds": None if acc is None else 10 * acc,
        })
    return pd.DataFrame(records)


RUNS = fake_runs([
    ("kmeans", 0, 0.6, 1, "FINISHED"),
    ("kmeans", 1, 0.8, 2, "FINISHED"),
    ("dec", 0, 0.9, 5, "FINISHED"),   # later than the next one on the same seed...
    ("dec", 0, 0.5, 3, "FINISHED"),   # ...so this one is dropped
    ("dec", 1, 0.1, 9, "FAILED"),     # not finished
    ("take", 0, 0.7, 4, "FINISHED"),
    ("take_cluster", 1, 0.9, 6, "FINISHED"),  # a re-clustering counts as take
    ("take_pretrain", 0, None, 4, "FINISHED"),
    ("data", 0, None, 0, "FINISHED"),
    ("features", 0, None, 0, "FINISHED"),
    ("compare", 0, 0.99, 10, "FINISHED"),    # ignored even with an acc metric
    ("kmeans+dec", 3, 0.2, 11, "FINISHED"),  # several pipelines in one run: which acc?
    ("idec", 0, None, 7, "FINISHED"),        # no metrics.acc: failed before evaluation
])


def test_method_mapping():
    assert method_of("take") == method_of("take_cluster") == method_of("__default__") == "take"
    assert method_of("dec") == "dec"
    for ignored in ("data", "features", "take_pretrain", "take_evaluate", "compare", "kmeans+dec", None, ""):
        assert method_of(ignored) is None, ignored


def test_table_mean_std_latest_run_per_seed_and_mapping():
    table = build_comparison_table(RUNS, METRICS, dataset="digits").set_index("method")
    assert set(table.index) == {"kmeans", "dec", "take"}
    kmeans, dec, take = table.loc["kmeans"], table.loc["dec"], table.loc["take"]
    # kmeans: 0.6 and 0.8 → mean 0.7, sample std sqrt((0.1² + 0.1²) / 1)
    assert kmeans["n_runs"] == 2 and kmeans["seeds"] == "0 1"
    assert kmeans["acc_mean"] == pytest.approx(0.7)
    assert kmeans["acc_std"] == pytest.approx(math.sqrt(0.02))
    assert kmeans["nmi_mean"] == pytest.approx(0.35) and kmeans["ari_mean"] == pytest.approx(0.2)
    assert kmeans["train_seconds_mean"] == pytest.approx(7.0)
    assert kmeans["train_seconds_std"] == pytest.approx(10 * math.sqrt(0.02))
    # dec: the latest of the two seed-0 runs (0.9, not 0.5); the FAILED seed-1 run is out
    assert dec["n_runs"] == 1 and str(dec["seeds"]) == "0"
    assert dec["acc_mean"] == pytest.approx(0.9) and math.isnan(dec["acc_std"])
    # take + take_cluster on seeds 0 and 1
    assert take["n_runs"] == 2 and take["acc_mean"] == pytest.approx(0.8)
    assert take["acc_std"] == pytest.approx(math.sqrt(0.02))


def test_table_is_sorted_by_acc_and_filters_methods():
    table = build_comparison_table(RUNS, METRICS, dataset="digits")
    assert list(table["method"]) == ["dec", "take", "kmeans"]  # 0.9, 0.8, 0.7
    assert list(table.columns[:3]) == ["method", "n_runs", "seeds"]
    only = build_comparison_table(RUNS, ["acc"], methods=["kmeans", "dcn"], dataset="digits")
    assert list(only["method"]) == ["kmeans"]
    assert list(only.columns) == ["method", "n_runs", "seeds", "acc_mean", "acc_std"]
    # on the command line: --params="compare.methods=kmeans take" (kedro splits --params at commas)
    both = comparison_table(RUNS, {"methods": "kmeans take", "metrics": ["acc"]}, "digits")
    assert list(both["method"]) == ["take", "kmeans"]


def test_seeds_compare_every_method_over_the_same_seeds():
    # take has seeds 0 (0.7) and 1 (0.9, its take_cluster run); kmeans 0 (0.6) and 1 (0.8)
    one = build_comparison_table(RUNS, ["acc"], dataset="digits", seeds=[0]).set_index("method")
    assert one.loc["take", "acc_mean"] == pytest.approx(0.7) and one.loc["kmeans", "acc_mean"] == pytest.approx(0.6)
    assert set(one["seeds"]) == {"0"} and one.loc["dec", "acc_mean"] == pytest.approx(0.9)
    # on the command line: --params="compare.seeds=0 1", or a single seed
    both = comparison_table(RUNS, {"seeds": "0 1", "metrics": ["acc"]}, "digits").set_index("method")
    assert both.loc["take", "acc_mean"] == pytest.approx(0.8) and both.loc["take", "seeds"] == "0 1"
    single = comparison_table(RUNS, {"seeds": 1, "metrics": ["acc"]}, "digits")
    assert list(single["method"]) == ["take", "kmeans"]  # dec's seed 1 failed
    with pytest.raises(ValueError, match=r"for the seeds 7 \(compare.seeds; null compares every seed\)"):
        build_comparison_table(RUNS, ["acc"], dataset="digits", seeds=[7])


def test_no_usable_runs_says_what_to_run():
    ignored = RUNS[RUNS["tags.pipeline"].isin(["data", "compare", "idec"])]
    for runs in (ignored, pd.DataFrame(), RUNS):
        with pytest.raises(ValueError, match=r"run `kedro run --pipeline=<method> --params=dataset=digits` first"):
            build_comparison_table(runs, METRICS, methods=["dcn"] if runs is RUNS else None, dataset="digits")


def test_markdown_metrics_and_plot():
    table = build_comparison_table(RUNS, METRICS, dataset="digits")
    md = table_markdown(table, "digits", {"experiment": "deep_kmeans"})
    assert "| method | runs | seeds | ACC | NMI | NMI_max | ARI | train seconds |" in md
    assert f"| kmeans | 2 | 0 1 | 0.7000 ± {math.sqrt(0.02):.4f} |" in md
    assert "| dec | 1 | 0 | 0.9000 | 0.4500 |" in md  # a single run: no deviation
    metrics = comparison_metrics(table)
    assert metrics["kmeans.acc_mean"] == {"value": pytest.approx(0.7), "step": 0}
    assert metrics["kmeans.n_runs"]["value"] == 2 and "kmeans.acc_std" in metrics
    assert "dec.acc_mean" in metrics and "dec.acc_std" not in metrics  # undefined for one run
    fig = comparison_bars(table, "digits")
    assert len(fig.axes[0].patches) == 3 * len(table)  # ACC, NMI, ARI per method


# ---- end to end -------------------------------------------------------------------------------

TINY_DEC = {"hidden": [64, 64, 128], "batch_size": 64, "pretrain_epochs": 10, "update_interval": 5, "max_iter": 20,
            "kmeans_n_init": 3}




@pytest.mark.slow  # 24 s: three runs, then the compare table
def test_compare_end_to_end(scratch_project, one_thread, capsys):
    scratch_project.run("kmeans", tiny_params(seed=0, kmeans={"n_init": 3}))
    scratch_project.run("kmeans", tiny_params(seed=1, kmeans={"n_init": 3}))
    scratch_project.run("dec", tiny_params(seed=0, dec={"overrides": {"digits": TINY_DEC}}))
    capsys.readouterr()
    scratch_project.run("compare", tiny_params())
    printed = capsys.readouterr().out

    runs = scratch_project.runs()
    assert list(runs["tags.pipeline"]) == ["kmeans", "kmeans", "dec", "compare"]
    assert set(runs["status"]) == {"FINISHED"}
    trained, compare = runs.iloc[:3], runs.iloc[3]
    assert compare["tags.dataset"] == "digits"

    csv = scratch_project.path / "data/08_reporting/digits/compare/table.csv"
    versions = scratch_project.versions("data/08_reporting/digits/compare/table.csv")
    assert len(versions) == 1
    table = pd.read_csv(csv / versions[0] / "table.csv").set_index("method")
    assert set(table.index) == {"kmeans", "dec"}
    assert table.loc["kmeans", "n_runs"] == 2 and table.loc["dec", "n_runs"] == 1
    for method in ("kmeans", "dec"):
        mine = trained[trained["tags.pipeline"] == method]
        for metric in METRICS:
            expected = mine[f"metrics.{metric}"].mean()
            assert table.loc[method, f"{metric}_mean"] == pytest.approx(expected), (method, metric)
            assert compare[f"metrics.{method}.{metric}_mean"] == pytest.approx(expected), (method, metric)
    k = trained[trained["tags.pipeline"] == "kmeans"]["metrics.acc"]
    assert table.loc["kmeans", "acc_std"] == pytest.approx(k.std(ddof=1))
    assert compare["metrics.kmeans.acc_std"] == pytest.approx(k.std(ddof=1))
    assert np.isnan(table.loc["dec", "acc_std"])

    client = mlflow.MlflowClient()
    artifacts = {a.path for folder in ("reports", None) for a in client.list_artifacts(compare.run_id, folder)}
    assert {"reports/table.csv", "reports/table.md", "bars.png"} <= artifacts
    md = (scratch_project.path / "data/08_reporting/digits/compare/table.md"
          / scratch_project.versions("data/08_reporting/digits/compare/table.md")[0] / "table.md").read_text()
    assert "| kmeans | 2 | 0 1 |" in md and "| dec | 1 | 0 |" in md
    # the summary says where the table and the plot are, and shows the table
    version = scratch_project.versions("data/08_reporting/digits/compare/table.md")[0]
    assert f"data/08_reporting/digits/compare/table.md/{version}/table.md" in printed
    assert f"data/08_reporting/digits/compare/bars.png/{version}/bars.png" in printed
    assert "| kmeans | 2 | 0 1 |" in printed


def test_compare_without_runs_fails_with_a_hint(scratch_project):
    with pytest.raises(Exception, match=r"run `kedro run --pipeline=<method> --params=dataset=mnist` first"):
        scratch_project.run("compare", tiny_params(dataset="mnist"))
    runs = scratch_project.runs()
    assert list(runs["status"]) == ["FAILED"] and list(runs["tags.pipeline"]) == ["compare"]
