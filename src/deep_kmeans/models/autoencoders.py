"""The two autoencoders the deep K-means family shares: a fully connected one and a convolutional one.

Both take and return FLAT ``(B, dim)`` tensors, so every training loop is the same whatever the
architecture: ``encode(x) -> z``, ``decode(z) -> x_rec``, ``forward(x) -> (z, x_rec)``.

* :class:`MLPAutoencoder` — DEC's ``d-500-500-2000-10`` and its variants (EmAEC's
  ``D-1024-256-1024-d``): ReLU between layers, no activation on the embedding nor on the output,
  Xavier-uniform weights, zero biases (DEKM, DEC, IDEC, ULHE-DC).
* :class:`ConvAutoencoder` — DEKM's / DCEC's image autoencoder: three stride-2 convolutions
  (32-64-128 channels, kernels 5-5-3) then a dense embedding layer; the decoder mirrors it with a dense
  layer and transposed convolutions. The flat input is laid out as an image with the data set's
  :class:`~deep_kmeans.data.registry.Geometry` (zero-padded to ``padded_dim``, viewed as
  ``C × side × side``) and the output is cropped back to ``dim``.

  Padding: every convolution uses ``padding = kernel // 2`` so that a side ``s`` becomes ``ceil(s/2)``
  (Keras' ``same``), which works for ANY side ≥ 8 (digits 8→4→2→1, MNIST 28→14→7→4, USPS
  16→8→4→2). Each transposed convolution gets the ``output_padding`` (0 or 1) that gives back exactly
  the encoder's side at that stage, so no cropping of the image is needed. (DEKM's Keras code uses
  ``valid`` padding in the third layer when the side is not a multiple of 8 — 28→14→7→3; ``same``
  everywhere is the choice that also works on 8×8 digits.)
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from deep_kmeans.data.registry import Geometry

MIN_CONV_SIDE = 8

_ACTIVATIONS = {"relu": nn.ReLU, "elu": nn.ELU, "selu": nn.SELU, "leaky_relu": nn.LeakyReLU, "tanh": nn.Tanh,
                "gelu": nn.GELU, "sigmoid": nn.Sigmoid}


def activation_layer(name: str) -> nn.Module:
    """An activation module by name (``relu``, ``elu``, ``selu``, ``leaky_relu``, ``tanh``, ``gelu``, ``sigmoid``)."""
    try:
        return _ACTIVATIONS[name]()
    except KeyError:
        raise ValueError(f"unknown activation {name!r}; choose one of {', '.join(sorted(_ACTIVATIONS))}") from None


def is_image_geometry(geometry: Geometry) -> bool:
    """True when the vector fills its ``C × side × side`` image exactly (gray pixel sets).

    Feature vectors (backbone, sentence-encoder or tf-idf features) are zero-padded to a square, so
    ``dim < padded_dim`` marks them as "not an image". (A feature vector whose length happens to be a
    perfect square cannot be told apart; the project's features never are.)
    """
    return geometry.dim == geometry.padded_dim


def xavier_init(module: nn.Module) -> None:
    """Xavier-uniform weights and zero biases on every linear and (transposed) convolution layer."""
    for m in module.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def _as_geometry(geometry: Geometry | dict) -> Geometry:
    return Geometry.from_dict(geometry) if isinstance(geometry, dict) else geometry


class MLPAutoencoder(nn.Module):
    """Fully connected autoencoder with encoder ``dims`` (e.g. ``[D, 500, 500, 2000, 10]``) and a mirrored decoder.

    ``activation`` follows every hidden layer; the embedding layer (``dims[-1]``) and the output
    layer are linear.
    """

    def __init__(self, dims: Sequence[int], activation: str = "relu"):
        super().__init__()
        dims = [int(d) for d in dims]
        if len(dims) < 2:
            raise ValueError(f"an MLP autoencoder needs at least [input_dim, embedding_dim], got dims={dims}")
        if any(d < 1 for d in dims):
            raise ValueError(f"every layer width must be ≥ 1, got dims={dims}")
        self.dims = dims
        self.embedding_dim = dims[-1]
        activation_layer(activation)  # validate the name early
        self.encoder = self._stack(dims, activation)
        self.decoder = self._stack(dims[::-1], activation)
        xavier_init(self)

    @staticmethod
    def _stack(dims: list[int], activation: str) -> nn.Sequential:
        layers: list[nn.Module] = []
        for i in range(len(dims) - 1):
            layers.append(nn.Linear(dims[i], dims[i + 1]))
            if i < len(dims) - 2:
                layers.append(activation_layer(activation))
        return nn.Sequential(*layers)

    def encoder_parameters(self) -> list[nn.Parameter]:
        """The encoder's parameters (what methods that discard the decoder train)."""
        return list(self.encoder.parameters())

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x.flatten(1))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = self.encode(x)
        return z, self.decode(z)


def _conv_sides(side: int, n_layers: int) -> list[int]:
    """Image side before each stride-2 ``same`` convolution and after the last: ``[s, ceil(s/2), ...]``."""
    sides = [side]
    for _ in range(n_layers):
        sides.append(-(-sides[-1] // 2))
    return sides


class ConvAutoencoder(nn.Module):
    """DEKM's convolutional autoencoder on flat inputs laid out with ``geometry``.

    Encoder: ``Conv(k_i, stride 2, padding k_i//2) + act`` for each of ``channels``/``kernels``, flatten,
    ``Linear → embedding_dim`` (no activation). Decoder: ``Linear + act``, reshape, then
    ``ConvTranspose(stride 2)`` mirrors with ``act`` between them and none on the output; the image
    is flattened and cropped to ``geometry.dim``.
    """

    def __init__(self, geometry: Geometry | dict, channels: Sequence[int] = (32, 64, 128),
                 kernels: Sequence[int] = (5, 5, 3), embedding_dim: int = 10, activation: str = "relu"):
        super().__init__()
        g = _as_geometry(geometry)
        channels, kernels = [int(c) for c in channels], [int(k) for k in kernels]
        if len(channels) != len(kernels) or not channels:
            raise ValueError(f"channels {channels} and kernels {kernels} must be non-empty lists of the same length")
        if any(c < 1 for c in channels) or any(k < 1 or k % 2 == 0 for k in kernels):
            raise ValueError(f"channels must be positive and kernels positive odd sizes, got {channels} and {kernels}")
        if embedding_dim < 1:
            raise ValueError(f"embedding_dim must be ≥ 1, got {embedding_dim}")
        if g.side < MIN_CONV_SIDE:
            raise ValueError(
                f"the convolutional autoencoder needs images of at least {MIN_CONV_SIDE}×{MIN_CONV_SIDE} pixels, "
                f"this geometry is {g.side}×{g.side}: set `ae: mlp` in the method's parameters"
            )
        activation_layer(activation)
        self.geometry = g
        self.embedding_dim = int(embedding_dim)
        self.sides = _conv_sides(g.side, len(channels))
        ins = [g.channels] + channels[:-1]
        enc: list[nn.Module] = []
        for c_in, c_out, k in zip(ins, channels, kernels):
            enc += [nn.Conv2d(c_in, c_out, k, stride=2, padding=k // 2), activation_layer(activation)]
        self.conv_encoder = nn.Sequential(*enc)
        last = self.sides[-1]
        self._bottleneck = (channels[-1], last, last)
        flat = channels[-1] * last * last
        self.embed = nn.Linear(flat, self.embedding_dim)
        self.expand = nn.Sequential(nn.Linear(self.embedding_dim, flat), activation_layer(activation))
        dec: list[nn.Module] = []
        n = len(channels)
        for j, i in enumerate(reversed(range(n))):  # mirror: layer i maps sides[i+1] → sides[i]
            c_in = channels[i]
            c_out = ins[i]
            k = kernels[i]
            out_pad = self.sides[i] - (2 * self.sides[i + 1] - 1)  # ConvT, odd k: (s−1)·2 − (k−1) + k + op
            dec.append(nn.ConvTranspose2d(c_in, c_out, k, stride=2, padding=k // 2, output_padding=out_pad))
            if j < n - 1:
                dec.append(activation_layer(activation))
        self.conv_decoder = nn.Sequential(*dec)
        xavier_init(self)

    def to_image(self, x: torch.Tensor) -> torch.Tensor:
        """(B, dim) → (B, C, side, side), zero-padded at the end like the rest of the project."""
        g = self.geometry
        x = x.flatten(1)
        if x.shape[1] != g.dim:
            raise ValueError(f"expected inputs of dimension {g.dim}, got {x.shape[1]}")
        if g.padded_dim > g.dim:
            x = torch.nn.functional.pad(x, (0, g.padded_dim - g.dim))
        return x.view(-1, g.channels, g.side, g.side)

    def encoder_parameters(self) -> list[nn.Parameter]:
        """The encoder's parameters (what methods that discard the decoder train)."""
        return list(self.conv_encoder.parameters()) + list(self.embed.parameters())

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv_encoder(self.to_image(x))
        return self.embed(h.flatten(1))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        h = self.expand(z).view(-1, *self._bottleneck)
        img = self.conv_decoder(h)
        return img.flatten(1)[:, : self.geometry.dim]

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = self.encode(x)
        return z, self.decode(z)
