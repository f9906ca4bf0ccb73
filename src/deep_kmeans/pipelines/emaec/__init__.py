"""The ``emaec`` pipeline: data → features → fit_emaec → shared evaluation."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
