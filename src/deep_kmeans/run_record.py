"""What MLflow records of a run beside its outputs (hooks.RunHook): its name and the parameters that apply.

A run is named ``<pipeline> · <dataset> · seed <seed>``; a run over several seeds (compare, sweep) by the seeds it
spans instead: ``compare · digits · seeds 0 1 2``.

A node takes whole parameter groups (``params:features``, ``params:data``, ``params:take``); most of a group acts
only on some data sets or input kinds. Recorded as they apply, two runs compare side by side on what made them
differ, and no run shows a setting it never used:

- a method's group with the data set's ``overrides.<dataset>`` block (and the chosen preset) merged in, the
  other data sets' blocks dropped;
- ``data``: the current data set's ``options`` and ``raw_dirs`` entry; ``raw_root`` and ``download`` only for a
  data set read from files (not the embedded digits, not your own data, whose path is ``custom.path``);
- ``features``: only what acts on the input kind (:func:`deep_kmeans.features.build.parameters_for`): pixels
  get ``views`` and ``patch``; backbone and sentence-encoder settings only where those run; ``standardize``,
  ``views`` and ``tabular_views`` only for your own tables and arrays (whose rows may be images: that is known only
  once the data is read, so both kinds of views are recorded);
- ``custom``: only for ``dataset=custom``, and there ``image_size`` only for an image folder, the table options
  only for a table.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deep_kmeans.data.registry import DATASETS
from deep_kmeans.features.build import parameters_for
from deep_kmeans.methods.config import params_for

# custom.* options that act on a table or array, and on an image folder
TABLE_OPTIONS = ("label_column", "id_column", "nan", "image_shape")
FOLDER_OPTIONS = ("image_size",)


@dataclass(frozen=True)
class RunInput:
    """The data set of a run and the kind of its input (``gray``, ``rgb``, ``text``, ``tfidf``, ``vector``)."""

    dataset: str | None
    kind: str | None = None

    @classmethod
    def of(cls, dataset, catalog=None) -> "RunInput":
        """``dataset``'s kind from the registry; for ``custom``, ``rgb`` where the catalog's ``custom_source`` is a
        folder of images, else ``vector``."""
        if dataset not in DATASETS:
            return cls(None if dataset is None else str(dataset))
        if dataset != "custom":
            return cls(dataset, DATASETS[dataset].kind)
        try:
            path = catalog.load("custom_source").filepath
        except Exception:  # noqa: BLE001 - no catalog, or an entry that cannot load: the data node reports it
            path = ""
        return cls(dataset, "rgb" if path and Path(path).expanduser().is_dir() else "vector")

    @property
    def augmentable(self) -> bool:
        """Your own data always gets views (image views, or tabular views for a table); the built-in sets where
        the registry says so."""
        return self.dataset == "custom" and self.kind in ("rgb", "vector") or (
            self.dataset in DATASETS and DATASETS[self.dataset].augmentable)


def run_name(pipelines: list[str], dataset, seed, seeds: str | None = None) -> str:
    """``take · digits · seed 0``; a run over several seeds names them instead (``seeds``, :func:`spanned_seeds`)."""
    return " · ".join(["+".join(pipelines), str(dataset), seeds or f"seed {seed}"])


def spanned_seeds(pipelines: list[str], group) -> str | None:
    """What a run over several seeds spans, from its group's ``seeds`` (``group("compare")``): ``seeds 0 1 2``, or
    ``every seed`` for a compare without a list; None for a run of one seed."""
    from deep_kmeans.methods.config import listed

    for name in ("sweep", "compare"):
        if name in pipelines:
            try:
                seeds = listed((group(name) or {}).get("seeds"))
            except (TypeError, ValueError):  # reported by the run's own check of its parameters
                return None
            return "seeds " + " ".join(map(str, seeds)) if seeds else "every seed"
    return None


def applicable_params(name: str, value: Any, run: RunInput | str | None) -> Any:
    """Parameter input ``name`` (``take``, ``data``, ``features``, ``custom``, ``parameters`` for all of them) as
    it applies to ``run`` (a :class:`RunInput`, or a data set name); other inputs as they are."""
    run = run if isinstance(run, RunInput) else RunInput.of(run)
    if not isinstance(value, dict) or run.dataset is None:
        return value
    if name == "parameters":  # a node that takes every parameter
        return {k: applicable_params(k, v, run) for k, v in value.items()}
    if isinstance(value.get("overrides"), dict):
        value = params_for(value, run.dataset)
    if name == "data":
        return _data(value, run)
    if name == "features" and run.kind is not None:
        keep = parameters_for(run.kind, run.augmentable)
        return {k: v for k, v in value.items() if k in keep}
    if name == "custom":
        if run.dataset != "custom":
            return {}
        drop = TABLE_OPTIONS if run.kind == "rgb" else FOLDER_OPTIONS
        return {k: v for k, v in value.items() if k not in drop}
    return value


def _data(value: dict, run: RunInput) -> dict:
    dataset = run.dataset
    from_files = dataset in DATASETS and dataset != "custom" and not DATASETS[dataset].embedded
    out = {k: v for k, v in value.items() if from_files or k not in ("raw_root", "raw_dirs", "download")}
    for key in ("options", "raw_dirs"):
        if isinstance(out.get(key), dict):
            out[key] = {dataset: out[key][dataset]} if dataset in out[key] else {}
    return out
