"""``kedro run --pipeline=dcn``: ``fit_dcn`` (``methods/dcn.py``); the registry adds the shared data, features and evaluation.

Parameters: ``conf/base/parameters_dcn.yml`` (key ``dcn``); outputs ``dcn.assignments``,
``dcn.model``, ``dcn.loss_history`` and the evaluation's ``dcn.*`` records.
"""

from kedro.pipeline import Pipeline

from deep_kmeans.methods.dcn import fit_dcn
from deep_kmeans.pipelines.method_nodes import create_method_pipeline


def create_pipeline(**kwargs) -> Pipeline:
    return create_method_pipeline("dcn", fit_dcn)
