"""What every autoencoder-based method of the deep K-means family shares.

* :func:`build_autoencoder` — the MLP or the convolutional autoencoder from a method's parameters;
* :func:`pretrain_autoencoder` — ONE pretraining loop (MSE by default; extra terms such as EmAEC's
  ``ε‖f(x)‖²`` or ULHE-DC's ``(‖z‖ − 1)²`` through ``loss_fn``; on-the-fly augmentation through
  ``augment``), returning per-epoch means keyed ``pretrain/<term>``;
* :func:`embed` — the encoder over a whole array, in chunks, as NumPy;
* small helpers the fit functions share: :class:`ParamReader` (checked parameters with errors that
  name the parameter and the fix), :func:`minibatches` (seeded shuffling), :func:`make_optimizer`,
  :func:`epoch_bar` (tqdm per epoch), :func:`cpu_state_dict`.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Callable, Iterator, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from deep_kmeans.data.registry import Geometry
from deep_kmeans.models.autoencoders import MIN_CONV_SIDE, ConvAutoencoder, MLPAutoencoder, is_image_geometry
from deep_kmeans.training.runtime import resolve_device

LossFn = Callable[[nn.Module, torch.Tensor, torch.Tensor, torch.Tensor], "tuple[torch.Tensor, dict[str, torch.Tensor]]"]
Augment = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


# --------------------------------------------------------------------------------------------------
# parameters


class ParamReader:
    """Typed, range-checked reads of a method's ``params`` dict.

    Unknown keys are ignored (``overrides`` among them: ``fit_node`` merges the data set's block
    before the fit function is called). A bad value raises a ``ValueError`` that names
    ``<method>.<key>``, the value, what is expected and where to change it.
    """

    def __init__(self, params: dict | None, method: str):
        if params is not None and not isinstance(params, dict):
            raise ValueError(f"{method} parameters must be a mapping, got {type(params).__name__}")
        self.params = dict(params or {})
        self.method = method

    def _fail(self, key: str, value, expected: str) -> ValueError:
        return ValueError(
            f"{self.method}.{key} = {value!r} is invalid: expected {expected}. "
            f"Fix `{key}` under `{self.method}:` in conf/base/parameters_{self.method}.yml "
            f"(or pass --params={self.method}.{key}=...)."
        )

    def get(self, key: str, default=None):
        v = self.params.get(key, default)
        return default if v is None else v

    def int(self, key: str, default: int, min: int | None = None) -> int:
        v = self.get(key, default)
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            if isinstance(v, float) and v.is_integer():
                v = int(v)
            else:
                raise self._fail(key, v, "an integer" + (f" ≥ {min}" if min is not None else ""))
        if min is not None and v < min:
            raise self._fail(key, v, f"an integer ≥ {min}")
        return int(v)

    def float(self, key: str, default: float, min: float | None = None, max: float | None = None,
              exclusive_min: bool = False) -> float:
        v = self.get(key, default)
        if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) or not math.isfinite(v):
            raise self._fail(key, v, "a finite number")
        v = float(v)
        if min is not None and (v < min or (exclusive_min and v == min)):
            raise self._fail(key, v, f"a number {'>' if exclusive_min else '≥'} {min}")
        if max is not None and v > max:
            raise self._fail(key, v, f"a number ≤ {max}")
        return v

    def choice(self, key: str, default: str, choices: Sequence[str]) -> str:
        v = self.get(key, default)
        if v not in choices:
            raise self._fail(key, v, f"one of {', '.join(map(str, choices))}")
        return v

    def bool(self, key: str, default: bool) -> bool:
        v = self.get(key, default)
        if not isinstance(v, (bool, np.bool_)):
            raise self._fail(key, v, "true or false")
        return bool(v)

    def ints(self, key: str, default: Sequence[int], min: int = 1, length: int | None = None) -> list[int]:
        v = self.get(key, default)
        if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
            v = [v]
        if not isinstance(v, (list, tuple)) or not all(
                isinstance(i, (int, np.integer)) and not isinstance(i, bool) for i in v):
            raise self._fail(key, v, "a list of integers")
        if any(i < min for i in v):
            raise self._fail(key, v, f"a list of integers ≥ {min}")
        if length is not None and len(v) != length:
            raise self._fail(key, v, f"a list of {length} integers")
        return [int(i) for i in v]


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
# loops


def make_optimizer(parameters, name: str, lr: float, momentum: float = 0.9) -> torch.optim.Optimizer:
    """``adam`` (β = 0.9, 0.999) or ``sgd`` with momentum."""
    if name == "adam":
        return torch.optim.Adam(parameters, lr=lr)
    if name == "sgd":
        return torch.optim.SGD(parameters, lr=lr, momentum=momentum)
    raise ValueError(f"optimizer must be 'adam' or 'sgd', got {name!r}")


def minibatches(n: int, batch_size: int, generator: torch.Generator, device: torch.device | str = "cpu",
                shuffle: bool = True) -> Iterator[torch.Tensor]:
    """Index tensors of one epoch, shuffled with the seeded CPU ``generator`` (same seed → same order)."""
    order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
    order = order.to(device)
    for start in range(0, n, batch_size):
        yield order[start:start + batch_size]


def cycle_minibatches(n: int, batch_size: int, generator: torch.Generator,
                      device: torch.device | str = "cpu") -> Iterator[torch.Tensor]:
    """Endless mini-batches: one shuffled epoch after another (for loops counted in iterations)."""
    while True:
        yield from minibatches(n, batch_size, generator, device)


def epoch_bar(total: int, desc: str, progress: bool):
    """A tqdm bar over epochs (disabled when ``progress`` is false)."""
    return tqdm(range(total), desc=desc, disable=not progress, leave=False, dynamic_ncols=True)


def cpu_state_dict(module: nn.Module) -> dict[str, torch.Tensor]:
    """The module's ``state_dict`` with every tensor detached and copied to the CPU."""
    return {k: v.detach().to("cpu").clone() for k, v in module.state_dict().items()}


def as_tensor(x, device: torch.device) -> torch.Tensor:
    """A float32 tensor on ``device`` from an array or tensor."""
    if isinstance(x, torch.Tensor):
        return x.to(device=device, dtype=torch.float32)
    return torch.as_tensor(np.asarray(x, dtype=np.float32), device=device)


def check_inputs(x, n_clusters: int, geometry: Geometry, method: str) -> np.ndarray:
    """The fit functions' common input checks; returns ``x`` as a float32 (N, dim) array."""
    from deep_kmeans.models.kmeans_init import check_n_clusters

    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 2:
        raise ValueError(f"{method}: x must be a 2-D array (samples × features), got shape {x.shape}")
    if x.shape[1] != geometry.dim:
        raise ValueError(f"{method}: x has {x.shape[1]} features but the geometry says dim={geometry.dim}")
    if not np.isfinite(x).all():
        raise ValueError(f"{method}: x contains NaN or infinite values")
    check_n_clusters(n_clusters, len(x))
    return x


def mse_loss_fn(model: nn.Module, xb: torch.Tensor, z: torch.Tensor, xr: torch.Tensor):
    """The default pretraining loss: MSE (mean over elements) between the batch and its reconstruction."""
    rec = F.mse_loss(xr, xb)
    return rec, {"rec": rec}


@torch.no_grad()
def encode_tensor(model: nn.Module, x: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
    """``model.encode`` over ``x`` (already on the model's device) in chunks, in eval mode, no grad."""
    was_training = model.training
    model.eval()
    out = [model.encode(x[i:i + batch_size]) for i in range(0, len(x), batch_size)]
    model.train(was_training)
    return torch.cat(out) if out else x.new_zeros((0, 0))


def embed(model: nn.Module, x, batch_size: int = 1024, device: str | torch.device = "auto") -> np.ndarray:
    """The embedding ``f(x)`` of every row of ``x`` as a float32 NumPy array (N, d)."""
    dev = resolve_device(device) if not isinstance(device, torch.device) else device
    model.to(dev)
    return encode_tensor(model, as_tensor(x, dev), batch_size).cpu().numpy().astype(np.float32)


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
    history: dict[str, list[float]] = defaultdict(list)
    bar = epoch_bar(epochs, desc, progress)
    for _ in bar:
        sums: dict[str, float] = defaultdict(float)
        count = 0
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
            b = len(idx)
            count += b
            sums["loss"] += loss.item() * b
            for k, v in terms.items():
                if k != "loss":
                    sums[k] += (v.item() if isinstance(v, torch.Tensor) else float(v)) * b
        means = {k: v / max(count, 1) for k, v in sums.items()}
        for k, v in means.items():
            history[f"pretrain/{k}"].append(v)
        bar.set_postfix({k: f"{v:.4g}" for k, v in means.items()})
    return dict(history)


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
