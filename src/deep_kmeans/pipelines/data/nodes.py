"""Data layer nodes: bring a raw data set in and check it."""

from __future__ import annotations

from deep_kmeans.data.custom import CustomSource, read_custom
from deep_kmeans.data.loaders import load_raw_dataset, raw_dir_for
from deep_kmeans.data.registry import get_dataset_info


def load_raw_data(dataset: str, data_params: dict, data_seed: int, custom_params: dict | None = None,
                  custom_source: CustomSource | None = None) -> dict:
    """Load ``dataset`` from its raw folder (or download it when ``data.download`` is true); ``custom``: the
    user's file or folder from the catalog's ``custom_source``, read with the ``custom`` options.

    ``data_seed`` draws the subsets (``data.options.<dataset>.n_samples``); training has its own ``seed``.
    """
    get_dataset_info(dataset)  # unknown names fail here, listing the known ones
    if dataset == "custom":
        opts = {k: v for k, v in (custom_params or {}).items() if k != "path" and v is not None}
        return read_custom(custom_source or CustomSource(), **opts)
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
