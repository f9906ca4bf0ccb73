"""``kedro run --pipeline=kmeans``: data → features → ``fit_kmeans`` → shared evaluation.

Parameters: ``conf/base/parameters_kmeans.yml`` (key ``kmeans``); outputs ``kmeans.assignments``,
``kmeans.model``, ``kmeans.loss_history`` and the evaluation's ``kmeans.*`` records.
"""

from kedro.pipeline import Pipeline

from deep_kmeans.models.kmeans import fit_kmeans
from deep_kmeans.pipelines.method import create_method_pipeline


def create_pipeline(**kwargs) -> Pipeline:
    return create_method_pipeline("kmeans", fit_kmeans)
