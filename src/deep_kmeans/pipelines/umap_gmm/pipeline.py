"""``kedro run --pipeline=umap_gmm``: ``fit_umap_gmm`` (``methods/umap_gmm.py``); the registry adds the shared
data, features and evaluation.

Parameters: ``conf/base/parameters_umap_gmm.yml`` (key ``umap_gmm``).
"""

from kedro.pipeline import Pipeline

from deep_kmeans.methods.umap_gmm import fit_umap_gmm
from deep_kmeans.pipelines.method_nodes import create_method_pipeline


def create_pipeline(**kwargs) -> Pipeline:
    return create_method_pipeline("umap_gmm", fit_umap_gmm)
