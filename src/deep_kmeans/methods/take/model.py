"""What every TAKE phase shares: the TAE built from a config, input checks, encoding, and inference by the trained
model (the KNet forward, or the head that replaces it)."""

from __future__ import annotations

import hashlib

import numpy as np
import torch

from deep_kmeans.data.registry import Geometry, vector_geometry
from deep_kmeans.models.knet import KNet
from deep_kmeans.models.tae import TransformerAutoencoder
from deep_kmeans.methods.kit import check_inputs as _check_array, resolve_device
from deep_kmeans.methods.take.config import TAKEConfig


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



def _autocast(device: torch.device, enabled: bool):
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=enabled and device.type == "cuda")



def _device_batches(x: np.ndarray, batch_size: int, dev: torch.device):
    """``x`` batch by batch as float32 on ``dev``, each copy queued without waiting for the device."""
    xt = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    for i in range(0, len(xt), batch_size):
        yield xt[i:i + batch_size].to(dev, non_blocking=True)


@torch.no_grad()
def encode(tae: TransformerAutoencoder, x: np.ndarray, batch_size: int = 2048, device: str = "auto") -> np.ndarray:
    """z of every row of ``x``, batch by batch: (N, d) float32, kept on the device until one read at the end."""
    dev = resolve_device(device)
    tae = tae.to(dev).eval()
    return torch.cat([tae.encode(xb).float() for xb in _device_batches(x, batch_size, dev)]).cpu().numpy()


def load_tae(state: dict, geometry: Geometry, cfg: TAKEConfig) -> TransformerAutoencoder:
    tae = build_tae(geometry, cfg)
    tae.load_state_dict(state["tae"])
    return tae




def _nearest(z: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """The nearest of ``centers`` (K, d) for every row of z: K-means' assignment rule."""
    return ((z[:, None, :] - centers[None]) ** 2).sum(-1).argmin(1).astype(np.int64)


@torch.no_grad()

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
    for xb in _device_batches(x, cfg.predict_batch_size, dev):  # on the device until the two reads at the end
        z = tae.encode(xb).float()
        labels.append(knet(z).argmax(dim=1))
        zs.append(z)
    return torch.cat(labels).cpu().numpy().astype(np.int64), torch.cat(zs).cpu().numpy()


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


