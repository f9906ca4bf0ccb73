"""How long a TAKE training will take, from a few timed steps, before any epoch runs."""

from __future__ import annotations

import dataclasses
import math
import time

import numpy as np
import torch

from deep_kmeans.data.registry import Geometry
from deep_kmeans.models.losses import reconstruction_loss
from deep_kmeans.methods.kit import resolve_device
from deep_kmeans.methods.take.config import TAKEConfig
from deep_kmeans.methods.take.model import build_tae


# Per-sample cost of an update step (the original and 4 views through the TAE, the contrastive head) and of a
# clustering step (KNet's unrolled projection on top of the TAE), relative to a warm-up step: measured on
# MNIST at the paper's settings, 2 CPU cores (723 / 122 / 628 samples per second).
UPDATE_STEP_COST = 5.9
CLUSTER_STEP_COST = 1.15


def estimate_seconds(x: np.ndarray, geometry: Geometry, cfg: TAKEConfig, device: str = "auto", steps: int = 3,
                     has_views: bool = True) -> dict:
    """How long pretraining and clustering of ``cfg`` on ``x`` will take on ``device``, extrapolated from
    ``steps`` timed warm-up steps on one batch (after an untimed one: allocation, kernel choice).

    Returns seconds ``{"step", "pretrain", "cluster", "total"}``; a rough figure (within about a third), cheap
    enough to take before every training. Leaves no trace: the real training seeds its own modules.
    """
    dev = resolve_device(device)
    tae = build_tae(geometry, dataclasses.replace(cfg, compile=False)).to(dev)
    opt = torch.optim.Adam(tae.parameters(), lr=cfg.lr)
    xb = torch.from_numpy(np.ascontiguousarray(x[:cfg.batch_size], dtype=np.float32)).to(dev)

    def step() -> None:
        _, rec = tae(xb)
        loss = reconstruction_loss(xb, rec, cfg.reconstruction)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)

    step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    # a full batch's time per step, whatever the size of the probed batch
    per_step = (time.perf_counter() - start) / steps * cfg.batch_size / len(xb)
    epoch = per_step * math.ceil(len(x) / cfg.batch_size)
    pretrain = epoch * (cfg.warmup_epochs + cfg.update_epochs * (UPDATE_STEP_COST if has_views else 1.0))
    cluster = epoch * cfg.cluster_epochs * CLUSTER_STEP_COST if cfg.assignment == "knet" else 0.0
    return {"step": per_step, "pretrain": pretrain, "cluster": cluster, "total": pretrain + cluster}


