"""TAKE's training phases (paper 3.3, 4.1) as plain functions over arrays and torch modules.

1. ``pretrain`` (:mod:`.pretrain`): warm-up epochs of L_r on the original data, then update epochs of
   L_r + λ1 L_ccl + λ2 L_cl on the original and augmented data (L_r over all views).
2. ``kmeans_initialise`` (:mod:`.joint`): K-means on z of all data → M and the initial assignment.
3. ``cluster`` (:mod:`.joint`): L_r + λ3 L_k over the TAE and KNet's M jointly.
4. ``predict`` (:mod:`.model`): argmax of the KNet forward, batch by batch (works on unseen data).

:func:`fit_take` (:mod:`.estimator`) runs the four in order; the :class:`TAKE` estimator, the benchmarks and the
Kedro nodes (``pipelines/take/nodes.py``, one node per phase so each can be rerun alone) all call these functions.
Every hyperparameter is a field of :class:`TAKEConfig` (:mod:`.config`).
"""

import dataclasses  # noqa: F401 - tests reach dataclasses.replace through this module

from deep_kmeans.data.registry import vector_geometry  # noqa: F401
from deep_kmeans.methods.take.config import (CLUSTER_TRAINING_KEYS, NOT_TRAINING_KEYS, PRETRAIN_KEYS, TAKEConfig,
                                             read_take_params, read_take_split, sized_for_data,
                                             start_for_data)
from deep_kmeans.methods.take.estimate import estimate_seconds
from deep_kmeans.methods.take.estimator import TAKE, fit_take
from deep_kmeans.methods.take.joint import (cluster, head_start, kmeans_initialise, saved_cluster_epoch,
                                           start_name)
from deep_kmeans.methods.take.model import (build_tae, check_inputs, encode, fit_head, load_knet, load_tae, predict,
                                            soft_assignments, with_fitted_head)
from deep_kmeans.methods.take.pretrain import pretrain, pretrain_checkpointer, view_augmenter

__all__ = ["CLUSTER_TRAINING_KEYS", "NOT_TRAINING_KEYS", "PRETRAIN_KEYS", "TAKE", "TAKEConfig",
           "build_tae", "check_inputs", "cluster", "encode", "estimate_seconds", "fit_head",
           "fit_take", "head_start", "kmeans_initialise", "load_knet", "load_tae", "predict", "pretrain", "start_name",
           "pretrain_checkpointer", "read_take_params", "read_take_split", "saved_cluster_epoch", "sized_for_data",
           "soft_assignments", "start_for_data", "view_augmenter", "with_fitted_head"]
