"""Kedro datasets of the project's own.

:class:`DirectoryStoreDataset` hands a node a small key → object store rooted at a folder given in
the catalog. The feature cache and the training checkpoints use it: the node decides what the key
is (a hash of its inputs), the catalog decides where the files live. Store files are read with
``torch.load(weights_only=True)``: nothing under data/ that the store reads can run code.
:class:`SafeTorchDataset` is the same format as a versioned catalog dataset (raw data, features, pretrained
states, models, assignments): ``.pt`` files, written atomically, refused rather than unpickled when unsafe.
"""

from __future__ import annotations

import inspect
import warnings
from copy import deepcopy
from pathlib import Path, PurePosixPath
from typing import Any

import fsspec
import torch
from kedro.io import AbstractDataset, DatasetError
from kedro.io.core import AbstractVersionedDataset, Version, get_filepath_str, get_protocol_and_path
from kedro_mlflow.io.models import MlflowModelTrackingDataset

from deep_kmeans.errors import UserError

# the store itself has no Kedro in it (benchmarks use it on the GPU machine); re-exported here
from deep_kmeans.store import (DirectoryStore, StoreEntry, _reason, decode_safe, encode_safe,  # noqa: F401
                               save_atomically)


class FolderDataset(AbstractDataset[None, Any]):
    """A folder given in the catalog that loads as an object over it (``opens(path)``), which the code reads and
    writes through; the dataset itself is never saved."""

    opens: Any = None  # the class built over the folder
    written_by = "the object it loads as"

    def __init__(self, path: str, metadata: dict | None = None):
        self._path = Path(path)
        self.metadata = metadata

    def __init_subclass__(cls, **kwargs):
        # kedro records a dataset's arguments by wrapping its __init__; a subclass that inherits ours would be
        # wrapped twice and record ``{"args", "kwargs"}``, which ``catalog.to_config()`` (--load-versions) cannot
        # build the dataset from again. It gets the unwrapped one, for kedro to wrap once.
        if "__init__" not in cls.__dict__:
            cls.__init__ = inspect.unwrap(FolderDataset.__init__)
        super().__init_subclass__(**kwargs)

    def load(self):
        return type(self).opens(self._path)

    def save(self, data: None) -> None:
        raise DatasetError(f"{type(self).__name__} is written through {self.written_by}, not saved")

    def _exists(self) -> bool:
        return True

    def _describe(self) -> dict[str, Any]:
        return {"path": str(self._path)}


class DirectoryStoreDataset(FolderDataset):
    """Loads as a :class:`DirectoryStore` over ``path``; nodes read and write through it."""

    opens = DirectoryStore
    written_by = "the store it loads as"


class RefusedFileError(UserError, DatasetError):
    """A file at a version path that the project did not write (planted, truncated, damaged): refused unread.
    A user error (the file is theirs to remove), so ``kedro run`` says it in one line, exit code 2."""


ARTIFACT_FORMAT = "deep_kmeans.artifact"
ARTIFACT_VERSION = 1


class SafeTorchDataset(AbstractVersionedDataset[Any, Any]):
    """A versioned dataset that stores an object as a ``.pt`` file read back without unpickling code.

    The catalog's drop-in for ``pickle.PickleDataset`` on what a run writes to data/ and a later stage reads
    (raw data, features, pretrained states, models, assignments)::

        features:
          type: deep_kmeans.io.SafeTorchDataset
          filepath: data/04_feature/digits/features.pt
          versioned: true

    ``save`` encodes the object (:func:`encode_safe`: tensors, NumPy arrays and scalars, plain values and
    tuples, lists and dicts of them; anything else is a ``DatasetError`` naming where it is) and writes it
    with ``torch.save``, through a temporary file renamed into place for a local path, so an interrupted
    save leaves no half file. ``load`` reads it with ``torch.load(weights_only=True, map_location="cpu")``:
    a planted pickle cannot run code, and a truncated, garbled or planted file is refused with a
    ``DatasetError`` naming it (the file is left where it is: it is yours to inspect or remove).
    """

    def __init__(self, *, filepath: str, version: Version | None = None, credentials: dict | None = None,
                 fs_args: dict | None = None, metadata: dict | None = None):
        _fs_args = deepcopy(fs_args) or {}
        _credentials = deepcopy(credentials) or {}
        protocol, path = get_protocol_and_path(filepath, version)
        if protocol == "file":
            _fs_args.setdefault("auto_mkdir", True)
        self._protocol = protocol
        self._fs = fsspec.filesystem(self._protocol, **_credentials, **_fs_args)
        self.metadata = metadata
        super().__init__(filepath=PurePosixPath(path), version=version, exists_function=self._fs.exists,
                         glob_function=self._fs.glob)

    def _describe(self) -> dict[str, Any]:
        return {"filepath": self._filepath, "protocol": self._protocol, "version": self._version}

    def load(self) -> Any:
        load_path = get_filepath_str(self._get_load_path(), self._protocol)
        try:
            with self._fs.open(load_path, mode="rb") as fh, warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # torch's notice on a pickle of another protocol
                blob = torch.load(fh, map_location="cpu", weights_only=True)
            if not (isinstance(blob, dict) and blob.get("format") == ARTIFACT_FORMAT):
                raise ValueError("not a deep_kmeans artifact file")
            if blob.get("version") != ARTIFACT_VERSION:
                raise ValueError(f"artifact format version {blob.get('version')!r}, this code reads "
                                 f"{ARTIFACT_VERSION}")
            return decode_safe(blob["object"])
        except FileNotFoundError:
            raise
        except Exception as err:  # noqa: BLE001 -- whatever the failure, the file cannot be trusted
            raise RefusedFileError(
                f"Refused to load {load_path} ({_reason(err)}): it is not a file this project wrote, or it is "
                "truncated or damaged, and it was not unpickled. The file is left in place; remove it (or that "
                "version folder) and rerun the stage that writes it (e.g. `kedro run --pipeline=...` of the "
                "stage whose output it is)."
            ) from err

    def save(self, data: Any) -> None:
        save_path = get_filepath_str(self._get_save_path(), self._protocol)
        try:
            blob = {"format": ARTIFACT_FORMAT, "version": ARTIFACT_VERSION,
                    "object": encode_safe(data, Path(str(self._filepath)).name)}
        except TypeError as err:
            raise DatasetError(f"{data.__class__} was not saved to {save_path}: {err}") from err
        if self._protocol == "file":
            target = Path(save_path)
            save_atomically(blob, target, prefix=f".{target.name}.")
        else:
            with self._fs.open(save_path, mode="wb") as fh:
                torch.save(blob, fh)
        self._invalidate_cache()

    def _exists(self) -> bool:
        try:
            load_path = get_filepath_str(self._get_load_path(), self._protocol)
        except DatasetError:
            return False
        return self._fs.exists(load_path)

    def _release(self) -> None:
        super()._release()
        self._invalidate_cache()

    def _invalidate_cache(self) -> None:
        self._fs.invalidate_cache(get_filepath_str(self._filepath, self._protocol))


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

    _bound_run: str | None = None

    def bind_run(self, run_id: str | None) -> None:
        """Log into ``run_id`` when no MLflow run is active in the saving thread (a Dask worker's)."""
        self._bound_run = run_id

    def load(self) -> Any:
        return self._inner.load()

    def save(self, data: Any) -> None:
        self._inner.save(data)
        import mlflow

        active = mlflow.active_run()
        if active is None and not self._bound_run:
            return
        version = getattr(self._inner, "_version", None)
        if version is not None:
            path = self._inner._get_versioned_path(self._inner.resolve_save_version())
        else:
            path = Path(getattr(self._inner, "_filepath"))
        if active is not None:
            mlflow.log_artifact(str(path), artifact_path=self._artifact_path)
        else:  # a runner's worker: the run this dataset was bound to, never a new one
            mlflow.MlflowClient().log_artifact(self._bound_run, str(path), artifact_path=self._artifact_path)

    def _exists(self) -> bool:
        return self._inner.exists()

    def _describe(self) -> dict[str, Any]:
        inner = self._inner._describe()
        # `filepath` at the top level: kedro-viz shows it as the dataset's file path
        return {"filepath": inner.get("filepath"), "dataset": inner, "artifact_path": self._artifact_path}


class PyfuncModelDataset(MlflowModelTrackingDataset):
    """kedro-mlflow's model dataset, with the model's input signature (``model.signature()``) and what it takes
    (``model.metadata()``, the ``metadata`` of its ``MLmodel``), and without three
    notices MLflow prints on every save of a pyfunc object model: that the object is cloudpickled (our choice:
    the model is the project's own class, loaded in the project's environment), that no signature can be
    inferred from ``DataFrame -> list[int]`` type hints (the model gives its own), and that no input example was
    given (MLflow would run the model on it to check the signature).

    Logged into the active MLflow run, or, where a runner's worker has none (Dask), into the run bound with
    :meth:`bind_run`, never into a new one."""

    _bound_run: str | None = None

    def bind_run(self, run_id: str | None) -> None:
        """Log into ``run_id`` when no MLflow run is active in the saving thread (a Dask worker's)."""
        self._bound_run = run_id

    def _log(self, model, signature, metadata) -> None:
        import mlflow

        if mlflow.active_run() is None and self._bound_run and self._flavor == "mlflow.pyfunc":
            from mlflow.models import Model

            args = {k: v for k, v in self._save_args.items() if k != self._pyfunc_workflow}
            # the logged model goes in the run's experiment (Model.log alone would take this process's active one)
            client = mlflow.MlflowClient()
            run = client.get_run(self._bound_run)
            logged = client.create_logged_model(experiment_id=run.info.experiment_id, name=args.get("name"),
                                                source_run_id=self._bound_run, params=dict(run.data.params))
            self.model_info = Model.log(artifact_path=None, flavor=mlflow.pyfunc, run_id=self._bound_run,
                                        model_id=logged.model_id, signature=signature, metadata=metadata,
                                        **{self._pyfunc_workflow: model}, **args)
            self._last_saved_model_uri = self.model_info.model_uri
        else:
            self._save_args.update(signature=signature, metadata=metadata)
            super()._save(model)

    def _save(self, model) -> None:
        import logging

        loggers = [logging.getLogger(name) for name in ("mlflow.pyfunc", "mlflow.models.signature")]
        levels = [lg.level for lg in loggers]
        for lg in loggers:
            lg.setLevel(logging.ERROR)
        signature = model.signature() if callable(getattr(model, "signature", None)) else None
        metadata = model.metadata() if callable(getattr(model, "metadata", None)) else None
        try:
            with warnings.catch_warnings():
                # MLflow asks for an input example to check the signature with; it would run the model on it
                warnings.filterwarnings("ignore", message=r".*An input example was not provided",
                                        category=UserWarning)
                self._log(model, signature, metadata)
        finally:
            for lg, level in zip(loggers, levels):
                lg.setLevel(level)
