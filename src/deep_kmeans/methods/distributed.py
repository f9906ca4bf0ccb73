"""Data-parallel training under ``torchrun`` (DistributedDataParallel), for TAKE's loops.

:func:`process_group` returns a :class:`Group`. Outside torchrun (``WORLD_SIZE`` unset or 1) it is the
single-process group, whose every method is the identity, so the loops run exactly as before. Under
``torchrun --nproc_per_node=N`` it initialises the default process group once (``nccl`` on CUDA, ``gloo``
on CPU; torn down at exit), puts rank r on ``cuda:LOCAL_RANK`` when the device is CUDA, and:

* :meth:`Group.batches` cuts every *global* batch of ``batch_size × N`` rows of the run's seeded
  per-epoch permutation into N disjoint contiguous shards (rank r gets shard r), like
  ``torch.utils.data.DistributedSampler`` with the per-process ``batch_size``, but drawn from the run's
  own generator: the permutation and its checkpointed state are those of a single-process run with the
  global batch, and no row is padded twice or dropped that a single-process run keeps;
* :meth:`Group.wrap` wraps the module whose forward computes the loss in DDP (gradients averaged);
* :meth:`Group.scale` weighs a rank's per-row mean loss by its share of the global batch, so that DDP's
  average of gradients is the gradient of the global batch mean, shards of unequal size included;
* :meth:`Group.gather` all-gathers rows with gradient (the contrastive loss's negatives are the global
  batch's), :meth:`Group.sum` adds logged sums over ranks (:meth:`Group.all_sum` a tensor on its device),
  :meth:`Group.merge_rows` merges per-row assignments, :meth:`Group.on_main` runs a function on
  rank 0 only (K-means, loading a checkpoint) and broadcasts its result. Every collective moves its tensor
  to where the backend takes it (:func:`collective_device`: NCCL this rank's GPU, gloo the CPU) and back.

One DDP step therefore equals one single-process step on the global batch up to the order of float
reductions (docs/distributed.md measures the gap).
"""

from __future__ import annotations

import atexit
from typing import Any, Callable, Iterator

import torch
import torch.distributed as dist
from torch import nn

from deep_kmeans.runtime import resolve_device, torchrun_world

__all__ = ["Group", "collective_device", "process_group"]


class Group:
    """This process's place among the ranks; the single-process group when ``world_size == 1``."""

    def __init__(self, rank: int = 0, world_size: int = 1, local_rank: int = 0):
        self.rank, self.world_size, self.local_rank = rank, world_size, local_rank
        self._sizes: list[int] = []
        self._global: torch.Tensor | None = None

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def device(self, device: str | torch.device | None = "auto") -> torch.device:
        """``resolve_device``, with CUDA pinned to this rank's local GPU."""
        dev = resolve_device(device)
        if self.distributed and dev.type == "cuda" and dev.index is None:
            dev = torch.device("cuda", self.local_rank)
            torch.cuda.set_device(dev)
        return dev

    # -- batches ------------------------------------------------------------------------------------

    def batches(self, batches: Callable[[int], Iterator[torch.Tensor]]) -> Iterator[torch.Tensor]:
        """This rank's shard of every batch of ``batches(global_batch_size)``; the batches as they are
        in one process. ``batches`` must draw from a generator seeded alike on every rank."""
        if not self.distributed:
            yield from batches(1)
            return
        for idx in batches(self.world_size):
            if len(idx) < self.world_size:  # a tail too small to give every rank a row
                continue
            shards = torch.tensor_split(idx, self.world_size)
            self._sizes, self._global = [len(s) for s in shards], idx
            yield shards[self.rank]

    def global_rows(self, idx: torch.Tensor) -> torch.Tensor:
        """The whole global batch whose shard ``idx`` is (``idx`` in one process)."""
        return self._global if self.distributed else idx

    def local(self, rows: torch.Tensor) -> torch.Tensor:
        """This rank's rows of a tensor laid out like :meth:`global_rows`."""
        if not self.distributed:
            return rows
        start = sum(self._sizes[:self.rank])
        return rows[start:start + self._sizes[self.rank]]

    # -- training -----------------------------------------------------------------------------------

    def wrap(self, module: nn.Module, find_unused: bool = False) -> nn.Module:
        """``module`` in DistributedDataParallel (parameters broadcast from rank 0 now, gradients averaged in
        every backward); ``module`` itself in one process. ``find_unused``: some steps leave parameters
        unused (warm-up epochs have no contrastive head)."""
        if not self.distributed:
            return module
        from torch.nn.parallel import DistributedDataParallel

        on_cuda = next(module.parameters()).device.type == "cuda"
        return DistributedDataParallel(module, device_ids=[self.local_rank] if on_cuda else None,
                                       find_unused_parameters=find_unused)

    def scale(self, loss: torch.Tensor) -> torch.Tensor:
        """A per-row mean over this rank's shard, weighed so that the DDP average of gradients is the
        gradient of the mean over the global batch."""
        if not self.distributed:
            return loss
        return loss * (self._sizes[self.rank] * self.world_size / sum(self._sizes))

    def gather(self, rows: torch.Tensor) -> tuple[torch.Tensor, int]:
        """``(rows of the whole global batch, offset of this rank's rows in it)``, differentiable: the gradient
        of every rank's loss reaches the rows it came from."""
        if not self.distributed:
            return rows, 0
        return _Gather.apply(rows, self._sizes, self.rank), sum(self._sizes[:self.rank])

    # -- values -------------------------------------------------------------------------------------

    def sum(self, values: dict[str, float]) -> dict[str, float]:
        """``values`` added over ranks (float64), the same on every rank."""
        if not self.distributed:
            return values
        keys = list(values)  # the same order on every rank: the same loop built it
        t = torch.tensor([float(values[k]) for k in keys], dtype=torch.float64)
        return dict(zip(keys, self._all_reduce(t, dist.ReduceOp.SUM).tolist()))

    def all_sum(self, tensor: torch.Tensor) -> torch.Tensor:
        """``tensor`` (any device) added over ranks, on its own device: sums kept on the GPU over an epoch are
        reduced there and read once."""
        return self._all_reduce(tensor, dist.ReduceOp.SUM) if self.distributed else tensor

    def merge_rows(self, updated: torch.Tensor) -> torch.Tensor:
        """Per-row int64 values, −1 where this rank did not set the row; the element-wise max over ranks
        (each row is set by at most one rank: shards are disjoint). On ``updated``'s device, CPU or GPU."""
        if not self.distributed:
            return updated
        return self._all_reduce(updated, dist.ReduceOp.MAX)

    def _all_reduce(self, tensor: torch.Tensor, op) -> torch.Tensor:
        """A reduced copy of ``tensor`` over ranks, reduced where the backend takes it (NCCL: this rank's GPU
        only; gloo: the CPU), returned on ``tensor``'s device."""
        buf = tensor.detach().to(collective_device(dist.get_backend(), self.local_rank), copy=True)
        dist.all_reduce(buf, op=op)
        return buf.to(tensor.device)

    def on_main(self, fn: Callable[[], Any]) -> Any:
        """``fn()`` on rank 0, its (picklable) result broadcast to every rank."""
        if not self.distributed:
            return fn()
        box = [fn() if self.is_main else None]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def broadcast_(self, tensor: torch.Tensor) -> torch.Tensor:
        """Rank 0's values into ``tensor`` on every rank, in place."""
        if self.distributed:
            with torch.no_grad():
                buf = tensor.detach().to(collective_device(dist.get_backend(), self.local_rank), copy=True)
                dist.broadcast(buf, src=0)
                tensor.copy_(buf)
        return tensor


def collective_device(backend: str, local_rank: int) -> torch.device:
    """Where a collective's tensors must lie: NCCL takes CUDA tensors only (it rejects CPU ones), on this rank's
    GPU; gloo takes CPU tensors."""
    return torch.device("cuda", local_rank) if backend == "nccl" else torch.device("cpu")


class _Gather(torch.autograd.Function):
    """All-gather of rows of unequal counts per rank; backward sums the gradient over ranks (every rank's
    loss used every rank's rows) and keeps this rank's rows."""

    @staticmethod
    def forward(ctx, rows: torch.Tensor, sizes: list[int], rank: int) -> torch.Tensor:
        ctx.sizes, ctx.rank = sizes, rank
        padded = rows.new_zeros((max(sizes),) + rows.shape[1:])
        padded[:len(rows)] = rows
        out = [torch.empty_like(padded) for _ in sizes]
        dist.all_gather(out, padded)
        return torch.cat([o[:n] for o, n in zip(out, sizes)])

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        grad = grad.contiguous().clone()
        dist.all_reduce(grad)
        start = sum(ctx.sizes[:ctx.rank])
        return grad[start:start + ctx.sizes[ctx.rank]], None, None


_SINGLE = Group()


def process_group(device: str | torch.device | None = "auto") -> Group:
    """The :class:`Group` of this process: under torchrun the default process group, initialised on the first
    call (``nccl`` for CUDA, ``gloo`` for CPU) and destroyed at exit; the single-process group otherwise."""
    rank, world, local = torchrun_world()
    if world == 1:
        return _SINGLE
    if not dist.is_initialized():
        cuda = resolve_device(device).type == "cuda"
        if cuda:
            torch.cuda.set_device(local)
        dist.init_process_group("nccl" if cuda else "gloo")
        atexit.register(_teardown)
    if dist.get_world_size() != world or dist.get_rank() != rank:
        raise RuntimeError(f"the process group (rank {dist.get_rank()} of {dist.get_world_size()}) does not match "
                           f"RANK={rank}, WORLD_SIZE={world} from the environment")
    return Group(rank, world, local)


def _teardown() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()
