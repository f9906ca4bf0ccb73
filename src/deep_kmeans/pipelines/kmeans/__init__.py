"""The ``kmeans`` pipeline: data → features → fit_kmeans → shared evaluation."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
