"""The ``ulhe_dc`` pipeline: data → features → fit_ulhe_dc → shared evaluation."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
