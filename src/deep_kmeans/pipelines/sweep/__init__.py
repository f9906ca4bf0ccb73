"""The ``sweep`` pipeline: methods × seeds in one run, each copy an MLflow child run, then the compare table."""

from .nodes import read_plan
from .pipeline import config_error_pipeline, create_pipeline, create_sweep_pipeline

__all__ = ["config_error_pipeline", "create_pipeline", "create_sweep_pipeline", "read_plan"]
