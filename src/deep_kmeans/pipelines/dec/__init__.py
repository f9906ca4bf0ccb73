"""The ``dec`` pipeline: data → features → fit_dec → shared evaluation."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
