"""Project pipelines, composed from one definition of each stage.

``find_pipelines`` collects every folder under ``pipelines/`` (each ``create_pipeline()`` holds that
folder's own nodes only). A folder whose pipeline writes ``<name>.assignments`` is a method: its
registered pipeline is ``data + features + <name> + evaluation(<name>)``, with the evaluation stage
defined once in ``pipelines/evaluation`` and namespaced by the method. Adding a method therefore needs no
change here. ``__default__`` is ``take``; TAKE's stages are registered too, so each can be run alone on
the versioned outputs of the stage before it.
"""

from __future__ import annotations

import warnings

from kedro.framework.project import find_pipelines
from kedro.pipeline import Pipeline

from deep_kmeans.pipelines.data.pipeline import create_pipeline as create_data_pipeline
from deep_kmeans.pipelines.evaluation.pipeline import create_pipeline as create_evaluation_pipeline
from deep_kmeans.pipelines.features.pipeline import create_pipeline as create_features_pipeline
from deep_kmeans.pipelines.take import pipeline as take

# Folders under pipelines/ that are stages, not methods or reports.
STAGES = ("data", "features", "evaluation")


def is_method(name: str, pipe: Pipeline) -> bool:
    return f"{name}.assignments" in pipe.all_outputs()


def compose(name: str, own: Pipeline) -> Pipeline:
    """A method's full run: the shared data and feature stages, its own nodes, the shared evaluation."""
    return create_data_pipeline() + create_features_pipeline() + own + create_evaluation_pipeline(name)


def register_pipelines() -> dict[str, Pipeline]:
    with warnings.catch_warnings():
        # Asked for a TAKE stage (`kedro run --pipeline=take_cluster`), Kedro 1.7 looks for a folder of
        # that name and warns that it could not import it; the stages are registered below.
        warnings.filterwarnings("ignore",
                                message=r".*'deep_kmeans\.pipelines\.take_(pretrain|cluster|evaluate|predict)' module")
        found = find_pipelines()
    found.pop("__default__", None)
    for stage in STAGES:
        found.pop(stage, None)
    # Kedro 1.7 may ask find_pipelines for the requested pipelines only, so TAKE is built here whatever it returned.
    found["take"] = take.create_pipeline()
    pipelines = {name: compose(name, pipe) if is_method(name, pipe) else pipe for name, pipe in found.items()}
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
