"""``kedro run --pipeline=idec``: ``fit_idec`` (``methods/idec.py``); the registry adds the shared data, features and evaluation.

Parameters: ``conf/base/parameters_idec.yml`` (key ``idec``); outputs ``idec.assignments``,
``idec.model``, ``idec.loss_history`` and the evaluation's ``idec.*`` records.
"""

from kedro.pipeline import Pipeline

from deep_kmeans.methods.idec import fit_idec
from deep_kmeans.pipelines.method_nodes import create_method_pipeline


def create_pipeline(**kwargs) -> Pipeline:
    return create_method_pipeline("idec", fit_idec)
