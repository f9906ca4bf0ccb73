"""``kedro run --pipeline=tune``: an Optuna study over one method's parameters, each trial an MLflow child run.

The objective is an internal score of the clustering: the silhouette of the labels on what the method
clustered (its z, or the input for K-means), which needs no ground truth. ``objective: acc`` (or nmi,
ari) selects parameters with the labels, i.e. tunes on the test labels ("label peeking"): it is refused
unless ``allow_label_peeking: true``, and logged with a warning even then.

Pruning: each trial trains on ``tune.seeds`` in turn and reports the running mean after each seed, so
Optuna's median pruner stops a trial that is below the median of earlier trials after its first seed(s).
The fit functions report no per-epoch value to Optuna, so a single-seed study prunes nothing.
"""

from __future__ import annotations

import importlib
import logging
import pkgutil

import numpy as np

from deep_kmeans.evaluation.metrics import clustering_scores, internal_scores
from deep_kmeans.methods.config import command_line_wins
from deep_kmeans.pipelines.method_nodes import train_method
from deep_kmeans.pipelines.sweep.nodes import PARENT_TAG, flat_params

logger = logging.getLogger(__name__)

INTERNAL = ("silhouette",)
LABEL_BASED = ("acc", "nmi", "nmi_max", "ari")
WHERE = "conf/<env>/parameters_tune.yml"


def tunable_methods() -> dict[str, object]:
    """``{name: fit_<name>}`` of every method whose pipeline is its fit function (TAKE's is several nodes)."""
    from deep_kmeans import methods as package

    found = {}
    for info in pkgutil.iter_modules(package.__path__):
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        fit = getattr(module, f"fit_{info.name}", None)
        if callable(fit) and info.name != "take":
            found[info.name] = fit
    return found


def _space_entry(name: str, spec) -> dict:
    if not isinstance(spec, dict):
        raise ValueError(f"tune.space.{name} must be {{low, high[, log, step]}} or {{choices: [...]}}, got {spec!r} ({WHERE})")
    if "choices" in spec:
        if not isinstance(spec["choices"], list) or not spec["choices"]:
            raise ValueError(f"tune.space.{name}.choices must be a non-empty list ({WHERE})")
        return {"choices": list(spec["choices"])}
    low, high = spec.get("low"), spec.get("high")
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (low, high)):
        raise ValueError(f"tune.space.{name} needs numeric low and high, got low={low!r} high={high!r} ({WHERE})")
    if not low < high:
        raise ValueError(f"tune.space.{name}: low ({low}) must be below high ({high}) ({WHERE})")
    log = bool(spec.get("log", False))
    if log and low <= 0:
        raise ValueError(f"tune.space.{name}: a log scale needs low > 0, got {low} ({WHERE})")
    unknown = set(spec) - {"low", "high", "log", "step"}
    if unknown:
        raise ValueError(f"tune.space.{name}: unknown key(s) {sorted(unknown)}: use low, high, log, step or choices ({WHERE})")
    kind = "int" if isinstance(low, int) and isinstance(high, int) and isinstance(spec.get("step", 1), int) else "float"
    return {"low": low, "high": high, "log": log, "step": spec.get("step"), "kind": kind}


def check_tune(tune: dict | None) -> dict:
    """``tune.*`` checked before any training: the method, the space, the trials, the objective."""
    tune = dict(tune or {})
    methods = tunable_methods()
    method = tune.get("method")
    if method not in methods:
        extra = " (TAKE's pipeline is several nodes: tune its estimator in a notebook)" if method == "take" else ""
        raise ValueError(f"tune.method: {method!r} cannot be tuned{extra}; one of {', '.join(sorted(methods))} ({WHERE})")
    space = tune.get("space") or (tune.get("spaces") or {}).get(method)
    if not isinstance(space, dict) or not space:
        raise ValueError(f"tune.space is empty: give at least one parameter of {method}, e.g. "
                         f"{{lr: {{low: 1e-4, high: 1e-2, log: true}}}} ({WHERE})")
    trials = tune.get("trials")
    if not isinstance(trials, int) or isinstance(trials, bool) or trials < 1:
        raise ValueError(f"tune.trials must be a positive integer, got {trials!r} ({WHERE})")
    seeds = tune.get("seeds") or [0]
    if not all(isinstance(s, int) for s in seeds):
        raise ValueError(f"tune.seeds must be integers, got {seeds!r} ({WHERE})")
    objective = tune.get("objective") or "silhouette"
    if objective in LABEL_BASED:
        if not tune.get("allow_label_peeking"):
            raise ValueError(f"tune.objective={objective!r} picks parameters with the ground-truth labels (label "
                             f"peeking): the scores then overstate what the method finds without labels. Use "
                             f"objective: silhouette, or set tune.allow_label_peeking: true to do it anyway ({WHERE})")
        logger.warning("tune: objective %s uses the ground-truth labels (label peeking): report its scores as tuned "
                       "on the labels", objective)
    elif objective not in INTERNAL:
        raise ValueError(f"tune.objective: {objective!r} is not one of {', '.join(INTERNAL + LABEL_BASED)} ({WHERE})")
    return {"method": method, "space": {k: _space_entry(k, v) for k, v in space.items()}, "trials": trials,
            "seeds": list(seeds), "objective": objective, "sampler_seed": int(tune.get("sampler_seed", 0)),
            "timeout": tune.get("timeout")}


def suggest(trial, space: dict) -> dict:
    """One point of the checked space."""
    out = {}
    for name, spec in space.items():
        if "choices" in spec:
            out[name] = trial.suggest_categorical(name, spec["choices"])
        elif spec["kind"] == "int":
            out[name] = trial.suggest_int(name, spec["low"], spec["high"], step=spec["step"] or 1, log=spec["log"])
        else:
            out[name] = trial.suggest_float(name, spec["low"], spec["high"], step=spec["step"], log=spec["log"])
    return out


def objective_value(objective: str, assignments: dict, features: dict, seed: int) -> float:
    labels = assignments["labels"]
    if objective in LABEL_BASED:
        if features.get("y") is None:
            raise ValueError(f"tune.objective={objective!r} needs labels, and data set {features['name']!r} has none")
        return float(clustering_scores(features["y"], labels)[objective])
    z = assignments["embedding"] if assignments.get("embedding") is not None else features["x"]
    value = internal_scores(z, labels, seed)["silhouette"]
    return -1.0 if value is None else float(value)  # one cluster: the worst silhouette


def with_point(params: dict, dataset: str, point: dict) -> dict:
    """The method's parameter group with ``point`` over every layer (the data set's block and a preset), as
    if typed on the command line."""
    return {**command_line_wins(params, point, dataset, log=False), **point}


def plan_study(tune: dict | None, parent: dict | None) -> dict:
    """First node: ``tune.*`` checked and MLflow on, before the data are read and anything trains."""
    plan = check_tune(tune)
    if not parent:
        raise ValueError("tune records each trial as an MLflow child run and MLflow tracking is off for this run: "
                         "enable it in conf/<env>/mlflow.yml")
    return {**plan, "parent": parent}


def run_study(features: dict, plan: dict, parameters: dict) -> tuple[dict, object]:
    """The study; return the best parameters as a parameters file and the trials table."""
    import optuna
    from mlflow.entities import Metric, Param
    from mlflow.tracking import MlflowClient

    parent = plan["parent"]
    method, dataset = plan["method"], str(parameters["dataset"])
    client = MlflowClient(tracking_uri=parent["tracking_uri"])
    fit = tunable_methods()[method]
    group = parameters.get(method) or {}

    def objective(trial) -> float:
        point = suggest(trial, plan["space"])
        run = client.create_run(parent["experiment_id"], run_name=f"{method} · {dataset} · trial {trial.number}",
                                tags={PARENT_TAG: parent["run_id"], "dataset": dataset, "pipeline": "tune",
                                      "method": method, "trial": str(trial.number), "objective": plan["objective"]})
        run_id = run.info.run_id
        client.log_batch(run_id, params=[Param(k, v) for k, v in flat_params(method, point, {}).items()])
        values = []
        try:
            for step, seed in enumerate(plan["seeds"]):
                assignments, _, _ = train_method(features, with_point(group, dataset, point), seed,
                                                 parameters.get("device", "auto"), parameters.get("n_clusters"),
                                                 False, method=method, fit=fit)
                values.append(objective_value(plan["objective"], assignments, features, seed))
                client.log_metric(run_id, plan["objective"], values[-1], step=step)
                trial.report(float(np.mean(values)), step)
                if trial.should_prune():
                    client.set_tag(run_id, "optuna.state", "PRUNED")
                    client.set_terminated(run_id, "KILLED")
                    raise optuna.TrialPruned()
        except optuna.TrialPruned:
            raise
        except Exception as err:
            client.set_tag(run_id, "error", f"{type(err).__name__}: {err}"[:5000])
            client.set_terminated(run_id, "FAILED")
            raise
        value = float(np.mean(values))
        client.log_batch(run_id, metrics=[Metric("objective", value, 0, 0)])
        client.set_terminated(run_id, "FINISHED")
        return value

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=plan["sampler_seed"]),
                                pruner=optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=0))
    study.optimize(objective, n_trials=plan["trials"], timeout=plan["timeout"])
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if not complete:
        raise RuntimeError(f"tune: none of the {len(study.trials)} trials completed")
    best = study.best_trial
    client.log_batch(parent["run_id"], metrics=[Metric(f"best_{plan['objective']}", float(best.value), 0, 0)],
                     params=[Param(k, v) for k, v in flat_params(f"best.{method}", best.params, {}).items()])
    logger.info("tune %s on %s: best %s %.4f at trial %d: %s", method, dataset, plan["objective"], best.value,
                best.number, best.params)
    table = study.trials_dataframe(attrs=("number", "value", "params", "state"))
    return best_parameters_file(method, dataset, best.params), table


def best_parameters_file(method: str, dataset: str, best: dict) -> dict:
    """``{<method>: {overrides: {<dataset>: best}}}``: a file for ``conf/local/`` (parameters_<method>.yml)."""
    return {method: {"overrides": {dataset: {k: v.item() if hasattr(v, "item") else v for k, v in best.items()}}}}
