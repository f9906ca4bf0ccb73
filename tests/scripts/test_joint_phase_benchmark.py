"""benchmarks/joint_phase.py measures the joint phase a run trains: the same clustering config as the Kedro route."""

import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture(scope="module")
def joint_phase():
    sys.path.insert(0, str(BENCHMARKS))
    try:
        import joint_phase

        yield joint_phase
    finally:
        sys.path.remove(str(BENCHMARKS))


@pytest.mark.parametrize("kind, knet_init", [("vector", "auto"), ("text", "kmeans")])
def test_a_variant_trains_the_clustering_epochs_and_the_start_that_the_run_would(joint_phase, kind, knet_init):
    from deep_kmeans.data.registry import vector_geometry
    from deep_kmeans.methods import take as T
    from deep_kmeans.pipelines.take.nodes import cluster_config

    conf = joint_phase.C.load_conf("take")["take"]
    geometry = vector_geometry(4, 2)
    # a table of 150 rows, pretrained as the run sizes it: 2 batches of 128 an epoch, so min_cluster_steps = 150
    # asks for 75 clustering epochs where the custom block says 10
    stored, _ = T.sized_for_data(T.TAKEConfig.from_params(joint_phase.take_params("custom", None)), 150, geometry)
    assert stored.cluster_epochs == 75
    pretrained = {"config": stored.to_dict(), "dataset": "custom", "train_rows": list(range(150)),
                  "geometry": geometry.to_dict(), "data_kind": kind}
    run = cluster_config(pretrained, conf)

    name, cfg = joint_phase.variant_config(stored.to_dict(), "custom", None, "ours:", kind, 150, geometry)
    assert name == "ours" and cfg.to_dict() == run
    assert (cfg.cluster_epochs, cfg.knet_init) == (75, knet_init)
    # a variant's own keys come last
    _, cfg = joint_phase.variant_config(stored.to_dict(), "custom", None, "w:knet_target_weight=3,cluster_epochs=4",
                                        kind, 150, geometry)
    assert (cfg.knet_target_weight, cfg.cluster_epochs) == (3.0, 4)
