"""``kedro run --pipeline=sweep``: every method of ``sweep.methods`` × every seed of ``sweep.seeds`` in one run.

The data and feature nodes run once (a method that trains on the augmented views, TAKE, gets its own feature
node per copy, so that its views are drawn with the copy's seed as in a plain run); each (method, seed) is a
namespaced copy ``sweep.<method>_s<seed>``
of the method's own nodes and the shared evaluation, between two bookkeeping nodes: ``open_run`` creates
the copy's MLflow child run (under the run kedro-mlflow opened, the parent) and emits the copy's training
seed, ``close_run`` logs the copy's scores, losses and plots into it and ends it FINISHED. A last group
(``sweep.report``) builds the compare table of the children and logs it into the parent.

* Parameters: the copies read the same parameter groups as a plain run (``params:dec``, ``params:device``,
  ...), except ``params:seed``, which becomes the copy's ``<copy>.seed`` dataset.
* Catalog: a copy's datasets are ``sweep.<copy>.<method>.<name>``; ``conf/base/catalog_sweep.yml`` sends
  them to ``data/<layer>/<dataset>/sweep/<copy>/`` (versioned); the ones a plain run logs straight to the
  active MLflow run (metrics, histories, plots) are renamed ``..._to_log`` and stay in memory until
  ``close_run`` logs them into the child run.
* Structure: ``sweep.methods`` / ``sweep.seeds`` are read from ``conf/`` when the pipelines are registered
  (``pipeline_registry.py``); ``sweep.check`` stops a run whose ``--params`` ask for another sweep.
"""

from __future__ import annotations

from functools import partial, update_wrapper

from kedro.pipeline import Pipeline, node, pipeline

from .nodes import check_plan, child_runs, close_child_run, copy_name, open_child_run, report

# Outputs a plain run's catalog logs to the active MLflow run: in a sweep they go to the copy's child run.
LOGGED = ("metrics", "history", "init_metrics")
SHARED = {"features", "checkpoints", "sweep.plan", "raw_data", "feature_cache"}
# Methods that train on the stored augmented views: a plain run draws them with its `seed`, so each of their
# copies builds its own features with the copy's seed (otherwise every copy would see the top-level seed's views
# and a TAKE copy on seed 1 would not be `kedro run --pipeline=take --params=seed=1`; measured on digits:
# 0.786 against 0.859).
VIEW_TRAINED = {"take"}


def _named(func, **kwargs):
    """``partial(func, **kwargs)`` that keeps ``func``'s name (Kedro names nodes and viz shows them by it)."""
    return update_wrapper(partial(func, **kwargs), func)


def _logged(name: str, method: str) -> bool:
    short = name.removeprefix(f"{method}.")
    return name.startswith(f"{method}.") and (short in LOGGED or short.endswith("_plot"))


def _with_seed_input(pipe: Pipeline, param: str, dataset: str) -> Pipeline:
    """``pipe`` with every node's input ``param`` read from ``dataset`` instead. Kedro's ``pipeline()``
    maps a parameter only onto another parameter; the copy's seed is a node output."""
    # Node._copy is how Kedro's own pipeline() re-maps a node's inputs (kedro/pipeline/pipeline.py).
    return Pipeline([n._copy(inputs=[dataset if i == param else i for i in n._inputs])
                     if isinstance(n._inputs, list) and param in n._inputs else n for n in pipe.nodes])


def copy_pipeline(method: str, own: Pipeline, evaluation: Pipeline, seed: int,
                  features: Pipeline | None = None) -> Pipeline:
    """One (method, seed) copy: ``open_run`` → (its own ``features`` nodes, when given) → the method's nodes and
    evaluation → ``close_run``."""
    ns = f"sweep.{copy_name(method, seed)}"
    body = Pipeline([n for n in ((features or Pipeline([])) + own + evaluation).nodes
                     if not any(o.endswith(".mlflow_model") for o in n.outputs)])  # TAKE's pyfunc: plain runs only
    logged = sorted(o for o in body.all_outputs() if _logged(o, method))
    params = sorted(d for d in body.datasets() if d.startswith("params:"))
    bookkeeping = Pipeline([
        node(_named(open_child_run, method=method, seed=seed),
             inputs=["sweep.plan", f"params:{method}", "params:dataset", "params:data_seed", "params:device",
                     "params:n_clusters"],
             outputs=[f"{method}.run", f"{method}.seed"], name=f"{method}_open_run"),
        node(close_child_run,
             inputs={"run": f"{method}.run", "scores": f"{method}.scores",
                     "assignments_table": f"{method}.assignments_table",
                     **{o.removeprefix(f"{method}."): o for o in logged}},
             outputs=f"{method}.closed_run", name=f"{method}_close_run"),
    ])
    copy = pipeline(
        body + bookkeeping, namespace=ns,
        inputs=SHARED & (body + bookkeeping).inputs(),
        outputs={o: f"{ns}.{o}_to_log" for o in logged},
        parameters={p for p in params + [f"params:{method}", "params:dataset", "params:data_seed"] if p != "params:seed"},
    )
    return _with_seed_input(copy, f"params:{ns}.seed", f"{ns}.{method}.seed")


def create_sweep_pipeline(methods: dict[str, tuple[Pipeline, Pipeline]], seeds: list[int],
                          known: list[str], features: Pipeline | None = None) -> Pipeline:
    """The sweep over ``methods`` (``{name: (own nodes, evaluation)}``, in order) × ``seeds``; ``known``:
    every method of the project (what ``sweep.check`` accepts); ``features``: the feature nodes, once for the
    copies that share them (built only when a copy reads them) and copied into each copy of a ``VIEW_TRAINED``
    method."""
    names = list(methods)
    copies = [copy_pipeline(m, *methods[m], seed=s, features=features if m in VIEW_TRAINED else None)
              for m in names for s in seeds]
    shared = features if features is not None and set(names) - VIEW_TRAINED else Pipeline([])
    closed = [f"sweep.{copy_name(m, s)}.{m}.closed_run" for m in names for s in seeds]
    plan = pipeline([
        node(_named(check_plan, methods=names, seeds=list(seeds), known=known),
             inputs=["params:sweep", "parent_run"], outputs="sweep.plan", name="check"),
    ], namespace="sweep", inputs={"parent_run"}, outputs={"sweep.plan"}, parameters={"params:sweep"})
    reporting = pipeline([
        node(child_runs, inputs=["sweep.plan", *closed], outputs="sweep.runs", name="child_runs"),
        node(report, inputs=["sweep.plan", "sweep.runs", "params:compare", "params:dataset"],
             outputs=["sweep.table_csv", "sweep.table_md", "sweep.bars"], name="report"),
    ], namespace="sweep", inputs={"sweep.plan", *closed}, outputs={"sweep.runs", "sweep.table_csv",
                                                                      "sweep.table_md", "sweep.bars"},
        parameters={"params:compare", "params:dataset"})
    return plan + shared + sum(copies, Pipeline([])) + reporting


def config_error_pipeline(error: str) -> Pipeline:
    """The sweep when ``sweep.methods`` / ``sweep.seeds`` are wrong: one node that says what to fix, so the
    other pipelines still register and ``kedro run --pipeline=sweep`` fails before any work."""
    return Pipeline([node(_named(_raise, error=error), inputs=None, outputs="sweep.plan", name="sweep.check")])


def _raise(error: str):
    raise ValueError(error)


def create_pipeline(methods: dict[str, tuple[Pipeline, Pipeline]] | None = None, seeds: list[int] | None = None,
                    known: list[str] | None = None, features: Pipeline | None = None, **kwargs) -> Pipeline:
    """``find_pipelines`` calls this without arguments (an empty pipeline); the registry passes the
    methods' pipelines, the configured seeds and the feature nodes."""
    if not methods:
        return Pipeline([])
    return create_sweep_pipeline(methods, list(seeds or []), list(known or methods), features)
