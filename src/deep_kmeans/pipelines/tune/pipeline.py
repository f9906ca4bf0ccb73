"""``kedro run --pipeline=tune``: an Optuna study (TPE, median pruning) over ``tune.space`` of ``tune.method``.

``tune.plan`` checks the parameters before anything trains; ``tune.study`` runs the trials (each an MLflow
child run of the tune run) and writes the best parameters as a parameters file (``tune.best_params``,
``data/08_reporting/<dataset>/tune/best_params.yml``) and the trials table (``tune.trials``).
Parameters: ``conf/base/parameters_tune.yml``; catalog: ``conf/base/catalog_tune.yml``. The registry
puts the data and feature stages in front.
"""

from kedro.pipeline import Pipeline, node, pipeline

from .nodes import plan_study, run_study


def create_pipeline(**kwargs) -> Pipeline:
    return pipeline([
        node(plan_study, inputs=["params:tune", "parent_run"], outputs="tune.plan", name="tune_plan"),
        node(run_study, inputs=["features", "tune.plan", "parameters"], outputs=["tune.best_params", "tune.trials"],
             name="tune_study"),
    ])
