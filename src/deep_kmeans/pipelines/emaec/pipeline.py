"""``kedro run --pipeline=emaec``: ``fit_emaec`` (``methods/emaec.py``); the registry adds the shared data, features and evaluation.

Parameters: ``conf/base/parameters_emaec.yml`` (key ``emaec``); outputs ``emaec.assignments``,
``emaec.model``, ``emaec.loss_history`` and the evaluation's ``emaec.*`` records.
"""

from kedro.pipeline import Pipeline

from deep_kmeans.methods.emaec import fit_emaec
from deep_kmeans.pipelines.method_nodes import create_method_pipeline


def create_pipeline(**kwargs) -> Pipeline:
    return create_method_pipeline("emaec", fit_emaec)
