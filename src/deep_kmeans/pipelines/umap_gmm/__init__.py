"""The ``umap_gmm`` pipeline: UMAP + GMM on the features (N2D's recipe)."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
