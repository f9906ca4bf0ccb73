"""``kedro run --pipeline=dckm``: ``fit_dckm`` (``methods/dckm.py``); the registry adds the shared data, features and evaluation.

Parameters: ``conf/base/parameters_dckm.yml`` (key ``dckm``); outputs ``dckm.assignments``,
``dckm.model``, ``dckm.loss_history`` and the evaluation's ``dckm.*`` records.
"""

from kedro.pipeline import Pipeline

from deep_kmeans.methods.dckm import fit_dckm
from deep_kmeans.pipelines.method_nodes import create_method_pipeline


def create_pipeline(**kwargs) -> Pipeline:
    return create_method_pipeline("dckm", fit_dckm)
