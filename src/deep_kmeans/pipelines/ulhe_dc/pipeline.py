"""``kedro run --pipeline=ulhe_dc``: ``fit_ulhe_dc`` (``methods/ulhe_dc.py``); the registry adds the shared data, features and evaluation.

Parameters: ``conf/base/parameters_ulhe_dc.yml`` (key ``ulhe_dc``); outputs ``ulhe_dc.assignments``,
``ulhe_dc.model``, ``ulhe_dc.loss_history`` and the evaluation's ``ulhe_dc.*`` records.
"""

from kedro.pipeline import Pipeline

from deep_kmeans.methods.ulhe_dc import fit_ulhe_dc
from deep_kmeans.pipelines.method_nodes import create_method_pipeline


def create_pipeline(**kwargs) -> Pipeline:
    return create_method_pipeline("ulhe_dc", fit_ulhe_dc)
