"""TAKE under torchrun: 2 gloo processes on CPU match one process with the same global batch.

Each rank trains on its half of every global batch (DDP averages the gradients, the contrastive loss gathers
the negatives of the whole batch), K-means runs on rank 0; one DDP step is then one single-process step on
the global batch up to the order of float reductions. Measured gap on this set (docs/distributed.md):
z and centres ≤ 1e-6, losses ≤ 1e-6, weights ≤ 2e-4 (Adam's step normalisation magnifies tiny gradient
differences of near-zero gradients), assignments equal.
"""

import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from deep_kmeans.data.registry import geometry_for
from deep_kmeans.methods import take as T
from deep_kmeans.methods.distributed import Group, collective_device

SRC = Path(__file__).resolve().parents[2] / "src"
TINY = dict(embed_dim=16, depth=1, heads=2, decoder_depth=1, decoder_heads=2, mlp_ratio=2.0, head_hidden=16,
            head_out=8, warmup_epochs=1, update_epochs=1, cluster_epochs=2, lambda1=0.1, lambda2=0.1,
            lambda3=0.1, kmeans_n_init=1, dropout=0.0, checkpoint_every=0,
            # K-means' start: the ranks' z match one process's to 1e-6, and K-means on it is stable under that;
            # UMAP + GMM's start (the default) is not part of what DDP must reproduce (rank 0 alone runs it)
            knet_init="kmeans")


def tiny_data(n: int = 99):
    """``n`` digits (odd: the last global batch splits unevenly across 2 ranks) with cheap stand-in views."""
    from sklearn.datasets import load_digits

    d = load_digits()
    x = (d.images[:n] / 16).reshape(n, -1).astype(np.float32)
    views = np.stack([np.roll(x, s, axis=1) for s in (1, -1, 8, -8)], axis=1)
    return x, views, geometry_for("digits", 64)


def fit(x, views, geometry, batch_size: int, knet_centers: str) -> dict:
    cfg = T.TAKEConfig.from_params({**TINY, "batch_size": batch_size, "knet_centers": knet_centers})
    out = T.fit_take(x, views, geometry, cfg, 10, seed=0, device="cpu", progress=False)
    return {k: out[k] for k in ("model", "labels", "z", "history")}


def test_single_process_group_is_the_identity():
    g = Group()
    gen = torch.Generator().manual_seed(0)
    batches = list(g.batches(lambda world: iter([torch.arange(5) * world])))
    assert not g.distributed and g.is_main and [b.tolist() for b in batches] == [[0, 1, 2, 3, 4]]
    t = torch.randn(3, 2, generator=gen)
    assert g.scale(t) is t and g.gather(t) == (t, 0) and g.on_main(lambda: 7) == 7 and g.sum({"a": 1.0}) == {"a": 1.0}


def test_collectives_reduce_where_the_backend_takes_tensors():
    assert collective_device("nccl", 1) == torch.device("cuda", 1)  # NCCL rejects CPU tensors
    assert collective_device("gloo", 1) == torch.device("cpu")


@pytest.fixture
def gloo_of_one(tmp_path, monkeypatch):
    """A real gloo process group of one process, and a spy on what each all_reduce was given."""
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    seen = []
    real = dist.all_reduce

    def spy(tensor, op=dist.ReduceOp.SUM, **kw):
        seen.append((tensor.device.type, tensor.dtype, op))
        return real(tensor, op=op, **kw)

    monkeypatch.setattr(dist, "all_reduce", spy)
    yield seen
    dist.destroy_process_group()


def test_sums_and_merged_rows_come_back_on_the_callers_device(gloo_of_one):
    import torch.distributed as dist

    g = Group(rank=0, world_size=2)  # as rank 0 of 2: every collective runs (over the group of one)
    assert g.sum({"loss": 1.5, "seen": 3}) == {"loss": 1.5, "seen": 3.0}
    sums = torch.tensor([0.25, 4.0], dtype=torch.float64)
    assert torch.equal(g.all_sum(sums), sums) and g.all_sum(sums) is not sums
    rows = torch.tensor([-1, 3, 0])
    merged = g.merge_rows(rows)
    assert torch.equal(merged, rows) and merged.device == rows.device and merged is not rows
    assert gloo_of_one == [("cpu", torch.float64, dist.ReduceOp.SUM), ("cpu", torch.float64, dist.ReduceOp.SUM),
                           ("cpu", torch.float64, dist.ReduceOp.SUM), ("cpu", torch.int64, dist.ReduceOp.MAX)]


def test_sharded_contrastive_loss_adds_up_to_the_whole_batch_loss():
    """The shards' losses weighed by their share of the batch give the single-batch loss and its gradient."""
    from deep_kmeans.models.losses import contrastive_loss

    gen = torch.Generator().manual_seed(0)
    h1 = torch.randn(7, 4, generator=gen, requires_grad=True)
    h2 = torch.randn(7, 4, generator=gen, requires_grad=True)
    whole = contrastive_loss(h1, h2, 0.5)
    total = 0.0
    for start, stop in ((0, 4), (4, 7)):  # 2 shards of unequal size
        full = iter([F.normalize(h1, dim=1), F.normalize(h2, dim=1)])  # what all_gather returns, view 1 then 2

        def gather(rows, start=start, stop=stop, full=full):
            others = next(full)
            return torch.cat([others[:start], rows, others[stop:]]), start

        total = total + contrastive_loss(h1[start:stop], h2[start:stop], 0.5, gather=gather) * (stop - start) / 7
    torch.testing.assert_close(total, whole)
    for a, b in zip(torch.autograd.grad(total, (h1, h2)), torch.autograd.grad(whole, (h1, h2))):
        torch.testing.assert_close(a, b)


@pytest.mark.slow
def test_two_gloo_processes_match_one_process(tmp_path):
    """Both ways M follows z (learned by Adam; refitted on rank 0 and broadcast), in one torchrun launch."""
    modes = ["learn", "refit"]
    out = tmp_path / "ddp.pkl"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "KEDRO_DISABLE_TELEMETRY": "true",
           "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])}
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(name, None)
    # per-rank batch 16: global batch 32, the single-process batch below
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                           str(Path(__file__).with_name("take_ddp_worker.py")), str(out), "16", *modes],
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert {p.read_text() for p in tmp_path.glob("ddp.pkl.rank*")} == {"0/2", "1/2"}
    results = pickle.loads(out.read_bytes())
    for mode in modes:
        single, ddp = fit(*tiny_data(), 32, mode), results[mode]
        np.testing.assert_array_equal(ddp["labels"], single["labels"])
        np.testing.assert_allclose(ddp["z"], single["z"], atol=2e-4)
        np.testing.assert_allclose(ddp["model"]["centers"], single["model"]["centers"], atol=2e-4)
        assert list(ddp["history"]) == list(single["history"])
        for key, values in single["history"].items():
            np.testing.assert_allclose(np.array(ddp["history"][key], dtype=float), np.array(values, dtype=float),
                                       rtol=5e-4, atol=1e-6, err_msg=f"{mode} {key}")
        for part in ("tae", "knet"):
            for name, value in single["model"][part].items():
                torch.testing.assert_close(ddp["model"][part][name], value, atol=1e-3, rtol=0)
