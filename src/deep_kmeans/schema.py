"""One check of every parameter of a run, before any node runs (:class:`deep_kmeans.catalog_hooks.ParameterCheckHook`).

What each parameter allows is defined once, where it is used, and read here through the same code:

* a method's group (``take``, ``dec``, ...): the method's own reader (``read_params`` of
  ``methods/<name>.py``, :func:`~deep_kmeans.methods.take.read_take_params` for TAKE), a
  :class:`~deep_kmeans.methods.kit.ParamReader` that here collects its problems instead of raising on the
  first. Its top block, every ``overrides.<dataset>`` and ``presets.<name>`` block and the merged
  configuration the run will use (the command line winning, :func:`~deep_kmeans.methods.config.command_line_wins`)
  are all checked, and a key that the reader does not read is unknown;
* the run-wide keys (``parameters.yml``) and the groups of the data, feature, sweep, tune and compare
  pipelines: the readers below (the data options from the loaders' signatures, the tune settings through
  the tuner's own :func:`~deep_kmeans.pipelines.tune.nodes.check_tune`).

Every problem is one line naming the parameter, the value given and what is allowed; unknown keys at any level
name the closest known one. All of a run's problems are reported together, as one
:class:`~deep_kmeans.errors.ParameterError`. The committed defaults pass (tests/test_schema.py), and a new key in
conf/base that no reader reads fails that test: nothing escapes the check.
"""

from __future__ import annotations

import difflib
import inspect
from typing import Callable

from deep_kmeans.data.registry import DATASETS, Geometry
from deep_kmeans.errors import ParameterError
from deep_kmeans.methods import dckm, dcn, dec, dekm, emaec, idec, kmeans, take, ulhe_dc, umap_gmm
from deep_kmeans.methods.config import (AUTO_PRESET, chosen_preset, command_line_wins, listed, params_for,
                                        preset_layers)
from deep_kmeans.methods.kit import ParamReader

__all__ = ["METHOD_READERS", "check_parameters", "parameter_problems"]

Reader = Callable[[ParamReader, Geometry, int], dict]


def _read_take(p: ParamReader, geometry: Geometry, n_clusters: int) -> dict:
    values = take.read_take_params(p)
    take.TAKEConfig(**values).check_shapes(p)
    return values


#: The reader of each method's parameter group (the same functions its fit calls first).
METHOD_READERS: dict[str, Reader] = {
    "take": _read_take, "kmeans": kmeans.read_params, "dec": dec.read_params, "idec": idec.read_params,
    "dcn": dcn.read_params, "dekm": dekm.read_params, "emaec": emaec.read_params, "ulhe_dc": ulhe_dc.read_params,
    "dckm": dckm.read_params, "umap_gmm": umap_gmm.read_params,
}
#: The keys of a method group that are structure (params_for merges them), not parameters.
STRUCTURE = ("overrides", "presets", "preset")

# A stand-in for the data set's geometry, which is known only once the data is loaded: large enough that no
# reader refuses it (the fit checks the real one before its long work).
_STAND_IN = Geometry(dim=32 * 32 * 3, channels=3, side=32, patch=4)


def _close(name, known) -> str:
    close = difflib.get_close_matches(str(name), [str(k) for k in known], n=1)
    return f" (did you mean {close[0]!r}?)" if close else f"; known: {', '.join(map(str, known)) or 'none'}"


def _run(reader: Reader, p: ParamReader, n_clusters: int, ignore=STRUCTURE) -> ParamReader:
    try:
        reader(p, _STAND_IN, n_clusters)
    except ValueError as err:  # a check of a reader that does not go through the ParamReader
        p.errors.append(f"{p.method}: {err}")
    p.reject_unknown(ignore=ignore)
    return p


def known_keys(method: str) -> list[str]:
    """The parameter names of ``method``'s group (what its reader reads)."""
    return sorted(_run(METHOD_READERS[method], ParamReader({}, method, collect=True), 10).read)


def method_problems(method: str, group, dataset: str, given: dict | None, n_clusters: int) -> list[str]:
    """The problems of ``params:<method>``: each block on its own, then the configuration the run uses."""
    if group is None:
        return []
    if not isinstance(group, dict):
        return [f"{method} = {group!r} is invalid: expected a mapping of {method}'s parameters"]
    reader = METHOD_READERS[method]
    ignore = STRUCTURE + (("split",) if method == "take" else ())
    out: list[str] = []

    def check(block, prefix: str, names: dict | None = None) -> None:
        if block is None:
            return
        names = names or {k: f"{prefix}.{k}" for k in block} if isinstance(block, dict) else {}
        out.extend(_run(reader, ParamReader(block, method, collect=True, names=names), n_clusters, ignore).errors)

    check({k: v for k, v in group.items() if k not in STRUCTURE}, method)
    def check_blocks(layers, prefix: str, known) -> None:
        """``<prefix>`` maps data set names (``known``) or preset names (None) to parameter blocks; a preset's
        block may hold its own ``overrides`` per data set, checked the same way."""
        if layers is None:
            return
        if not isinstance(layers, dict):
            out.append(f"{prefix} = {layers!r} is invalid: expected a mapping of "
                       f"{'data set names' if known else 'preset names'} to parameters")
            return
        for name, layer in layers.items():
            if known is not None and name not in known:
                out.append(f"{prefix}.{name}: unknown data set{_close(name, sorted(known))}")
            if known is None and isinstance(layer, dict) and "overrides" in layer:
                check_blocks(layer["overrides"], f"{prefix}.{name}.overrides", DATASETS)
                layer = {k: v for k, v in layer.items() if k != "overrides"}
            check(layer, f"{prefix}.{name}")

    for block, known in (("overrides", DATASETS), ("presets", None)):
        check_blocks(group.get(block), f"{method}.{block}", known)
    preset = group.get("preset")
    presets = group.get("presets") if isinstance(group.get("presets"), dict) else {}
    if preset is not None and preset != AUTO_PRESET and preset not in presets:
        out.append(f"{method}.preset = {preset!r} is invalid: expected null, {AUTO_PRESET} or one of the presets "
                   f"({', '.join(map(str, presets)) or 'none defined'})")
        preset = None
    preset = chosen_preset({**group, "preset": preset}, dataset)
    # what the run uses: the command line over the data set's block and the preset over both
    used_group = command_line_wins({**group, "preset": preset}, given or {}, dataset, log=False)
    try:
        used = params_for(used_group, dataset)
    except ValueError as err:
        return out + [f"{method}: {err}"]
    layer_of = {}
    for k in used:
        if k in (given or {}):
            layer_of[k] = f"{method}.{k}"
        elif preset is not None and k in preset_layers(presets.get(preset), dataset)[1]:
            layer_of[k] = f"{method}.presets.{preset}.overrides.{dataset}.{k}"
        elif preset is not None and k in (presets.get(preset) or {}):
            layer_of[k] = f"{method}.presets.{preset}.{k}"
        elif k in ((group.get("overrides") or {}).get(dataset) or {}):
            layer_of[k] = f"{method}.overrides.{dataset}.{k}"
    check(used, method, layer_of)
    if method == "take":
        split = group.get("split")
        p = ParamReader(split, "take.split", collect=True, conf_file="conf/base/parameters_take.yml")
        take.read_take_split(p)
        out.extend(p.errors)
    return out


# --------------------------------------------------------------------------------------------------
# the run-wide keys and the other pipelines' groups


def _run_wide(p: ParamReader) -> None:
    p.choice("dataset", "digits", sorted(DATASETS), nullable=False)
    p.int("seed", 0, min=0, nullable=False)
    p.int("data_seed", 0, min=0, nullable=False)
    p.int("n_clusters", None, min=2, also=("auto",))
    p.bool("progress", True, nullable=False)
    device = p.text("device", "auto", nullable=False)
    if isinstance(device, str):
        from deep_kmeans.runtime import resolve_device

        try:
            resolve_device(device)
        except (ValueError, RuntimeError) as err:
            p._fail("device", device, f"auto, cpu, cuda or cuda:<index> available here ({err})", "auto")


def _data(p: ParamReader) -> None:
    from deep_kmeans.data.loaders import LOADERS, loader_options

    p.text("raw_root", "data/01_raw", nullable=False)
    raw_dirs = p.mapping("raw_dirs")
    for name, folder in raw_dirs.items():
        if name not in DATASETS:
            p.errors.append(f"data.raw_dirs.{name}: unknown data set{_close(name, sorted(DATASETS))}")
        elif folder is not None and not isinstance(folder, str):
            p.errors.append(f"data.raw_dirs.{name} = {folder!r} is invalid: expected a folder (a string) or null")
    p.bool("download", False, nullable=False)
    for name, options in p.mapping("options").items():
        if name not in LOADERS:
            p.errors.append(f"data.options.{name}: unknown data set{_close(name, sorted(LOADERS))}")
            continue
        o = ParamReader(options, f"data.options.{name}", collect=True, conf_file="conf/base/parameters_data.yml")
        signature = inspect.signature(LOADERS[name]).parameters
        for key in loader_options(name):  # each option as the loader's signature types it
            hint = str(signature[key].annotation)
            default = signature[key].default
            if "int" in hint:
                o.int(key, default, min=1)
            elif "list" in hint:
                o.texts(key, default)
            else:
                o.text(key, None if default is inspect.Parameter.empty else default)
        o.reject_unknown(ignore=())
        p.errors += o.errors


def _custom(p: ParamReader) -> None:
    from deep_kmeans.data.custom import NAN_POLICIES

    for key in ("path", "label_column", "id_column"):
        p.text(key, None)
    p.choice("nan", "error", NAN_POLICIES, nullable=False)
    p.int("image_size", 32, min=8, nullable=False)
    p.int("max_bytes", "auto", min=1, nullable=False, also=("auto",))
    _image_shape(p)


def _image_shape(p: ParamReader) -> None:
    """``custom.image_shape``: auto, none or HxW[xC] (data/image_layout.py says what each does)."""
    from deep_kmeans.data.image_layout import parse_image_shape

    value = p.get("image_shape", "auto")
    try:
        parse_image_shape(value)
    except ParameterError:
        p._fail("image_shape", value, "auto (detect images), none (a table) or HxW / HxWxC with C 1 or 3 "
                "(e.g. 28x28, 32x32x3)", "auto")


def _features(p: ParamReader) -> None:
    p.text("backbone", "resnet50", nullable=False)
    p.text("backbone_weights", None)
    p.text("text_encoder", "bert-base-uncased", nullable=False)
    p.choice("text_pooling", "mean", ("mean", "cls"), nullable=False)
    p.int("text_max_length", 64, min=1, nullable=False)
    p.int("batch_size", 128, min=1, nullable=False)
    p.int("patch", None, min=1)
    p.int("grid", None, min=1)
    from deep_kmeans.features.tables import STANDARDIZE, TABULAR_VIEW_DEFAULTS

    p.choice("standardize", "auto", STANDARDIZE, nullable=False)
    tabular = ParamReader(p.mapping("tabular_views"), "features.tabular_views", collect=True, conf_file=p.conf_file)
    for key, default in TABULAR_VIEW_DEFAULTS.items():
        tabular.float(key, default, min=0.0, max=None if key == "noise" else 1.0, nullable=False)
    tabular.reject_unknown(ignore=())
    views = ParamReader(p.mapping("views"), "features.views", collect=True, conf_file=p.conf_file)
    views.bool("enabled", True, nullable=False)
    scale = views.get("crop_scale", [0.6, 1.0])
    if not (isinstance(scale, (list, tuple)) and len(scale) == 2
            and all(isinstance(s, (int, float)) and not isinstance(s, bool) for s in scale)
            and 0 < scale[0] <= scale[1] <= 1):
        views._fail("crop_scale", scale, "two numbers [low, high] with 0 < low ≤ high ≤ 1", [0.6, 1.0])
    views.float("max_rotation", 15.0, min=0.0, max=180.0, nullable=False)
    from deep_kmeans.data.registry import DATASETS

    disabled = views.get("disabled_for", [])
    names = [disabled] if isinstance(disabled, str) else [] if disabled is None else disabled
    if not (isinstance(names, (list, tuple)) and all(n in DATASETS for n in names)):
        views._fail("disabled_for", disabled, f"a list of data set names among {', '.join(sorted(DATASETS))} "
                    "(e.g. [cifar10]), or []", [])
    views.reject_unknown(ignore=())
    augment = ParamReader(p.mapping("text_augment"), "features.text_augment", collect=True, conf_file=p.conf_file)
    augment.choice("source", "wordnet", ("wordnet", "ppdb"), nullable=False)
    augment.text("ppdb_path", None)
    augment.text("wordnet_dir", None)
    augment.float("aug_p", 0.3, min=0.0, max=1.0, nullable=False)
    augment.reject_unknown(ignore=())
    p.errors += views.errors + augment.errors + tabular.errors


def _sweep(p: ParamReader) -> None:
    from deep_kmeans.pipelines.sweep.nodes import read_plan

    p.get("methods")
    p.get("seeds")
    try:  # the sweep's own check (space-separated names and seeds on the command line)
        read_plan(p.params, list(METHOD_READERS))
    except ValueError as err:
        p.errors.append(str(err))


def _tune(p: ParamReader) -> None:
    from deep_kmeans.pipelines.tune.nodes import INTERNAL, LABEL_BASED, check_tune, tunable_methods

    tunable = sorted(tunable_methods())
    method = p.choice("method", "dec", tunable, nullable=False)
    p.int("trials", 20, min=1, nullable=False)
    p.float("timeout", None, min=0.0, exclusive_min=True)
    p.ints("seeds", [0], min=0)
    p.int("sampler_seed", 0, min=0, nullable=False)
    p.choice("objective", "silhouette", INTERNAL + LABEL_BASED, nullable=False)
    p.bool("allow_label_peeking", False, nullable=False)
    space = p.get("space")
    spaces = p.mapping("spaces")
    for name in spaces:
        if name not in tunable:
            p.errors.append(f"tune.spaces.{name}: not a method that can be tuned{_close(name, tunable)}")
    for where, block, m in [("tune.space", space, method)] + [(f"tune.spaces.{n}", s, n) for n, s in spaces.items()]:
        if m not in METHOD_READERS or block is None:
            continue
        if not isinstance(block, dict):
            p.errors.append(f"{where} = {block!r} is invalid: expected a mapping of {m}'s parameters to ranges")
            continue
        known = known_keys(m)
        p.errors += [f"{where}.{k}: not a parameter of {m}{_close(k, known)}" for k in block if k not in known]
    if not p.errors:
        try:  # the tuner's own check of the ranges and the objective
            check_tune(p.params)
        except ValueError as err:
            p.errors.append(str(err))


def _compare(p: ParamReader) -> None:
    p.text("experiment", "deep_kmeans", nullable=False)
    methods = listed(p.get("methods"))
    known = sorted(set(METHOD_READERS) | {"take_cluster"})
    if methods is not None:
        if not isinstance(methods, list) or not all(isinstance(m, str) for m in methods):
            p._fail("methods", methods, "null or a list of method names")
        else:
            p.errors += [f"compare.methods: {m!r} is not a method{_close(m, known)}" for m in methods if m not in known]
    p.texts("metrics", ["acc", "nmi", "nmi_max", "ari", "train_seconds"], nullable=False)
    seeds = listed(p.get("seeds"))  # from the command line, "0 1 2": strings of digits
    seeds = None if seeds is None else [int(x) if isinstance(x, str) and x.lstrip("-").isdigit() else x
                                        for x in seeds]
    if seeds is not None and not all(isinstance(x, int) and not isinstance(x, bool) for x in seeds):
        p._fail("seeds", p.get("seeds"), "null (every seed), a seed or a list of seeds (--params=\"compare.seeds=0 1 2\")")


#: Each group that is not a method's: its reader and its file in conf/base.
GROUP_READERS: dict[str, tuple[Callable[[ParamReader], None], str]] = {
    "data": (_data, "parameters_data.yml"), "custom": (_custom, "parameters_data.yml"),
    "features": (_features, "parameters_features.yml"), "sweep": (_sweep, "parameters_sweep.yml"),
    "tune": (_tune, "parameters_tune.yml"), "compare": (_compare, "parameters_compare.yml"),
}


def parameter_problems(params: dict, given: dict | None = None) -> list[str]:
    """Every problem of a run's parameters (``context.params``), one line each; ``given``: the parameters
    given on the command line (``--params``), which win over a data set's block and a preset."""
    given = given or {}
    top = ParamReader(params, "", collect=True, conf_file="conf/base/parameters.yml")
    _run_wide(top)
    problems = list(top.errors)
    dataset = params.get("dataset") if params.get("dataset") in DATASETS else "digits"
    k = params.get("n_clusters")
    n_clusters = k if isinstance(k, int) and not isinstance(k, bool) and k >= 2 else 10
    for method in METHOD_READERS:
        top.read.add(method)
        group_given = given.get(method) if isinstance(given.get(method), dict) else None
        problems += method_problems(method, params.get(method), dataset, group_given, n_clusters)
    for name, (reader, conf) in GROUP_READERS.items():
        top.read.add(name)
        if params.get(name) is None:
            continue
        p = ParamReader(params[name], name, collect=True, conf_file=f"conf/base/{conf}")
        if not p.errors:
            reader(p)
            p.reject_unknown(ignore=())
        problems += p.errors
    top.errors = []
    top.reject_unknown(ignore=())
    problems += top.errors
    return list(dict.fromkeys(problems))  # a value seen through two blocks is one problem


def pipeline_problems(pipeline, params: dict) -> list[str]:
    """What only the pipeline being run shows about the parameters: a sweep built from ``conf/`` whose
    ``sweep.methods`` / ``sweep.seeds`` the run's parameters change (``--params=sweep.seeds=7``), or a sweep
    configuration that did not build at all."""
    from deep_kmeans.pipelines.sweep import pipeline as sweep_pipeline
    from deep_kmeans.pipelines.sweep.nodes import check_plan, plan_mismatch

    out = []
    for n in getattr(pipeline, "nodes", []):
        func, kwargs = getattr(n.func, "func", None), getattr(n.func, "keywords", {})
        if func is check_plan:
            problem = plan_mismatch(params.get("sweep"), kwargs["methods"], kwargs["seeds"], kwargs["known"])
        elif func is sweep_pipeline._raise:  # the sweep's configuration error (config_error_pipeline)
            problem = kwargs.get("error")
        else:
            continue
        if problem:
            out.append(problem)
    return out


def check_parameters(params: dict, given: dict | None = None, pipeline=None) -> None:
    """Raise one :class:`~deep_kmeans.errors.ParameterError` listing every problem of ``params``, if any
    (with ``pipeline``, also :func:`pipeline_problems`)."""
    problems = parameter_problems(params, given)
    if pipeline is not None:
        problems += [p for p in pipeline_problems(pipeline, params) if p not in problems]
    if problems:
        lines = "\n".join(f"  - {line}" for line in problems)
        raise ParameterError(
            f"{len(problems)} invalid parameter{'s' if len(problems) > 1 else ''}, nothing was run:\n{lines}\n"
            "Fix them in conf/ (conf/base/parameters*.yml, conf/local/) or on the command line "
            "(--params=<name>=<value>).", problems)
