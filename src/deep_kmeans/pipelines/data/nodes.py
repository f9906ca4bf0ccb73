"""Data layer nodes: bring a raw data set in and check it."""

from __future__ import annotations

from deep_kmeans.data.loaders import load_raw_dataset, raw_dir_for
from deep_kmeans.data.registry import get_dataset_info


def load_raw_data(dataset: str, data_params: dict, data_seed: int) -> dict:
    """Load ``dataset`` from its raw folder (or download it when ``data.download`` is true).

    ``data_seed`` draws the subsets (``data.options.<dataset>.n_samples``); training has its own ``seed``.
    """
    get_dataset_info(dataset)  # unknown names fail here, listing the known ones
    options = dict((data_params.get("options") or {}).get(dataset) or {})
    if dataset == "2mnist":
        options["mnist_dir"] = options.get("mnist_dir") or raw_dir_for("mnist", data_params)
        options["fashion_dir"] = options.get("fashion_dir") or raw_dir_for("fashion_mnist", data_params)
    return load_raw_dataset(
        dataset,
        raw_dir_for(dataset, data_params),
        options=options,
        seed=data_seed,
        download=bool(data_params.get("download", False)),
    )
