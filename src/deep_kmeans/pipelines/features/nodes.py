"""Feature layer nodes."""

from deep_kmeans.features.build import build_features


def extract_features(raw_data: dict, features_params: dict, seed: int, device: str, progress: bool,
                     feature_cache) -> dict:
    """Model inputs and augmented views of ``raw_data``, reused from the cache when unchanged."""
    return build_features(raw_data, features_params, seed=seed, device=device, progress=progress,
                          cache=feature_cache)
