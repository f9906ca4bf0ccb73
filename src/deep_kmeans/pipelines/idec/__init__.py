"""The ``idec`` pipeline: data → features → fit_idec → shared evaluation."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
