"""Project pipelines, composed from one definition of each stage.

``find_pipelines`` collects every folder under ``pipelines/`` (each ``create_pipeline()`` holds that
folder's own nodes only). A folder whose pipeline writes ``<name>.assignments`` is a method: its
registered pipeline is ``data + features + <name> + evaluation(<name>)``, with the evaluation stage
defined once in ``pipelines/evaluation`` and namespaced by the method. Adding a method therefore needs no
change here. ``__default__`` is ``take``; TAKE's stages are registered too, so each can be run alone on
the versioned outputs of the stage before it.

``sweep`` is built here too, from the methods found: its copies depend on ``sweep.methods`` and
``sweep.seeds``, read from ``conf/`` (Kedro's dynamic-pipeline pattern: ``register_pipelines`` sees no
``--params``, so the sweep's first node checks that the run's parameters ask for the same sweep).
``tune`` is ``data + features + tune``.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

from kedro.framework.project import find_pipelines
from kedro.pipeline import Pipeline

from deep_kmeans.pipelines.data.pipeline import create_pipeline as create_data_pipeline
from deep_kmeans.pipelines.evaluation.pipeline import create_pipeline as create_evaluation_pipeline
from deep_kmeans.pipelines.features.pipeline import create_pipeline as create_features_pipeline
from deep_kmeans.pipelines import sweep
from deep_kmeans.pipelines.take import pipeline as take

# Folders under pipelines/ that are stages, not methods or reports.
STAGES = ("data", "features", "evaluation")
# Pipelines that run the data and feature stages, then their own nodes over several methods or trials.
OVER_FEATURES = ("tune",)


def is_method(name: str, pipe: Pipeline) -> bool:
    return f"{name}.assignments" in pipe.all_outputs()


def compose(name: str, own: Pipeline) -> Pipeline:
    """A method's full run: the shared data and feature stages, its own nodes, the shared evaluation."""
    return create_data_pipeline() + create_features_pipeline() + own + create_evaluation_pipeline(name)


def configured_sweep() -> dict | None:
    """``sweep`` from the project's parameters (``conf/base`` + the run environment, ``KEDRO_ENV`` or
    ``local``), as the config loader of a run would read it without ``--params``."""
    from kedro.framework.project import settings

    loader = settings.CONFIG_LOADER_CLASS(conf_source=str(Path.cwd() / settings.CONF_SOURCE),
                                          env=os.environ.get("KEDRO_ENV"), **settings.CONFIG_LOADER_ARGS)
    return loader["parameters"].get("sweep")


def method_pipelines() -> dict[str, Pipeline]:
    """Every method's own nodes, by folder name, whatever ``find_pipelines`` was asked for (Kedro 1.7 may
    import only the requested folders; the sweep needs them all)."""
    import importlib
    import pkgutil

    from deep_kmeans import pipelines as package

    owns = {}
    for info in pkgutil.iter_modules(package.__path__):
        if not info.ispkg or info.name in STAGES:
            continue
        create = getattr(importlib.import_module(f"{package.__name__}.{info.name}"), "create_pipeline", None)
        pipe = create() if create is not None else None
        if isinstance(pipe, Pipeline) and is_method(info.name, pipe):
            owns[info.name] = pipe
    return owns


def sweep_pipeline(owns: dict[str, Pipeline]) -> Pipeline:
    """The sweep over the configured methods and seeds (its first node names what to fix when they are wrong)."""
    try:
        methods, seeds = sweep.read_plan(configured_sweep(), list(owns))
    except Exception as err:  # a bad sweep.* must not keep the other pipelines from registering
        return sweep.config_error_pipeline(str(err))
    chosen = {m: (owns[m], create_evaluation_pipeline(m)) for m in methods}
    return create_data_pipeline() + sweep.create_pipeline(chosen, seeds, sorted(owns),
                                                          features=create_features_pipeline())


def register_pipelines() -> dict[str, Pipeline]:
    with warnings.catch_warnings():
        # Asked for a TAKE stage (`kedro run --pipeline=take_cluster`), Kedro 1.7 looks for a folder of
        # that name and warns that it could not import it; the stages are registered below.
        warnings.filterwarnings("ignore",
                                message=r".*'deep_kmeans\.pipelines\.take_(pretrain|cluster|evaluate|predict)' module")
        # evaluation/ is the nodes every method shares (composed per method below), not a pipeline of its own
        warnings.filterwarnings("ignore", message=r".*'deep_kmeans\.pipelines\.evaluation' module does not expose")
        found = find_pipelines()
    found.pop("__default__", None)
    for stage in STAGES:
        found.pop(stage, None)
    # Kedro 1.7 may ask find_pipelines for the requested pipelines only, so TAKE is built here whatever it returned.
    found["take"] = take.create_pipeline()
    found.pop("sweep", None)
    pipelines = {name: compose(name, pipe) if is_method(name, pipe) else pipe for name, pipe in found.items()}
    for name in OVER_FEATURES:
        if name in found:
            pipelines[name] = create_data_pipeline() + create_features_pipeline() + found[name]
    pipelines["sweep"] = sweep_pipeline(method_pipelines())
    evaluation = create_evaluation_pipeline("take")
    pipelines.update({
        "data": create_data_pipeline(),
        "features": create_data_pipeline() + create_features_pipeline(),
        "take_pretrain": take.create_pretrain_pipeline(),
        "take_cluster": take.create_cluster_pipeline() + take.create_predict_pipeline() + evaluation,
        "take_evaluate": take.create_predict_pipeline() + evaluation,
        "take_predict": take.create_new_data_pipeline(),
        "__default__": pipelines["take"],
    })
    return pipelines
