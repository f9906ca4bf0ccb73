"""Project settings (https://docs.kedro.org/en/stable/kedro_project_setup/settings.html).

Kedro imports this module while it bootstraps the project, before it loads the plugins' commands, so
the warning filters below are in place before the first known warning would be shown.
``DEEP_KMEANS_VERBOSE=1 kedro run ...`` keeps every warning and Kedro's full rich log instead of
conf/logging.yml (``KEDRO_LOGGING_CONFIG=<file>`` picks any other logging configuration).
"""

import logging
import os
import re
import warnings

from kedro.config import OmegaConfigLoader

VERBOSE = os.environ.get("DEEP_KMEANS_VERBOSE", "").strip().lower() not in ("", "0", "false", "no")

# Known warnings that say nothing about this project's run, each silenced by its message:
KNOWN_WARNINGS = (
    # MLflow 3 on kedro-mlflow's pyfunc model class (KedroPipelineModel), when kedro-mlflow is imported.
    (r".*Add type hints to the `predict` method", UserWarning),
    # Kedro 1.7 deprecates `--pipeline` for `--pipelines`; `kedro run --pipeline=take` is what the docs say.
    (r"Option '--pipeline' is deprecated", Warning),
    # omegaconf 2.4 deprecates register_new_resolver, which Kedro and kedro-mlflow call on every session.
    (r"register_new_resolver\(\) is deprecated", UserWarning),
    # Our per-method outputs are named "<method>.<output>" on purpose: kedro-viz groups them by method.
    (r"One or more dataset names contain '\.'", UserWarning),
)

if VERBOSE:
    if not os.environ.get("KEDRO_LOGGING_CONFIG"):
        from pathlib import Path

        import yaml
        from kedro.framework import project

        project.configure_logging(yaml.safe_load(
            (Path(project.__file__).parent / "rich_logging.yml").read_text(encoding="utf-8")))
else:
    for message, category in KNOWN_WARNINGS:
        warnings.filterwarnings("ignore", message=message, category=category)

    class KnownWarnings(logging.Filter):
        """Drops the known warnings that reach logging (``py.warnings``) past the filters above: MLflow
        shows its own once per call (``mlflow.utils.annotations.filter_user_warnings_once`` puts a
        "once" filter in front of ours)."""

        patterns = [re.compile(message) for message, _ in KNOWN_WARNINGS]

        def filter(self, record: logging.LogRecord) -> bool:
            text = record.getMessage()
            return not any(p.search(text) for p in self.patterns)

    logging.captureWarnings(True)  # warnings go through logging, where the filter sees them
    logging.getLogger("py.warnings").addFilter(KnownWarnings())

from deep_kmeans.catalog_hooks import (  # noqa: E402
    CommandLineParamsHook, OtherRankHook, ParameterCheckHook, RunIsolationHook,
)
from deep_kmeans.hooks import RunHook  # noqa: E402  (imports kedro-mlflow, hence MLflow: after the filters)
from deep_kmeans.ledger import RunLedgerHook  # noqa: E402
from deep_kmeans.runtime import is_main_process  # noqa: E402

if not VERBOSE:
    # MLflow and kedro-mlflow set their loggers' level when they are imported, after conf/logging.yml applied.
    logging.getLogger("kedro_mlflow").setLevel(logging.WARNING)
    if not os.environ.get("MLFLOW_LOGGING_LEVEL"):
        logging.getLogger("mlflow").setLevel(logging.WARNING)

# Every parameter is checked first (schema.py), before the MLflow run opens; then
# kedro-mlflow's hook, extended (hooks.py): registered here instead of through the plugin's entry point. Under
# torchrun (docs/distributed.md) only rank 0 tracks and writes; the other ranks keep their outputs in memory.
# Pluggy calls the hooks marked tryfirst (the parameter check, then the isolation, which can refuse a missing
# input) in the reverse order of registration, all before kedro-mlflow's hook opens the MLflow run.
# The run ledger (ledger.py) records how each run ended, so that a failed run's outputs are never read by default
# (rank 0's run: the other ranks write nothing).
HOOKS = (RunIsolationHook(), ParameterCheckHook(), CommandLineParamsHook(),
         *((RunHook(), RunLedgerHook()) if is_main_process() else (OtherRankHook(),)))
DISABLE_HOOKS_FOR_PLUGINS = ("kedro_mlflow", "kedro-mlflow")

# Kedro's session, with a run id (the save version of every output) no other run of this project holds, even
# two runs started in the same millisecond (session.py).
from deep_kmeans.session import UniqueVersionSession  # noqa: E402

SESSION_CLASS = UniqueVersionSession

CONFIG_LOADER_CLASS = OmegaConfigLoader
from deep_kmeans.data.registry import known_dataset  # noqa: E402

CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    # An environment (conf/local, conf/offline) overrides single keys of a parameter group
    # instead of replacing the whole group.
    "merge_strategy": {"parameters": "soft", "mlflow": "soft"},
    # the data set name is checked where the catalog's paths are built from it (data/<layer>/<dataset>/...)
    "custom_resolvers": {"known_dataset": known_dataset},
}
