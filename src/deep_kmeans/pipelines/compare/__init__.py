"""The ``compare`` pipeline: one report (table, Markdown, bar plot, MLflow metrics) of the methods run on a data set."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
