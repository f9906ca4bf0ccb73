"""The hooks that prepare a run before its first node, beside :class:`deep_kmeans.hooks.RunHook` (MLflow):

* :class:`ParameterCheckHook`: every parameter checked against the schema, before the MLflow run opens;
* :class:`CommandLineParamsHook`: a group given with ``--params`` wins over the data set's block;
* :class:`OtherRankHook`: under ``torchrun``, the ranks but 0 keep their outputs in memory;
* :class:`RunIsolationHook`: each run reads only what it wrote, or what the user pinned, never a failed
  run's version (:mod:`deep_kmeans.ledger`); and the helpers that read a dataset's versions.
"""

from __future__ import annotations

import logging
from typing import Any

from kedro.framework.hooks import hook_impl

from deep_kmeans.errors import UserError
from deep_kmeans.methods.config import command_line_wins

logger = logging.getLogger(__name__)


class ParameterCheckHook:
    """Checks every parameter of the run against the schema (:mod:`deep_kmeans.schema`) before anything else
    happens: before the MLflow run opens and any node runs, whatever the pipeline (stages, sweep, tune). All the
    problems are raised together as one :class:`~deep_kmeans.errors.ParameterError`, which ``kedro run``
    prints as a short message (exit code 2, :mod:`deep_kmeans.cli`)."""

    @hook_impl(tryfirst=True)
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline, catalog) -> None:
        from deep_kmeans.schema import check_parameters

        if "parameters" not in catalog:
            return
        check_parameters(catalog.load("parameters"), run_params.get("runtime_params") or {}, pipeline)


class CommandLineParamsHook:
    """Applies :func:`command_line_wins` to every parameter group given with ``--params`` before any node runs."""

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], catalog) -> None:
        given = run_params.get("runtime_params") or {}
        try:
            dataset = catalog.load("params:dataset")
        except Exception:  # noqa: BLE001 - a project without the parameter
            return
        for name, value in given.items():
            if not isinstance(value, dict) or f"params:{name}" not in catalog:
                continue
            group = catalog.load(f"params:{name}")
            if isinstance(group, dict):
                updated = command_line_wins(group, value, str(dataset))
                if updated is not group:
                    catalog.save(f"params:{name}", updated)


class OtherRankHook:
    """Under ``torchrun``, the hook of every rank but 0 (``settings.py`` registers it instead of :class:`RunHook`).

    Each rank runs the whole Kedro session, so that TAKE's training nodes meet in the same collectives, but only
    rank 0 tracks in MLflow and writes outputs: here every output of the pipeline becomes a ``MemoryDataset``
    before the first node, so the other ranks' saves stay in their memory (the next node of the same rank
    reads them from there) and nothing of theirs reaches data/ or MLflow. Inputs (the raw data, features that
    exist already) load from disk as on rank 0.
    """

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline, catalog) -> None:
        from kedro.io import MemoryDataset

        from deep_kmeans.runtime import torchrun_world

        catalog_log = logging.getLogger("kedro.io.data_catalog")
        level = catalog_log.level
        catalog_log.setLevel(logging.ERROR)  # "Replacing dataset ..." for every output: meant here
        try:
            for name in sorted(pipeline.all_outputs()):
                catalog[name] = MemoryDataset(copy_mode="assign")
        finally:
            catalog_log.setLevel(level)
        rank, world, _ = torchrun_world()
        logger.info("torchrun rank %d of %d: no MLflow tracking, %d outputs kept in memory", rank, world,
                    len(pipeline.all_outputs()))


class RunIsolationHook:
    """Each run reads only what it wrote itself, or what the user pinned with ``--load-versions``.

    Kedro loads a versioned dataset at its *latest* version on disk. With two runs at once, the latest
    ``take.pretrained`` may be the other run's, saved a second after this run saved its own: both runs
    finish and one of them has clustered the other's embedding (Kedro only warns that the save and load
    versions differ). Before the first node, every versioned dataset of the pipeline is pinned:

    * one the pipeline writes is read at this run's save version (what this run wrote);
    * one it only reads (a stage pipeline such as ``take_cluster`` starting from an earlier run's
      ``take.pretrained``) is read at the version that was latest when the run started, so a run
      finishing meanwhile changes nothing;
    * one named in ``--load-versions`` is left as the user pinned it.

    The datasets that are shared on purpose are not versioned: the feature cache and the checkpoints are
    content-addressed stores written atomically (a key is a hash of everything that went into its entry).
    """

    @hook_impl(tryfirst=True)  # settings.py registers it before the parameter check, which therefore runs first
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline, catalog) -> None:
        from kedro.io import MemoryDataset

        from deep_kmeans.ledger import LOADED_VERSIONS, check_pinned_version, choose_load_version, ledger_of, provenance

        ledger = ledger_of(catalog)  # how the run that wrote each version ended: only finished runs' are read
        user_pinned = dict(run_params.get("load_versions") or {})
        written = pipeline.all_outputs()
        pinned, missing, sources = {}, [], {}
        for name, version in sorted(user_pinned.items()):
            dataset = catalog.get(name) if name in pipeline.datasets() else None
            if dataset is not None and is_versioned(dataset):
                check_pinned_version(name, dataset, version, ledger)  # it exists; a failed run's is said
                sources[name] = provenance(name, version, ledger, pinned=True)
        for name in sorted(pipeline.datasets() - set(user_pinned)):
            dataset = catalog.get(name)
            if dataset is None or not is_versioned(dataset):
                continue
            save = versioned_core(dataset).resolve_save_version()  # the run's save version (the catalog's)
            load = save if name in written else choose_load_version(name, dataset, ledger)
            if load is not None:
                pinned[name] = with_load_version(dataset, load, save)
                if name not in written:
                    sources[name] = provenance(name, load, ledger, pinned=False)
            elif name in pipeline.inputs():
                missing.append(name)
        if missing:
            raise MissingInputError(missing, catalog, run_params.get("pipeline_names") or [])
        catalog_log = logging.getLogger("kedro.io.data_catalog")
        level = catalog_log.level
        catalog_log.setLevel(logging.ERROR)  # "Replacing dataset ..." for every pinned one: meant here
        try:
            for name, dataset in pinned.items():
                catalog[name] = dataset
            catalog[LOADED_VERSIONS] = MemoryDataset(sources, copy_mode="assign")
        finally:
            catalog_log.setLevel(level)
        logger.debug("%d versioned datasets read at pinned versions", len(pinned))


class MissingInputError(UserError, FileNotFoundError):
    """A stage pipeline started before the stage that writes its input has ever run: said before any node runs."""

    def __init__(self, names: list[str], catalog, pipeline_names: list[str]):
        from kedro.framework.project import pipelines

        lines = []
        for name in names:
            path = getattr(versioned_core(catalog.get(name)), "_filepath", None)
            # the smallest registered pipeline that writes it (take_pretrain rather than take)
            writers = sorted((len(p.nodes), n) for n, p in pipelines.items()
                             if n != "__default__" and name in p.all_outputs())
            run = f"kedro run --pipeline={writers[0][1]}" if writers else "the pipeline that writes it"
            lines.append(f"  - {name} ({path}): no version on disk yet; `{run}` writes it")
        what = ", ".join(pipeline_names) or "this pipeline"
        super().__init__(f"{what} starts from {len(names)} input(s) that no run has written yet:\n"
                         + "\n".join(lines))


def versioned_core(dataset):
    """The dataset that holds the version: the wrapped one of an
    :class:`~deep_kmeans.io.MlflowVersionedArtifactDataset`."""
    from deep_kmeans.io import MlflowVersionedArtifactDataset

    return dataset.inner if isinstance(dataset, MlflowVersionedArtifactDataset) else dataset


def is_versioned(dataset) -> bool:
    from kedro.io import AbstractVersionedDataset

    from deep_kmeans.io import MlflowVersionedArtifactDataset

    if isinstance(dataset, MlflowVersionedArtifactDataset):
        return dataset.versioned
    return isinstance(dataset, AbstractVersionedDataset) and dataset._version is not None


def latest_version(dataset) -> str | None:
    """The newest version on disk now, or None when there is none yet (loading it then fails as Kedro says)."""
    from kedro.io.core import VersionNotFoundError

    try:
        return versioned_core(dataset).resolve_load_version()
    except VersionNotFoundError:
        return None


def with_load_version(dataset, load: str, save: str):
    """A copy of the versioned ``dataset`` that loads ``load`` and saves ``save``."""
    from kedro.io import Version

    from deep_kmeans.io import MlflowVersionedArtifactDataset

    if isinstance(dataset, MlflowVersionedArtifactDataset):
        return dataset.with_version(Version(load, save))
    return dataset._copy(_version=Version(load, save))  # what DataCatalog.get(name, version=...) does
