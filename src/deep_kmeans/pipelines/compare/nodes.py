"""One comparison report of the methods run on a data set, from the MLflow runs of the tracking store.

:func:`query_runs` is the only function that talks to MLflow: it reads the finished runs of one data
set from the tracking store MLflow is configured with (kedro-mlflow sets it before the nodes run).
Everything after it is plain pandas / matplotlib over that DataFrame, so
:func:`build_comparison_table` can be tested on a hand-made one.

Rules of the table:

* a run's method is its ``pipeline`` tag, with TAKE's ``take`` / ``take_cluster`` (and Kedro's
  ``__default__``, which is ``take``) counted as ``take``; runs of ``data``, ``features``,
  ``take_pretrain``, ``take_evaluate`` (it re-scores a model some ``take`` run trained), ``compare``
  and of several pipelines at once (``a+b``) are left out, and so are runs without ``metrics.acc``
  (on data without labels: without ``metrics.silhouette_input``, and the table shows the internal scores);
* one value per method and seed (tag ``seed``): when several runs share both, the latest counts;
* each metric is reported as the mean and the sample standard deviation (ddof=1) over the seeds;
  the deviation of a single run is undefined (empty in the CSV, not logged to MLflow).
"""

from __future__ import annotations

import logging
import math

import numpy as np
import pandas as pd

from deep_kmeans.evaluation.plots import new_figure
from deep_kmeans.methods.config import listed

logger = logging.getLogger(__name__)

# Pipeline tag → method. Stages of one method that each train and score a model share its name.
METHOD_ALIASES = {"take_cluster": "take", "__default__": "take"}
# Pipelines whose runs are not a method's result.
IGNORED_PIPELINES = {"data", "features", "take_pretrain", "take_evaluate", "compare", "sweep", "tune"}

LABELS = {"acc": "ACC", "nmi": "NMI", "nmi_max": "NMI_max", "ari": "ARI", "train_seconds": "train seconds",
          "silhouette_input": "silhouette (input)", "silhouette_z": "silhouette (z)",
          "calinski_harabasz_input": "Calinski-Harabasz (input)", "davies_bouldin_input": "Davies-Bouldin (input)"}
PLOT_METRICS = ("acc", "nmi", "ari")
# Data without labels (your own data): the runs carry internal scores instead of ACC/NMI/ARI.
LABEL_FREE_METRICS = ["silhouette_input", "silhouette_z", "calinski_harabasz_input", "davies_bouldin_input",
                      "train_seconds"]
LABEL_FREE_PLOT = ("silhouette_input", "silhouette_z")


def no_runs_message(dataset: str, experiment: str | None = None, detail: str = "") -> str:
    where = f" in MLflow experiment '{experiment}'" if experiment else ""
    return (f"no finished runs with metrics for data set '{dataset}'{where}{detail}: run "
            f"`kedro run --pipeline=<method> --params=dataset={dataset}` first (<method>: kmeans, dec, idec, "
            f"dcn, dekm, emaec, ulhe_dc, dckm, umap_gmm, take)")


def method_of(pipeline_tag) -> str | None:
    """The method a run's ``pipeline`` tag stands for, or None for runs that are not a method's result."""
    if not isinstance(pipeline_tag, str) or not pipeline_tag or "+" in pipeline_tag:
        return None
    if pipeline_tag in IGNORED_PIPELINES:
        return None
    return METHOD_ALIASES.get(pipeline_tag, pipeline_tag)


def query_runs(dataset: str, compare: dict) -> pd.DataFrame:
    """The FINISHED runs tagged ``dataset=<dataset>`` of experiment ``compare.experiment``, oldest first.

    The tracking store is MLflow's current one (``mlflow.get_tracking_uri()``), which kedro-mlflow has
    set from ``conf/<env>/mlflow.yml`` by the time this node runs.
    """
    import mlflow

    experiment = (compare or {}).get("experiment") or "deep_kmeans"
    if "'" in str(dataset):
        raise ValueError(f"invalid data set name {dataset!r}")
    uri = mlflow.get_tracking_uri()
    if mlflow.get_experiment_by_name(experiment) is None:
        raise ValueError(no_runs_message(dataset, experiment, f" (the tracking store {uri} has no such experiment)"))
    runs = mlflow.search_runs(
        experiment_names=[experiment],
        filter_string=f"tags.dataset = '{dataset}' and attributes.status = 'FINISHED'",
        order_by=["attributes.start_time ASC"],
        output_format="pandas",
    )
    logger.info("compare: %d finished runs on %s in experiment '%s' of %s", len(runs), dataset, experiment, uri)
    if runs.empty:
        raise ValueError(no_runs_message(dataset, experiment, f" (tracking store {uri})"))
    return runs


def build_comparison_table(runs: pd.DataFrame, metrics: list[str], methods: list[str] | None = None,
                           dataset: str = "?", seeds: list | None = None) -> pd.DataFrame:
    """Runs (``mlflow.search_runs``'s columns) → one row per method: ``n_runs``, ``seeds`` and
    ``<metric>_mean`` / ``<metric>_std`` for each of ``metrics``, best mean ACC first. ``seeds``: only the
    runs of these seeds (None: every seed), so that methods are compared over the same seeds.

    Needs the columns ``tags.pipeline``, ``tags.seed``, ``start_time`` and ``metrics.<m>``; a
    ``status`` column, when present, keeps the FINISHED runs only.
    """
    metrics = list(metrics or LABELS)
    df = runs.copy()
    if "status" in df.columns:
        df = df[df["status"] == "FINISHED"]
    acc = df["metrics.acc"] if "metrics.acc" in df.columns else pd.Series(np.nan, index=df.index)
    if not acc.notna().any() and "metrics.silhouette_input" in df.columns:
        # no ground truth on this data set: compare the label-free scores
        acc = df["metrics.silhouette_input"]
        metrics = [m for m in metrics if m not in ("acc", "nmi", "nmi_max", "ari")]
        metrics += [m for m in LABEL_FREE_METRICS if m not in metrics]
    df = df[acc.notna()]
    pipelines = df["tags.pipeline"] if "tags.pipeline" in df.columns else pd.Series(None, index=df.index, dtype=object)
    df = df.assign(method=pipelines.map(method_of))
    df = df[df["method"].notna()]
    if methods:
        missing = sorted(set(methods) - set(df["method"]))
        if missing:
            logger.warning("compare: no finished runs on %s for %s", dataset, ", ".join(missing))
        df = df[df["method"].isin(list(methods))]
    if df.empty:
        raise ValueError(no_runs_message(dataset))

    seeds_wanted = None if seeds is None else [str(x) for x in seeds]
    seeds = df["tags.seed"] if "tags.seed" in df.columns else pd.Series(None, index=df.index, dtype=object)
    df = df.assign(seed=seeds.fillna("none").astype(str))
    if seeds_wanted is not None:
        df = df[df["seed"].isin(seeds_wanted)]
        if df.empty:
            raise ValueError(no_runs_message(dataset, detail=f" for the seeds {' '.join(seeds_wanted)} "
                                             "(compare.seeds; null compares every seed)"))
    if "start_time" in df.columns:
        df = df.sort_values("start_time", kind="stable")
    df = df.drop_duplicates(subset=["method", "seed"], keep="last")  # the latest run per method and seed

    rows = []
    for method, group in df.groupby("method", sort=True):
        row = {"method": method, "n_runs": int(len(group)), "seeds": " ".join(sorted(group["seed"], key=_seed_key))}
        for m in metrics:
            col = f"metrics.{m}"
            values = pd.to_numeric(group[col], errors="coerce").dropna() if col in group.columns else pd.Series([], dtype=float)
            row[f"{m}_mean"] = float(values.mean()) if len(values) else math.nan
            row[f"{m}_std"] = float(values.std(ddof=1)) if len(values) > 1 else math.nan
        rows.append(row)
    table = pd.DataFrame(rows)
    key = "acc_mean" if "acc_mean" in table.columns else "silhouette_input_mean"
    if key in table.columns:
        table = table.sort_values([key, "method"], ascending=[False, True], kind="stable")
    return table.reset_index(drop=True)


def _seed_key(seed: str):
    return (0, int(seed), "") if seed.lstrip("-").isdigit() else (1, 0, seed)


def comparison_table(runs: pd.DataFrame, compare: dict, dataset: str) -> pd.DataFrame:
    """Node: :func:`build_comparison_table` with the ``compare`` parameters.

    ``compare.methods`` is a list, or a string of space-separated names (``kedro run`` splits its
    ``--params`` at commas: ``--params="compare.methods=kmeans take"``); ``compare.seeds`` the same
    (``--params="compare.seeds=0 1 2"``) or a single seed.
    """
    compare = compare or {}
    methods, seeds = listed(compare.get("methods")), listed(compare.get("seeds"))
    return build_comparison_table(runs, compare.get("metrics") or list(LABELS), methods, dataset, seeds)


def _fmt(value: float, digits: int) -> str:
    return "—" if value is None or not np.isfinite(value) else f"{value:.{digits}f}"


def table_markdown(table: pd.DataFrame, dataset: str, compare: dict) -> str:
    """The table as Markdown: ``mean ± std`` per cell (the mean alone for a single run)."""
    compare = compare or {}
    metrics = [c[: -len("_mean")] for c in table.columns if c.endswith("_mean")]
    head = ["method", "runs", "seeds"] + [LABELS.get(m, m) for m in metrics]
    lines = [
        f"# Methods compared on {dataset}",
        "",
        f"Finished MLflow runs of experiment `{compare.get('experiment') or 'deep_kmeans'}` tagged "
        f"`dataset={dataset}`; the latest run per method and seed; mean ± sample standard deviation over "
        "the seeds (no deviation for a single run). NMI: arithmetic-mean normalisation (scikit-learn's "
        "default); NMI_max: max-normalised (the TAKE paper's eq. 17).",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "|".join(["---"] * 3 + ["---:"] * len(metrics)) + "|",
    ]
    for _, row in table.iterrows():
        cells = [str(row["method"]), str(int(row["n_runs"])), str(row["seeds"])]
        for m in metrics:
            digits = 2 if m.endswith("seconds") else 4
            mean, std = row[f"{m}_mean"], row.get(f"{m}_std", math.nan)
            cell = _fmt(mean, digits)
            if np.isfinite(mean) and std is not None and np.isfinite(std):
                cell += f" ± {_fmt(std, digits)}"
            cells.append(cell)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def comparison_bars(table: pd.DataFrame, dataset: str):
    """Grouped bars: ACC, NMI, ARI per method (the silhouettes without labels), error bars = the standard
    deviation over seeds."""
    metrics = [m for m in PLOT_METRICS if f"{m}_mean" in table.columns]
    if not metrics:
        metrics = [m for m in LABEL_FREE_PLOT if f"{m}_mean" in table.columns]
    methods = list(table["method"])
    n = max(1, len(metrics))
    width = 0.8 / n
    x = np.arange(len(methods))
    fig, ax = new_figure(figsize=(max(5.0, 1.1 * len(methods) + 2), 4))
    for i, m in enumerate(metrics):
        means = table[f"{m}_mean"].to_numpy(dtype=float)
        stds = np.nan_to_num(table[f"{m}_std"].to_numpy(dtype=float)) if f"{m}_std" in table.columns else None
        ax.bar(x + (i - (n - 1) / 2) * width, np.nan_to_num(means), width, yerr=stds, capsize=3,
               label=LABELS.get(m, m))
    ax.set_xticks(x, [f"{name}\n(n={k})" for name, k in zip(methods, table["n_runs"])], fontsize=8)
    low = min([0.0] + [float(np.nanmin(table[f"{m}_mean"] - table[f"{m}_std"].fillna(0)))
                       for m in metrics if f"{m}_std" in table.columns and table[f"{m}_mean"].notna().any()])
    ax.set_ylim(min(0.0, low - 0.05), 1.05)  # ARI can be negative
    ax.axhline(0.0, color="black", linewidth=0.6)
    ax.set_ylabel("score: mean over seeds")
    ax.set_title(f"Methods compared on {dataset} (error bars: std over seeds)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def comparison_metrics(table: pd.DataFrame) -> dict:
    """``{method}.{metric}_mean`` / ``_std`` (finite ones only) and ``{method}.n_runs``, as
    kedro-mlflow metric records at step 0."""
    out = {}
    for _, row in table.iterrows():
        method = row["method"]
        out[f"{method}.n_runs"] = {"value": float(row["n_runs"]), "step": 0}
        for col, value in row.items():
            if (col.endswith("_mean") or col.endswith("_std")) and value is not None and np.isfinite(value):
                out[f"{method}.{col}"] = {"value": float(value), "step": 0}
    return out
