"""The ``dcn`` pipeline: data → features → fit_dcn → shared evaluation."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
