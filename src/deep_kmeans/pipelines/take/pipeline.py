"""TAKE's own nodes: config → pretrain → K-means init → joint clustering → predict.

The registry (``pipeline_registry.py``) puts the shared data, features and evaluation stages around
them and registers the stages, each runnable alone on the versioned outputs of the one before:

  take            data + features + all of the below + evaluation
  take_pretrain   the TAE pretraining alone (reads the latest `features`)
  take_cluster    K-means init + joint clustering + predict + evaluation, from the latest
                  `take.pretrained` and the config stored with it: re-cluster without re-pretraining
  take_evaluate   predict + evaluation from the latest `take.model`
  take_predict    assign new data (`custom.path=NEW`) with the latest `take.model` (or the one pinned with
                  `--load-versions=take.model:<version>`), without training: take.predictions (CSV)
"""

from kedro.pipeline import Pipeline, node, pipeline

from .nodes import (cluster_config, cluster_take, initialise_take, kmeans_baseline_scores, load_new_data,
                    merge_histories, mlflow_model, predict_new_take, predict_take, pretrain_take,
                    resolve_take_config)


def create_pretrain_pipeline() -> Pipeline:
    return pipeline([
        node(resolve_take_config, inputs=["params:take", "features", "params:n_clusters", "params:data_seed"],
             outputs="take.config", name="take_config"),
        node(pretrain_take,
             inputs=["features", "take.config", "params:seed", "params:device", "params:progress", "checkpoints",
                     "params:features"],
             outputs=["take.pretrained", "take.pretrain_losses"], name="take_pretrain"),
    ])


def create_cluster_pipeline() -> Pipeline:
    run = ["params:seed", "params:device"]
    return pipeline([
        node(cluster_config, inputs=["take.pretrained", "params:take"], outputs="take.cluster_config",
             name="take_cluster_config"),
        node(initialise_take, inputs=["take.pretrained", "features", "take.cluster_config", *run, "params:progress"],
             outputs="take.init", name="take_kmeans_init"),
        node(kmeans_baseline_scores, inputs=["take.init", "take.pretrained", "features", "take.cluster_config",
                                             "params:seed"],
             outputs="take.init_metrics", name="take_init_scores"),
        node(cluster_take, inputs=["take.pretrained", "take.init", "features", "take.cluster_config", *run,
                                   "params:progress", "checkpoints"],
             outputs=["take.model", "take.cluster_losses"], name="take_cluster"),
        node(merge_histories, inputs=["take.pretrain_losses", "take.cluster_losses"], outputs="take.loss_history",
             name="take_merge_losses"),
    ])


def create_predict_pipeline() -> Pipeline:
    return pipeline([
        node(predict_take, inputs=["take.model", "features", "params:device"], outputs="take.assignments",
             name="take_predict"),
        # after the evaluation (take.scores): the logged model carries the run's final metrics
        node(mlflow_model, inputs=["take.model", "take.scores"], outputs="take.mlflow_model",
             name="take_log_mlflow_model"),
    ])


def create_new_data_pipeline() -> Pipeline:
    """New rows → their clusters by the newest model of a finished run (or the pinned one); reads the data like
    the data stage, but keeps it in memory so the training run's raw data is left as it is."""
    return pipeline([
        node(load_new_data, inputs=["take.model", "params:dataset", "params:data", "params:data_seed",
                                    "params:custom", "custom_source"],
             outputs="take.new_data", name="take_load_new_data"),
        node(predict_new_take, inputs=["take.model", "take.new_data", "params:device", "params:progress",
                                       "loaded_versions"],
             outputs="take.predictions", name="take_predict_new"),
    ])


def create_pipeline(**kwargs) -> Pipeline:
    """TAKE's own nodes, from ``features`` to ``take.assignments`` and ``take.loss_history``."""
    return create_pretrain_pipeline() + create_cluster_pipeline() + create_predict_pipeline()
