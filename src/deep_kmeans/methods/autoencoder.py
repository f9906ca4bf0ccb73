"""What the autoencoder-based methods of the deep K-means family share (DEC, IDEC, DCN, DEKM, EmAEC,
ULHE-DC); the generic training kit is :mod:`deep_kmeans.methods.kit`.

* :func:`read_ae_params` / :func:`build_autoencoder` — the MLP or the convolutional autoencoder of
  :mod:`deep_kmeans.models.autoencoders` from a method's checked parameters;
* :func:`pretrain_autoencoder` — ONE pretraining loop (MSE by default; extra terms such as EmAEC's
  ``ε‖f(x)‖²`` or ULHE-DC's ``(‖z‖ − 1)²`` through ``loss_fn``; on-the-fly augmentation through
  ``augment``), returning per-epoch means keyed ``pretrain/<term>``; :func:`build_and_pretrain` both;
* :func:`read_cluster_params` — the clustering phase's optimiser, tolerance and K-means restarts;
* :class:`EpochMeans` — the per-epoch means of the loss terms a loop logs;
* :func:`ae_result` — the :class:`~deep_kmeans.methods.kit.ClusteringResult` every method ends with,
  whose ``model`` holds what :func:`stored_embedding` and :func:`stored_assignments` (the body of
  every ``predict_<name>``) need to assign new rows.
"""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from deep_kmeans.data.registry import Geometry
from deep_kmeans.methods.kit import (
    ClusteringResult, ParamReader, as_tensor, check_inputs, cpu_state_dict, embed, epoch_bar, make_optimizer,
    minibatches, record, resolve_device,
)
from deep_kmeans.models.autoencoders import MIN_CONV_SIDE, ConvAutoencoder, MLPAutoencoder, is_image_geometry

__all__ = [
    "AE_KEYS", "EpochMeans", "ae_result", "build_and_pretrain", "build_autoencoder", "mse_loss_fn",
    "pretrain_autoencoder", "read_ae_params", "read_cluster_params", "resolve_ae_kind", "stored_assignments",
    "stored_embedding",
]

LossFn = Callable[[nn.Module, torch.Tensor, torch.Tensor, torch.Tensor], "tuple[torch.Tensor, dict[str, torch.Tensor]]"]
Augment = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

#: The keys of :func:`read_ae_params`' dict that :func:`build_autoencoder` needs to rebuild the network.
AE_KEYS = ("kind", "hidden", "embedding_dim", "channels", "kernels", "activation")


# --------------------------------------------------------------------------------------------------
# parameters and the network


def resolve_ae_kind(ae: str, geometry: Geometry) -> str:
    """``auto`` → ``conv`` for pixel images (the vector fills its image exactly), else ``mlp``."""
    if ae == "auto":
        return "conv" if is_image_geometry(geometry) and geometry.side >= MIN_CONV_SIDE else "mlp"
    if ae not in ("mlp", "conv"):
        raise ValueError(f"ae must be 'auto', 'mlp' or 'conv', got {ae!r}")
    return ae


def read_ae_params(p: ParamReader, geometry: Geometry, *, hidden: Sequence[int] = (500, 500, 2000),
                   embedding_dim: int = 10, ae: str = "mlp", allow_conv: bool = True,
                   pretrain_epochs: int = 200, batch_size: int = 256, pretrain_lr: float = 1e-3,
                   pretrain_optimizer: str = "adam", pretrain_momentum: float = 0.9) -> dict:
    """The autoencoder and pretraining parameters every AE method reads, checked.

    Keys: ``ae`` (``auto``/``mlp``/``conv``), ``hidden`` (MLP widths between input and embedding),
    ``embedding_dim``, ``channels``/``kernels`` (conv), ``activation``, ``pretrain_epochs``,
    ``batch_size``, ``pretrain_lr``, ``pretrain_optimizer`` (``adam``/``sgd``), ``pretrain_momentum``.
    """
    kind = p.choice("ae", ae, ("auto", "mlp", "conv") if allow_conv else ("mlp",))
    kind = resolve_ae_kind(kind, geometry)
    if kind == "conv" and geometry.side < MIN_CONV_SIDE:
        raise ValueError(
            f"{p.method}.ae = 'conv' needs images of at least {MIN_CONV_SIDE}×{MIN_CONV_SIDE} pixels but this data "
            f"set's geometry is {geometry.side}×{geometry.side}: set `ae: mlp` (or `auto`) under `{p.method}:` "
            f"in conf/base/parameters_{p.method}.yml"
        )
    return {
        "kind": kind,
        "hidden": p.ints("hidden", hidden, min=1),
        "embedding_dim": p.int("embedding_dim", embedding_dim, min=1),
        "channels": p.ints("channels", (32, 64, 128), min=1),
        "kernels": p.ints("kernels", (5, 5, 3), min=1),
        "activation": p.choice("activation", "relu", ("relu", "elu", "selu", "leaky_relu", "tanh", "gelu")),
        "pretrain_epochs": p.int("pretrain_epochs", pretrain_epochs, min=0),
        "batch_size": p.int("batch_size", batch_size, min=1),
        "pretrain_lr": p.float("pretrain_lr", pretrain_lr, min=0.0, exclusive_min=True),
        "pretrain_optimizer": p.choice("pretrain_optimizer", pretrain_optimizer, ("adam", "sgd")),
        "pretrain_momentum": p.float("pretrain_momentum", pretrain_momentum, min=0.0, max=1.0),
    }


def read_cluster_params(p: ParamReader, *, optimizer: str, lr: float, tol: float, kmeans_n_init: int = 10) -> dict:
    """The clustering phase's parameters the AE methods share, checked: ``optimizer`` (``adam``/``sgd``),
    ``lr``, ``momentum`` (SGD), ``tol`` (stopping tolerance, a fraction in [0, 1]) and ``kmeans_n_init``
    (restarts of the K-means initialisation). The keyword arguments are the method's defaults."""
    return {
        "optimizer": p.choice("optimizer", optimizer, ("adam", "sgd")),
        "lr": p.float("lr", lr, min=0.0, exclusive_min=True),
        "momentum": p.float("momentum", 0.9, min=0.0, max=1.0),
        "tol": p.float("tol", tol, min=0.0, max=1.0),
        "kmeans_n_init": p.int("kmeans_n_init", kmeans_n_init, min=1),
    }


def build_autoencoder(kind: str, geometry: Geometry | dict, embedding_dim: int = 10,
                      hidden: Sequence[int] = (500, 500, 2000), channels: Sequence[int] = (32, 64, 128),
                      kernels: Sequence[int] = (5, 5, 3), activation: str = "relu", **_ignored) -> nn.Module:
    """``mlp``: ``[dim, *hidden, embedding_dim]`` :class:`MLPAutoencoder`; ``conv``: :class:`ConvAutoencoder`.

    Extra keyword arguments (the rest of :func:`read_ae_params`' dict) are ignored, so
    ``build_autoencoder(**ae_params, geometry=g)`` works.
    """
    g = Geometry.from_dict(geometry) if isinstance(geometry, dict) else geometry
    if kind == "mlp":
        return MLPAutoencoder([g.dim, *hidden, embedding_dim], activation=activation)
    if kind == "conv":
        return ConvAutoencoder(g, channels=channels, kernels=kernels, embedding_dim=embedding_dim,
                               activation=activation)
    raise ValueError(f"autoencoder kind must be 'mlp' or 'conv', got {kind!r}")


# --------------------------------------------------------------------------------------------------
# pretraining


class EpochMeans:
    """Sample-weighted means of a loop's loss terms over one epoch (or one round) of mini-batches."""

    def __init__(self):
        self.sums: dict[str, float] = defaultdict(float)
        self.count = 0

    def add(self, terms: dict, n: int = 1) -> None:
        """Add one batch of ``n`` samples (``n = 1``: a plain mean over batches)."""
        self.count += n
        for k, v in terms.items():
            self.sums[k] += (v.item() if isinstance(v, torch.Tensor) else float(v)) * n

    def means(self) -> dict[str, float]:
        return {k: v / max(self.count, 1) for k, v in self.sums.items()}


def mse_loss_fn(model: nn.Module, xb: torch.Tensor, z: torch.Tensor, xr: torch.Tensor):
    """The default pretraining loss: MSE (mean over elements) between the batch and its reconstruction."""
    rec = F.mse_loss(xr, xb)
    return rec, {"rec": rec}


def pretrain_autoencoder(model: nn.Module, x, epochs: int, batch_size: int = 256, lr: float = 1e-3,
                         optimizer: str = "adam", momentum: float = 0.9, loss_fn: LossFn | None = None,
                         augment: Augment | None = None, seed: int = 0, device: str | torch.device = "auto",
                         progress: bool = True, desc: str = "pretrain",
                         generator: torch.Generator | None = None) -> dict[str, list[float]]:
    """Train ``model`` (encoder + decoder) to reconstruct ``x``; return ``{"pretrain/<term>": [per-epoch mean]}``.

    ``loss_fn(model, xb, z, x_rec) -> (loss, {term: value})`` replaces the default MSE (the terms
    are logged; ``loss`` is always logged). ``augment(xb, idx) -> xb'`` transforms each batch first
    (``idx``: the batch's row indices, so that precomputed views can be looked up); the model then
    reconstructs the augmented batch, as EmAEC's eq. 13. Batches are shuffled with ``generator`` (or
    one seeded with ``seed``), so the same seed gives the same weights.
    """
    if epochs < 0:
        raise ValueError(f"pretraining epochs must be ≥ 0, got {epochs}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be ≥ 1, got {batch_size}")
    dev = resolve_device(device) if not isinstance(device, torch.device) else device
    model.to(dev).train()
    X = as_tensor(x, dev)
    gen = generator if generator is not None else torch.Generator().manual_seed(int(seed))
    opt = make_optimizer(model.parameters(), optimizer, lr, momentum)
    loss_fn = loss_fn or mse_loss_fn
    history: dict[str, list[float]] = {}
    bar = epoch_bar(epochs, desc, progress)
    for _ in bar:
        acc = EpochMeans()
        for idx in minibatches(len(X), batch_size, gen, dev):
            xb = X[idx]
            if augment is not None:
                xb = augment(xb, idx)
            z, xr = model(xb)
            loss, terms = loss_fn(model, xb, z, xr)
            if not torch.isfinite(loss):
                raise FloatingPointError(
                    f"{desc}: the loss became {loss.item()}; lower the pretraining learning rate (pretrain_lr)")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            acc.add({"loss": loss, **{k: v for k, v in terms.items() if k != "loss"}}, len(idx))
        means = acc.means()
        record(history, "pretrain", means)
        bar.set_postfix({k: f"{v:.4g}" for k, v in means.items()})
    return history


def build_and_pretrain(x, geometry, cfg: dict, device: torch.device, generator: torch.Generator, progress: bool,
                       desc: str, loss_fn: LossFn | None = None, augment: Augment | None = None):
    """The first step every AE-based method shares: build the autoencoder ``cfg`` describes (see
    :func:`read_ae_params`) and pretrain it. Returns ``(autoencoder, history, x as a tensor on device)``."""
    ae = build_autoencoder(geometry=geometry, **cfg)
    history = pretrain_autoencoder(ae, x, cfg["pretrain_epochs"], cfg["batch_size"], cfg["pretrain_lr"],
                                   cfg["pretrain_optimizer"], cfg["pretrain_momentum"], loss_fn=loss_fn,
                                   augment=augment, device=device, progress=progress, desc=desc,
                                   generator=generator)
    return ae, history, as_tensor(x, device)


# --------------------------------------------------------------------------------------------------
# the result and prediction


def _numpy(a, dtype) -> np.ndarray:
    if isinstance(a, torch.Tensor):
        a = a.detach().cpu().numpy()
    return np.asarray(a, dtype=dtype)


def ae_result(network: nn.Module, geometry: Geometry, labels, embedding, centers, history: dict, start: float,
              ae: dict | None = None, **settings) -> ClusteringResult:
    """The :class:`ClusteringResult` every family method ends with.

    ``labels`` (N,), ``embedding`` (N, d) and ``centers`` (K, d) may be tensors on any device or arrays;
    ``start`` is the ``time.perf_counter()`` of the fit's start. ``model`` is plain picklable data:
    ``{"state": network's CPU state_dict, "geometry": geometry.to_dict(), "centers": centers, "ae": the
    AE_KEYS of ae (when given, so that :func:`stored_embedding` can rebuild it), **settings}``.
    """
    centers = _numpy(centers, np.float32)
    model = {"state": cpu_state_dict(network), "geometry": geometry.to_dict(), "centers": centers, **settings}
    if ae is not None:
        model["ae"] = {k: ae[k] for k in AE_KEYS}
    return ClusteringResult(
        labels=_numpy(labels, np.int64),
        embedding=_numpy(embedding, np.float32),
        history=history,
        model=model,
        train_seconds=time.perf_counter() - start,
        centers=centers,
    )


def stored_embedding(model: dict, x, method: str, device: str | torch.device = "auto") -> torch.Tensor:
    """``f(x)`` (a CPU float32 tensor) by the autoencoder an :func:`ae_result` ``model`` describes;
    ``x`` is checked against the stored geometry first. The global torch RNG is left untouched."""
    geometry = Geometry.from_dict(model["geometry"])
    x = check_inputs(x, geometry, method)
    with torch.random.fork_rng(devices=[]):  # building initialises weights that the state then replaces
        ae = build_autoencoder(geometry=geometry, **model["ae"])
    ae.load_state_dict(model["state"])
    return torch.from_numpy(embed(ae, x, device=device))


def stored_assignments(model: dict, x, method: str, assign: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
                       device: str | torch.device = "auto", dtype: torch.dtype = torch.float32) -> np.ndarray:
    """``assign(f(x), centres)`` (int64 NumPy) with the network and centres an :func:`ae_result` ``model`` stores:
    what every family ``predict_<name>`` does, ``assign`` being the method's rule (nearest centre, largest
    cosine, ...), computed on the CPU in ``dtype``."""
    z = stored_embedding(model, x, method, device).to(dtype)
    return assign(z, torch.as_tensor(model["centers"]).to(dtype)).numpy().astype(np.int64)
