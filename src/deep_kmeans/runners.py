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
runs does not reach them, which is why the sweep logs through explicit run ids (``pipelines/sweep``).
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


def run_node_on_worker(node, catalog, is_async: bool, run_id, torch_threads: int, *dependencies):
    """One node on a Dask worker. The project's hooks are not run there: they hold the ``kedro run``
    process's MLflow run (kedro-mlflow would open a stray one); the nodes that record do so by run id."""
    set_torch_threads(torch_threads)
    Task(node=node, catalog=catalog, hook_manager=_NullPluginManager(), is_async=is_async, run_id=run_id).execute()
    return node.name


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
            return Client(self._address), None
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
        client, cluster = self._connect()
        try:
            threads = self._threads(client)
            futures = {}
            for node in nodes:  # topological order: a node's dependencies are submitted before it
                deps = [futures[d] for d in pipeline.node_dependencies[node]]
                futures[node] = client.submit(run_node_on_worker, node, catalog, self._is_async, run_id, threads,
                                              *deps, key=f"{node.name}-{run_id or 'run'}", pure=False)
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
