"""``kedro run --pipeline=dec``: ``fit_dec`` (``methods/dec.py``); the registry adds the shared data, features and evaluation.

Parameters: ``conf/base/parameters_dec.yml`` (key ``dec``); outputs ``dec.assignments``,
``dec.model``, ``dec.loss_history`` and the evaluation's ``dec.*`` records.
"""

from kedro.pipeline import Pipeline

from deep_kmeans.methods.dec import fit_dec
from deep_kmeans.pipelines.method_nodes import create_method_pipeline


def create_pipeline(**kwargs) -> Pipeline:
    return create_method_pipeline("dec", fit_dec)
