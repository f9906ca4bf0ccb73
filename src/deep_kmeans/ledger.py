"""How each run ended, kept beside its outputs, so that nothing a failed run wrote is ever "the latest".

Kedro loads a versioned dataset at its newest version on disk, whoever wrote it. A run that crashed (a
segfault, SIGKILL), was interrupted, failed or whose clustering collapsed may have saved ``take.model`` or
``take.assignments`` before it ended, and the next stage pipeline (``take_cluster``, ``take_evaluate``),
``take_predict`` or serving would pick that up without a word.

The run ledger (catalog entry ``run_ledger``, a folder of one small JSON record per run, named by the run's
save version) says how the run that wrote each version ended:

* ``RUNNING`` when it starts (with its host and pid); at its end ``FINISHED``, ``COLLAPSED`` (a scores record
  of the run says the clustering used fewer clusters than asked for), ``FAILED`` (a node raised) or
  ``KILLED`` (Ctrl-C, SIGTERM, an exit in the middle);
* a record still ``RUNNING`` whose process on this host is gone reads as ``CRASHED``;
* a version with no record was written before the ledger existed and reads as ``FINISHED``.

:func:`choose_load_version` is what :class:`deep_kmeans.catalog_hooks.RunIsolationHook` asks for an input the run
reads but does not write: the newest version whose run ``FINISHED``. Only a user's ``--load-versions`` reads
another (a collapsed model on purpose), with a warning saying what it is. A failed run also removes the
versions it wrote (:func:`remove_run_outputs`): a failed run leaves no output behind; a crashed or killed
run's stay (a killed run's pretrained TAE may be worth pinning) but are never the default.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import shutil
import socket
import tempfile
import time
from pathlib import Path, PurePosixPath
from typing import Any

from kedro.framework.hooks import hook_impl

from deep_kmeans.errors import UserError
from deep_kmeans.io import FolderDataset

logger = logging.getLogger(__name__)

LEDGER = "run_ledger"  # the catalog entry
# The catalog entry (a MemoryDataset) where RunIsolationHook leaves, for each input read from an earlier run,
# where it came from (:func:`provenance`); a node that says what it used (take_predict) takes it as an input.
LOADED_VERSIONS = "loaded_versions"
USABLE = ("FINISHED", "UNRECORDED")
ENDED = ("FINISHED", "COLLAPSED", "FAILED", "KILLED")


class RunLedger:
    """``<folder>/<save version>.json``: the run that wrote that version, and how it ended."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def _file(self, version: str) -> Path:
        if not version or "/" in version or version.startswith("."):
            raise ValueError(f"not a run version: {version!r}")
        return self.path / f"{version}.json"

    def record(self, version: str) -> dict | None:
        try:
            return json.loads(self._file(version).read_text(encoding="utf-8"))
        except (OSError, ValueError):  # none, or unreadable: as a version written before the ledger
            return None

    def write(self, version: str, **fields: Any) -> dict:
        """Merge ``fields`` into the record of ``version`` (written atomically)."""
        record = {**(self.record(version) or {"version": version}), **fields}
        self.path.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path, prefix=f".{version}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(record, fh, indent=1, default=str)
            os.replace(tmp, self._file(version))
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        return record

    def status(self, version: str) -> str:
        """``FINISHED``, ``COLLAPSED``, ``FAILED``, ``KILLED``, ``RUNNING``, ``CRASHED`` (a RUNNING record whose
        process on this host is gone) or ``UNRECORDED`` (written before the ledger)."""
        record = self.record(version)
        if record is None:
            return "UNRECORDED"
        status = str(record.get("status", "RUNNING"))
        if status == "RUNNING" and record.get("host") == socket.gethostname():
            from deep_kmeans.hooks import process_alive

            pid = record.get("pid")
            if isinstance(pid, int) and not process_alive(pid, since=record.get("started")):
                return "CRASHED"
        return status

    def describe(self, version: str) -> str:
        """``version 2026-...Z (COLLAPSED: take used only 2 of the 4 clusters..., MLflow run abc)``."""
        record = self.record(version) or {}
        status = self.status(version)
        why = record.get("warning") or record.get("error")
        run = record.get("mlflow_run_id")
        details = ": ".join(str(p) for p in (status, why) if p)
        return f"version {version} ({details}{f', MLflow run {run}' if run else ''})"


class RunLedgerDataset(FolderDataset):
    """Loads as the :class:`RunLedger` over ``path`` (the catalog's ``run_ledger``). The hooks write its records,
    one per run; it is never saved as a whole."""

    opens = RunLedger
    written_by = "the project's hooks, one record per run"


def versions_on_disk(dataset) -> list[str]:
    """The versions of a versioned dataset that exist on disk, newest first (what Kedro's latest is chosen from)."""
    from deep_kmeans.catalog_hooks import versioned_core

    core = versioned_core(dataset)
    pattern = str(core._get_versioned_path("*"))
    found = core._glob_function(pattern)
    return sorted({PurePosixPath(str(p)).parent.name for p in found}, reverse=True)


class NoUsableVersionError(UserError, FileNotFoundError):
    """Every version of an input was written by a run that did not finish (or collapsed)."""


def choose_load_version(name: str, dataset, ledger: RunLedger | None) -> str | None:
    """The version of input ``name`` a run reads by default: the newest whose run finished (see the module).
    None when there is no version at all; a :class:`NoUsableVersionError` naming them when none finished."""
    versions = versions_on_disk(dataset)
    if not versions:
        return None
    if ledger is None:
        return versions[0]
    skipped = []
    for version in versions:
        if ledger.status(version) in USABLE:
            if skipped:
                logger.warning("%s: reading %s, not the newer %s, which no finished run wrote (pin one with "
                               "--load-versions=%s:<version> to read it anyway)", name, ledger.describe(version),
                               "; ".join(ledger.describe(v) for v in skipped), name)
            return version
        skipped.append(version)
    raise NoUsableVersionError(
        f"{name}: no run that wrote it finished: "
        + "; ".join(ledger.describe(v) for v in skipped[:5])
        + f". Rerun the stage that writes it, or pin a version on purpose with --load-versions={name}:<version>")


def check_pinned_version(name: str, dataset, version: str, ledger: RunLedger | None) -> None:
    """A ``--load-versions`` the user gave: it must exist (else the versions there are are named); one whose run
    did not finish is read, since it was asked for by version, with a warning saying what it is."""
    versions = versions_on_disk(dataset)
    if version not in versions:
        from deep_kmeans.catalog_hooks import versioned_core

        shown = ", ".join(versions[:5]) + (f" (and {len(versions) - 5} older)" if len(versions) > 5 else "")
        raise NoUsableVersionError(
            f"--load-versions={name}:{version}: no such version of {name} "
            f"({versioned_core(dataset)._filepath}); "
            + (f"the versions there, newest first: {shown}" if versions else "it has no version on disk yet"))
    if ledger is not None and ledger.status(version) not in USABLE:
        logger.warning("%s: reading %s, as --load-versions asks, though its run did not finish cleanly", name,
                       ledger.describe(version))


def provenance(name: str, version: str, ledger: RunLedger | None, pinned: bool) -> dict:
    """What a node told where its input came from gets: ``version``, ``status``, ``mlflow_run_id``, ``pinned``."""
    record = (ledger.record(version) if ledger is not None else None) or {}
    return {"dataset": name, "version": version, "status": ledger.status(version) if ledger else "UNRECORDED",
            "mlflow_run_id": record.get("mlflow_run_id"), "pinned": pinned, "warning": record.get("warning")}


def remove_run_outputs(pipeline, catalog, version: str) -> list[str]:
    """Remove the folder of ``version`` of every versioned local output of ``pipeline`` (a failed run's own
    outputs: the version is the run's, no other run writes it); returns what was removed."""
    from deep_kmeans.catalog_hooks import is_versioned, versioned_core

    removed = []
    for name in sorted(pipeline.all_outputs()):
        try:
            dataset = catalog.get(name)
        except Exception:  # noqa: BLE001 - a name no factory resolves: nothing saved under it
            continue
        if dataset is None or not is_versioned(dataset):
            continue
        core = versioned_core(dataset)
        if getattr(core, "_protocol", "file") not in ("file", None):
            continue
        folder = Path(str(core._get_versioned_path(version))).parent
        if folder.name == version and folder.is_dir():
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(str(folder))
    return removed


def collapse_warnings(pipeline, catalog) -> dict[str, str]:
    """The ``warning`` of every scores record this run wrote, by dataset (``<method>.scores``; the sweep's
    copies' too)."""
    out = {}
    for name in sorted(n for n in pipeline.all_outputs() if n.endswith(".scores")):
        try:
            record = catalog.load(name)
        except Exception:  # noqa: BLE001 - not written (a node skipped), or not loadable: no warning known
            continue
        if isinstance(record, dict) and record.get("warning"):
            out[name] = str(record["warning"])
    return out


def tag_collapse(warnings: list[str]) -> None:
    """The collapse ``warning`` tag on the open MLflow run, where the hook that watches saves did not set it (the
    scores were saved on a Dask worker, where no hook runs). Called before the MLflow hook ends the run."""
    if not warnings:
        return
    import mlflow

    active = mlflow.active_run()
    if active is None or "warning" in mlflow.MlflowClient().get_run(active.info.run_id).data.tags:
        return
    mlflow.set_tag("warning", "; ".join(warnings)[:5000])


def ledger_of(catalog) -> RunLedger | None:
    """The run ledger of the catalog (None in a project without the entry)."""
    if LEDGER not in catalog:
        return None
    try:
        return catalog.load(LEDGER)
    except Exception as err:  # noqa: BLE001 - a broken entry must not stop the run; said once
        logger.warning("run ledger %s not usable (%s): every version on disk counts as finished", LEDGER, err)
        return None


class RunLedgerHook:
    """Writes the ledger record of each run: ``RUNNING`` before the first node, then how it ended; a failed
    run's outputs are removed first (:func:`remove_run_outputs`). The inputs it read from earlier runs
    (:data:`LOADED_VERSIONS`) go in the record and, as tags ``input.<name>``, on its MLflow run."""

    def __init__(self):
        self._ledger: RunLedger | None = None
        self._version: str | None = None
        self._atexit_registered = False

    @hook_impl(trylast=True)  # after kedro-mlflow opened the MLflow run: its id goes in the record
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline, catalog) -> None:
        self._end_open("KILLED", "interrupted (KeyboardInterrupt) before a next run in the same process")
        self._ledger, self._version = ledger_of(catalog), run_params.get("run_id")
        if self._ledger is None or not self._version:
            return
        import mlflow

        active = mlflow.active_run()
        inputs = catalog.load(LOADED_VERSIONS) if LOADED_VERSIONS in catalog else {}
        names = run_params.get("pipeline_names") or [run_params.get("pipeline_name") or "__default__"]
        self._ledger.write(self._version, status="RUNNING", pipelines=list(names), host=socket.gethostname(),
                           pid=os.getpid(), started=time.time(), mlflow_run_id=active.info.run_id if active else None,
                           inputs={k: {"version": v["version"], "mlflow_run_id": v["mlflow_run_id"]}
                                   for k, v in (inputs or {}).items()})
        if active is not None and inputs:
            try:
                mlflow.set_tags({f"input.{k}": f"{v['version']}" + (f" (MLflow run {v['mlflow_run_id']})"
                                                                     if v["mlflow_run_id"] else "")
                                 for k, v in inputs.items()})
            except Exception as err:  # noqa: BLE001 - the record matters more than a tag
                logger.debug("could not tag the inputs: %s", err)
        if not self._atexit_registered:
            atexit.register(self._at_exit)
            self._atexit_registered = True

    @hook_impl
    def after_pipeline_run(self, run_params: dict[str, Any], pipeline, catalog) -> None:
        if self._ledger is None or not self._version:
            return
        warnings = collapse_warnings(pipeline, catalog)
        self._ledger.write(self._version, status="COLLAPSED" if warnings else "FINISHED", ended=time.time(),
                           warning="; ".join(warnings.values()) or None)
        self._version = None
        # the run's own method (`<method>.scores`), as hooks.RunHook tags it; a sweep's copies are child runs
        tag_collapse([w for name, w in warnings.items() if name.count(".") == 1])


    @hook_impl(tryfirst=True)  # before the MLflow hook prints the summary (which lists the run's files)
    def on_pipeline_error(self, error: Exception, run_params: dict[str, Any], pipeline, catalog) -> None:
        if self._ledger is None or not self._version:
            return
        removed = remove_run_outputs(pipeline, catalog, self._version)
        if removed:
            logger.warning("The run failed: removed the %d output version(s) it had written (%s), so that no later "
                           "run reads them", len(removed), ", ".join(str(Path(f).parent.name) for f in removed))
        self._ledger.write(self._version, status="FAILED", ended=time.time(),
                           error=f"{type(error).__name__}: {error}"[:2000], removed=removed)
        self._version = None

    def _end_open(self, status: str, why: str) -> None:
        """End the record of a run of this process that no hook ended (a KeyboardInterrupt, a SystemExit)."""
        if self._ledger is not None and self._version:
            try:
                self._ledger.write(self._version, status=status, ended=time.time(), error=why)
            except OSError as err:
                logger.debug("could not end the ledger record: %s", err)
        self._version = None

    def _at_exit(self) -> None:
        self._end_open("KILLED", "the process exited during the run (Ctrl-C, SIGTERM, SIGHUP)")
