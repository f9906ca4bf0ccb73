"""Turn a ``raw_data`` record into the ``features`` record every model consumes.

See docs/architecture.md for both records. Extraction is the slow step, so the result is cached
under a fingerprint of the raw data and of the parameters that shape it.
"""

from __future__ import annotations

import hashlib
import json
import logging

import numpy as np

from deep_kmeans.data.registry import geometry_for, get_dataset_info, image_geometry

logger = logging.getLogger(__name__)

# Feature parameters that change the features of each kind; anything else (batch size, progress,
# device) does not invalidate the cache.
_RELEVANT = {
    "gray": ["views"],
    "rgb": ["backbone", "backbone_weights", "views"],
    "text": ["text_encoder", "text_pooling", "text_max_length", "views", "text_augment"],
    "tfidf": [],
    # your own tables and arrays: image views where the rows are images, tabular views otherwise
    "vector": ["standardize", "views", "tabular_views"],
}
FEATURES_VERSION = 2  # bump when the extraction code changes what it produces


def parameters_for(kind: str, augmentable: bool) -> set[str]:
    """The ``features`` parameters that act on data of ``kind``: those that shape its features, ``patch`` (every
    kind), ``grid`` (feature vectors: every kind but pixel images, whose patches come from their side) and
    ``batch_size`` (the extractors: backbones, sentence encoders). ``views`` (and a table's ``tabular_views``)
    only where the data set is augmented."""
    keys = set(_RELEVANT[kind]) | {"patch"}
    if kind != "gray":
        keys.add("grid")
    if kind in ("rgb", "text"):
        keys.add("batch_size")
    if not augmentable:
        keys -= {"views", "tabular_views"}
    return keys


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
    if raw["y"] is not None:
        h.update(np.ascontiguousarray(raw["y"]).tobytes())
    relevant = {k: params.get(k) for k in _RELEVANT[raw["kind"]]}
    if "tabular_views" in relevant:  # as drawn: the defaults spelt out or left out are the same views
        from deep_kmeans.features.tables import tabular_view_params

        relevant["tabular_views"] = tabular_view_params(params)
    if relevant.get("views"):  # disabled_for as its effect on this data set: the same features, the same key
        views = {k: v for k, v in relevant["views"].items() if k != "disabled_for"}
        if raw["name"] in _disabled_for(relevant["views"]):
            views["enabled"] = False
        relevant["views"] = views
    relevant["grid"] = params.get("grid")
    h.update(json.dumps(relevant, sort_keys=True, default=str).encode())
    # your own data: the record carries its ids, column names and types too, and a cached record must have
    # this table's (the same numbers under another id column are other features records)
    described = {k: raw.get(k) for k in ("ids", "columns", "table_schema", "image_layout") if raw.get(k) is not None}
    if described:
        h.update(json.dumps(described, sort_keys=True, default=str).encode())
    return h.hexdigest()[:20]


def _disabled_for(views: dict) -> list[str]:
    """``features.views.disabled_for``: the data sets trained without views (a name alone is a list of one)."""
    names = views.get("disabled_for") or []
    return [names] if isinstance(names, str) else list(names)


def _views_on(params: dict, raw: dict) -> bool:
    """Whether ``raw`` gets augmented views: the built-in sets that have them, and all your own data (image
    views for images and image arrays, tabular views for tables, synonym views for texts), unless
    ``features.views.enabled`` is false or the data set is one of ``features.views.disabled_for``."""
    augmentable = get_dataset_info(raw["name"]).augmentable or (
        raw["name"] == "custom" and raw["kind"] in ("rgb", "vector", "text"))
    views = params.get("views") or {}
    if augmentable and raw["name"] in _disabled_for(views):
        logger.info("features: no views for %s (features.views.disabled_for; "
                    "--params=features.views.disabled_for=[] gives it views)", raw["name"])
        return False
    return bool(views.get("enabled", True)) and augmentable


def fit_standardizer(x: np.ndarray, how: str | bool | None, image: bool = False) -> dict:
    """The column transform of a table or array, fitted on the training rows, so new rows get the same one
    (:mod:`deep_kmeans.features.tables`): ``auto`` (also null) picks it from the data (``image``: the rows are
    images), ``zscore`` (also ``true``), ``minmax``, ``center``, ``pixels``, ``none`` (also ``false``).
    Returns ``{"how", "shift", "scale", "why"}`` (lists; ``why``: the reason, for the log)."""
    from deep_kmeans.features.tables import choose_standardize, transform_of

    chosen, why = choose_standardize(x, how, image)
    return {**transform_of(x, chosen), "why": why}


def apply_standardizer(x: np.ndarray, transform: dict) -> np.ndarray:
    """``(x − shift) / scale`` with a transform of :func:`fit_standardizer`, as float32."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != len(transform["shift"]):
        raise ValueError(f"the data has {x.shape[-1] if x.ndim else 0} feature columns but the model was trained on "
                         f"{len(transform['shift'])}")
    return ((x - np.asarray(transform["shift"])) / np.asarray(transform["scale"])).astype(np.float32)


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


def vector_features(raw: dict, params: dict, seed: int):
    """A table or array of your own: the column transform that fits it (``features.standardize``, logged), and
    its views: image views where its rows are images (``raw["image_layout"]``), tabular views otherwise
    (``features.tabular_views``), none with ``features.views.enabled: false``. Returns (x, views, extractor,
    transform)."""
    from deep_kmeans.features.tables import image_array_views, tabular_view_params, tabular_views

    layout = raw.get("image_layout")
    transform = fit_standardizer(raw["x"], params.get("standardize", "auto"), image=layout is not None)
    logger.info("features: standardize %s: %s (--params=features.standardize=zscore|minmax|center|pixels|none "
                "overrides it)", transform["how"], transform["why"])
    x = apply_standardizer(raw["x"], transform)
    views = None
    if layout is None:
        extractor = f"table ({transform['how']})"
        if _views_on(params, raw):
            views = tabular_views(x, seed, **tabular_view_params(params))
    else:
        h, w, c = layout["shape"]
        # "pixels" (values in [0, 1], no padding) is what take.fresh_views can crop and rotate batch by batch
        gray_pixels = (transform["how"] == "pixels" and c == 1 and h == w
                       and image_geometry(h, params.get("patch"), params.get("grid")) is not None)
        extractor = "pixels" if gray_pixels else f"image array {h}x{w}x{c} ({transform['how']})"
        if _views_on(params, raw):
            views = image_array_views(raw["x"], layout["shape"], transform, seed, params.get("views") or {},
                                      apply_standardizer)
    return x, views, extractor, {k: v for k, v in transform.items() if k != "why"}


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


def text_encoding(params: dict) -> tuple[str, dict]:
    """The sentence encoder's name and how a text goes through it (pooling, length): one reading of the feature
    parameters for training (:func:`text_features_of`) and for new texts (:func:`new_text_features`)."""
    return (params.get("text_encoder") or "bert-base-uncased",
            {"pooling": params.get("text_pooling") or "mean", "max_length": int(params.get("text_max_length") or 64)})


def text_features_of(raw: dict, params: dict, seed: int, device: str, progress: bool):
    from deep_kmeans.features.text import build_text_encoder, synonym_views, text_features

    name, encoding = text_encoding(params)
    tokenizer, model = build_text_encoder(name, device=device)
    kw = dict(**encoding, batch_size=int(params.get("batch_size", 128)), device=device, progress=progress)
    texts = list(raw["texts"])
    x = text_features(texts, tokenizer, model, **kw)
    views = None
    if _views_on(params, raw):
        aug = params.get("text_augment") or {}
        per_text = synonym_views(texts, n_views=4, source=aug.get("source", "wordnet"),
                                 ppdb_path=aug.get("ppdb_path"), wordnet_dir=aug.get("wordnet_dir"),
                                 seed=seed, aug_p=float(aug.get("aug_p", 0.3)), progress=progress)
        views = np.stack([text_features([v[i] for v in per_text], tokenizer, model, **kw) for i in range(4)],
                         axis=1)
    return x.astype(np.float32), views, name


def build_features(raw: dict, params: dict, seed: int, device: str = "auto", progress: bool = True,
                   cache=None) -> dict:
    """The ``features`` record of ``raw``; reused from ``cache`` when the fingerprint matches."""
    key = fingerprint(raw, params, seed)
    transform = None
    if cache is not None:
        cached = cache.get(key)
        if cached is not None:
            logger.info("Reusing cached features %s for %s (%d samples)", key, raw["name"], len(cached["x"]))
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
    elif kind == "vector":
        x, views, extractor, transform = vector_features(raw, params, seed)
    else:
        raise ValueError(f"unknown data kind {kind!r} for {raw['name']}")
    if not np.isfinite(x).all() or (views is not None and not np.isfinite(views).all()):
        raise ValueError(f"features of {raw['name']} contain NaN or infinite values ({extractor})")
    grid = params.get("grid")
    if grid is None and raw["name"] == "custom" and kind == "rgb":
        grid = 6  # backbone vectors, as STL-10 / CIFAR-10
    layout = raw.get("image_layout")
    geometry = None
    if layout is not None and layout["shape"][0] == layout["shape"][1] and layout["shape"][2] == 1:
        geometry = image_geometry(layout["shape"][0], params.get("patch"), grid)  # as the built-in gray sets
    geometry = geometry or geometry_for(raw["name"], x.shape[1], params.get("patch"), grid)
    features = {
        "name": raw["name"],
        "x": x,
        "y": None if raw["y"] is None else np.asarray(raw["y"], dtype=np.int64),
        "ids": raw.get("ids"),
        "columns": raw.get("columns"),
        # what turns new rows of the same source into this feature space (take_predict, the MLflow model)
        "preprocess": {"kind": kind, "columns": raw.get("columns"), "standardizer": transform,
                       "params": {k: params.get(k) for k in _RELEVANT[kind] if k != "views"},
                       # a table's column types and its id and label columns: the MLflow model's signature
                       "table_schema": raw.get("table_schema")},
        "views": views,
        "geometry": geometry.to_dict(),
        "extractor": extractor,
        "classes": list(raw.get("classes") or []),
        "fingerprint": key,
    }
    if cache is not None:
        cache.put(key, features)
    return features


def column_mismatch(have: list[str], want: list[str], what: str = "columns") -> str | None:
    """Why a table with the columns ``have`` is not one of the columns ``want`` (any order), or None. ``what`` names
    them in the message (``text columns`` for a text model's)."""
    missing, extra = [c for c in want if c not in have], [c for c in have if c not in want]
    if not (missing or extra):
        return None
    parts = [f"missing {', '.join(missing)}" if missing else "", f"unexpected {', '.join(extra)}" if extra else ""]
    return (f"the new data's {what} differ from the training data's: " + "; ".join(p for p in parts if p)
            + f". Expected the {what} {', '.join(want)}")


def features_like(raw: dict, preprocess: dict, device: str = "auto", progress: bool = True,
                  encoder: tuple | None = None) -> np.ndarray:
    """New rows in the feature space a model was trained in: ``preprocess`` is the training features'
    record of that name. Tables must have the training columns (any order; extra or missing ones are an
    :class:`~deep_kmeans.errors.InputMismatchError` naming them) and get the training standardisation; images go
    through the same backbone, texts through the same sentence encoder (``encoder``: its (tokenizer, model), loaded
    once by a caller that embeds many times, as the served model does; else loaded here)."""
    from deep_kmeans.errors import InputMismatchError

    kind, want = preprocess["kind"], preprocess.get("columns")
    if raw["kind"] != kind:
        raise InputMismatchError(f"the model was trained on {kind} data, the new data is {raw['kind']}: give data "
                                 "of the same kind (a table for a table, an image folder for images)")
    if raw.get("x") is not None and len(raw["x"]) == 0:
        expected = f" with the columns {', '.join(want)}" if want else ""
        raise InputMismatchError(f"the new data has no rows: give one row per sample{expected}")
    if kind == "vector":
        x, have = np.asarray(raw["x"]), raw.get("columns")
        if want is not None and have is not None:
            problem = column_mismatch(list(have), list(want))
            if problem:
                raise InputMismatchError(problem)
            x = x[:, [list(have).index(c) for c in want]]
        width = len(preprocess["standardizer"]["shift"])
        if x.ndim != 2 or x.shape[1] != width:
            raise InputMismatchError(f"the new data has {x.shape[-1] if x.ndim else 0} feature columns, the model "
                                     f"was trained on {width}" + (f": {', '.join(want)}" if want else ""))
        return apply_standardizer(x, preprocess["standardizer"])
    if kind == "gray":
        return np.asarray(raw["x"], dtype=np.float32).reshape(len(raw["x"]), -1)
    if kind == "rgb":
        from deep_kmeans.features.images import backbone_features, build_backbone

        p = preprocess.get("params") or {}
        model, pre, _ = build_backbone(p.get("backbone", "resnet50"), p.get("backbone_weights"), device=device)
        return backbone_features(raw["x"], model, pre, device=device, progress=progress).astype(np.float32)
    if kind == "text":
        return new_text_features(raw, preprocess, want, device, progress, encoder)
    raise InputMismatchError(f"assigning new {kind} data is not supported yet (tables, arrays, images and text are)")


def new_text_features(raw: dict, preprocess: dict, want: list[str] | None, device: str, progress: bool,
                      encoder: tuple | None = None) -> np.ndarray:
    """New texts through the sentence encoder the model was trained on (its name, pooling and length), after a
    check that they come from the same text columns (joined as at training)."""
    from deep_kmeans.errors import InputMismatchError
    from deep_kmeans.features.text import text_features

    have = raw.get("columns")
    if want is not None and have is not None:
        problem = column_mismatch(list(have), list(want), what="text columns")
        if problem:
            raise InputMismatchError(problem)
    texts = list(raw.get("texts") or [])
    if not texts:
        raise InputMismatchError("the new data has no texts: give one text per row"
                                 + (f" in the columns {', '.join(want)}" if want else ""))
    tokenizer, model = encoder or text_encoder_of(preprocess, device)
    _, encoding = text_encoding(preprocess.get("params") or {})
    return text_features(texts, tokenizer, model, **encoding, device=device, progress=progress).astype(np.float32)


def text_encoder_of(preprocess: dict, device: str = "auto") -> tuple:
    """(tokenizer, model) of the sentence encoder a text model was trained with."""
    from deep_kmeans.features.text import build_text_encoder

    return build_text_encoder(text_encoding(preprocess.get("params") or {})[0], device=device)
