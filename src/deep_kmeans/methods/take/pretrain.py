"""TAKE's pretraining (paper 3.3): warm-up epochs of L_r on the original data, then update epochs of
L_r + λ1 L_ccl + λ2 L_cl on the original and augmented data (L_r over all views)."""

from __future__ import annotations

import logging
import math

import numpy as np
import torch
from torch import nn

from deep_kmeans.data.registry import Geometry
from deep_kmeans.models.losses import contrastive_loss, convex_combination_loss, reconstruction_loss
from deep_kmeans.models.tae import ContrastiveHead, TransformerAutoencoder
from deep_kmeans.methods.distributed import Group, process_group
from deep_kmeans.methods.kit import (Checkpointer, cpu_state_dict, epoch_bar, minibatches, record, rng_state, run_key,
                                     seed_everything, set_rng_state)
from deep_kmeans.methods.take.config import TAKEConfig
from deep_kmeans.methods.take.model import _autocast, _digest, build_tae, check_inputs
from deep_kmeans.runtime import tf32_matmuls

logger = logging.getLogger(__name__)


def _augment_key(augment):
    """What identifies a view augmenter in a checkpoint key: :func:`view_augmenter` sets its ``key``."""
    if augment is None:
        return None
    return getattr(augment, "key", getattr(augment, "__qualname__", type(augment).__qualname__))



def view_augmenter(features: dict, cfg: TAKEConfig, view_params: dict | None = None):
    """``augment(xb, generator) -> (B, 4, dim)`` for ``pretrain`` when ``cfg.fresh_views`` asks for it: fresh
    2 crops + 2 rotations of a batch of flat pixel images, computed on the batch's device from draws of the CPU
    ``generator``, with the crop scale and rotation of ``view_params`` (``params:features.views``).

    Returns None when fresh views are off or there is no update phase, and, with a warning, where they
    cannot apply: the features are not pixels (backbone, sentence-encoder or tf-idf vectors: their views must
    go through the extractor) or the data set was built without views (``features.views.enabled: false``),
    so the stored views, if any, are used.
    """
    if not (cfg.fresh_views and cfg.update_epochs):
        return None
    if features.get("extractor") != "pixels" or features.get("views") is None:
        logger.warning("take.fresh_views applies to pixel data sets built with views; %s has %s features%s: "
                       "using the stored views", features.get("name"), features.get("extractor"),
                       "" if features.get("views") is not None else " and no views")
        return None
    from deep_kmeans.features.images import random_views

    g = Geometry.from_dict(features["geometry"])
    v = view_params or {}
    crop_scale, max_rotation = tuple(v.get("crop_scale", (0.6, 1.0))), float(v.get("max_rotation", 15.0))

    def augment(xb: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        images = xb.reshape(-1, g.channels, g.side, g.side)  # pixels: dim = C·S·S, no padding
        views = random_views(images, generator, crop_scale=crop_scale, max_rotation=max_rotation)
        return views.clamp_(0.0, 1.0).flatten(2)  # (B, 4, dim), values in [0, 1] like the stored views

    augment.key = {"fresh_views": "random_views", "crop_scale": list(crop_scale), "max_rotation": max_rotation}
    return augment


def _batches(n: int, batch_size: int, generator: torch.Generator, group: Group, device: torch.device | str = "cpu"):
    # a lone last sample carries no contrastive signal: dropped. Under torchrun: this rank's shard of every
    # global batch of batch_size × world_size rows. The order is drawn on the CPU from `generator` whatever the
    # device (same seed, same order; its checkpointed state resumes it), then moved to `device` once an epoch.
    return group.batches(lambda world: minibatches(n, batch_size * world, generator, device=device, min_size=2))


def resident(arrays, device: torch.device) -> list[torch.Tensor | None]:
    """The training arrays as float32 tensors where the batches are gathered: on ``device`` once for the whole
    training (no copy per step), unless together they would take more than half of its free memory; then in
    host memory, each batch gathered there and copied without waiting for the device. On the CPU, the arrays
    themselves."""
    tensors = [None if a is None else torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)) for a in arrays]
    if device.type != "cuda":
        return tensors
    size = sum(t.numel() * t.element_size() for t in tensors if t is not None)
    on_device = size <= torch.cuda.mem_get_info(device)[0] // 2
    if not on_device:
        logger.info("TAKE: the training data (%.1f GiB) stay in host memory, copied batch by batch", size / 2**30)
    return [t.to(device) if on_device and t is not None else t for t in tensors]


def optimizer(params, lr: float, device: torch.device) -> torch.optim.Adam:
    """Adam; on CUDA its fused kernel (one launch for all parameters). On the CPU plain Adam, as before."""
    return torch.optim.Adam(params, lr=lr, **({"fused": True} if device.type == "cuda" else {}))


class _PretrainStep(nn.Module):
    """One pretraining step's losses, as the forward of one module (what DDP wraps)."""

    def __init__(self, tae: TransformerAutoencoder, head: ContrastiveHead, ccl_logits: nn.Parameter,
                 cfg: TAKEConfig, group: Group):
        super().__init__()
        self.tae, self.head, self.ccl_logits, self.cfg = tae, head, ccl_logits, cfg
        self.gather = group.gather if group.distributed else None

    def forward(self, xb: torch.Tensor, vb: torch.Tensor | None) -> tuple[torch.Tensor, dict]:
        """``vb`` (B, 4, dim) in update epochs, None in warm-up → (loss, its terms)."""
        cfg = self.cfg
        if vb is None:
            _, rec = self.tae(xb)
            loss = reconstruction_loss(xb, rec, cfg.reconstruction)
            return loss, {"l_r": loss}
        b = len(xb)
        inputs = torch.cat([xb, vb.flatten(0, 1)])  # original then all views: (5B, dim)
        z_all, rec_all = self.tae(inputs)
        l_r = reconstruction_loss(inputs, rec_all, cfg.reconstruction)
        loss, terms = add_view_terms(l_r, z_all[:b], z_all[b:].reshape(b, 4, -1), self.head, self.ccl_logits, cfg,
                                     self.gather)
        return loss, {"l_r": l_r, **terms}


def add_view_terms(loss: torch.Tensor, z: torch.Tensor, zv: torch.Tensor, head: ContrastiveHead,
                   ccl_logits: torch.Tensor, cfg: TAKEConfig, gather=None) -> tuple[torch.Tensor, dict]:
    """``loss`` + the update epochs' view terms on z of a batch (B, d) and of its 4 views (B, 4, d): λ1 L_ccl on
    the two rotations (eq. 3) and λ2 L_cl on the two crops (eqs. 4-5), each where ``use_ccl``/``use_cl`` keep it.
    → (the sum, {"l_ccl", "l_cl"} unweighted). The joint phase keeps them with ``cluster_contrastive``."""
    terms = {}
    if cfg.use_ccl:
        terms["l_ccl"] = convex_combination_loss(z.float(), zv[:, 2:4].float(), ccl_logits)
        loss = loss + cfg.lambda1 * terms["l_ccl"]
    if cfg.use_cl:
        terms["l_cl"] = contrastive_loss(head(zv[:, 0]).float(), head(zv[:, 1]).float(), cfg.tau, gather=gather)
        loss = loss + cfg.lambda2 * terms["l_cl"]
    return loss, terms


def pretrain_checkpointer(x: np.ndarray, views: np.ndarray | None, cfg: TAKEConfig, seed: int, store,
                          data_key: str = "", augment=None) -> Checkpointer:
    """The checkpoint of :func:`pretrain` with these arguments. Its key: what changes this training (not how it
    is run, scored or predicted), the data itself and the seed."""
    key = "" if store is None else run_key("take-pretrain", cfg.training_options("pretrain"), data_key, seed,
                                           _digest(x, views), _augment_key(augment))
    return Checkpointer(store, key, cfg.checkpoint_every, cfg.resume)


def pretrain(x: np.ndarray, views: np.ndarray | None, geometry: Geometry, cfg: TAKEConfig, seed: int = 0,
             device: str = "auto", progress: bool = True, store=None, data_key: str = "",
             stop_after: int | None = None, augment=None, keep_final: bool = False,
             checkpointer: Checkpointer | None = None) -> tuple[dict, dict]:
    """Warm-up then update epochs (paper 3.3). Returns ({"tae", "head", "ccl_logits"} CPU states, history).

    ``views`` (N, 4, dim): [:, 0:2] crops for L_cl, [:, 2:4] rotations for L_ccl; None → L_r only in
    every epoch (REUTERS, or views off). ``augment`` (:func:`view_augmenter`), when given, draws the
    4 views of every batch afresh from the run's generator instead of reading ``views``.
    ``stop_after`` stops after that many epochs without finishing, to test resuming. ``keep_final``: the
    finished phase leaves its final state as its checkpoint (one that resumes after the last epoch: a rerun
    returns it without training) for whoever runs the next phase to clear when that finishes, so that a run cut
    off after pretraining does not pretrain again; otherwise the finished phase removes its checkpoint.
    ``checkpointer``: the caller's :func:`pretrain_checkpointer` of these same arguments, so that the data is
    hashed once (MNIST's rows and views: about a gigabyte); built here when None.
    """
    check_inputs(x, geometry, views)
    group = process_group(device)
    dev = group.device(device)
    gen = seed_everything(seed)
    tae = build_tae(geometry, cfg).to(dev)
    head = ContrastiveHead(cfg.latent_dim, cfg.head_hidden, cfg.head_out).to(dev)
    ccl_logits = nn.Parameter(torch.zeros(2, device=dev))  # c̃ ∈ R^p, p = 2 rotations
    params = list(tae.parameters()) + list(head.parameters()) + [ccl_logits]
    opt = optimizer(params, cfg.lr, dev)
    total = cfg.warmup_epochs + cfg.update_epochs
    history: dict[str, list[float]] = {}
    ckpt = checkpointer if checkpointer is not None else pretrain_checkpointer(x, views, cfg, seed, store, data_key,
                                                                               augment)
    start = 0
    state = group.on_main(ckpt.load)  # rank 0 reads, every rank resumes from the same state
    if state is not None:
        tae.load_state_dict(state["tae"])
        head.load_state_dict(state["head"])
        with torch.no_grad():
            ccl_logits.copy_(state["ccl_logits"])
        opt.load_state_dict(state["optimizer"])
        history, start = state["history"], state["epoch"]
        set_rng_state(state["rng"], gen)

    def training_state() -> dict:
        return {"tae": cpu_state_dict(tae), "head": cpu_state_dict(head), "ccl_logits": ccl_logits.detach().cpu(),
                "optimizer": opt.state_dict(), "history": history, "rng": rng_state(gen)}

    xt, vt = resident([x, None if views is None else views[:, :4]], dev)
    step = group.wrap(_PretrainStep(tae, head, ccl_logits, cfg, group), find_unused=True)  # warm-up: L_r only
    bar = epoch_bar(total, "TAKE pretrain", progress and group.is_main, start)
    with tf32_matmuls(dev):
        for epoch in bar:
            update = epoch >= cfg.warmup_epochs and (vt is not None or augment is not None)
            means = _epoch(step, opt, xt, vt, augment if update else None, update, cfg, gen, group, dev)
            if not math.isfinite(means["loss"]):
                raise FloatingPointError(f"TAKE pretraining diverged at epoch {epoch + 1} (loss {means['loss']}); "
                                         "lower take.lr or check the input scale")
            # None where a term is off (warm-up has no L_cl)
            record(history, "pretrain", {k: means.get(k) for k in ("loss", "l_r", "l_ccl", "l_cl")})
            bar.set_postfix({k: f"{v:.4g}" for k, v in means.items()})
            done = epoch + 1
            if group.is_main:
                ckpt.maybe_save(done, total, training_state)
            if stop_after is not None and done >= stop_after and done < total:
                raise KeyboardInterrupt(f"stopped after epoch {done} (stop_after)")
    bar.close()
    if group.is_main:
        if keep_final:
            ckpt.save_final(total, training_state)
        else:
            ckpt.clear()
    history = {k: v for k, v in history.items() if any(u is not None for u in v)}
    state = {"tae": cpu_state_dict(tae), "head": cpu_state_dict(head), "ccl_logits": ccl_logits.detach().cpu()}
    return state, history


def _epoch(step: nn.Module, opt: torch.optim.Optimizer, xt: torch.Tensor, vt: torch.Tensor | None, augment,
           update: bool, cfg: TAKEConfig, gen: torch.Generator, group: Group, dev: torch.device) -> dict[str, float]:
    """One epoch of steps; returns the epoch's mean of every loss term. Nothing in it waits for the device but
    the one read of the sums at its end: the batches are gathered where the data lie, the terms are added up
    there (float64, weighed by the batch size: the same sums, bit for bit, as adding their Python floats)."""
    step.train()
    keys, sums, seen = None, None, 0
    for idx in _batches(len(xt), cfg.batch_size, gen, group, xt.device):
        xb = xt[idx].to(dev, non_blocking=True)
        b = len(idx)
        vb = None
        if update:
            # (B, 4, dim); fresh views come from `gen`, whose state the checkpoints keep (every rank draws
            # those of the whole global batch, so that `gen` stays the same on all), computed on the device
            vb = (group.local(augment(xt[group.global_rows(idx)].to(dev, non_blocking=True), gen))
                  if augment is not None else vt[idx].to(dev, non_blocking=True))
        with _autocast(dev, cfg.amp):
            loss, terms = step(xb, vb)
        opt.zero_grad(set_to_none=True)
        group.scale(loss).backward()
        opt.step()
        terms = {**terms, "loss": loss}
        weighed = torch.stack([v.detach().double() for v in terms.values()]) * b
        keys, sums = list(terms), weighed if sums is None else sums + weighed
        seen += b
    totals = group.sum({**dict(zip(keys, sums.tolist())), "seen": seen})  # the epoch's one read
    seen = totals.pop("seen")
    return {k: v / seen for k, v in totals.items()}

