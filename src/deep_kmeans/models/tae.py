"""TAE: the transformer autoencoder of TAKE (paper 3.1.1), with its contrastive head.

Every input is a flat vector that the :class:`~deep_kmeans.data.registry.Geometry` lays out as a
C×S×S image (zero-padded at the end) cut into P = (S/p)² patches of p×p. The encoder embeds the
patches, runs pre-norm ViT blocks, concatenates all P output tokens (no class token) and projects
them to z ∈ R^d. The decoder maps z back to P tokens, runs lighter blocks and un-patchifies.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from deep_kmeans.data.registry import Geometry


class Attention(nn.Module):
    """Multi-head self-attention through PyTorch's fused scaled_dot_product_attention."""

    def __init__(self, dim: int, heads: int, dropout: float = 0.0):
        super().__init__()
        if dim % heads:
            raise ValueError(f"embedding width {dim} is not divisible by the number of heads {heads}")
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.dropout = dropout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)  # each (B, heads, N, c/heads)
        out = F.scaled_dot_product_attention(q, k, v, dropout_p=self.dropout if self.training else 0.0)
        return self.proj(out.transpose(1, 2).reshape(b, n, c))


class Block(nn.Module):
    """Pre-norm transformer block: x + Attn(LN(x)), then x + MLP(LN(x))."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float = 4.0, dropout: float = 0.0):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, heads, dropout)
        self.norm2 = nn.LayerNorm(dim)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


def patchify(images: torch.Tensor, patch: int) -> torch.Tensor:
    """(B, C, S, S) → (B, P, C·p·p), patches in row-major order, each flattened channel-major (C, p, p): the
    layout of ``F.unfold(images, patch, stride=patch).transpose(1, 2)``, by reshape and permute alone (one
    copy, where CUDA's im2col launches a kernel per image)."""
    b, c, side, _ = images.shape
    n = side // patch
    grid = images.reshape(b, c, n, patch, n, patch).permute(0, 2, 4, 1, 3, 5)  # (B, row, col, C, p, p)
    return grid.reshape(b, n * n, c * patch * patch)


def unpatchify(tokens: torch.Tensor, channels: int, side: int, patch: int) -> torch.Tensor:
    """(B, P, C·p·p) → (B, C, S, S), the inverse of :func:`patchify` (``F.fold`` of non-overlapping patches)."""
    n = side // patch
    grid = tokens.reshape(tokens.shape[0], n, n, channels, patch, patch).permute(0, 3, 1, 4, 2, 5)
    return grid.reshape(tokens.shape[0], channels, side, side)


class TransformerAutoencoder(nn.Module):
    """The TAE. ``encode(x) -> z``, ``decode(z) -> x'``, ``forward(x) -> (z, x')`` on flat (B, dim) inputs."""

    def __init__(self, geometry: Geometry | dict, embed_dim: int = 128, latent_dim: int = 10, depth: int = 8,
                 heads: int = 8, decoder_depth: int = 2, decoder_heads: int = 2, mlp_ratio: float = 4.0,
                 dropout: float = 0.0):
        super().__init__()
        g = Geometry.from_dict(geometry) if isinstance(geometry, dict) else geometry
        for name, value in (("embed_dim", embed_dim), ("latent_dim", latent_dim), ("depth", depth),
                            ("heads", heads), ("decoder_depth", decoder_depth), ("decoder_heads", decoder_heads)):
            if value < 1:
                raise ValueError(f"{name} must be ≥ 1, got {value}")
        self.geometry = g
        p, e = g.n_patches, embed_dim
        self.patch_embed = nn.Linear(g.patch_dim, e)
        self.pos_embed = nn.Parameter(torch.zeros(1, p, e))
        self.encoder = nn.Sequential(*[Block(e, heads, mlp_ratio, dropout) for _ in range(depth)])
        self.norm = nn.LayerNorm(e)
        self.to_latent = nn.Linear(p * e, latent_dim)  # all P tokens concatenated → z
        self.from_latent = nn.Linear(latent_dim, p * e)
        self.dec_pos_embed = nn.Parameter(torch.zeros(1, p, e))
        self.decoder = nn.Sequential(*[Block(e, decoder_heads, mlp_ratio, dropout) for _ in range(decoder_depth)])
        self.dec_norm = nn.LayerNorm(e)
        self.to_patch = nn.Linear(e, g.patch_dim)
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.trunc_normal_(self.dec_pos_embed, std=0.02)

    @property
    def latent_dim(self) -> int:
        return self.to_latent.out_features

    def to_image(self, x: torch.Tensor) -> torch.Tensor:
        """Flat (B, dim) → zero-padded (B, C, S, S)."""
        g = self.geometry
        if x.ndim != 2 or x.shape[1] != g.dim:
            raise ValueError(f"expected inputs of shape (B, {g.dim}), got {tuple(x.shape)}")
        if g.padded_dim > g.dim:
            x = F.pad(x, (0, g.padded_dim - g.dim))
        return x.reshape(-1, g.channels, g.side, g.side)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        tokens = self.patch_embed(patchify(self.to_image(x), self.geometry.patch)) + self.pos_embed  # (B, P, E)
        tokens = self.norm(self.encoder(tokens))
        return self.to_latent(tokens.flatten(1))  # (B, d)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        g = self.geometry
        tokens = self.from_latent(z).reshape(z.shape[0], g.n_patches, -1) + self.dec_pos_embed
        patches = self.to_patch(self.dec_norm(self.decoder(tokens)))  # (B, P, C·p·p)
        image = unpatchify(patches, g.channels, g.side, g.patch)
        return image.flatten(1)[:, : g.dim]  # drop the padding

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = self.encode(x)
        return z, self.decode(z)


class ContrastiveHead(nn.Module):
    """h(z) = W2 ReLU(W1 z), the projection head of the contrastive loss (paper 3.1.2)."""

    def __init__(self, latent_dim: int = 10, hidden: int = 256, out: int = 128):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(latent_dim, hidden), nn.ReLU(), nn.Linear(hidden, out))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)
