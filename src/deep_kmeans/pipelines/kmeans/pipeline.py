"""``kedro run --pipeline=kmeans``: ``fit_kmeans`` (``methods/kmeans.py``); the registry adds the shared data, features and evaluation.

Parameters: ``conf/base/parameters_kmeans.yml`` (key ``kmeans``); outputs ``kmeans.assignments``,
``kmeans.model``, ``kmeans.loss_history`` and the evaluation's ``kmeans.*`` records.
"""

from kedro.pipeline import Pipeline

from deep_kmeans.methods.kmeans import fit_kmeans
from deep_kmeans.pipelines.method_nodes import create_method_pipeline


def create_pipeline(**kwargs) -> Pipeline:
    return create_method_pipeline("kmeans", fit_kmeans)
