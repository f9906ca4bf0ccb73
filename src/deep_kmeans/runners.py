"""Runners for running many nodes at once: processes on one machine, or a Dask cluster.

* :class:`ParallelRunner` is Kedro's, with torch's intra-op threads set in each worker process to
  ``cores // workers``, so that the workers together use the machine's cores without oversubscribing them
  (each PyTorch process would otherwise start one thread per core).
  ``kedro run --pipeline=sweep --runner=deep_kmeans.runners.ParallelRunner``
* :class:`DaskRunner` submits every node to a Dask cluster (``distributed``), following the pattern of
  Kedro's Dask deployment guide: a node is a task that waits for the tasks of the nodes it depends on,
  and the datasets that are not in the catalog travel through the scheduler (:class:`DaskDataset`).
  ``DASK_SCHEDULER_ADDRESS=tcp://host:8786 kedro run --pipeline=sweep --runner=deep_kmeans.runners.DaskRunner``;
  without an address it starts a ``LocalCluster`` on this machine.

Under both, nodes run in other processes than the one ``kedro run`` started: MLflow's stack of active
runs does not reach them, which is why the sweep logs through explicit run ids (``pipelines/sweep``). Kedro's
ParallelRunner forks its workers after the run opened, so they log into it as the sequential runner does. The
Dask workers get the run bound instead: every dataset that logs to MLflow (metrics, artifacts, the pyfunc model)
is bound to the ``kedro run`` process's run before the first task (:func:`bind_mlflow_run`), and each node's
parameters are logged from that process as tasks are submitted (:func:`log_node_params`), so the run holds
what a sequential run holds and no stray run is opened.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from itertools import chain
from typing import Any

from kedro.framework.hooks.manager import _NullPluginManager
from kedro.io import AbstractDataset, MemoryDataset
from kedro.runner import ParallelRunner as KedroParallelRunner
from kedro.runner.runner import AbstractRunner
from kedro.runner.task import Task

from deep_kmeans.errors import UserError

logger = logging.getLogger(__name__)


def threads_per_worker(workers: int, cores: int | None = None) -> int:
    """torch threads for each of ``workers`` processes sharing ``cores`` (at least one)."""
    cores = cores or os.cpu_count() or 1
    return max(1, cores // max(1, workers))


def set_torch_threads(threads: int) -> None:
    """A worker process's initialiser: torch's intra-op threads (and OpenMP's, for libraries started later)."""
    import torch

    os.environ["OMP_NUM_THREADS"] = str(threads)
    torch.set_num_threads(threads)


class ParallelRunner(KedroParallelRunner):
    """Kedro's ``ParallelRunner`` whose worker processes each use ``cores // workers`` torch threads."""

    def _get_executor(self, max_workers: int):
        from concurrent.futures import ProcessPoolExecutor
        from multiprocessing import get_context

        context = os.environ.get("KEDRO_MP_CONTEXT")
        ctx = get_context(context if context in {"fork", "spawn", "forkserver"} else None)
        threads = threads_per_worker(max_workers)
        logger.info("ParallelRunner: %d worker processes, %d torch thread(s) each", max_workers, threads)
        return ProcessPoolExecutor(max_workers=max_workers, mp_context=ctx, initializer=set_torch_threads,
                                   initargs=(threads,))


class SchedulerUnreachable(UserError, ConnectionError):
    """The Dask scheduler the run was pointed at does not answer: said in one line, exit code 2."""


class DaskDataset(AbstractDataset):
    """A dataset kept by the Dask scheduler (``Client.publish_dataset``): what one node hands the next
    when the two run on different workers."""

    def __init__(self, name: str):
        self._name = name

    def load(self) -> Any:
        from distributed import get_client

        return get_client().get_dataset(self._name)

    def save(self, data: Any) -> None:
        from distributed import get_client

        get_client().publish_dataset(data, name=self._name, override=True)

    def _exists(self) -> bool:
        from distributed import get_client

        return self._name in get_client().list_datasets()

    def _release(self) -> None:
        from distributed import get_client

        client = get_client()
        if self._name in client.list_datasets():
            client.unpublish_dataset(self._name)

    def _describe(self) -> dict[str, Any]:
        return {"name": self._name}


def run_node_on_worker(node, catalog, is_async: bool, run_id, torch_threads: int, tracking_uri: str | None,
                       *dependencies):
    """One node on a Dask worker. The project's hooks are not run there: they hold the ``kedro run``
    process's MLflow run (kedro-mlflow would open a stray one). The datasets that record were bound to that run
    (:func:`bind_mlflow_run`) and log into it by id, through ``tracking_uri``."""
    set_torch_threads(torch_threads)
    if tracking_uri:
        import mlflow

        mlflow.set_tracking_uri(tracking_uri)
    Task(node=node, catalog=catalog, hook_manager=_NullPluginManager(), is_async=is_async, run_id=run_id).execute()
    return node.name


def bind_mlflow_run(catalog, names) -> str | None:
    """Bind every dataset of ``names`` that logs to MLflow to the active run of this process, so that it logs
    there from any process or thread (a Dask worker has no active run, and MLflow's fluent API would open a new,
    stray one). Returns the tracking URI the workers must use (absolute), or None when no run is active."""
    import mlflow
    from kedro_mlflow.io.metrics import MlflowMetricsHistoryDataset

    active = mlflow.active_run()
    if active is None:
        return None
    run_id = active.info.run_id
    for name in names:
        dataset = catalog.get(name, fallback_to_runtime_pattern=True)
        if isinstance(dataset, MlflowMetricsHistoryDataset):
            dataset.run_id = run_id
        elif callable(getattr(dataset, "bind_run", None)):
            dataset.bind_run(run_id)
        else:
            continue
        catalog[name] = dataset
    return absolute_tracking_uri(str(mlflow.get_tracking_uri()))


def absolute_tracking_uri(uri: str) -> str:
    """A relative ``sqlite:///`` URI made absolute (a worker's working folder may differ)."""
    from pathlib import Path

    prefix = "sqlite:///"
    if uri.startswith(prefix) and not Path(uri[len(prefix):]).is_absolute():
        return f"{prefix}{Path(uri[len(prefix):]).resolve()}"
    return uri


def log_node_params(hook_manager, node, catalog, is_async: bool, run_id) -> None:
    """Run the ``before_node_run`` hooks here, in the ``kedro run`` process, with the node's parameters (the
    inputs that are parameters, as kedro-mlflow logs them): what the sequential runner's hooks record, without
    loading the node's data here."""
    if hook_manager is None:
        return
    params = {name: catalog.load(name) for name in node.inputs if name.startswith("params:") or name == "parameters"}
    hook_manager.hook.before_node_run(node=node, catalog=catalog, inputs=params, is_async=is_async, run_id=run_id)


class DaskRunner(AbstractRunner):
    """Runs every node as a task on a Dask cluster.

    Args:
        address: the scheduler (``tcp://host:8786``); default ``$DASK_SCHEDULER_ADDRESS``; none: a
            ``LocalCluster`` of ``n_workers`` processes (default: the cores, at most 4) with one thread
            each, closed at the end of the run.
        n_workers: workers of the local cluster.
        torch_threads: torch threads per task; default: the cores of the worker's machine divided by the
            workers and threads that share it (``cores // workers`` on a local cluster; on a remote
            worker, its cores divided by its threads).
        client: an existing ``distributed.Client`` (tests, notebooks); the runner leaves it open.
    """

    def __init__(self, is_async: bool = False, address: str | None = None, n_workers: int | None = None,
                 torch_threads: int | None = None, client=None):
        super().__init__(is_async=is_async)
        self._address = address or os.environ.get("DASK_SCHEDULER_ADDRESS") or None
        self._n_workers = n_workers
        self._torch_threads = torch_threads
        self._client = client

    def _get_executor(self, max_workers: int):
        return None  # the cluster is the executor (see _run)

    def _connect(self):
        from distributed import Client, LocalCluster

        if self._client is not None:
            return self._client, None
        if self._address:
            logger.info("DaskRunner: scheduler %s", self._address)
            try:
                return Client(self._address), None
            except (OSError, TimeoutError, ValueError) as err:  # unreachable, refused, a malformed address
                raise SchedulerUnreachable(
                    f"the Dask scheduler {self._address} (DASK_SCHEDULER_ADDRESS or the runner's address) cannot be "
                    f"reached: {err}. Start it (`dask scheduler`), fix the address, or unset DASK_SCHEDULER_ADDRESS "
                    "to run on a local cluster.") from err
        n = self._n_workers or min(4, os.cpu_count() or 1)
        cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None)
        logger.info("DaskRunner: local cluster of %d worker processes (%s)", n, cluster.scheduler_address)
        return Client(cluster), cluster

    def _threads(self, client) -> int:
        if self._torch_threads:
            return self._torch_threads
        info = client.scheduler_info().get("workers", {})
        per_host = Counter(w.get("host") for w in info.values())
        threads = {w.get("host"): w.get("nthreads", 1) for w in info.values()}
        host, workers = per_host.most_common(1)[0] if per_host else (None, 1)
        return threads_per_worker(workers * threads.get(host, 1))

    def _run(self, pipeline, catalog, hook_manager=None, run_id: str | None = None) -> None:
        from distributed import as_completed

        nodes = pipeline.nodes
        self._validate_catalog(catalog)
        # Node outputs that would stay in one worker's memory go through the scheduler instead.
        produced = set(chain.from_iterable(n.outputs for n in nodes))
        for name in produced:
            if isinstance(catalog.get(name, fallback_to_runtime_pattern=True), MemoryDataset):
                catalog[name] = DaskDataset(name)
        catalog_log = logging.getLogger("kedro.io.data_catalog")
        level = catalog_log.level
        catalog_log.setLevel(logging.ERROR)  # "Replacing dataset ..." for every bound one: meant here
        try:
            tracking_uri = bind_mlflow_run(catalog, sorted(pipeline.datasets()))
        finally:
            catalog_log.setLevel(level)
        client, cluster = self._connect()
        try:
            threads = self._threads(client)
            futures = {}
            for node in nodes:  # topological order: a node's dependencies are submitted before it
                deps = [futures[d] for d in pipeline.node_dependencies[node]]
                log_node_params(hook_manager, node, catalog, self._is_async, run_id)
                futures[node] = client.submit(run_node_on_worker, node, catalog, self._is_async, run_id, threads,
                                              tracking_uri, *deps, key=f"{node.name}-{run_id or 'run'}", pure=False)
            load_counts = Counter(chain.from_iterable(n.inputs for n in nodes))
            by_name = {n.name: n for n in nodes}
            for done, (_, name) in enumerate(as_completed(futures.values(), with_results=True), start=1):
                node = by_name[name]
                self._logger.info("Completed node: %s (%d of %d)", name, done, len(nodes))
                self._release_datasets(node, catalog, load_counts, pipeline)
        finally:
            for name in produced:
                dataset = catalog.get(name, fallback_to_runtime_pattern=True)
                if isinstance(dataset, DaskDataset) and name not in pipeline.outputs():
                    try:
                        dataset.release()
                    except Exception:  # noqa: BLE001 - the cluster may be gone already
                        pass
            if cluster is not None or (self._client is None and self._address):
                client.close()
            if cluster is not None:
                cluster.close()
