"""The ``tune`` pipeline: an Optuna study over one method's parameters, each trial an MLflow child run."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
