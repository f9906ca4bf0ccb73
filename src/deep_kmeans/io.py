"""Kedro datasets of the project's own.

:class:`DirectoryStoreDataset` hands a node a small key → object store rooted at a folder given in
the catalog. The feature cache and the training checkpoints use it: the node decides what the key
is (a hash of its inputs), the catalog decides where the files live.
"""

from __future__ import annotations

import os
import pickle
import re
import tempfile
from pathlib import Path
from typing import Any

from kedro.io import AbstractDataset, DatasetError
from kedro_mlflow.io.models import MlflowModelTrackingDataset

_KEY = re.compile(r"^[A-Za-z0-9_.\-]+$")


class DirectoryStore:
    """Pickled objects in a folder, one file per key, written atomically."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def _file(self, key: str) -> Path:
        if not _KEY.match(key):
            raise ValueError(f"store keys are made of letters, digits, '_', '.', '-': got {key!r}")
        return self.path / f"{key}.pkl"

    def __contains__(self, key: str) -> bool:
        return self._file(key).exists()

    def get(self, key: str, default: Any = None) -> Any:
        f = self._file(key)
        if not f.exists():
            return default
        with f.open("rb") as fh:
            return pickle.load(fh)

    def put(self, key: str, obj: Any) -> Path:
        f = self._file(key)
        f.parent.mkdir(parents=True, exist_ok=True)
        # Write to a temporary file then rename: an interrupted save never leaves a half file behind.
        fd, tmp = tempfile.mkstemp(dir=f.parent, prefix=f".{f.stem}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                pickle.dump(obj, fh, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, f)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        return f

    def delete(self, key: str) -> None:
        self._file(key).unlink(missing_ok=True)

    def keys(self) -> list[str]:
        return sorted(p.stem for p in self.path.glob("*.pkl")) if self.path.exists() else []

    def __repr__(self) -> str:
        return f"DirectoryStore({str(self.path)!r})"


class DirectoryStoreDataset(AbstractDataset[None, DirectoryStore]):
    """Loads as a :class:`DirectoryStore` over ``path``; nodes read and write through it."""

    def __init__(self, path: str, metadata: dict | None = None):
        self._path = Path(path)
        self.metadata = metadata

    def load(self) -> DirectoryStore:
        return DirectoryStore(self._path)

    def save(self, data: None) -> None:
        raise DatasetError("DirectoryStoreDataset is written through the store it loads as, not saved")

    def _exists(self) -> bool:
        return True

    def _describe(self) -> dict[str, Any]:
        return {"path": str(self._path)}


class CustomSourceDataset(AbstractDataset[None, Any]):
    """Your own data's location for ``dataset=custom``: loads as a :class:`deep_kmeans.data.custom.CustomSource`.

    The data node reads the file or folder (``data.custom.read_custom``) only when ``dataset=custom``, so
    the entry costs nothing on the other data sets. ``source`` comes from ``--params=custom.path=PATH``
    through the ``runtime_params`` resolver in conf/base/catalog.yml; point it at your data in
    conf/local/catalog.yml instead to skip the flag::

        custom_source:
          type: deep_kmeans.io.CustomSourceDataset
          source: /data/my_embeddings.npz

    (``source``, not ``filepath``: Kedro would turn an empty ``filepath`` into the project folder. A
    relative path is read from the folder ``kedro run`` runs in, the project's.)
    """

    def __init__(self, source: str | None = "", metadata: dict | None = None):
        self._filepath = "" if source in (None, "None", "null") else str(source)
        self.metadata = metadata

    def load(self):
        from deep_kmeans.data.custom import CustomSource

        return CustomSource(self._filepath)

    def save(self, data: None) -> None:
        raise DatasetError("custom_source is your input data: it is read, never written")

    def _exists(self) -> bool:
        return bool(self._filepath) and Path(self._filepath).expanduser().exists()

    def _describe(self) -> dict[str, Any]:
        return {"source": self._filepath}


class MlflowVersionedArtifactDataset(AbstractDataset):
    """A Kedro-versioned dataset whose every save is also logged to the active MLflow run.

    kedro-mlflow's ``MlflowArtifactDataset`` builds its wrapped dataset with a save version of its
    own (the time it is created), which Kedro 1.x rejects for datasets created lazily during a run
    ("All datasets in the catalog must have the same save version"). This wrapper takes the
    catalog's version instead: declare it with ``versioned: true`` at the top level::

        take.confusion_plot:
          type: deep_kmeans.io.MlflowVersionedArtifactDataset
          versioned: true
          artifact_path: plots
          dataset: {type: matplotlib.MatplotlibDataset, filepath: data/08_reporting/confusion.png}
    """

    def __init__(self, dataset: dict, artifact_path: str | None = None, version=None,
                 metadata: dict | None = None):
        from kedro.io.core import parse_dataset_definition

        config = dict(dataset)
        config.pop("versioned", None)
        cls, args = parse_dataset_definition(config)
        self._inner = cls(**args, version=version) if version is not None else cls(**args)
        self._artifact_path = artifact_path
        self.metadata = metadata
        # kedro-viz previews a dataset through its `preview` method and reads the preview's kind from the
        # method's return annotation: the wrapped dataset's own (image, table, JSON) serves as it is.
        if callable(getattr(self._inner, "preview", None)):
            self.preview = self._inner.preview

    @property
    def inner(self):
        """The wrapped dataset (the one that reads and writes the file)."""
        return self._inner

    @property
    def versioned(self) -> bool:
        return getattr(self._inner, "_version", None) is not None

    def with_version(self, version) -> "MlflowVersionedArtifactDataset":
        """A copy whose wrapped dataset loads ``version.load`` and saves ``version.save``."""
        copy = self._copy()
        copy._inner = self._inner._copy(_version=version)
        if callable(getattr(copy._inner, "preview", None)):
            copy.preview = copy._inner.preview
        return copy

    def load(self) -> Any:
        return self._inner.load()

    def save(self, data: Any) -> None:
        self._inner.save(data)
        import mlflow

        if mlflow.active_run() is None:
            return
        version = getattr(self._inner, "_version", None)
        if version is not None:
            path = self._inner._get_versioned_path(self._inner.resolve_save_version())
        else:
            path = Path(getattr(self._inner, "_filepath"))
        mlflow.log_artifact(str(path), artifact_path=self._artifact_path)

    def _exists(self) -> bool:
        return self._inner.exists()

    def _describe(self) -> dict[str, Any]:
        inner = self._inner._describe()
        # `filepath` at the top level: kedro-viz shows it as the dataset's file path
        return {"filepath": inner.get("filepath"), "dataset": inner, "artifact_path": self._artifact_path}


class PyfuncModelDataset(MlflowModelTrackingDataset):
    """kedro-mlflow's model dataset, minus two notices MLflow prints on every save of a pyfunc object model:
    that the object is cloudpickled (our choice: the model is the project's own class, loaded in the
    project's environment) and that no signature can be inferred from ``DataFrame -> list[int]`` type hints
    (the columns differ by data set)."""

    def _save(self, model) -> None:
        import logging

        loggers = [logging.getLogger(name) for name in ("mlflow.pyfunc", "mlflow.models.signature")]
        levels = [lg.level for lg in loggers]
        for lg in loggers:
            lg.setLevel(logging.ERROR)
        try:
            super()._save(model)
        finally:
            for lg, level in zip(loggers, levels):
                lg.setLevel(level)
