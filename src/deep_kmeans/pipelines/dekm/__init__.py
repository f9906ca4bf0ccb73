"""The ``dekm`` pipeline: data → features → fit_dekm → shared evaluation."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
