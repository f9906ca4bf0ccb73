"""TAKE's training phases (paper 3.3, 4.1) as plain functions over arrays and torch modules.

1. ``pretrain``: warm-up epochs of L_r on the original data, then update epochs of
   L_r + λ1 L_ccl + λ2 L_cl on the original and augmented data (L_r over all views).
2. ``kmeans_initialise``: scikit-learn K-means on z of all data → M and the initial assignment.
3. ``cluster``: L_r + λ3 L_k over the TAE and KNet's M jointly, with gradient clipping.
4. ``predict``: argmax of the KNet forward, batch by batch (works on unseen data).

:func:`fit_take` runs the four in order; the :class:`TAKE` estimator, the benchmarks and the Kedro nodes
(``pipelines/take/nodes.py``, one node per phase so each can be rerun alone) all call these functions.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import math
import time
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from sklearn.base import BaseEstimator, ClusterMixin

from deep_kmeans.data.registry import Geometry, vector_geometry
from deep_kmeans.models.clustering import cluster_means
from deep_kmeans.models.knet import KNet
from deep_kmeans.models.losses import contrastive_loss, convex_combination_loss, kmeans_loss, reconstruction_loss
from deep_kmeans.models.tae import ContrastiveHead, TransformerAutoencoder
from deep_kmeans.methods.distributed import Group, process_group
from deep_kmeans.methods.kit import (Checkpointer, ParamReader, check_inputs as _check_array, check_n_clusters, cpu_state_dict,
                                     estimator_geometry,
                                     epoch_bar, kmeans_init, minibatches, record, resolve_device, rng_state, run_key,
                                     seed_everything, set_rng_state)

logger = logging.getLogger(__name__)


@dataclass
class TAKEConfig:
    """Every hyperparameter of TAKE; defaults are the paper's MNIST settings (take.md)."""

    # TAE (3.1.1)
    embed_dim: int = 128
    latent_dim: int = 10
    depth: int = 8
    heads: int = 8
    decoder_depth: int = 2
    decoder_heads: int = 2
    mlp_ratio: float = 4.0
    dropout: float = 0.0  # in attention and the MLPs of every block (the paper uses none)
    head_hidden: int = 256
    head_out: int = 128
    # Schedule (4.1)
    warmup_epochs: int = 150
    update_epochs: int = 50
    cluster_epochs: int = 50
    # Sizing for data of any size (your own data): at most this many rows × epochs, all phases together, for
    # a 16-patch input (wider inputs, more patches, count more per row). A larger data set gets
    # proportionally fewer epochs (never fewer than 1 per phase, never more than given). None: as given.
    sample_budget: int | None = None
    batch_size: int = 256
    lr: float = 1e-3
    cluster_lr: float | None = None  # learning rate of the clustering phase; None = lr (the paper)
    grad_clip: float = 1.0  # max gradient norm in the clustering phase ("with gradient clipping")
    # Losses
    lambda1: float = 0.01  # L_ccl weight
    lambda2: float = 0.01  # L_cl weight
    lambda3: float = 1e-3  # L_k weight
    tau: float = 0.07
    reconstruction: str = "cosine"  # cosine | mse (Tables 6-7)
    use_ccl: bool = True  # ablation (Tables 10-11)
    use_cl: bool = True
    # KNet (3.2)
    knet_iters: int = 20
    knet_alpha: float | str = "auto"
    knet_lambda: float = 0.5
    # How the centres M follow z in the clustering phase. learn: M is a KNet parameter trained by Adam with
    # the TAE (the paper). refit: M is held fixed within an epoch (z still gets L_k's gradient through KNet)
    # and re-fitted after every epoch by Lloyd iterations on z of all data, warm-started at the current M
    # (DCN's alternation; cluster identities are kept). Measured on digits: learn leaves the joint phase
    # inert (Adam moves M too slowly to follow z), refit adds +0.036 ACC over the K-means start.
    knet_centers: str = "learn"
    # Where KNet starts. kmeans: K-means on the pretrained z (the paper). umap_gmm: N2D's head on z (UMAP to K
    # dimensions + a Gaussian mixture), M = the mean of z over each of its clusters: the joint phase then starts
    # from an assignment K-means on z cannot find (measured on digits: +0.02-0.08 final ACC over the K-means start).
    knet_init: str = "kmeans"
    # knet: TAE + KNet jointly (the method); kmeans: pretrain + K-means only (Table 12); umap_gmm: pretrain, then
    # N2D's head on z (UMAP to K dimensions + a Gaussian mixture; measured above KNet's assignment on digits)
    assignment: str = "knet"
    umap_neighbors: int = 30  # assignment umap_gmm: UMAP's n_neighbors on z
    kmeans_n_init: int | str = "auto"
    # Pixel data sets: draw new crops/rotations of each batch every update epoch instead of reusing the
    # 4 views stored with the features (the paper augments once). Not for backbone/text features, whose
    # views must go through the backbone.
    fresh_views: bool = False
    baseline_kmeans: bool = True  # also score K-means on the raw input in the run (the plain baseline)
    # Running
    amp: bool = False  # bfloat16 autocast on CUDA
    # torch.compile the TAE: 1.3-2x the steady-state throughput on CPU (docs/benchmarks.md), but about 30 s
    # of compilation up front, so worth it for runs of many minutes, not for the digits preset.
    compile: bool = False
    predict_batch_size: int = 2048
    checkpoint_every: int = 10
    resume: bool = True

    @classmethod
    def from_params(cls, params: dict | None, reader: ParamReader | None = None) -> "TAKEConfig":
        """Build from a parameter dict, checked by :func:`read_take_params` (types, ranges, unknown keys with the
        closest known name) and :meth:`check_shapes`. ``reader``: a collecting :class:`ParamReader` (the run's
        parameter check), which gathers the problems instead of raising on the first."""
        p = reader if reader is not None else ParamReader(params, "take")
        values = read_take_params(p)
        p.reject_unknown(ignore=("overrides", "split"))
        cfg = cls(**values)
        cfg.check_shapes(p)
        return cfg

    def check_shapes(self, p: ParamReader) -> None:
        """The checks across fields: the token width splits into the attention heads."""
        for heads in ("heads", "decoder_heads"):
            if self.embed_dim % getattr(self, heads):
                p._fail(heads, getattr(self, heads),
                        f"a divisor of embed_dim = {self.embed_dim} (embed_dim must be divisible by heads and "
                        f"decoder_heads)")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def training_options(self, phase: str) -> dict:
        """The options that change the training of ``phase`` (``pretrain`` or ``cluster``), what its checkpoint
        key hashes: an option that only changes how the run is carried out, scored or predicted
        (:data:`NOT_TRAINING_KEYS`) can change between an interrupted run and its rerun without losing the
        resume. The clustering phase starts from the pretrained TAE, so its options include pretraining's."""
        names = PRETRAIN_KEYS + (CLUSTER_TRAINING_KEYS if phase == "cluster" else ())
        if phase not in ("pretrain", "cluster"):
            raise ValueError(f"phase must be 'pretrain' or 'cluster', got {phase!r}")
        return {k: getattr(self, k) for k in names}


# What each phase's checkpoint key hashes (TAKEConfig.training_options); every field of TAKEConfig is in exactly
# one of the three (tests/methods/test_take.py checks it, so a new option must be placed).
PRETRAIN_KEYS = ("embed_dim", "latent_dim", "depth", "heads", "decoder_depth", "decoder_heads", "mlp_ratio", "dropout",
                 "head_hidden", "head_out", "warmup_epochs", "update_epochs", "batch_size", "lr", "lambda1", "lambda2",
                 "tau", "reconstruction", "use_ccl", "use_cl", "fresh_views", "amp")
CLUSTER_TRAINING_KEYS = ("cluster_epochs", "cluster_lr", "grad_clip", "lambda3", "knet_iters", "knet_alpha",
                         "knet_lambda", "knet_centers")
# assignment, umap_neighbors, kmeans_n_init and knet_init act outside the checkpointed loops (the clustering phase
# runs for assignment knet only; where it starts enters the key as the centres); compile changes the speed, not the
# module; predict_batch_size chunks inference; the rest are how the run is carried out.
NOT_TRAINING_KEYS = ("assignment", "umap_neighbors", "kmeans_n_init", "knet_init", "baseline_kmeans", "compile",
                     "predict_batch_size", "checkpoint_every", "resume",
                     # applied to the epochs before training (sized_for_data): the epochs are in the key
                     "sample_budget")


def _digest(*arrays) -> str:
    """A short content hash of arrays and tensors (their dtype, shape and bytes), for checkpoint keys."""
    h = hashlib.blake2b(digest_size=16)
    for a in arrays:
        if a is None:
            h.update(b"none")
            continue
        a = a.detach().cpu().numpy() if isinstance(a, torch.Tensor) else np.asarray(a)
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(memoryview(a.reshape(-1)).cast("B"))
    return h.hexdigest()


def _augment_key(augment):
    """What identifies a view augmenter in a checkpoint key: :func:`view_augmenter` sets its ``key``."""
    if augment is None:
        return None
    return getattr(augment, "key", getattr(augment, "__qualname__", type(augment).__qualname__))


def read_take_params(p: ParamReader) -> dict:
    """Every :class:`TAKEConfig` field read from ``p``, typed and range-checked: the one definition of what each
    TAKE parameter allows (the nodes, the estimator and the run's parameter check all read through it)."""
    d = {f.name: f.default for f in dataclasses.fields(TAKEConfig)}
    ints = {"embed_dim": 1, "latent_dim": 1, "depth": 1, "heads": 1, "decoder_depth": 1, "decoder_heads": 1,
            "head_hidden": 1, "head_out": 1, "warmup_epochs": 0, "update_epochs": 0, "cluster_epochs": 0,
            # the contrastive loss needs negatives: 2 rows per batch at least
            "batch_size": 2, "knet_iters": 1, "umap_neighbors": 2, "predict_batch_size": 1, "checkpoint_every": 0}
    v = {k: p.int(k, d[k], min=lo, nullable=False) for k, lo in ints.items()}
    v["sample_budget"] = p.int("sample_budget", d["sample_budget"], min=1)  # null: the epochs as given
    v["mlp_ratio"] = p.float("mlp_ratio", d["mlp_ratio"], min=0.0, exclusive_min=True, nullable=False)
    v["dropout"] = p.float("dropout", d["dropout"], min=0.0, max=1.0, exclusive_max=True, nullable=False)
    v["lr"] = p.float("lr", d["lr"], min=0.0, exclusive_min=True, nullable=False)
    v["cluster_lr"] = p.float("cluster_lr", None, min=0.0, exclusive_min=True)  # null: lr
    v["tau"] = p.float("tau", d["tau"], min=0.0, exclusive_min=True, nullable=False)
    for k in ("grad_clip", "lambda1", "lambda2", "lambda3"):
        v[k] = p.float(k, d[k], min=0.0, nullable=False)
    v["knet_alpha"] = p.float("knet_alpha", d["knet_alpha"], min=0.0, exclusive_min=True, also=("auto",),
                              nullable=False)
    v["knet_lambda"] = p.float("knet_lambda", d["knet_lambda"], min=0.0, max=1.0, nullable=False)  # λ of eq. 7
    v["kmeans_n_init"] = p.int("kmeans_n_init", d["kmeans_n_init"], min=1, also=("auto",), nullable=False)
    v["reconstruction"] = p.choice("reconstruction", d["reconstruction"], ("cosine", "mse"), nullable=False)
    v["knet_centers"] = p.choice("knet_centers", d["knet_centers"], ("learn", "refit"), nullable=False)
    v["knet_init"] = p.choice("knet_init", d["knet_init"], ("kmeans", "umap_gmm"), nullable=False)
    v["assignment"] = p.choice("assignment", d["assignment"], ("knet", "kmeans", "umap_gmm"), nullable=False)
    for k in ("use_ccl", "use_cl", "fresh_views", "baseline_kmeans", "amp", "compile", "resume"):
        v[k] = p.bool(k, d[k], nullable=False)
    missing = set(d) - set(v)
    assert not missing, f"read_take_params does not read {sorted(missing)}"
    return v


def sized_for_data(cfg: TAKEConfig, n_rows: int, geometry: Geometry) -> tuple[TAKEConfig, str | None]:
    """``cfg`` with its epochs scaled down to ``cfg.sample_budget`` (rows × epochs at 16 patches per row), and a
    line saying so; ``cfg`` itself when it fits or has no budget. Deterministic: the same data, the same epochs."""
    epochs = (cfg.warmup_epochs, cfg.update_epochs, cfg.cluster_epochs)
    patches = (geometry.side // geometry.patch) ** 2
    cost = n_rows * max(1.0, patches / 16) * sum(epochs)
    if cfg.sample_budget is None or cost <= cfg.sample_budget:
        return cfg, None
    factor = cfg.sample_budget / cost
    warmup, update, cluster = (max(1, round(e * factor)) if e else 0 for e in epochs)
    sized = dataclasses.replace(cfg, warmup_epochs=warmup, update_epochs=update, cluster_epochs=cluster)
    note = (f"take: {n_rows:,} rows of {patches} patches are more than sample_budget={cfg.sample_budget:,} allows "
            f"at {'/'.join(map(str, epochs))} epochs: training {warmup}/{update}/{cluster} warm-up/update/clustering "
            "epochs (--params=take.sample_budget=null trains the epochs as given)")
    return sized, note


def read_take_split(p: ParamReader) -> float | None:
    """``take.split.train_fraction`` (Table 5): a fraction in (0, 1) of the rows to train on, or null (all)."""
    fraction = p.float("train_fraction", None, min=0.0, max=1.0, exclusive_min=True, exclusive_max=True)
    p.reject_unknown()
    return fraction


def build_tae(geometry: Geometry, cfg: TAKEConfig) -> TransformerAutoencoder:
    tae = TransformerAutoencoder(geometry, embed_dim=cfg.embed_dim, latent_dim=cfg.latent_dim, depth=cfg.depth,
                                 heads=cfg.heads, decoder_depth=cfg.decoder_depth, decoder_heads=cfg.decoder_heads,
                                 mlp_ratio=cfg.mlp_ratio, dropout=cfg.dropout)
    if cfg.compile:
        tae.compile()  # in place: parameter names and state_dict keys stay those of the eager module
    return tae


def check_inputs(x: np.ndarray, geometry: Geometry, views: np.ndarray | None = None) -> np.ndarray:
    """The kit's shape and value checks, plus TAKE's own: the views hold 2 crops then 2 rotations."""
    x = _check_array(x, geometry, "TAKE", views=views)
    if views is not None and views.shape[1] < 4:
        raise ValueError(f"TAKE: views must have shape ({x.shape[0]}, 4, {x.shape[1]}) (2 crops, 2 rotations), "
                         f"got {views.shape}")
    return x


def view_augmenter(features: dict, cfg: TAKEConfig, view_params: dict | None = None):
    """``augment(xb, generator) -> (B, 4, dim)`` for ``pretrain`` when ``cfg.fresh_views`` asks for it: fresh
    2 crops + 2 rotations of a CPU batch of flat pixel images, with the crop scale and rotation of
    ``view_params`` (``params:features.views``).

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


def _batches(n: int, batch_size: int, generator: torch.Generator, group: Group):
    # a lone last sample carries no contrastive signal: dropped. Under torchrun: this rank's shard of every
    # global batch of batch_size × world_size rows.
    return group.batches(lambda world: minibatches(n, batch_size * world, generator, min_size=2))


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
        z = z_all[:b]
        zv = z_all[b:].reshape(b, 4, -1)
        terms = {"l_r": l_r}
        loss = l_r
        if cfg.use_ccl:
            terms["l_ccl"] = convex_combination_loss(z.float(), zv[:, 2:4].float(), self.ccl_logits)
            loss = loss + cfg.lambda1 * terms["l_ccl"]
        if cfg.use_cl:
            terms["l_cl"] = contrastive_loss(self.head(zv[:, 0]).float(), self.head(zv[:, 1]).float(), cfg.tau,
                                             gather=self.gather)
            loss = loss + cfg.lambda2 * terms["l_cl"]
        return loss, terms


class _ClusterStep(nn.Module):
    """One clustering step's losses and assignments, as the forward of one module (what DDP wraps)."""

    def __init__(self, tae: TransformerAutoencoder, knet: KNet, cfg: TAKEConfig):
        super().__init__()
        self.tae, self.knet, self.cfg = tae, knet, cfg

    def forward(self, xb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """→ (loss, l_r, l_k, s)."""
        cfg, knet = self.cfg, self.knet
        with _autocast(xb.device, cfg.amp):
            z, rec = self.tae(xb)
            l_r = reconstruction_loss(xb, rec, cfg.reconstruction)
        z = z.float()
        s = knet(z)  # KNet in float32: the projection's sort is precision-sensitive
        l_k = kmeans_loss(z, s, knet.M, knet.lam)
        return l_r.float() + cfg.lambda3 * l_k, l_r, l_k, s


def _autocast(device: torch.device, enabled: bool):
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=enabled and device.type == "cuda")


def pretrain(x: np.ndarray, views: np.ndarray | None, geometry: Geometry, cfg: TAKEConfig, seed: int = 0,
             device: str = "auto", progress: bool = True, store=None, data_key: str = "",
             stop_after: int | None = None, augment=None) -> tuple[dict, dict]:
    """Warm-up then update epochs (paper 3.3). Returns ({"tae", "head", "ccl_logits"} CPU states, history).

    ``views`` (N, 4, dim): [:, 0:2] crops for L_cl, [:, 2:4] rotations for L_ccl; None → L_r only in
    every epoch (REUTERS, or views off). ``augment`` (:func:`view_augmenter`), when given, draws the
    4 views of every batch afresh from the run's generator instead of reading ``views``.
    ``stop_after`` stops after that many epochs without finishing, to test resuming.
    """
    check_inputs(x, geometry, views)
    group = process_group(device)
    dev = group.device(device)
    gen = seed_everything(seed)
    tae = build_tae(geometry, cfg).to(dev)
    head = ContrastiveHead(cfg.latent_dim, cfg.head_hidden, cfg.head_out).to(dev)
    ccl_logits = nn.Parameter(torch.zeros(2, device=dev))  # c̃ ∈ R^p, p = 2 rotations
    params = list(tae.parameters()) + list(head.parameters()) + [ccl_logits]
    opt = torch.optim.Adam(params, lr=cfg.lr)
    total = cfg.warmup_epochs + cfg.update_epochs
    history: dict[str, list[float]] = {}
    # the key: what changes this training (not how it is run, scored or predicted), the data itself and the seed
    key = "" if store is None else run_key("take-pretrain", cfg.training_options("pretrain"), data_key, seed,
                                           _digest(x, views), _augment_key(augment))
    ckpt = Checkpointer(store, key, cfg.checkpoint_every, cfg.resume)
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
    xt = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    vt = None if views is None else torch.from_numpy(np.ascontiguousarray(views[:, :4], dtype=np.float32))
    step = group.wrap(_PretrainStep(tae, head, ccl_logits, cfg, group), find_unused=True)  # warm-up: L_r only
    bar = epoch_bar(total, "TAKE pretrain", progress and group.is_main, start)
    for epoch in bar:
        update = epoch >= cfg.warmup_epochs and (vt is not None or augment is not None)
        tae.train()
        head.train()
        sums: dict[str, float] = {}
        seen = 0
        for idx in _batches(len(xt), cfg.batch_size, gen, group):
            xb = xt[idx].to(dev, non_blocking=True)
            b = len(idx)
            vb = None
            if update:
                # (B, 4, dim); fresh views come from `gen`, whose state the checkpoints keep (every rank draws
                # those of the whole global batch, so that `gen` stays the same on all)
                vb = (group.local(augment(xt[group.global_rows(idx)], gen)) if augment is not None
                      else vt[idx]).to(dev, non_blocking=True)
            with _autocast(dev, cfg.amp):
                loss, terms = step(xb, vb)
            opt.zero_grad(set_to_none=True)
            group.scale(loss).backward()
            opt.step()
            for k, v in {**terms, "loss": loss}.items():
                sums[k] = sums.get(k, 0.0) + float(v.detach()) * b
            seen += b
        sums = group.sum({**sums, "seen": seen})
        seen = sums.pop("seen")
        means = {k: v / seen for k, v in sums.items()}
        if not math.isfinite(means["loss"]):
            raise FloatingPointError(f"TAKE pretraining diverged at epoch {epoch + 1} (loss {means['loss']}); "
                                     "lower take.lr or check the input scale")
        # None where a term is off (warm-up has no L_cl)
        record(history, "pretrain", {k: means.get(k) for k in ("loss", "l_r", "l_ccl", "l_cl")})
        bar.set_postfix({k: f"{v:.4g}" for k, v in means.items()})
        done = epoch + 1
        if group.is_main:
            ckpt.maybe_save(done, total, lambda: {
                "tae": cpu_state_dict(tae), "head": cpu_state_dict(head), "ccl_logits": ccl_logits.detach().cpu(),
                "optimizer": opt.state_dict(), "history": history, "rng": rng_state(gen)})
        if stop_after is not None and done >= stop_after and done < total:
            raise KeyboardInterrupt(f"stopped after epoch {done} (stop_after)")
    bar.close()
    if group.is_main:
        ckpt.clear()
    history = {k: v for k, v in history.items() if any(u is not None for u in v)}
    state = {"tae": cpu_state_dict(tae), "head": cpu_state_dict(head), "ccl_logits": ccl_logits.detach().cpu()}
    return state, history


@torch.no_grad()
def encode(tae: TransformerAutoencoder, x: np.ndarray, batch_size: int = 2048, device: str = "auto") -> np.ndarray:
    """z of every row of ``x``, batch by batch: (N, d) float32."""
    dev = resolve_device(device)
    tae = tae.to(dev).eval()
    out = [tae.encode(torch.from_numpy(np.ascontiguousarray(x[i:i + batch_size], dtype=np.float32)).to(dev)).float().cpu()
           for i in range(0, len(x), batch_size)]
    return torch.cat(out).numpy()


def load_tae(state: dict, geometry: Geometry, cfg: TAKEConfig) -> TransformerAutoencoder:
    tae = build_tae(geometry, cfg)
    tae.load_state_dict(state["tae"])
    return tae


def kmeans_initialise(x: np.ndarray, pretrained: dict, geometry: Geometry, cfg: TAKEConfig, n_clusters: int,
                      seed: int = 0, device: str = "auto", progress: bool = False) -> dict:
    """K-means (scikit-learn defaults) on z of all data → {"centers" (K, d), "labels", "inertia", "z",
    "start_centers", "start_labels"}: where the joint phase starts, K-means' own centres and labels, or with
    ``knet_init: umap_gmm`` (and ``assignment: knet``) those of :func:`head_start`.

    Under torchrun rank 0 alone encodes and runs K-means; every rank gets its result."""
    check_n_clusters(n_clusters, len(x))
    group = process_group(device)

    def fit() -> dict:
        z = encode(load_tae(pretrained, geometry, cfg), x, cfg.predict_batch_size, group.device(device))
        centers, labels, inertia = kmeans_init(z, n_clusters, seed=seed, n_init=cfg.kmeans_n_init)
        start_centers, start_labels = centers, labels
        if cfg.knet_init == "umap_gmm" and cfg.assignment == "knet":
            start_centers, start_labels = head_start(z, cfg, centers, seed, progress)
        return {"centers": centers, "labels": labels, "inertia": inertia, "z": z,
                "start_centers": start_centers, "start_labels": start_labels}

    return group.on_main(fit)


def head_start(z: np.ndarray, cfg: TAKEConfig, kmeans_centers: np.ndarray, seed: int = 0,
               progress: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """``knet_init: umap_gmm``: KNet's start from N2D's head on z (:func:`fit_head`): the GMM's labels, and as M
    the mean of z over each of its clusters (a cluster the GMM leaves empty keeps its K-means centre).
    Returns (centres (K, d) float32, labels (N,) int64)."""
    n_clusters = len(kmeans_centers)
    labels = np.asarray(fit_head(z, cfg, n_clusters, seed, progress)["labels"], dtype=np.int64)
    centers = cluster_means(torch.as_tensor(z, dtype=torch.float32), torch.from_numpy(labels), n_clusters,
                            fallback=torch.as_tensor(kmeans_centers, dtype=torch.float32))
    return centers.numpy(), labels


def cluster(x: np.ndarray, pretrained: dict, centers: np.ndarray, geometry: Geometry, cfg: TAKEConfig,
            seed: int = 0, device: str = "auto", progress: bool = True, store=None, data_key: str = "",
            stop_after: int | None = None, init_labels: np.ndarray | None = None) -> tuple[dict, dict]:
    """Joint training of TAE and KNet on L_r + λ3 L_k (eq. 15). Returns ({"tae", "knet"} CPU states, history).

    Also records, per epoch, ``cluster/changed``: the fraction of samples whose assignment changed since the
    epoch before, the first epoch against ``init_labels`` (the K-means initialisation; the nearest of
    ``centers`` when None). With ``knet_centers: refit`` M is re-fitted by warm-started Lloyd iterations on z
    after every epoch.
    """
    check_inputs(x, geometry)
    group = process_group(device)
    dev = group.device(device)
    gen = seed_everything(seed)
    tae = load_tae(pretrained, geometry, cfg).to(dev)
    knet = KNet(torch.as_tensor(centers), n_iter=cfg.knet_iters, alpha=cfg.knet_alpha, lam=cfg.knet_lambda).to(dev)
    refit = cfg.knet_centers == "refit"
    knet.M.requires_grad_(not refit)
    trained = list(tae.parameters()) + ([] if refit else list(knet.parameters()))
    opt = torch.optim.Adam(trained, lr=cfg.cluster_lr or cfg.lr)
    history: dict[str, list[float]] = {}
    total = cfg.cluster_epochs
    # the key: the pretraining's and this phase's training options, the data, the seed, and where it starts from
    # (the pretrained TAE and the centres)
    key = "" if store is None else run_key(
        "take-cluster", cfg.training_options("cluster"), data_key, seed, _digest(x),
        _digest(np.asarray(centers, np.float32), *(pretrained["tae"][k] for k in sorted(pretrained["tae"]))))
    ckpt = Checkpointer(store, key, cfg.checkpoint_every, cfg.resume)
    start = 0
    if init_labels is None:
        init_labels = group.on_main(lambda: _nearest(encode(tae, x, cfg.predict_batch_size, dev),
                                                     np.asarray(centers, np.float32)))
    previous = np.asarray(init_labels, dtype=np.int64).copy()
    state = group.on_main(ckpt.load)
    if state is not None:
        tae.load_state_dict(state["tae"])
        knet.load_state_dict(state["knet"])
        opt.load_state_dict(state["optimizer"])
        history, start, previous = state["history"], state["epoch"], state["previous"]
        set_rng_state(state["rng"], gen)
    xt = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    step = group.wrap(_ClusterStep(tae, knet, cfg))
    bar = epoch_bar(total, "TAKE cluster", progress and group.is_main, start)
    for epoch in bar:
        tae.train()
        sums = {"loss": 0.0, "l_r": 0.0, "l_k": 0.0}
        current = previous.copy()
        for idx in _batches(len(xt), cfg.batch_size, gen, group):
            xb = xt[idx].to(dev, non_blocking=True)
            loss, l_r, l_k, s = step(xb)
            opt.zero_grad(set_to_none=True)
            group.scale(loss).backward()  # under DDP the gradients are the global batch's when backward returns
            if cfg.grad_clip > 0:
                nn.utils.clip_grad_norm_(trained, cfg.grad_clip)
            opt.step()
            current[idx.numpy()] = s.detach().argmax(dim=1).cpu().numpy()
            for k, v in (("loss", loss), ("l_r", l_r), ("l_k", l_k)):
                sums[k] += float(v.detach()) * len(idx)
        if group.distributed:  # each row changed on at most one rank (shards are disjoint)
            changed = torch.from_numpy(np.where(current != previous, current, -1))
            merged = group.merge_rows(changed).numpy()
            current = np.where(merged >= 0, merged, previous)
        sums = group.sum(sums)
        means = {k: v / len(xt) for k, v in sums.items()}
        if not math.isfinite(means["loss"]):
            raise FloatingPointError(f"TAKE clustering diverged at epoch {epoch + 1}; lower take.lr or take.lambda3")
        means["changed"] = float((current != previous).mean())
        previous = current
        if refit:  # on rank 0, then its M everywhere
            if group.is_main:
                _refit_centers(knet, encode(tae, x, cfg.predict_batch_size, dev))
            group.broadcast_(knet.M)
        record(history, "cluster", means)
        bar.set_postfix({k: f"{v:.4g}" for k, v in means.items()})
        done = epoch + 1
        if group.is_main:
            ckpt.maybe_save(done, total, lambda: {
                "tae": cpu_state_dict(tae), "knet": cpu_state_dict(knet), "optimizer": opt.state_dict(),
                "history": history, "previous": previous, "rng": rng_state(gen)})
        if stop_after is not None and done >= stop_after and done < total:
            raise KeyboardInterrupt(f"stopped after epoch {done} (stop_after)")
    bar.close()
    if group.is_main:
        ckpt.clear()
    return {"tae": cpu_state_dict(tae), "knet": cpu_state_dict(knet)}, history


def _nearest(z: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """The nearest of ``centers`` (K, d) for every row of z: K-means' assignment rule."""
    return ((z[:, None, :] - centers[None]) ** 2).sum(-1).argmin(1).astype(np.int64)


@torch.no_grad()
def _refit_centers(knet: KNet, z: np.ndarray, max_iter: int = 300) -> None:
    """Lloyd iterations on ``z`` from the current M (one warm start, so cluster k stays cluster k)."""
    from sklearn.cluster import KMeans

    km = KMeans(knet.n_clusters, init=knet.M.detach().T.cpu().double().numpy(), n_init=1, max_iter=max_iter)
    km.fit(np.asarray(z, dtype=np.float64))
    knet.M.copy_(torch.as_tensor(km.cluster_centers_.T, dtype=knet.M.dtype, device=knet.M.device))


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


def load_knet(state: dict, cfg: TAKEConfig) -> KNet:
    centers = state["knet"]["M"].T
    knet = KNet(centers, n_iter=cfg.knet_iters, alpha=cfg.knet_alpha, lam=cfg.knet_lambda)
    knet.load_state_dict(state["knet"])
    return knet


@torch.no_grad()
def predict(x: np.ndarray, state: dict, geometry: Geometry, cfg: TAKEConfig, device: str = "auto"
            ) -> tuple[np.ndarray, np.ndarray]:
    """Assignments and z of every row of ``x``, batch by batch (4.2.3): the argmax of the KNet forward; for a
    model without KNet, the UMAP + GMM head (``assignment: umap_gmm``) or the nearest of ``state["centers"]``
    (``assignment: kmeans``)."""
    x = check_inputs(x, geometry)
    dev = resolve_device(device)
    tae = load_tae(state, geometry, cfg).to(dev).eval()
    if state.get("knet") is None:
        z = encode(tae, x, cfg.predict_batch_size, device)
        if state.get("head") is not None:
            from deep_kmeans.methods.umap_gmm import predict_umap_gmm

            return predict_umap_gmm(state["head"], z), z
        return _nearest(z, np.asarray(state["centers"], dtype=np.float32)), z
    knet = load_knet(state, cfg).to(dev)
    labels, zs = [], []
    for i in range(0, len(x), cfg.predict_batch_size):
        xb = torch.from_numpy(np.ascontiguousarray(x[i:i + cfg.predict_batch_size], dtype=np.float32)).to(dev)
        z = tae.encode(xb).float()
        labels.append(knet(z).argmax(dim=1).cpu())
        zs.append(z.cpu())
    return torch.cat(labels).numpy().astype(np.int64), torch.cat(zs).numpy()


@torch.no_grad()
def soft_assignments(z: np.ndarray, state: dict, cfg: TAKEConfig, device: str = "auto") -> np.ndarray | None:
    """KNet's soft assignment s ∈ Δ^K (eq. 7, rows on the simplex) of every row of z (the GMM's posterior for
    the ``umap_gmm`` head); None for the K-means head."""
    if state.get("head") is not None:
        from deep_kmeans.methods.umap_gmm import model_from_state

        head = model_from_state(state["head"])
        return head["gmm"].predict_proba(head["umap"].transform(z)).astype(np.float32)
    if state.get("knet") is None:
        return None
    dev = resolve_device(device)
    knet = load_knet(state, cfg).to(dev)
    out = [knet(torch.from_numpy(np.ascontiguousarray(z[i:i + cfg.predict_batch_size])).to(dev)).cpu()
           for i in range(0, len(z), cfg.predict_batch_size)]
    return torch.cat(out).numpy().astype(np.float32)


def with_fitted_head(state: dict) -> dict:
    """``state`` with its ``umap_gmm`` head fitted: a stored model (``take.model``, a safe file) keeps the head
    as :func:`deep_kmeans.methods.umap_gmm.model_state`, whose UMAP is fitted again here, once, rather than at
    every :func:`predict` and :func:`soft_assignments`. Any other state is returned as it is."""
    from deep_kmeans.methods.umap_gmm import is_state, model_from_state

    head = state.get("head")
    return {**state, "head": model_from_state(head)} if is_state(head) else state


def fit_head(z: np.ndarray, cfg: TAKEConfig, n_clusters: int, seed: int = 0, progress: bool = True) -> dict:
    """``assignment: umap_gmm`` (and ``knet_init: umap_gmm``): N2D's head on the pretrained z (UMAP to K dimensions,
    then a GMM with 10 starts). Returns ``{"head": {"umap", "gmm"}, "centers", "labels"}`` (the GMM's means, in
    UMAP space, and its assignment of z)."""
    from deep_kmeans.methods.umap_gmm import fit_umap_gmm

    result = fit_umap_gmm(z, n_clusters, vector_geometry(z.shape[1], 1), {"n_neighbors": cfg.umap_neighbors},
                          seed=seed, progress=progress)
    return {"head": result.model, "centers": result.centers, "labels": result.labels}


def fit_take(x: np.ndarray, views: np.ndarray | None, geometry: Geometry, cfg: TAKEConfig, n_clusters: int,
             seed: int = 0, device: str = "auto", progress: bool = True, store=None, data_key: str = "",
             augment=None) -> dict:
    """The whole method: :func:`pretrain` → :func:`kmeans_initialise` → :func:`cluster` → :func:`predict`.

    Returns ``{"model": {"tae", "knet", "centers"}, "labels", "z", "init", "history", "phases", "seconds"}``
    (``phases``: seconds per phase);
    with ``cfg.assignment == "kmeans"`` the model has no KNet (Table 12: pretraining + K-means).
    """
    check_n_clusters(n_clusters, len(x))
    start = phase_start = time.perf_counter()
    phases = {}

    def lap(name: str) -> None:
        nonlocal phase_start
        phases[f"{name}_s"] = time.perf_counter() - phase_start
        phase_start = time.perf_counter()

    pretrained, history = pretrain(x, views, geometry, cfg, seed=seed, device=device, progress=progress,
                                   store=store, data_key=data_key, augment=augment)
    lap("pretrain")
    init = kmeans_initialise(x, pretrained, geometry, cfg, n_clusters, seed=seed, device=device, progress=progress)
    lap("kmeans_init")
    if cfg.assignment == "kmeans":
        model = {"tae": pretrained["tae"], "knet": None, "centers": init["centers"]}
    elif cfg.assignment == "umap_gmm":
        head = process_group(device).on_main(lambda: fit_head(init["z"], cfg, n_clusters, seed, progress))
        model = {"tae": pretrained["tae"], "knet": None, "head": head["head"], "centers": head["centers"]}
        lap("head")
    else:
        state, cluster_history = cluster(x, pretrained, init["start_centers"], geometry, cfg, seed=seed,
                                         device=device, progress=progress, store=store, data_key=data_key,
                                         init_labels=init["start_labels"])
        history = {**history, **cluster_history}
        model = {**state, "centers": state["knet"]["M"].T.numpy()}
        lap("cluster")
    labels, z = predict(x, model, geometry, cfg, device=device)
    lap("predict")
    return {"model": model, "labels": labels, "z": z, "init": init, "history": history, "phases": phases,
            "seconds": time.perf_counter() - start}


_CONFIG_FIELDS = [f.name for f in dataclasses.fields(TAKEConfig)]


class TAKE(ClusterMixin, BaseEstimator):
    """Transformer AutoEncoder + KNet as a scikit-learn estimator, for use without Kedro.

        >>> model = TAKE(n_clusters=10, warmup_epochs=20, update_epochs=5, cluster_epochs=10).fit(X)
        >>> model.labels_, model.predict(X_new), model.transform(X_new)

    ``X`` is (N, dim) with values of any scale (pixels in [0, 1], features, tf-idf). ``geometry`` says how a
    row becomes an image; by default the smallest square holding ``dim`` values, cut into a 4×4 grid of
    patches. Every other hyperparameter is a field of :class:`TAKEConfig` (same name), validated in
    :meth:`fit`; one left at None takes the value of ``preset``: ``cpu`` (the default, minutes on a CPU for a
    few thousand rows) or ``paper`` (the paper's MNIST settings: :class:`TAKEConfig`'s defaults, KNet's α = 1e-3).

    Learned state: ``labels_`` (assignments of the training data), ``cluster_centers_`` (K, d),
    ``embedding_`` (z of the training data), ``init_labels_`` (K-means on the pretrained z),
    ``history_`` (per-epoch losses), ``state_`` (weights), ``config_``, ``geometry_``.
    """

    def __init__(self, n_clusters: int = 10, geometry: Geometry | dict | None = None, seed: int = 0,
                 device: str = "auto", progress: bool = False, preset: str = "cpu", *,
                 embed_dim=None, latent_dim=None, depth=None, heads=None, decoder_depth=None, decoder_heads=None,
                 mlp_ratio=None, dropout=None, head_hidden=None, head_out=None, warmup_epochs=None,
                 update_epochs=None, cluster_epochs=None, sample_budget=None, batch_size=None, lr=None, cluster_lr=None,
                 grad_clip=None, lambda1=None, lambda2=None, lambda3=None, tau=None, reconstruction=None,
                 use_ccl=None, use_cl=None, knet_iters=None, knet_alpha=None, knet_lambda=None, knet_centers=None,
                 knet_init=None, assignment=None,
                 umap_neighbors=None, kmeans_n_init=None, fresh_views=None, baseline_kmeans=None, amp=None, compile=None,
                 predict_batch_size=None, checkpoint_every=None, resume=None):
        self.n_clusters = n_clusters
        self.geometry = geometry
        self.seed = seed
        self.device = device
        self.progress = progress
        self.preset = preset
        self.embed_dim, self.latent_dim, self.depth, self.heads = embed_dim, latent_dim, depth, heads
        self.decoder_depth, self.decoder_heads, self.mlp_ratio = decoder_depth, decoder_heads, mlp_ratio
        self.dropout = dropout
        self.head_hidden, self.head_out = head_hidden, head_out
        self.warmup_epochs, self.update_epochs, self.cluster_epochs = warmup_epochs, update_epochs, cluster_epochs
        self.sample_budget = sample_budget
        self.batch_size, self.lr, self.cluster_lr, self.grad_clip = batch_size, lr, cluster_lr, grad_clip
        self.lambda1, self.lambda2, self.lambda3, self.tau = lambda1, lambda2, lambda3, tau
        self.reconstruction, self.use_ccl, self.use_cl = reconstruction, use_ccl, use_cl
        self.knet_iters, self.knet_alpha, self.knet_lambda = knet_iters, knet_alpha, knet_lambda
        self.knet_centers, self.knet_init = knet_centers, knet_init
        self.assignment, self.kmeans_n_init, self.umap_neighbors = assignment, kmeans_n_init, umap_neighbors
        self.fresh_views, self.baseline_kmeans = fresh_views, baseline_kmeans
        self.amp, self.compile, self.predict_batch_size = amp, compile, predict_batch_size
        self.checkpoint_every, self.resume = checkpoint_every, resume

    # cpu (the default): conf/base/parameters_take.yml's `presets.cpu` (a test keeps them equal): a small
    # TAE, minutes on a CPU for a few thousand rows. paper: TAKEConfig's defaults (the paper's MNIST settings)
    # with the paper's KNet step size.
    PRESETS = {"cpu": {
        "embed_dim": 32,
        "depth": 2,
        "heads": 2,
        "decoder_depth": 1,
        "decoder_heads": 2,
        "mlp_ratio": 2.0,
        "head_hidden": 32,
        "head_out": 16,
        "warmup_epochs": 40,
        "update_epochs": 10,
        "cluster_epochs": 10,
        "batch_size": 128,
        "lambda1": 0.1,
        "lambda2": 0.1,
        "lambda3": 0.01,
        "knet_centers": "refit",
        "tau": 0.5,
        "kmeans_n_init": 10},
        # the paper's KNet step size (TAKEConfig's default is auto); the paper also draws new views every epoch,
        # which the estimator leaves to the caller (fit(X, views=...))
        "paper": {"knet_alpha": 0.001}}

    def _config(self) -> TAKEConfig:
        if self.preset not in self.PRESETS:
            raise ValueError(f"preset must be one of {', '.join(self.PRESETS)}, got {self.preset!r}")
        given = {name: getattr(self, name) for name in _CONFIG_FIELDS if getattr(self, name) is not None}
        cfg = TAKEConfig.from_params({**self.PRESETS[self.preset], **given})
        if cfg.fresh_views:
            # The estimator cannot tell pixels from feature vectors: it trains on the views it is given.
            raise ValueError("fresh_views is an option of the Kedro pipeline for pixel data sets "
                             "(kedro run --params=take.fresh_views=true); pass precomputed views to fit(X, views=...)")
        return cfg

    def fit(self, X, y=None, views: np.ndarray | None = None) -> "TAKE":
        """Pretrain, initialise with K-means, train jointly. ``views`` (N, 4, dim) optional."""
        X = np.asarray(X, dtype=np.float32)
        if X.ndim != 2:
            raise ValueError(f"X must be 2-D (samples × features), got shape {X.shape}")
        check_n_clusters(self.n_clusters, len(X))
        geometry = estimator_geometry(self.geometry, X.shape[1])
        cfg, note = sized_for_data(self._config(), len(X), geometry)
        if note:
            logger.info(note)
        check_inputs(X, geometry, views)
        if views is None and cfg.update_epochs:
            views = self._own_views(X, geometry)
        out = fit_take(X, views, geometry, cfg, self.n_clusters, seed=self.seed, device=self.device,
                       progress=self.progress)
        self.config_, self.geometry_, self.state_ = cfg, geometry, out["model"]
        self.labels_, self.embedding_, self.history_ = out["labels"], out["z"], out["history"]
        self.init_labels_ = out["init"]["labels"]
        self.cluster_centers_ = np.asarray(out["model"]["centers"], dtype=np.float32)
        return self

    def _own_views(self, X: np.ndarray, geometry: Geometry) -> np.ndarray | None:
        """Rows that are gray images (the geometry holds them without padding, values in [0, 1]) get the
        pipeline's 2 crops + 2 rotations; other rows cannot be augmented here, and the update epochs then
        train L_r alone, which is said."""
        if geometry.channels == 1 and geometry.padded_dim == X.shape[1] and X.min() >= 0 and X.max() <= 1:
            from deep_kmeans.features.images import image_views

            images = X.reshape(len(X), geometry.side, geometry.side)
            return image_views(images, seed=self.seed).reshape(len(X), 4, -1).astype(np.float32)
        logger.warning("TAKE: no views given and the rows are not gray images in [0, 1], so the %d update epochs "
                       "train L_r only; pass fit(X, views=V) with V (N, 4, dim): 2 crops, then 2 rotations",
                       self._config().update_epochs)
        return None

    def _check_fitted(self) -> None:
        if not hasattr(self, "state_"):
            raise RuntimeError("this TAKE model is not fitted yet: call fit(X) first")

    def predict(self, X) -> np.ndarray:
        """Cluster of each row of ``X`` (data seen in training or not), by the KNet forward."""
        self._check_fitted()
        return predict(np.asarray(X, dtype=np.float32), self.state_, self.geometry_, self.config_, self.device)[0]

    def transform(self, X) -> np.ndarray:
        """The learned features z of each row of ``X``."""
        self._check_fitted()
        tae = load_tae(self.state_, self.geometry_, self.config_)
        return encode(tae, np.asarray(X, dtype=np.float32), self.config_.predict_batch_size, self.device)

    def fit_predict(self, X, y=None, views: np.ndarray | None = None) -> np.ndarray:
        return self.fit(X, views=views).labels_
