"""``kedro run --pipeline=dekm``: ``fit_dekm`` (``methods/dekm.py``); the registry adds the shared data, features and evaluation.

Parameters: ``conf/base/parameters_dekm.yml`` (key ``dekm``); outputs ``dekm.assignments``,
``dekm.model``, ``dekm.loss_history`` and the evaluation's ``dekm.*`` records.
"""

from kedro.pipeline import Pipeline

from deep_kmeans.methods.dekm import fit_dekm
from deep_kmeans.pipelines.method_nodes import create_method_pipeline


def create_pipeline(**kwargs) -> Pipeline:
    return create_method_pipeline("dekm", fit_dekm)
