"""TAKE's clustering phase (paper 3.3): K-means on the pretrained z gives KNet's centres, then the TAE and KNet
train jointly on L_r + λ3 L_k (eq. 15)."""

from __future__ import annotations

import logging
import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from deep_kmeans.data.registry import Geometry
from deep_kmeans.models.clustering import cluster_means, lloyd
from deep_kmeans.models.knet import KNet
from deep_kmeans.models.losses import reconstruction_loss, squared_distances
from deep_kmeans.models.tae import ContrastiveHead, TransformerAutoencoder
from deep_kmeans.methods.distributed import process_group
from deep_kmeans.methods.kit import (Checkpointer, check_n_clusters, cpu_state_dict, epoch_bar, kmeans_init, record,
                                     rng_state, run_key, seed_everything, set_rng_state)
from deep_kmeans.methods.take.config import TAKEConfig
from deep_kmeans.methods.take.diagnostics import joint_diagnostics, knet_assign
from deep_kmeans.methods.take.model import (_autocast, _digest, _nearest, build_knet, check_inputs, encode, fit_head,
                                            load_tae)
from deep_kmeans.methods.take.pretrain import _batches, add_view_terms

logger = logging.getLogger(__name__)

# z of all rows inside the training (KNet's σ, the centres' update) is encoded in chunks of this many rows, not of
# predict_batch_size: a kernel's sums follow the chunk, and an option that only scores must not change the training
TRAIN_ENCODE_ROWS = 2048


class _ClusterStep(nn.Module):
    """One clustering step's losses and assignments, as the forward of one module (what DDP wraps)."""

    def __init__(self, tae: TransformerAutoencoder, knet: KNet, cfg: TAKEConfig, head: ContrastiveHead | None = None,
                 ccl_logits: nn.Parameter | None = None, gather=None):
        super().__init__()
        self.tae, self.knet, self.cfg = tae, knet, cfg
        # cluster_contrastive: the pretraining's contrastive head and c̃, trained on with the TAE
        self.head, self.ccl_logits, self.gather = head, ccl_logits, gather

    def forward(self, xb: torch.Tensor, targets: torch.Tensor | None = None, confident: torch.Tensor | None = None,
                xv: torch.Tensor | None = None, vb: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """→ (loss, its terms (loss, l_r, l_k, l_t, l_c) stacked, s). ``targets``/``confident``: each row's
        self-training target (``knet_target``) and whether it is confident enough to train on
        (``knet_target_weight``); ``xv``: one view of each row, trained towards the same target
        (``knet_view_targets``); ``vb`` (B, 4, dim): the rows' 4 views for the pretraining's view terms
        (``cluster_contrastive``), through the TAE in one pass with the rows as in the update epochs."""
        cfg, knet = self.cfg, self.knet
        b = len(xb)
        l_c = None
        with _autocast(xb.device, cfg.amp):
            z_all, rec_all = self.tae(xb if vb is None else torch.cat([xb, vb.flatten(0, 1)]))  # (B or 5B, ·)
            l_r = reconstruction_loss(xb, rec_all[:b], cfg.reconstruction).float()  # L_r of the rows, as without
            if vb is not None:
                l_c, _ = add_view_terms(l_r.new_zeros(()), z_all[:b], z_all[b:].reshape(b, 4, -1), self.head,
                                        self.ccl_logits, cfg, self.gather)
        z = z_all[:b].float()
        s = knet(z)  # KNet in float32: the projection's sort is precision-sensitive
        l_k = knet.loss(z, s)
        loss = l_r + cfg.lambda3 * l_k
        if l_c is not None:
            loss = loss + cfg.cluster_contrastive * l_c
        else:
            l_c = torch.zeros_like(l_k)
        l_t = torch.zeros_like(l_k)
        if cfg.knet_target_weight > 0 and targets is not None:
            # a prototype classifier on KNet's centres, in KNet's units (the same σ as its forward): the softmax of
            # −‖z − m_k‖² / τ against the start's cluster. Unlike a pull towards the own centre alone it also pushes
            # a row away from the centre it wrongly sits nearest to, so the start's partition can be learned.
            per_row = F.cross_entropy(prototype_logits(knet, z, cfg.knet_target_temperature), targets,
                                      reduction="none")
            if xv is not None:  # the view's z in the row's units (the batch σ of the originals), the same target
                with _autocast(xv.device, cfg.amp):
                    zv = self.tae.encode(xv).float()
                logits_v = prototype_logits(knet, z, cfg.knet_target_temperature, of=zv)
                per_row = 0.5 * (per_row + F.cross_entropy(logits_v, targets, reduction="none"))
            weight = confident.to(per_row.dtype)
            l_t = (per_row * weight).sum() / weight.sum().clamp(min=1.0)
            loss = loss + cfg.knet_target_weight * l_t  # not scaled by λ3: the paper's λ3 goes down to 1e-5
        return loss, torch.stack([loss.detach(), l_r.detach(), l_k.detach(), l_t.detach(), l_c.detach()]), s


# knet_init auto: KNet starts from UMAP + GMM on z where two of its fits (two seeds) agree at least this much
# (adjusted Rand index), else from K-means on z. Measured (benchmarks/start_rule.py, your own data's defaults): the
# two iris starts that merged two species (ACC 0.553, seeds 0 and 3) agreed with the next seed's at 0.46 and 0.51;
# the 20 other starts on iris, penguins, wine, breast cancer and the digits array at 0.92-1.00.
START_AGREEMENT = 0.8


def start_name(knet_init: str | None, agreement: float | None = None) -> str:
    """Where KNet started, in words, from ``knet_init`` and, for ``auto``, the agreement it chose by (the run's log
    and its closing summary both say it)."""
    if knet_init == "input":
        return "UMAP + GMM on the input"
    if knet_init == "kmeans" or (knet_init == "auto" and agreement is not None and agreement < START_AGREEMENT):
        return "K-means on z"
    return "UMAP + GMM on z"


def kmeans_initialise(x: np.ndarray, pretrained: dict, geometry: Geometry, cfg: TAKEConfig, n_clusters: int,
                      seed: int = 0, device: str = "auto", progress: bool = False) -> dict:
    """K-means (scikit-learn, ``kmeans_n_init`` starts) on z of all data → {"centers" (K, d), "labels", "inertia",
    "z", "start_centers", "start_labels", "start_confidence"}: where the joint phase starts, K-means' own centres and
    labels, or with ``knet_init: umap_gmm`` or ``input`` (and ``assignment: knet``) those of :func:`head_start` (on z,
    or on the input rows); the confidence of
    each start label is :func:`neighbour_agreement`.

    Under torchrun rank 0 alone encodes and runs K-means; every rank gets its result."""
    check_n_clusters(n_clusters, len(x))
    group = process_group(device)

    def fit() -> dict:
        z = encode(load_tae(pretrained, geometry, cfg), x, cfg.predict_batch_size, group.device(device))
        centers, labels, inertia = kmeans_init(z, n_clusters, seed=seed, n_init=cfg.kmeans_n_init)
        start_centers, start_labels, agreement = centers, labels, None
        if cfg.knet_init in ("umap_gmm", "auto", "input") and cfg.assignment == "knet":
            if cfg.umap_neighbors < len(z):
                head_centers, head_labels = head_start(z, cfg, centers, seed, progress,
                                                       on=x if cfg.knet_init == "input" else None)
                keep_head = True
                if cfg.knet_init == "auto":
                    agreement = start_agreement(z, cfg, head_labels, n_clusters, seed, progress)
                    keep_head = agreement >= START_AGREEMENT
                    logger.info("take: knet_init auto: UMAP + GMM on z found its partition again with another seed "
                                "at ARI %.3f (%s %.2f): KNet starts from %s", agreement, ">=" if keep_head else "<",
                                START_AGREEMENT, "UMAP + GMM on z" if keep_head else "K-means on z")
                if keep_head:
                    start_centers, start_labels = head_centers, head_labels
            else:
                logger.warning("take: %d rows are too few for KNet's UMAP + GMM start (take.umap_neighbors = %d): "
                               "starting from K-means on z", len(z), cfg.umap_neighbors)
        # only where self-training keeps the confident rows alone (knet_confidence > 0; the default keeps every row)
        start_confidence = (neighbour_agreement(z, start_labels)
                            if cfg.assignment == "knet" and cfg.knet_target_weight > 0 and cfg.knet_confidence > 0
                            else None)
        return {"centers": centers, "labels": labels, "inertia": inertia, "z": z, "start_centers": start_centers,
                "start_labels": start_labels, "start_confidence": start_confidence, "start_agreement": agreement}

    return group.on_main(fit)


def head_start(z: np.ndarray, cfg: TAKEConfig, kmeans_centers: np.ndarray, seed: int = 0,
               progress: bool = False, on: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``knet_init: umap_gmm``: KNet's start from N2D's head on z (:func:`fit_head`): the GMM's labels, and as M
    the mean of z over each of its clusters (a cluster the GMM leaves empty keeps its K-means centre).
    ``on``: the rows to fit the head on instead of z (``knet_init: input``: the input rows, flattened); M is
    still the mean of z over each of its clusters.
    Returns (centres (K, d) float32, labels (N,) int64). (How sure each start label is comes from z itself,
    :func:`neighbour_agreement`: the GMM's posterior in UMAP's space is ≈ 1 for nearly every row.)"""
    n_clusters = len(kmeans_centers)
    rows = z if on is None else np.asarray(on, dtype=np.float32).reshape(len(on), -1)
    head = fit_head(rows, cfg, n_clusters, seed, progress)
    labels = np.asarray(head["labels"], dtype=np.int64)
    centers = cluster_means(torch.as_tensor(z, dtype=torch.float32), torch.from_numpy(labels), n_clusters,
                            fallback=torch.as_tensor(kmeans_centers, dtype=torch.float32))
    return centers.numpy(), labels


def start_agreement(z: np.ndarray, cfg: TAKEConfig, labels: np.ndarray, n_clusters: int, seed: int,
                    progress: bool = False) -> float:
    """``knet_init: auto``: how far N2D's head on z finds its partition (``labels``, fitted with ``seed``) again with
    the next seed: the adjusted Rand index of the two, label-free. Where z has the clusters the head is made for, it
    finds the same ones; where it does not (UMAP's graph joins two classes, text embeddings without a manifold), the
    GMM cuts the joined mass anew with each seed."""
    from sklearn.metrics import adjusted_rand_score

    again = fit_head(z, cfg, n_clusters, seed + 1, progress)["labels"]
    return float(adjusted_rand_score(labels, np.asarray(again)))


def neighbour_agreement(z: np.ndarray, labels: np.ndarray, n_neighbors: int = 10) -> np.ndarray:
    """How sure each row's start label is, label-free: the share of its ``n_neighbors`` nearest rows in z that carry
    the same label. (N,) float32 in [0, 1]. A row deep inside its cluster scores 1, a row on a border less; the GMM's
    own posterior cannot tell them apart (in UMAP's space it is ≈ 1 for nearly every row)."""
    from sklearn.neighbors import NearestNeighbors

    k = min(n_neighbors, len(z) - 1)
    _, idx = NearestNeighbors(n_neighbors=k + 1).fit(z).kneighbors(z)
    return (labels[idx[:, 1:]] == labels[:, None]).mean(axis=1).astype(np.float32)


def cluster(x: np.ndarray, pretrained: dict, centers: np.ndarray, geometry: Geometry, cfg: TAKEConfig,
            seed: int = 0, device: str = "auto", progress: bool = True, store=None, data_key: str = "",
            stop_after: int | None = None, init_labels: np.ndarray | None = None,
            confidence: np.ndarray | None = None, y: np.ndarray | None = None,
            views: np.ndarray | None = None) -> tuple[dict, dict]:
    """Joint training of TAE and KNet on L_r + λ3 L_k (eq. 15). Returns ({"tae", "knet"} CPU states, history).

    ``init_labels``: where the phase starts (K-means' labels, or the head's with ``knet_init: umap_gmm``; the
    nearest of ``centers`` when None), the targets of self-training (``knet_target_weight``) where ``confidence``
    (:func:`neighbour_agreement` of each start label; None: every row) reaches ``knet_confidence``. ``y``: labels,
    read only to score the per-epoch diagnostics (:mod:`.diagnostics`); nothing the training does depends on them.

    ``views`` (N, V, dim): the stored views, trained towards each row's target with ``knet_view_targets``, and their
    first 4 (2 crops, 2 rotations) in the pretraining's view terms with ``cluster_contrastive`` (ignored otherwise).
    With ``knet_target`` sharpened or self the targets are recomputed after every epoch (and checkpointed).

    Records per epoch ``cluster/<loss>`` and ``cluster/changed`` (the share of rows whose assignment changed since
    the epoch before, the first epoch against ``init_labels``), and ``joint/<diagnostic>``. The step is
    device-resident: the rows live on the device, the batch order comes from the seeded CPU generator, and the
    losses and assignments are read back once per epoch.
    """
    check_inputs(x, geometry)
    group = process_group(device)
    dev = group.device(device)
    gen = seed_everything(seed)
    tae = load_tae(pretrained, geometry, cfg).to(dev)
    knet = build_knet(centers, cfg).to(dev)
    if group.distributed:  # KNet's batch σ over the global batch, not this rank's shard of it
        knet.batch_rows = lambda rows: group.gather(rows)[0]
    learn = cfg.knet_centers == "learn"
    knet.M.requires_grad_(learn)
    head, ccl_logits = _view_terms_modules(pretrained, views, cfg, dev)
    lr = cfg.cluster_lr or cfg.lr
    groups = [{"params": list(tae.parameters()) + ([] if head is None else [*head.parameters(), ccl_logits]),
               "lr": lr}]
    if learn:
        groups.append({"params": list(knet.parameters()), "lr": cfg.knet_lr or lr})
    trained = [q for g in groups for q in g["params"]]
    base_lrs = [g["lr"] for g in groups]  # the optimiser's groups are these dicts: warm-up scales from a copy
    opt = torch.optim.Adam(groups, **({"fused": True} if dev.type == "cuda" else {}))
    history: dict[str, list[float]] = {}
    total = cfg.cluster_epochs
    if init_labels is None:
        init_labels = group.on_main(lambda: _nearest(encode(tae, x, cfg.predict_batch_size, dev),
                                                     np.asarray(centers, np.float32)))
    # the key: the pretraining's and this phase's training options, the data, the seed, and where it starts from
    # (the pretrained TAE, the centres, the start's labels and their confidence)
    rows_digest = "" if store is None else _digest(x)
    key = "" if store is None else run_key(
        "take-cluster", cfg.training_options("cluster"), data_key, seed, rows_digest,
        _digest(np.asarray(centers, np.float32), *(pretrained["tae"][k] for k in sorted(pretrained["tae"]))),
        _digest(init_labels, confidence))
    ckpt = Checkpointer(store, key, cfg.checkpoint_every, cfg.resume)
    # what the run's up-front estimate can compute before the start exists: the checkpoint carries it
    progress = "" if store is None else _progress_key(rows_digest, cfg, seed, data_key)
    start = 0
    xt = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).to(dev)
    start_labels = torch.as_tensor(np.asarray(init_labels, dtype=np.int64), device=dev)
    targets = start_labels  # knet_target sharpened / self: recomputed after every epoch (sharpened: (N, K) soft)
    confident = (torch.ones(len(x), dtype=torch.bool, device=dev) if confidence is None else
                 torch.as_tensor(np.asarray(confidence) >= cfg.knet_confidence, device=dev))
    previous = start_labels.clone()
    # knet_view_targets: the stored views (N, V, dim) where the rows are; each step trains one of them per row.
    # cluster_contrastive: each step's rows with their 4 views
    view_targets = cfg.knet_view_targets and views is not None and cfg.knet_target_weight > 0
    vt = (torch.from_numpy(np.ascontiguousarray(views, dtype=np.float32)).to(dev)
          if view_targets or head is not None else None)
    with torch.no_grad():
        knet.set_sigma(_encode_rows(tae, xt))
    state = group.on_main(ckpt.load)
    if state is not None:
        tae.load_state_dict(state["tae"])
        knet.load_state_dict(state["knet"])
        if head is not None:
            head.load_state_dict(state["head"])
            with torch.no_grad():
                ccl_logits.copy_(state["ccl_logits"])
        opt.load_state_dict(state["optimizer"])
        history, start = state["history"], state["epoch"]
        logger.info("take: the joint phase resumes from its checkpoint after epoch %d of %d", start, total)
        previous = torch.as_tensor(np.asarray(state["previous"]), device=dev)
        if state.get("targets") is not None:
            targets = torch.as_tensor(np.asarray(state["targets"]), device=dev)
            confident = torch.as_tensor(np.asarray(state["confident"]), device=dev)
        set_rng_state(state["rng"], gen)
    step = group.wrap(_ClusterStep(tae, knet, cfg, head, ccl_logits, group.gather if group.distributed else None))
    steps_per_epoch = max(1, math.ceil(len(x) / (cfg.batch_size * group.world_size)))
    warmup_steps = cfg.cluster_warmup * steps_per_epoch
    bar = epoch_bar(total, "TAKE cluster", progress and group.is_main, start)
    for epoch in bar:
        tae.train()
        knet.train()
        sums = torch.zeros(5, dtype=torch.float64, device=dev)
        current = previous.clone()
        for i, idx in enumerate(_batches(len(xt), cfg.batch_size, gen, group, dev)):
            if warmup_steps > 0:
                factor = min(1.0, (epoch * steps_per_epoch + i + 1) / warmup_steps)
                for g, base in zip(opt.param_groups, base_lrs):
                    g["lr"] = base * factor
            rows = idx.to(dev, non_blocking=True)
            xv = None
            if view_targets:  # which view of each row: drawn from the run's generator, as the batch order
                pick = torch.randint(vt.shape[1], (len(idx),), generator=gen).to(dev, non_blocking=True)
                xv = vt[rows, pick]
            loss, terms, s = step(xt[rows], targets[rows], confident[rows], xv,
                                  None if head is None else vt[rows, :4])
            opt.zero_grad(set_to_none=True)
            group.scale(loss).backward()  # under DDP the gradients are the global batch's when backward returns
            if cfg.grad_clip > 0:
                nn.utils.clip_grad_norm_(trained, cfg.grad_clip)
            opt.step()
            current[rows] = s.detach().argmax(dim=1)
            sums += terms.double() * len(idx)
        if group.distributed:  # each row changed on at most one rank (shards are disjoint)
            merged = group.merge_rows(torch.where(current != previous, current, torch.full_like(current, -1)))
            current = torch.where(merged >= 0, merged, previous)
        totals = group.sum(dict(zip(("loss", "l_r", "l_k", "l_t", "l_c"), sums.tolist())))  # the epoch's one read
        means = {k: v / len(xt) for k, v in totals.items()}
        if not math.isfinite(means["loss"]):
            raise FloatingPointError(f"TAKE clustering diverged at epoch {epoch + 1}; lower take.lr or take.lambda3")
        if cfg.knet_target_weight <= 0:
            means.pop("l_t")
        if head is None:
            means.pop("l_c")
        means["changed"] = float((current != previous).float().mean())
        previous = current
        diagnostics, refreshed = group.on_main(lambda: _end_of_epoch(tae, knet, xt, cfg, y, seed, start_labels))
        group.broadcast_(knet.M)
        group.broadcast_(knet.sigma)
        if refreshed is not None:  # on_main gave every rank rank 0's
            targets = refreshed[0].to(dev)
            if refreshed[1] is not None:
                confident = refreshed[1].to(dev)
        record(history, "cluster", means)
        record(history, "joint", diagnostics)  # MLflow: joint.<name>; the loss plot draws them in a panel of their own
        bar.set_postfix({k: f"{v:.4g}" for k, v in {**means, **diagnostics}.items()
                         if k in ("loss", "changed", "knet_acc")})
        done = epoch + 1
        if group.is_main:
            ckpt.maybe_save(done, total, lambda: {
                "tae": cpu_state_dict(tae), "knet": cpu_state_dict(knet), "optimizer": opt.state_dict(),
                **({} if head is None else {"head": cpu_state_dict(head), "ccl_logits": ccl_logits.detach().cpu()}),
                "history": history, "previous": previous.cpu().numpy(), "rng": rng_state(gen), "progress": progress,
                **({"targets": targets.cpu().numpy(), "confident": confident.cpu().numpy()}
                   if cfg.knet_target != "start" else {})})
        if stop_after is not None and done >= stop_after and done < total:
            raise KeyboardInterrupt(f"stopped after epoch {done} (stop_after)")
    bar.close()
    if group.is_main:
        ckpt.clear()
    return {"tae": cpu_state_dict(tae), "knet": cpu_state_dict(knet)}, history


def _progress_key(rows_digest: str, cfg: TAKEConfig, seed: int, data_key: str) -> str:
    """What a checkpoint of :func:`cluster` records of its run without the start (the checkpoint's own key hashes
    the start, which exists only after encoding and K-means): the options, the data and the seed."""
    return run_key("take-cluster-progress", cfg.training_options("cluster"), data_key, seed, rows_digest)


def saved_cluster_epoch(store, x: np.ndarray, cfg: TAKEConfig, seed: int, data_key: str) -> int:
    """The joint epochs a rerun of :func:`cluster` on ``x`` skips, read before its start is computed: the epoch
    of the stored checkpoint of the same options, data and seed; 0 where there is none (or resume is off)."""
    if store is None or not cfg.resume:
        return 0
    keys = [k for k in store.keys() if k.startswith("take-cluster-")]
    if not keys:
        return 0
    progress = _progress_key(_digest(x), cfg, seed, data_key)
    for key in keys:
        state = store.get(key)
        if Checkpointer.holds_training(state) and state.get("progress") == progress:
            return state["epoch"]
    return 0


def _view_terms_modules(pretrained: dict, views: np.ndarray | None, cfg: TAKEConfig, dev: torch.device
                        ) -> tuple[ContrastiveHead | None, nn.Parameter | None]:
    """``cluster_contrastive``: the pretraining's contrastive head and c̃ (the convex combination's logits) on
    ``dev``, to train on; (None, None) where it is off, or, with a warning, where there is nothing to train them on
    (no stored views: the data set was built without them, or has none of its kind)."""
    if cfg.cluster_contrastive <= 0:
        return None, None
    no_views = views is None or views.ndim != 3 or views.shape[1] < 4
    if no_views or "head" not in pretrained:
        logger.warning("take.cluster_contrastive = %g: %s, so the joint phase trains without the view terms (as with "
                       "0)", cfg.cluster_contrastive,
                       "no stored views of the rows (the data set was built without views, or has none of its kind)"
                       if no_views else "the pretrained model has no contrastive head")
        return None, None
    head = ContrastiveHead(cfg.latent_dim, cfg.head_hidden, cfg.head_out)
    head.load_state_dict(pretrained["head"])
    return head.to(dev), nn.Parameter(torch.as_tensor(pretrained["ccl_logits"], dtype=torch.float32).clone().to(dev))


@torch.no_grad()
def _encode_rows(tae: TransformerAutoencoder, xt: torch.Tensor, batch_size: int = TRAIN_ENCODE_ROWS) -> torch.Tensor:
    """z of every row of the device tensor ``xt``, the TAE in eval mode (its mode is restored)."""
    was = tae.training
    tae.eval()
    z = torch.cat([tae.encode(xt[i:i + batch_size]).float() for i in range(0, len(xt), batch_size)])
    tae.train(was)
    return z


@torch.no_grad()
def _end_of_epoch(tae: TransformerAutoencoder, knet: KNet, xt: torch.Tensor, cfg: TAKEConfig,
                  y: np.ndarray | None, seed: int, start: torch.Tensor) -> tuple[dict, torch.Tensor | None]:
    """After an epoch, on z of all rows: KNet's eval scale, the centres' update (``knet_centers`` refit or mean),
    then (the diagnostics, and for ``knet_target`` sharpened or self the next epoch's (targets, confident or None),
    else None)."""
    z = _encode_rows(tae, xt)
    knet.set_sigma(z)
    if cfg.knet_centers == "refit":  # Lloyd from the current M, on the device (cluster k stays cluster k)
        knet.M.copy_(lloyd(z, knet.M.T)[0].T)
    elif cfg.knet_centers == "mean":  # one hard-count step on KNet's own partition
        labels = knet_assign(knet, z).argmax(dim=1)
        knet.M.copy_(cluster_means(z, labels, knet.n_clusters, fallback=knet.M.T).T)
    refreshed = None
    if cfg.knet_target == "sharpened":
        refreshed = (sharpened_targets(z, knet, cfg.knet_target_temperature), None)
    elif cfg.knet_target == "self":
        refreshed = self_targets(z, knet, cfg.knet_target_temperature, cfg.knet_confidence)
    return joint_diagnostics(z, knet, y, seed, start), refreshed


def prototype_logits(knet: KNet, z: torch.Tensor, temperature: float, of: torch.Tensor | None = None
                     ) -> torch.Tensor:
    """Self-training's prototype classifier: −‖z̃ − m̃_k‖² / τ in KNet's units (z and M divided by σ of ``z``),
    (B, K). ``of``: score these rows instead (a view's z) in the units of ``z``."""
    zn, mn = knet.normalised(z, rows=of)  # of / σ(z) where given
    return -squared_distances(zn, mn) / temperature


@torch.no_grad()
def self_targets(z: torch.Tensor, knet: KNet, temperature: float, threshold: float
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """Self-labelling (SCAN's last step, Van Gansbeke et al. 2020): each row's target is its cluster under the
    prototype classifier q = softmax(−‖z − m_k‖² / τ) in KNet's units, trained on where q's largest probability
    reaches ``threshold``. → (targets (N,) int64, confident (N,) bool)."""
    q = torch.softmax(prototype_logits(knet, z, temperature), dim=1)
    top, targets = q.max(dim=1)
    return targets, top >= threshold


@torch.no_grad()
def sharpened_targets(z: torch.Tensor, knet: KNet, temperature: float) -> torch.Tensor:
    """DEC's target distribution (Xie et al. 2016, eq. 3) of the prototype classifier's soft assignment
    q = softmax(−‖z − m_k‖² / τ) in KNet's units: p_ik ∝ q_ik² / f_k with f_k = Σ_i q_ik. (N, K), rows sum to 1.
    Squaring sharpens each row towards its confident cluster; dividing by f_k keeps a large cluster from
    swallowing the rest."""
    q = torch.softmax(prototype_logits(knet, z, temperature), dim=1)
    p = q.square() / q.sum(dim=0).clamp(min=1e-12)
    return p / p.sum(dim=1, keepdim=True).clamp(min=1e-12)
