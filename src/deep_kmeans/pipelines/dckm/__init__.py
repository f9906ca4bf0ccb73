"""The ``dckm`` pipeline: data → features → fit_dckm → shared evaluation."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
