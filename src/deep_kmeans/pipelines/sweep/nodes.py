"""The sweep's bookkeeping nodes: check the plan, open and close one MLflow child run per copy, report.

Every MLflow call here goes through an ``MlflowClient`` with explicit run ids and the tracking URI of the
parent run (``parent_run``, which the project's hook fills in before the first node), never through
MLflow's stack of active runs: that stack lives in one process, and under ``ParallelRunner`` or a Dask
cluster the nodes run in others.
"""

from __future__ import annotations

import logging
import os
import socket
from typing import Any

import pandas as pd

from deep_kmeans.methods.config import listed, params_for
from deep_kmeans.pipelines.compare.nodes import comparison_bars, comparison_metrics, comparison_table, table_markdown

logger = logging.getLogger(__name__)

PARENT_TAG = "mlflow.parentRunId"


def copy_name(method: str, seed: int) -> str:
    """The namespace of one (method, seed) copy under ``sweep``: ``dec_s0``."""
    return f"{method}_s{seed}"


def read_plan(sweep: dict | None, known: list[str]) -> tuple[list[str], list[int]]:
    """``sweep.methods`` and ``sweep.seeds`` checked: known methods, no repeats, integer seeds."""
    sweep = sweep or {}
    methods, seeds = listed(sweep.get("methods")), listed(sweep.get("seeds"))  # "sweep.methods=kmeans dec"
    where = "conf/<env>/parameters_sweep.yml"
    if not methods:
        raise ValueError(f"sweep.methods is empty: list the methods to run in {where}, e.g. [kmeans, dec]")
    if not seeds:
        raise ValueError(f"sweep.seeds is empty: list the training seeds in {where}, e.g. [0, 1]")
    unknown = [m for m in methods if m not in known]
    if unknown:
        raise ValueError(f"sweep.methods: unknown method(s) {', '.join(map(repr, unknown))}; the methods are "
                         f"{', '.join(sorted(known))} ({where})")
    try:
        seeds = [int(str(s)) for s in seeds]  # through str: 1.5 is no seed, not seed 1
    except (TypeError, ValueError):
        raise ValueError(f"sweep.seeds must be integers, got {seeds!r} ({where})") from None
    for name, values in (("methods", methods), ("seeds", seeds)):
        if len(set(values)) != len(values):
            raise ValueError(f"sweep.{name} repeats an entry: {values!r} ({where})")
    return list(methods), seeds


def plan_mismatch(sweep: dict | None, methods: list[str], seeds: list[int], known: list[str]) -> str | None:
    """Why the run's ``sweep`` parameters are not the plan the pipeline was built from (None when they are):
    the copies are built when the pipelines are registered, from ``conf/`` (Kedro does not hand the command
    line's ``--params`` to ``register_pipelines``), so a different ``sweep.methods`` / ``sweep.seeds`` given with
    ``--params`` would silently run the configured sweep. The parameter check asks it before the run opens
    (:func:`deep_kmeans.schema.pipeline_problems`); :func:`check_plan` again, first node of the sweep."""
    try:
        given = read_plan(sweep, known)
    except ValueError as err:
        return str(err)
    if given == (methods, seeds):
        return None
    return (f"sweep.methods/seeds {given[0]} × {given[1]} differ from the ones this pipeline was built from "
            f"({methods} × {seeds}): they shape the pipeline and are read from conf/ when the pipelines are "
            f"registered, so --params cannot change them. Edit conf/local/parameters_sweep.yml, or keep a "
            f"configuration environment per sweep (conf/<env>/parameters_sweep.yml, `kedro run --env=<env>`).")


def check_plan(sweep: dict, parent: dict | None, methods: list[str], seeds: list[int], known: list[str]) -> dict:
    """First node: the parameters the run got must be the ones the pipeline was built from
    (:func:`plan_mismatch`), and MLflow on."""
    from deep_kmeans.errors import ParameterError

    problem = plan_mismatch(sweep, methods, seeds, known)
    if problem:
        raise ParameterError(problem)
    if not parent:
        raise ValueError("the sweep records each copy as an MLflow child run of the run's parent run, and MLflow "
                         "tracking is off for this run: enable it in conf/<env>/mlflow.yml "
                         "(tracking.disable_tracking.pipelines)")
    return parent


def _client(parent: dict):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=parent["tracking_uri"])


def flat_params(prefix: str, value: Any, out: dict[str, str]) -> dict[str, str]:
    """``{"a": {"b": 1}}`` → ``{"<prefix>.a.b": "1"}``, values cut to MLflow's 6000 characters."""
    if isinstance(value, dict):
        for key, inner in value.items():
            flat_params(f"{prefix}.{key}" if prefix else str(key), inner, out)
    else:
        out[prefix] = str(value)[:6000]
    return out


def open_child_run(parent: dict, params: dict, dataset: str, data_seed: int, device: str, n_clusters,
                   method: str, seed: int, pipeline: str = "sweep") -> tuple[dict, int]:
    """Create the copy's MLflow child run (RUNNING) with the tags the compare pipeline reads; return it
    and the copy's training seed (which is what makes the copy's training wait for its run)."""
    from mlflow.entities import Param, RunTag

    client = _client(parent)
    tags = {PARENT_TAG: parent["run_id"], "dataset": str(dataset), "pipeline": method, "method": method,
            "seed": str(seed), "data_seed": str(data_seed), "device": str(device), "host": socket.gethostname(),
            f"{pipeline}.copy": copy_name(method, seed), "git_commit": parent.get("git_commit", "unknown")}
    run = client.create_run(parent["experiment_id"], run_name=f"{method} · {dataset} · seed {seed}", tags=tags)
    used = flat_params(method, params_for(params, str(dataset)), {})
    used.update({"seed": str(seed), "dataset": str(dataset), "data_seed": str(data_seed), "device": str(device),
                 "n_clusters": str(n_clusters)})
    client.log_batch(run.info.run_id, params=[Param(k, v) for k, v in used.items()],
                     tags=[RunTag("pid", str(os.getpid()))])
    return {"run_id": run.info.run_id, "tracking_uri": parent["tracking_uri"]}, seed


def log_metric_records(client, run_id: str, records: dict) -> None:
    """kedro-mlflow metric records (``{name: {"value", "step"}}`` or lists of them) into ``run_id``."""
    import time

    from mlflow.entities import Metric

    now = int(time.time() * 1000)
    metrics = []
    for name, points in records.items():
        for point in points if isinstance(points, list) else [points]:
            metrics.append(Metric(name, float(point["value"]), now, int(point.get("step", 0))))
    for i in range(0, len(metrics), 1000):  # MLflow takes at most 1000 metrics a batch
        client.log_batch(run_id, metrics=metrics[i:i + 1000])


def close_child_run(run: dict, scores: dict, assignments_table: pd.DataFrame, **logged) -> str:
    """Log the copy's scores, per-epoch losses, assignments table and plots into its child run; end it
    FINISHED. ``logged``: metric records (``metrics``, ``history``, ``init_metrics``) and figures (``*_plot``)."""
    client = _client(run)
    run_id = run["run_id"]
    for name, value in logged.items():
        if name.endswith("_plot"):
            client.log_figure(run_id, value, f"{name[:-len('_plot')]}.png")  # at the root, as a plain run's
        else:
            log_metric_records(client, run_id, value)
    client.log_dict(run_id, scores, "reports/scores.json")
    client.log_text(run_id, assignments_table.to_csv(index=False), "outputs/assignments.csv")
    client.set_terminated(run_id, "FINISHED")
    return run_id


def child_runs(parent: dict, *closed: str) -> pd.DataFrame:
    """The parent's child runs, in ``mlflow.search_runs``'s columns (``tags.*``, ``metrics.*``, ``status``,
    ``start_time``), oldest first. ``closed`` (the copies' run ids) only orders this node after them."""
    client = _client(parent)
    runs = client.search_runs([parent["experiment_id"]], max_results=10000, order_by=["attributes.start_time ASC"],
                              filter_string=f"tags.`{PARENT_TAG}` = '{parent['run_id']}'")
    rows = [{"run_id": r.info.run_id, "status": r.info.status,
             "start_time": pd.Timestamp(r.info.start_time, unit="ms", tz="UTC"),
             **{f"tags.{k}": v for k, v in r.data.tags.items()},
             **{f"metrics.{k}": v for k, v in r.data.metrics.items()}} for r in runs]
    missing = set(closed) - {row["run_id"] for row in rows}
    if missing:
        raise RuntimeError(f"child runs {sorted(missing)} are not in the tracking store {parent['tracking_uri']}")
    return pd.DataFrame(rows)


def report(parent: dict, runs: pd.DataFrame, compare: dict, dataset: str):
    """The compare table of the sweep's children, logged into the parent run; returned for the files
    ``sweep.table_csv``, ``sweep.table_md`` and ``sweep.bars``."""
    compare = {**(compare or {}), "methods": None}  # every method of the sweep
    table = comparison_table(runs, compare, dataset)
    markdown = table_markdown(table, dataset, compare)
    figure = comparison_bars(table, dataset)
    client = _client(parent)
    client.log_text(parent["run_id"], table.to_csv(index=False), "reports/sweep_table.csv")
    client.log_text(parent["run_id"], markdown, "reports/sweep_table.md")
    client.log_figure(parent["run_id"], figure, "sweep_bars.png")
    log_metric_records(client, parent["run_id"], comparison_metrics(table))
    logger.info("sweep on %s: %d child runs\n%s", dataset, len(runs), markdown)
    return table, markdown, figure


def mark_unfinished_children(client, parent_run_id: str, experiment_id: str, error: str) -> list[str]:
    """End as FAILED every child of ``parent_run_id`` still RUNNING (the run stopped on an error)."""
    runs = client.search_runs([experiment_id], max_results=10000,
                              filter_string=f"tags.`{PARENT_TAG}` = '{parent_run_id}' and attributes.status = 'RUNNING'")
    for run in runs:
        client.set_tag(run.info.run_id, "error", error[:5000])
        client.set_terminated(run.info.run_id, "FAILED")
    return [r.info.run_id for r in runs]
