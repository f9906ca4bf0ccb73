import pytest
import torch
import torch.nn.functional as F

from deep_kmeans.data.registry import Geometry, geometry_for, vector_geometry
from deep_kmeans.models.tae import ContrastiveHead, TransformerAutoencoder, patchify, unpatchify

# The spec's "Shapes" table: data set, feature dim → (side, patch, number of patches)
SPEC_ROWS = [
    ("mnist", 784, 28, 7, 16),
    ("fashion_mnist", 784, 28, 7, 16),
    ("2mnist", 784, 28, 7, 16),
    ("stl10", 2048, 48, 8, 36),
    ("cifar10", 2048, 48, 8, 36),
    ("reuters10k", 2000, 45, 15, 9),
    ("agnews", 768, 28, 7, 16),
    ("digits", 64, 8, 2, 16),
]


@pytest.mark.parametrize("name,dim,side,patch,n_patches", SPEC_ROWS)
def test_geometry_and_tae_shapes_for_every_spec_row(name, dim, side, patch, n_patches):
    g = geometry_for(name, dim)
    assert (g.side, g.patch, g.n_patches, g.padded_dim - dim) == (side, patch, n_patches, side * side - dim)
    tae = TransformerAutoencoder(g, embed_dim=16, latent_dim=10, depth=1, heads=2, decoder_depth=1, decoder_heads=2)
    x = torch.rand(3, dim)
    z, x_rec = tae(x)
    assert z.shape == (3, 10) and x_rec.shape == (3, dim)


def test_offline_backbone_geometries():
    assert (vector_geometry(1280, 6).side, vector_geometry(1280, 6).patch) == (36, 6)  # EfficientNet-Lite0
    assert (vector_geometry(384, 4).side, vector_geometry(384, 4).patch) == (20, 5)  # MiniLM


def test_bad_geometry_and_widths_are_errors():
    with pytest.raises(ValueError, match="does not divide"):
        Geometry(dim=784, channels=1, side=28, patch=5)
    with pytest.raises(ValueError, match="does not divide"):
        geometry_for("mnist", 784, patch=6)
    with pytest.raises(ValueError, match="unknown dataset"):
        geometry_for("imagenet", 10)
    with pytest.raises(ValueError, match="divisible"):
        TransformerAutoencoder(geometry_for("digits", 64), embed_dim=30, heads=4)
    with pytest.raises(ValueError, match=r"\(B, 64\)"):
        TransformerAutoencoder(geometry_for("digits", 64), embed_dim=16, heads=2, depth=1).encode(torch.rand(2, 63))


def test_patchify_round_trip_and_order():
    img = torch.arange(16.0).reshape(1, 1, 4, 4)
    p = patchify(img, 2)
    assert p.shape == (1, 4, 4)
    assert p[0, 0].tolist() == [0.0, 1.0, 4.0, 5.0]  # top-left patch, row-major inside
    assert p[0, 1].tolist() == [2.0, 3.0, 6.0, 7.0]
    torch.testing.assert_close(unpatchify(p, 1, 4, 2), img)


# every (channels, side, patch) the data sets use: digits 8/2, MNIST-like 28/7 (gray and a 3-channel image),
# ResNet features 48/8, tf-idf 45/15, and the offline backbones' 36/6 and 20/5
GEOMETRIES = [(1, 8, 2), (1, 28, 7), (3, 28, 7), (1, 48, 8), (1, 45, 15), (3, 45, 15), (1, 36, 6), (1, 20, 5)]


@pytest.mark.parametrize("channels,side,patch", GEOMETRIES)
def test_patchify_is_bitwise_unfold_and_unpatchify_bitwise_fold(channels, side, patch):
    gen = torch.Generator().manual_seed(side * patch + channels)
    images = torch.randn(3, channels, side, side, generator=gen, requires_grad=True)
    reference = F.unfold(images, kernel_size=patch, stride=patch).transpose(1, 2)
    tokens = patchify(images, patch)
    assert tokens.shape == reference.shape == (3, (side // patch) ** 2, channels * patch * patch)
    assert torch.equal(tokens.detach().view(torch.int32), reference.detach().view(torch.int32))  # bit for bit
    back = unpatchify(tokens, channels, side, patch)
    folded = F.fold(reference.transpose(1, 2), output_size=(side, side), kernel_size=patch, stride=patch)
    assert torch.equal(back.detach().view(torch.int32), folded.detach().view(torch.int32))
    assert torch.equal(back, images)
    # and so are their gradients (each the other's adjoint)
    weight = torch.randn(tokens.shape, generator=gen)
    ours = torch.autograd.grad((patchify(images, patch) * weight).sum(), images)[0]
    theirs = torch.autograd.grad((F.unfold(images, patch, stride=patch).transpose(1, 2) * weight).sum(), images)[0]
    assert torch.equal(ours.view(torch.int32), theirs.view(torch.int32))


def test_padding_is_zero_and_dropped():
    g = vector_geometry(10, 2)  # side 4, 6 zeros of padding
    tae = TransformerAutoencoder(g, embed_dim=8, heads=2, depth=1, decoder_depth=1, decoder_heads=2)
    img = tae.to_image(torch.ones(1, 10))
    assert img.shape == (1, 1, 4, 4) and img.sum() == 10


def test_gradients_reach_encoder_decoder_and_head():
    tae = TransformerAutoencoder(geometry_for("digits", 64), embed_dim=16, heads=2, depth=1, decoder_depth=1)
    head = ContrastiveHead(10, 32, 8)
    z, x_rec = tae(torch.rand(4, 64))
    (x_rec.sum() + head(z).sum()).backward()
    for module in (tae.patch_embed, tae.encoder, tae.to_latent, tae.decoder, tae.to_patch, head):
        assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in module.parameters())
