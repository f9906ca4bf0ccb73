"""Counting host syncs: the calls that make the host wait for the device on CUDA, counted on any device.

A training loop is sync-free on a GPU when its count does not grow with the number of steps. On a CPU-only
machine nothing really waits, but the loop makes the same calls, so counting them here says what it would do
on a GPU. Counted, while the context is open:

* ``aten._local_scalar_dense``: every ``.item()``, ``float(t)``, ``int(t)``, ``bool(t)`` (an ``if`` on a
  tensor), ``math.isfinite(t)``;
* ops whose output size depends on the values, which copy a count back on CUDA: ``nonzero``,
  ``masked_select``, ``unique``, ``bincount``, ``repeat_interleave`` without ``output_size``, indexing with a
  boolean mask (``index_bool``); and ``equal`` (a bool to the host);
* ``Tensor.cpu``, ``Tensor.numpy`` and ``Tensor.tolist``, patched for the duration (on a CPU tensor they
  dispatch nothing, so the dispatch mode alone would not see them). ``t.cpu().numpy()`` counts twice.

Not counted: the ``.item()`` that ``torch.optim`` calls on its step counters, which stay on the host even when
the parameters are on CUDA (non-fused, non-capturable optimisers), so no device waits for them. Not seen on a
CPU machine: blocking host-to-device copies (on CUDA, ``.to(cuda)`` of a pageable CPU tensor waits for the
stream); ``torch.cuda.set_sync_debug_mode`` catches those on a GPU (the profile section of
``benchmarks/speed.py`` reports it).

Usage (tests/methods/test_take_syncs.py; ``tests/`` is on pytest's path, ``benchmarks/speed.py`` adds it)::

    from syncs import count_host_syncs

    with count_host_syncs() as syncs:
        T.pretrain(...)
    syncs.total         # 3
    syncs.by_kind       # Counter({"tolist": 2, "_local_scalar_dense": 1})
    syncs.where         # Counter({"src/deep_kmeans/methods/take/pretrain.py:212 tolist": 2, ...})
"""

from __future__ import annotations

import sys
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch.utils._python_dispatch import TorchDispatchMode

__all__ = ["HostSyncs", "count_host_syncs"]

# aten overload packets that read a value back to the host on CUDA (their names, as func.overloadpacket has them)
SYNC_OPS = frozenset({"_local_scalar_dense", "nonzero", "masked_select", "_unique", "_unique2", "unique_dim",
                      "unique_consecutive", "bincount", "equal"})
PATCHED = ("cpu", "numpy", "tolist")
_OPTIM = str(Path(torch.optim.__file__).parent)
_TORCH = str(Path(torch.__file__).parent)


@dataclass
class HostSyncs:
    """What :func:`count_host_syncs` counted: per kind, and per calling line outside torch."""

    by_kind: Counter = field(default_factory=Counter)
    where: Counter = field(default_factory=Counter)

    @property
    def total(self) -> int:
        return sum(self.by_kind.values())

    def add(self, kind: str) -> None:
        frame = sys._getframe(1)
        site = None
        while frame is not None:
            path = frame.f_code.co_filename
            if path.startswith(_OPTIM):  # the optimiser's host-side step counter: no device sync
                return
            if site is None and not path.startswith(_TORCH) and path != __file__:
                site = f"{_short(path)}:{frame.f_lineno}"
            frame = frame.f_back
        self.by_kind[kind] += 1
        self.where[f"{site} {kind}"] += 1


def _short(path: str) -> str:
    parts = Path(path).parts
    for root in ("src", "tests", "benchmarks"):
        if root in parts:
            return "/".join(parts[parts.index(root):])
    return path


class _SyncMode(TorchDispatchMode):
    def __init__(self, syncs: HostSyncs):
        super().__init__()
        self.syncs = syncs

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = func.overloadpacket.__name__
        if name in SYNC_OPS or (name == "repeat_interleave" and kwargs.get("output_size") is None
                                and func._overloadname in ("Tensor", "self_Tensor")):
            self.syncs.add(name)
        elif name == "index" and any(isinstance(i, torch.Tensor) and i.dtype == torch.bool for i in args[1] or ()):
            self.syncs.add("index_bool")
        return func(*args, **kwargs)


@contextmanager
def count_host_syncs():
    """Count the host syncs of everything run inside the block (this thread); yields a :class:`HostSyncs`."""
    syncs = HostSyncs()
    saved = {name: torch.Tensor.__dict__.get(name) for name in PATCHED}

    def patched(name):
        original = getattr(torch.Tensor, name)

        def call(self, *args, **kwargs):
            syncs.add(name)
            return original(self, *args, **kwargs)

        return call

    for name in PATCHED:
        setattr(torch.Tensor, name, patched(name))
    try:
        with _SyncMode(syncs):
            yield syncs
    finally:
        for name, value in saved.items():
            if value is None:
                delattr(torch.Tensor, name)
            else:
                setattr(torch.Tensor, name, value)
