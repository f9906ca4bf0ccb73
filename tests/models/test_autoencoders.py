"""The shared autoencoders: shapes on 8×8 / 28×28 (and odd / padded) geometries, layers, init, gradients."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from deep_kmeans.data.registry import Geometry
from deep_kmeans.models.autoencoders import ConvAutoencoder, MLPAutoencoder


def test_mlp_shapes_and_layers():
    ae = MLPAutoencoder([64, 500, 500, 2000, 10])
    x = torch.rand(5, 64)
    z, xr = ae(x)
    assert z.shape == (5, 10) and xr.shape == (5, 64)
    assert torch.equal(ae.encode(x), z)
    # no activation on the embedding nor on the output layer; ReLU after every hidden layer
    assert isinstance(ae.encoder[-1], nn.Linear) and isinstance(ae.decoder[-1], nn.Linear)
    assert sum(isinstance(m, nn.ReLU) for m in ae.encoder) == 3
    assert [m.out_features for m in ae.decoder if isinstance(m, nn.Linear)] == [2000, 500, 500, 64]
    assert (z < 0).any()  # linear embedding: negative values are possible


def test_mlp_xavier_init():
    ae = MLPAutoencoder([64, 32, 4])
    lin = ae.encoder[0]
    bound = (6 / (64 + 32)) ** 0.5
    assert torch.all(lin.bias == 0)
    assert lin.weight.abs().max() <= bound + 1e-6


@pytest.mark.parametrize("side,dim,expected_sides", [
    (8, 64, [8, 4, 2, 1]),
    (28, 784, [28, 14, 7, 4]),
    (9, 81, [9, 5, 3, 2]),
    (8, 60, [8, 4, 2, 1]),  # a feature vector zero-padded to 8×8
])
def test_conv_shapes(side, dim, expected_sides):
    g = Geometry(dim=dim, channels=1, side=side, patch=1)
    ae = ConvAutoencoder(g, embedding_dim=10)
    assert ae.sides == expected_sides
    z, xr = ae(torch.rand(3, dim))
    assert z.shape == (3, 10) and xr.shape == (3, dim)
    assert ae.to_image(torch.rand(3, dim)).shape == (3, 1, side, side)


def test_conv_multichannel_and_padding_is_zero():
    g = Geometry(dim=3 * 64 - 5, channels=3, side=8, patch=2)
    ae = ConvAutoencoder(g, channels=(8, 8, 8), embedding_dim=4)
    x = torch.rand(2, g.dim)
    img = ae.to_image(x)
    assert img.shape == (2, 3, 8, 8)
    assert torch.all(img.flatten(1)[:, g.dim:] == 0)
    assert ae(x)[1].shape == (2, g.dim)


def test_conv_rejects_small_images_and_even_kernels():
    with pytest.raises(ValueError, match="ae: mlp"):
        ConvAutoencoder(Geometry(dim=16, channels=1, side=4, patch=2))
    with pytest.raises(ValueError, match="odd"):
        ConvAutoencoder(Geometry(dim=64, channels=1, side=8, patch=2), kernels=(4, 5, 3))


@pytest.mark.parametrize("kind", ["mlp", "conv"])
def test_gradients_reach_every_parameter(kind):
    g = Geometry(dim=64, channels=1, side=8, patch=2)
    ae = MLPAutoencoder([64, 16, 4]) if kind == "mlp" else ConvAutoencoder(g, channels=(4, 4, 4), embedding_dim=4)
    x = torch.rand(6, 64)
    z, xr = ae(x)
    ((xr - x) ** 2).mean().backward()
    for name, p in ae.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name
    enc = {id(p) for p in ae.encoder_parameters()}
    assert 0 < len(enc) < len(list(ae.parameters()))
