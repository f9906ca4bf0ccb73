"""Turn a ``raw_data`` record into the ``features`` record every model consumes.

See docs/architecture.md for both records. Extraction is the slow step, so the result is cached
under a fingerprint of the raw data and of the parameters that shape it.
"""

from __future__ import annotations

import hashlib
import json
import logging

import numpy as np

from deep_kmeans.data.registry import geometry_for, get_dataset_info

logger = logging.getLogger(__name__)

# Feature parameters that change the features of each kind; anything else (batch size, progress,
# device) does not invalidate the cache.
_RELEVANT = {
    "gray": ["views"],
    "rgb": ["backbone", "backbone_weights", "views"],
    "text": ["text_encoder", "text_pooling", "text_max_length", "views", "text_augment"],
    "tfidf": [],
}
FEATURES_VERSION = 1  # bump when the extraction code changes what it produces


def fingerprint(raw: dict, params: dict, seed: int) -> str:
    """A short hash of the raw data and of the parameters that shape its features."""
    h = hashlib.sha256()
    h.update(f"v{FEATURES_VERSION}|{raw['name']}|{raw['kind']}|{seed}".encode())
    if raw.get("x") is not None:
        x = np.ascontiguousarray(raw["x"])
        h.update(str((x.shape, x.dtype.str)).encode())
        h.update(memoryview(x).cast("B"))
    for t in raw.get("texts") or []:
        h.update(t.encode("utf-8", "replace") + b"\0")
    h.update(np.ascontiguousarray(raw["y"]).tobytes())
    relevant = {k: params.get(k) for k in _RELEVANT[raw["kind"]]}
    h.update(json.dumps(relevant, sort_keys=True, default=str).encode())
    return h.hexdigest()[:20]


def _views_on(params: dict, raw: dict) -> bool:
    return bool((params.get("views") or {}).get("enabled", True)) and get_dataset_info(raw["name"]).augmentable


def gray_features(raw: dict, params: dict, seed: int) -> tuple[np.ndarray, np.ndarray | None, str]:
    from deep_kmeans.features.images import image_views

    images = raw["x"].astype(np.float32)  # (N, H, W) in [0, 1]
    n = len(images)
    x = images.reshape(n, -1)
    views = None
    if _views_on(params, raw):
        v = params.get("views") or {}
        views = image_views(images, seed=seed, crop_scale=tuple(v.get("crop_scale", (0.6, 1.0))),
                            max_rotation=float(v.get("max_rotation", 15.0)))
        views = views.reshape(n, views.shape[1], -1).astype(np.float32)
    return x, views, "pixels"


def rgb_features(raw: dict, params: dict, seed: int, device: str, progress: bool):
    """Backbone features of the images and of their augmented views, one chunk of images at a time.

    The paper augments the raw image and then extracts features of each view (take.md); chunking
    keeps at most ``chunk`` images' views in memory and one batch on the device.
    """
    from deep_kmeans.features.images import backbone_features, build_backbone, image_views

    model, preprocess, _ = build_backbone(params.get("backbone", "resnet50"), params.get("backbone_weights"),
                                          device=device)
    images = raw["x"]
    batch = int(params.get("batch_size", 128))
    x = backbone_features(images, model, preprocess, batch_size=batch, device=device, progress=progress)
    views = None
    if _views_on(params, raw):
        v = params.get("views") or {}
        chunk = 2048
        parts = []
        for start in range(0, len(images), chunk):
            vi = image_views(images[start:start + chunk], seed=seed + start,
                             crop_scale=tuple(v.get("crop_scale", (0.6, 1.0))),
                             max_rotation=float(v.get("max_rotation", 15.0)))
            parts.append(backbone_features(vi, model, preprocess, batch_size=batch, device=device,
                                           progress=progress))
        views = np.concatenate(parts).astype(np.float32)
    return x.astype(np.float32), views, params.get("backbone", "resnet50")


def text_features_of(raw: dict, params: dict, seed: int, device: str, progress: bool):
    from deep_kmeans.features.text import build_text_encoder, synonym_views, text_features

    name = params.get("text_encoder", "bert-base-uncased")
    tokenizer, model = build_text_encoder(name, device=device)
    kw = dict(pooling=params.get("text_pooling", "mean"), max_length=int(params.get("text_max_length", 64)),
              batch_size=int(params.get("batch_size", 128)), device=device, progress=progress)
    texts = list(raw["texts"])
    x = text_features(texts, tokenizer, model, **kw)
    views = None
    if _views_on(params, raw):
        aug = params.get("text_augment") or {}
        per_text = synonym_views(texts, n_views=4, source=aug.get("source", "wordnet"),
                                 ppdb_path=aug.get("ppdb_path"), wordnet_dir=aug.get("wordnet_dir"),
                                 seed=seed, aug_p=float(aug.get("aug_p", 0.3)))
        views = np.stack([text_features([v[i] for v in per_text], tokenizer, model, **kw) for i in range(4)],
                         axis=1)
    return x.astype(np.float32), views, name


def build_features(raw: dict, params: dict, seed: int, device: str = "auto", progress: bool = True,
                   cache=None) -> dict:
    """The ``features`` record of ``raw``; reused from ``cache`` when the fingerprint matches."""
    key = fingerprint(raw, params, seed)
    if cache is not None:
        cached = cache.get(key)
        if cached is not None:
            logger.info("Reusing cached features %s for %s (%d samples)", key, raw["name"], len(cached["y"]))
            return cached
    kind = raw["kind"]
    if kind == "gray":
        x, views, extractor = gray_features(raw, params, seed)
    elif kind == "rgb":
        x, views, extractor = rgb_features(raw, params, seed, device, progress)
    elif kind == "text":
        x, views, extractor = text_features_of(raw, params, seed, device, progress)
    elif kind == "tfidf":
        x, views, extractor = np.asarray(raw["x"], dtype=np.float32), None, "tfidf"
    else:
        raise ValueError(f"unknown data kind {kind!r} for {raw['name']}")
    if not np.isfinite(x).all() or (views is not None and not np.isfinite(views).all()):
        raise ValueError(f"features of {raw['name']} contain NaN or infinite values ({extractor})")
    geometry = geometry_for(raw["name"], x.shape[1], params.get("patch"))
    features = {
        "name": raw["name"],
        "x": x,
        "y": np.asarray(raw["y"], dtype=np.int64),
        "views": views,
        "geometry": geometry.to_dict(),
        "extractor": extractor,
        "classes": list(raw.get("classes") or []),
        "fingerprint": key,
    }
    if cache is not None:
        cache.put(key, features)
    return features
