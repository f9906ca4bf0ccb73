"""A small key → object store in a folder, without Kedro: the feature cache and the training checkpoints.

Store files are written atomically with ``torch.save`` and read with ``torch.load(weights_only=True)``: nothing
under data/ that the store reads can run code. :mod:`deep_kmeans.io` wraps it as a Kedro dataset
(:class:`~deep_kmeans.io.DirectoryStoreDataset`); the benchmarks use it directly where Kedro is not installed
(the GPU machine).
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
import time
import warnings
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

_KEY = re.compile(r"^[A-Za-z0-9_.\-]+$")
# The keys the project writes: a feature fingerprint (20 hex digits) or a checkpoint's ``<prefix>-<16 hex>``
# (methods.kit.run_key). A legacy .pkl has no header of ours, so its name must be one of these.
PROJECT_KEY = re.compile(r"^(?:[0-9a-f]{20}|[a-z][a-z0-9_]*(?:-[a-z0-9_]+)*-[0-9a-f]{16})$")
# ``.<key>.<8 characters of tempfile.mkstemp>.tmp``: what save_atomically leaves when a save is cut off
_TMP = re.compile(r"^\.(?P<key>[A-Za-z0-9_.\-]+?)\.[a-z0-9_]{8}\.tmp$")
_ZIP_MAGIC = b"PK\x03\x04"  # torch.save's format is a zip archive
logger = logging.getLogger(__name__)

# What a store file holds: a header and the encoded object (see :func:`encode_safe`), written by torch.save and
# read back by torch.load(weights_only=True), whose unpickler builds tensors, containers and plain values only:
# a planted file cannot run code, and a truncated or garbled one fails the load (zip directory, tags, header).
STORE_FORMAT = "deep_kmeans.store"
STORE_VERSION = 1
SUFFIX = ".pt"
LEGACY_SUFFIX = ".pkl"  # the pickled store of before: never loaded, listed and cleaned as legacy files
_TAG = "__store__"
_PLAIN = (type(None), bool, int, float, complex, str, bytes, torch.dtype, torch.Size)


def _over_a_tensor(arr: np.ndarray) -> bool:
    """Whether ``arr`` views memory a torch tensor owns (a ``tensor.numpy()``, or a view of one)."""
    base = arr.base
    while isinstance(base, np.ndarray):
        base = base.base
    return isinstance(base, torch.Tensor)


def encode_safe(obj: Any, where: str = "object") -> Any:
    """``obj`` as a tree that ``torch.load(weights_only=True)`` rebuilds: tensors, ``torch.Size``/dtype, str,
    bytes, numbers, bool, None, and tuples, lists and dicts of them are kept; NumPy arrays and scalars become
    tagged byte tensors (any numeric, bool, fixed-width string dtype: dtype, shape and values come back
    exactly), object arrays tagged lists of their encoded elements. Anything else is a ``TypeError`` naming
    where in ``obj`` it is (``where`` names ``obj`` itself)."""
    if isinstance(obj, torch.Tensor):
        return obj
    if type(obj) in _PLAIN:  # exactly: np.float64 is a float, np.str_ a str, but pickled as NumPy's
        return obj
    if isinstance(obj, np.ndarray) or isinstance(obj, np.generic):
        arr = np.asarray(obj)
        kind = "ndarray" if isinstance(obj, np.ndarray) else "npscalar"
        if arr.dtype.fields is not None or arr.dtype.hasobject and arr.dtype != object:
            raise TypeError(f"{where}: NumPy arrays of structured dtype {arr.dtype} cannot be stored")
        if arr.dtype == object:
            items = [encode_safe(v, f"{where}[{i}]") for i, v in enumerate(arr.reshape(-1).tolist())]
            return {_TAG: "object_array", "shape": tuple(arr.shape), "items": items}
        flat = np.ascontiguousarray(arr.reshape(-1)).view(np.uint8)  # no copy of a contiguous array
        # a copy of a read-only array, and of one over a tensor's memory (``tensor.numpy()``): torch.save
        # refuses two views of one storage as different types
        raw = torch.from_numpy(flat if flat.flags.writeable and not _over_a_tensor(flat) else flat.copy())
        return {_TAG: kind, "dtype": arr.dtype.str, "shape": tuple(arr.shape), "data": raw}
    if type(obj) is tuple:
        return tuple(encode_safe(v, f"{where}[{i}]") for i, v in enumerate(obj))
    if type(obj) is list:
        return [encode_safe(v, f"{where}[{i}]") for i, v in enumerate(obj)]
    if type(obj) in (dict, OrderedDict):
        for k in obj:
            if not isinstance(k, (str, int, float, bool, type(None), tuple)):
                raise TypeError(f"{where}: a dict key of type {type(k).__name__} ({k!r}) cannot be stored")
        items = type(obj)((k, encode_safe(v, f"{where}[{k!r}]")) for k, v in obj.items())
        if _TAG in obj:  # a dict that would read as a tag: stored as its items
            return {_TAG: "dict", "items": [[k, v] for k, v in items.items()]}
        return items
    raise TypeError(f"{where}: a {type(obj).__module__}.{type(obj).__qualname__} cannot be stored (the store "
                    "keeps tensors, NumPy arrays and scalars, str, bytes, numbers, bool, None, and tuples, lists "
                    "and dicts of them)")


def decode_safe(obj: Any) -> Any:
    """The inverse of :func:`encode_safe`; a malformed tag is a ``ValueError``."""
    if isinstance(obj, (torch.Tensor,) + _PLAIN):
        return obj
    if type(obj) is tuple:
        return tuple(decode_safe(v) for v in obj)
    if type(obj) is list:
        return [decode_safe(v) for v in obj]
    if isinstance(obj, dict):
        tag = obj.get(_TAG) if type(obj) is dict else None
        if tag is None:
            return type(obj)((k, decode_safe(v)) for k, v in obj.items())
        if tag in ("ndarray", "npscalar"):
            data = obj["data"]
            if not isinstance(data, torch.Tensor) or data.dtype != torch.uint8:
                raise ValueError(f"a stored {tag} holds no byte tensor")
            arr = data.numpy().view(np.dtype(obj["dtype"])).reshape(obj["shape"])
            return arr if tag == "ndarray" else arr[()]
        if tag == "object_array":
            arr = np.empty(len(obj["items"]), dtype=object)
            for i, v in enumerate(obj["items"]):
                arr[i] = decode_safe(v)
            return arr.reshape(obj["shape"])
        if tag == "dict":
            return {k: decode_safe(v) for k, v in obj["items"]}
        raise ValueError(f"unknown store tag {tag!r}")
    raise ValueError(f"unexpected {type(obj).__name__} in a store file")


def _reason(err: Exception) -> str:
    """One line on why a store file did not load; for torch's weights-only refusal, what the file asked for."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(err))
    if text.startswith("Weights only load failed"):  # torch's notice, then what the file asked for
        parts = [p.strip() for p in re.split(r"\n\s*\n", text)[1:] if p.strip()]
        parts = [re.sub(r"^.*WeightsUnpickler error:\s*", "", p, flags=re.S) for p in parts
                 if not p.startswith("Check the documentation")]
        detail = " ".join(" ".join(parts).split())
        text = "not a safe file, the weights-only load refused it" + (f": {detail}" if detail else "")
    else:
        text = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    text = text if len(text) <= 240 else text[:237] + "..."
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


def save_atomically(blob: Any, target: Path, prefix: str) -> None:
    """``torch.save(blob)`` to ``target`` through a temporary file (``<prefix>….tmp``) renamed into place: an
    interrupted save never leaves a half file behind."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=prefix, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            torch.save(blob, fh)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _holds_store_header(path: Path, key: str) -> bool:
    """Whether ``path`` is a ``torch.save`` archive whose record is a store file of ``key``: its pickled
    structure (``<archive>/data.pkl``, a few hundred bytes; the tensors are other members) names the store's
    format and the key. Nothing is unpickled."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            member = next((n for n in archive.namelist() if n.endswith("/data.pkl") or n == "data.pkl"), None)
            if member is None or archive.getinfo(member).file_size > 1 << 24:
                return False
            structure = archive.read(member)
    except (OSError, zipfile.BadZipFile, ValueError):
        return False
    return STORE_FORMAT.encode() in structure and key.encode() in structure


def _starts_with(path: Path, *prefixes: bytes) -> bool:
    try:
        with path.open("rb") as fh:
            head = fh.read(8)
    except OSError:
        return False
    return any(head.startswith(p) for p in prefixes)


def is_project_file(path: Path, kind: str, key: str) -> bool:
    """Whether a file of a store folder is one this project wrote, by its name and its header (what
    ``kedro checkpoints clean`` may remove): an entry holds the store's header with its own key; a legacy
    ``.pkl`` is a pickle under a key the project makes (:data:`PROJECT_KEY`); a stray temporary file is empty
    or the start of a ``torch.save`` archive."""
    if kind == "entry":
        return _holds_store_header(path, key)
    if kind == "legacy":
        return bool(PROJECT_KEY.match(key)) and _starts_with(path, b"\x80")  # pickle protocol 2 and later
    if kind == "tmp":
        return path.stat().st_size == 0 or _starts_with(path, _ZIP_MAGIC)
    return False


@dataclass(frozen=True)
class StoreEntry:
    """One file of a :class:`DirectoryStore` folder: ``kind`` is ``entry`` (a ``<key>.pt`` the store reads),
    ``legacy`` (a ``<key>.pkl`` of the pickled store of before, never read) or ``tmp`` (a temporary file an
    interrupted save left behind), by its name; ``ours``: its header says the project wrote it
    (:func:`is_project_file`). A file of another name is not an entry at all."""

    key: str
    path: Path
    kind: str
    size: int
    mtime: float
    ours: bool = True

    def age_seconds(self, now: float | None = None) -> float:
        return max(0.0, (time.time() if now is None else now) - self.mtime)


class DirectoryStore:
    """Objects in a folder, one ``<key>.pt`` file per key, written atomically, read without unpickling code.

    ``put`` encodes the object (:func:`encode_safe`: a ``TypeError`` naming the key and the offending value
    for anything but arrays, tensors, plain values and containers of them) and saves it with ``torch.save``;
    ``get`` loads it with ``torch.load(weights_only=True)``. A file that does not load (truncated, garbled,
    planted: a pickle that would run code fails the safe load) is logged as a warning naming it and why,
    deleted, and reads as missing, so a cache rebuilds and a checkpoint restarts its phase.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def _file(self, key: str) -> Path:
        if not _KEY.match(key):
            raise ValueError(f"store keys are made of letters, digits, '_', '.', '-': got {key!r}")
        return self.path / f"{key}{SUFFIX}"

    def __contains__(self, key: str) -> bool:
        return self._file(key).exists()

    def get(self, key: str, default: Any = None) -> Any:
        f = self._file(key)
        if not f.exists():
            return default
        try:
            with warnings.catch_warnings():  # torch's notice on a pickle of another protocol: the file fails anyway
                warnings.simplefilter("ignore", UserWarning)
                blob = torch.load(f, map_location="cpu", weights_only=True)
            if not (isinstance(blob, dict) and blob.get("format") == STORE_FORMAT):
                raise ValueError("not a deep_kmeans store file")
            if blob.get("version") != STORE_VERSION:
                raise ValueError(f"store format version {blob.get('version')!r}, this code reads {STORE_VERSION}")
            if blob.get("key") != key:
                raise ValueError(f"it holds key {blob.get('key')!r}")
            return decode_safe(blob["object"])
        except Exception as err:  # noqa: BLE001 -- whatever the failure, the entry cannot be trusted
            reason = _reason(err)
            logger.warning("Discarding unreadable store entry %s (%s); it will be rebuilt", f, reason)
            f.unlink(missing_ok=True)
            return default

    def put(self, key: str, obj: Any) -> Path:
        f = self._file(key)
        blob = {"format": STORE_FORMAT, "version": STORE_VERSION, "key": key,
                "object": encode_safe(obj, f"store entry {key!r}")}
        save_atomically(blob, f, prefix=f".{key}.")
        return f

    def delete(self, key: str) -> None:
        self._file(key).unlink(missing_ok=True)

    def keys(self) -> list[str]:
        return sorted(p.name[:-len(SUFFIX)] for p in self.path.glob(f"*{SUFFIX}")) if self.path.exists() else []

    def entries(self) -> list[StoreEntry]:
        """Every file of the folder named as a store file, oldest first: the entries, legacy ``.pkl`` files and
        stray ``.tmp`` files (what ``kedro checkpoints list`` shows), each with whether its header says the
        project wrote it (``ours``: what ``clean`` may remove)."""
        if not self.path.is_dir():
            return []
        out = []
        for p in self.path.iterdir():
            if not p.is_file():
                continue
            if p.name.endswith(SUFFIX) and not p.name.startswith("."):
                kind, key = "entry", p.name[:-len(SUFFIX)]
            elif p.name.endswith(LEGACY_SUFFIX) and not p.name.startswith("."):
                kind, key = "legacy", p.name[:-len(LEGACY_SUFFIX)]
            elif (tmp := _TMP.match(p.name)) is not None:
                kind, key = "tmp", tmp["key"]
            else:
                continue
            try:
                st = p.stat()
                ours = is_project_file(p, kind, key)
            except FileNotFoundError:  # removed meanwhile (a save renamed its temporary file)
                continue
            out.append(StoreEntry(key, p, kind, st.st_size, st.st_mtime, ours))
        return sorted(out, key=lambda e: (e.mtime, e.path.name))

    def size(self) -> int:
        """Bytes of every file :meth:`entries` lists."""
        return sum(e.size for e in self.entries())

    def __repr__(self) -> str:
        return f"DirectoryStore({str(self.path)!r})"
