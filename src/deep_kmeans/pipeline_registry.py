"""Project pipelines.

Every method folder under ``pipelines/`` registers itself by its folder name (``take``, ``dec``,
``kmeans``, ...); ``__default__`` is ``take``. TAKE's stages are registered too, so each can be run
alone on the versioned outputs of the stage before it.
"""

from __future__ import annotations

import warnings

from kedro.framework.project import find_pipelines
from kedro.pipeline import Pipeline

from deep_kmeans.pipelines.data.pipeline import create_pipeline as create_data_pipeline
from deep_kmeans.pipelines.features.pipeline import create_pipeline as create_features_pipeline
from deep_kmeans.pipelines.take import pipeline as take


def register_pipelines() -> dict[str, Pipeline]:
    # Kedro 1.7 may ask find_pipelines for the requested pipelines only, so the ones named below
    # are built here whatever it returned.
    with warnings.catch_warnings():
        # Asked for a TAKE stage (`kedro run --pipeline=take_cluster`), Kedro 1.7 looks for a folder of
        # that name and warns that it could not import it; the stages are registered below.
        warnings.filterwarnings("ignore", message=r".*'deep_kmeans\.pipelines\.take_(pretrain|cluster|evaluate)' module")
        pipelines = find_pipelines()
    full_take = take.create_pipeline()
    pipelines.update({
        "data": create_data_pipeline(),
        "features": create_data_pipeline() + create_features_pipeline(),
        "take": full_take,
        "take_pretrain": take.create_pretrain_pipeline(),
        "take_cluster": take.create_cluster_pipeline() + take.create_evaluate_pipeline(),
        "take_evaluate": take.create_evaluate_pipeline(),
        "__default__": full_take,
    })
    return pipelines
