"""TAKE: pretrain → K-means init → joint clustering → predict → evaluate.

Registered pipelines (see pipeline_registry.py):
  take            data + features + all of the below
  take_pretrain   the TAE pretraining alone (reads the latest `features`)
  take_cluster    K-means init + joint clustering + predict + evaluate, from the latest
                  `take.pretrained`: re-cluster without re-pretraining
  take_evaluate   predict + evaluate from the latest `take.model`
"""

from kedro.pipeline import Pipeline, node, pipeline

from deep_kmeans.pipelines.data.pipeline import create_pipeline as create_data_pipeline
from deep_kmeans.evaluation.pipeline import create_evaluation_pipeline
from deep_kmeans.pipelines.features.pipeline import create_pipeline as create_features_pipeline

from .nodes import (cluster_take, initialise_take, kmeans_baseline_scores, merge_histories, predict_take,
                    pretrain_take)

RUN = ["params:seed", "params:device"]


def create_pretrain_pipeline() -> Pipeline:
    return pipeline([
        node(pretrain_take,
             inputs=["features", "params:take", *RUN, "params:progress", "params:n_clusters", "checkpoints",
                     "params:features"],
             outputs=["take.pretrained", "take.pretrain_losses"], name="take_pretrain"),
    ])


def create_cluster_pipeline() -> Pipeline:
    return pipeline([
        node(initialise_take, inputs=["take.pretrained", "features", "params:take", *RUN], outputs="take.init",
             name="take_kmeans_init"),
        node(kmeans_baseline_scores, inputs=["take.init", "features", "params:take", "params:seed"],
             outputs="take.init_metrics", name="take_init_scores"),
        node(cluster_take, inputs=["take.pretrained", "take.init", "features", "params:take", *RUN,
                                   "params:progress", "checkpoints"],
             outputs=["take.model", "take.cluster_losses"], name="take_cluster"),
        node(merge_histories, inputs=["take.pretrain_losses", "take.cluster_losses"], outputs="take.loss_history",
             name="take_merge_losses"),
    ])


def create_evaluate_pipeline() -> Pipeline:
    return pipeline([
        node(predict_take, inputs=["take.model", "features", "params:take", *RUN], outputs="take.assignments",
             name="take_predict"),
    ]) + create_evaluation_pipeline("take")


def create_pipeline(**kwargs) -> Pipeline:
    return (create_data_pipeline() + create_features_pipeline() + create_pretrain_pipeline()
            + create_cluster_pipeline() + create_evaluate_pipeline())
