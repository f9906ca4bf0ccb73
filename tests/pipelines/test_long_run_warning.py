"""A TAKE run estimates its training from timed steady-state steps of each phase and, when it is long, says so
before it starts, with a faster preset only where that is really faster (methods/take/estimate.py,
pipelines/take/nodes.py)."""

import importlib
import logging

import numpy as np
import pytest
import torch

from deep_kmeans.data.registry import Geometry
from deep_kmeans.methods import take
from deep_kmeans.methods.take import estimate as estimate_module
from deep_kmeans.pipelines.take import nodes
from deep_kmeans.runtime import CpuLoad

GEOMETRY = Geometry(dim=64, channels=1, side=8, patch=2)
SMALL = dict(embed_dim=16, depth=1, heads=2, decoder_depth=1, decoder_heads=2, mlp_ratio=2.0, head_hidden=16,
             head_out=8, batch_size=32, kmeans_n_init=1)


def rows(n: int) -> np.ndarray:
    return np.random.default_rng(0).random((n, 64), dtype=np.float32)


@pytest.fixture
def fixed_steps(monkeypatch):
    """Step times as if measured: warm-up 10 ms, update 50 ms, clustering 20 ms per batch, 0.1 ms per encoded row;
    K-means 0.5 s per call; an idle 2-core machine."""
    def step_seconds(x, geometry, cfg, device="auto", views=None, augment=None, n_clusters=10, loaded=None,
                     threads=None):
        return {"batch": min(32, len(x)), "warmup": 0.010, "update": 0.050 if views is not None else 0.010,
                "cluster": 0.020, "encode_row": 1e-4, "spread": 1.2}

    monkeypatch.setattr(estimate_module, "step_seconds", step_seconds)
    monkeypatch.setattr(estimate_module, "kmeans_seconds", lambda *a, **kw: 0.5)
    monkeypatch.setattr(estimate_module, "cpu_load", lambda: CpuLoad(threads=2, cores=2, load=0.0))


def test_the_estimate_puts_each_phase_measured_step_over_its_epochs(fixed_steps):
    x, views = rows(96), np.zeros((96, 4, 64), np.float32)  # 3 batches of 32 per epoch
    cfg = take.TAKEConfig(**SMALL, warmup_epochs=4, update_epochs=2, cluster_epochs=3, knet_centers="refit",
                          knet_init="kmeans")
    e = take.estimate_seconds(x, GEOMETRY, cfg, device="cpu", views=views)
    assert e["pretrain"] == pytest.approx(3 * (4 * 0.010 + 2 * 0.050))
    encode = 96 * 1e-4
    assert e["start"] == pytest.approx(encode + 0.5)  # encoding, K-means on z (no head: knet_init kmeans)
    # each epoch: its steps, then z of all rows, the diagnostics' K-means and the refit
    assert e["cluster"] == pytest.approx(3 * (3 * 0.020 + encode + 0.5 + 0.5))
    assert e["total"] == pytest.approx(e["pretrain"] + e["start"] + e["cluster"])
    assert e["device"] == "cpu" and e["machine"].threads == 2
    # no views: the update epochs cost what warm-up epochs do; no KNet: no joint phase, the head in the start
    flat = take.estimate_seconds(x, GEOMETRY, take.TAKEConfig(**SMALL, warmup_epochs=4, update_epochs=2,
                                                              assignment="umap_gmm"), device="cpu")
    assert flat["pretrain"] == pytest.approx(3 * 6 * 0.010)
    assert flat["cluster"] == 0
    head = estimate_module.HEAD_FIXED_SECONDS + estimate_module.HEAD_SECONDS_PER_ROW * 96
    assert flat["start"] == pytest.approx(encode + 0.5 + head)


def test_a_smaller_last_batch_costs_its_share_and_a_tiny_set_is_one_batch(fixed_steps):
    cfg = take.TAKEConfig(**SMALL, warmup_epochs=10, update_epochs=0, cluster_epochs=0)
    assert take.estimate_seconds(rows(80), GEOMETRY, cfg, "cpu")["pretrain"] == pytest.approx(80 / 32 * 10 * 0.010)
    assert take.estimate_seconds(rows(20), GEOMETRY, cfg, "cpu")["pretrain"] == pytest.approx(10 * 0.010)


def test_steps_are_timed_after_untimed_ones_and_the_slow_first_step_does_not_count(monkeypatch):
    calls, clock = [], iter(range(0, 10**6))
    monkeypatch.setattr(estimate_module.time, "perf_counter", lambda: next(clock) * 0.001)  # 1 ms per tick

    def step():
        calls.append(len(calls))

    mean, spread = estimate_module._timed(step, estimate_module.torch.device("cpu"))
    # the untimed steps ran first, then at least MIN_STEPS timed ones, each one tick long
    assert len(calls) >= estimate_module.WARMUP_STEPS + estimate_module.MIN_STEPS
    assert mean == pytest.approx(0.001) and spread == pytest.approx(1.0)
    # a training of a few steps is not timed for longer than a share of them
    calls.clear()
    estimate_module._timed(step, estimate_module.torch.device("cpu"), seconds=1e9, runs=200)
    assert len(calls) == estimate_module.WARMUP_STEPS + max(estimate_module.MIN_STEPS,
                                                            round(estimate_module.PROBE_SHARE * 200))


def test_a_stall_in_one_group_of_steps_does_not_count_but_a_load_on_every_group_does():
    """typical_step: the median of the means of 5 consecutive groups of steps (estimate.py's docstring)."""
    steady = [0.03] * 100
    assert estimate_module.typical_step(steady) == pytest.approx(0.03)
    # one stall of 2.7 s (a digits warm-up step seen under load): the plain mean would be almost 2× too slow
    stalled = steady[:50] + [2.7] + steady[51:]
    assert np.mean(stalled) > 1.8 * 0.03 and estimate_module.typical_step(stalled) == pytest.approx(0.03)
    # a machine busy throughout: every group slow, and so the estimate
    busy = [0.03, 0.03, 0.03, 0.15] * 25
    assert estimate_module.typical_step(busy) == pytest.approx(0.06)
    assert estimate_module.typical_step([0.01, 0.05]) == pytest.approx(0.03)  # a few steps: their mean


def test_the_real_steps_are_measured_per_phase(one_thread):
    """The update step (the batch and its 4 views, two more losses) costs more than a warm-up step, and a clustering
    step with the view terms more than one without: measured, not assumed; no views, and it is the warm-up step; no
    KNet, no clustering step. (One thread: two OpenMP threads on cores that other processes share stall for seconds
    at times, which a comparison of two timings cannot take.)"""
    x = rows(64)
    cfg = take.TAKEConfig(**SMALL, warmup_epochs=1, update_epochs=1, cluster_epochs=1)
    steps = estimate_module.step_seconds(x, GEOMETRY, cfg, "cpu", views=np.stack([x] * 4, axis=1))
    assert steps["batch"] == 32 and steps["warmup"] > 0 and steps["cluster"] > 0 and steps["encode_row"] > 0
    assert steps["update"] > steps["warmup"]
    # take.cluster_contrastive: the clustering step carries the rows' 4 views through the TAE as well
    contrastive = estimate_module.step_seconds(x, GEOMETRY, take.TAKEConfig(**SMALL, warmup_epochs=1, update_epochs=1,
                                                                            cluster_epochs=1, cluster_contrastive=1.0),
                                               "cpu", views=np.stack([x] * 4, axis=1))
    assert contrastive["cluster"] > steps["cluster"]
    plain = estimate_module.step_seconds(x, GEOMETRY, take.TAKEConfig(**SMALL, assignment="kmeans"), "cpu")
    assert plain["update"] == plain["warmup"] and plain["cluster"] == 0


def test_a_long_run_warns_with_what_it_assumed_and_the_faster_preset(fixed_steps, monkeypatch, caplog):
    x = rows(64)
    cfg = take.TAKEConfig(**SMALL, warmup_epochs=150, update_epochs=50, cluster_epochs=50)
    faster = take.TAKEConfig(**SMALL, warmup_epochs=4, update_epochs=1, cluster_epochs=1).to_dict()
    monkeypatch.setattr(nodes, "LONG_RUN_SECONDS", 0.0)
    with caplog.at_level(logging.INFO, logger=nodes.logger.name):
        nodes.warn_if_long(x, GEOMETRY, cfg, {"faster": faster, "n_clusters": 10}, "cpu", "mnist")
    [info] = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert "take: training estimated at" in info and "cpu, 2 torch threads on 2 cores, load average 0.0" in info
    [text] = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert "take on mnist: this training will take about" in text and "150 warm-up, 50 update" in text
    assert "timed on a few steps of each phase on cpu, 2 torch threads on 2 cores, load average 0.0" in text
    assert "--params=take.preset=cpu" in text and "4/1/1 epochs" in text


def test_unsteady_steps_make_the_estimate_say_it_is_rough(fixed_steps, monkeypatch, caplog):
    steady = estimate_module.step_seconds
    monkeypatch.setattr(estimate_module, "step_seconds", lambda *a, **kw: {**steady(*a, **kw), "spread": 40.0})
    cfg = take.TAKEConfig(**SMALL, warmup_epochs=4, update_epochs=0, cluster_epochs=0)
    with caplog.at_level(logging.INFO, logger=nodes.logger.name):
        nodes.warn_if_long(rows(64), GEOMETRY, cfg, {"faster": None, "n_clusters": 10}, "cpu", "digits")
    [info] = [r.getMessage() for r in caplog.records if "training estimated at" in r.getMessage()]
    assert "swung 40x while measured" in info and "OMP_NUM_THREADS=1" in info


@pytest.mark.parametrize("faster_epochs", [(150, 50, 50), (140, 50, 50)], ids=["the same settings", "barely faster"])
def test_a_preset_that_is_not_really_faster_is_not_offered(fixed_steps, monkeypatch, caplog, faster_epochs):
    cfg = take.TAKEConfig(**SMALL, warmup_epochs=150, update_epochs=50, cluster_epochs=50)
    w, u, c = faster_epochs
    faster = take.TAKEConfig(**SMALL, warmup_epochs=w, update_epochs=u, cluster_epochs=c).to_dict()
    monkeypatch.setattr(nodes, "LONG_RUN_SECONDS", 0.0)
    with caplog.at_level(logging.WARNING, logger=nodes.logger.name):
        nodes.warn_if_long(rows(64), GEOMETRY, cfg, {"faster": faster, "n_clusters": 10}, "cpu", "custom")
    [text] = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert "take.preset" not in text


def test_a_short_run_only_logs_its_estimate(fixed_steps, monkeypatch, caplog):
    cfg = take.TAKEConfig(**SMALL, warmup_epochs=150, update_epochs=50, cluster_epochs=50)
    monkeypatch.setattr(nodes, "LONG_RUN_SECONDS", 1e9)
    with caplog.at_level(logging.INFO, logger=nodes.logger.name):
        nodes.warn_if_long(rows(64), GEOMETRY, cfg, {"faster": None, "n_clusters": 10}, "cpu", "mnist")
    assert not [r for r in caplog.records if r.levelno == logging.WARNING]
    assert [r for r in caplog.records if "training estimated at" in r.getMessage()]


def test_the_config_offers_the_cpu_preset_unless_it_is_chosen():
    # rows that differ: K-means' K is resolved on them, and identical rows are refused (data/validation.py)
    features = {"name": "digits", "x": rows(20), "y": np.arange(20) % 2, "classes": [0, 1],
                "geometry": GEOMETRY.to_dict()}
    params = {"warmup_epochs": 150, "presets": {"cpu": {"warmup_epochs": 40}}, "preset": None}
    assert nodes.resolve_take_config(params, features, 2, 0)["faster"]["warmup_epochs"] == 40
    assert nodes.resolve_take_config({**params, "preset": "cpu"}, features, 2, 0)["faster"] is None


def test_durations_read_as_people_write_them():
    assert [nodes.duration(s) for s in (40, 720, 3 * 3600 + 300)] == ["40 s", "12 min", "3 h 05 min"]


def test_beside_busy_processes_the_estimate_also_times_one_thread_and_offers_it(fixed_steps, monkeypatch, caplog):
    """One busy process on a 2-core machine: two OpenMP threads stall on the shared core (MNIST's steps: 36x
    slower), one thread runs on the free one. The estimate times both; the warning gives OMP_NUM_THREADS=1's."""
    calls = []

    def step_seconds(x, geometry, cfg, device="auto", views=None, augment=None, n_clusters=10, loaded=None,
                     threads=None):
        step = 0.020 if threads == 1 else 0.600
        calls.append((loaded, threads))
        return {"batch": 32, "warmup": step, "update": step, "cluster": step, "encode_row": 1e-4, "spread": 2.0}

    monkeypatch.setattr(estimate_module, "step_seconds", step_seconds)
    monkeypatch.setattr(estimate_module, "cpu_load", lambda: CpuLoad(threads=2, cores=2, load=1.3, others=1.0))
    monkeypatch.setattr(nodes, "STALLED_WARN_SECONDS", 0.0)  # (not LONG_RUN_SECONDS: a stalled run warns sooner)
    cfg = take.TAKEConfig(**SMALL, warmup_epochs=10, update_epochs=0, cluster_epochs=0)
    with caplog.at_level(logging.INFO, logger=nodes.logger.name):
        e = nodes.warn_if_long(rows(64), GEOMETRY, cfg, {"faster": None, "n_clusters": 10}, "cpu", "mnist")
    [info] = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert info.endswith(f"; with OMP_NUM_THREADS=1 about {nodes.duration(e['one_thread']['total'])}")
    assert e["pretrain"] == pytest.approx(2 * 10 * 0.600)
    assert e["one_thread"]["pretrain"] == pytest.approx(2 * 10 * 0.020)
    assert calls == [(True, None), (False, 1)]  # the stalled steps timed for longer, then one thread's
    [text] = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert "other processes busy on 1.0 cores" in text
    assert "a warm-up step took 600 ms here, with one thread 20 ms" in text and "stall, erratically" in text
    assert f"With OMP_NUM_THREADS=1 the same training takes about {nodes.duration(e['one_thread']['total'])}" in text
    # an idle machine, or a run on one thread already: timed once
    monkeypatch.setattr(estimate_module, "cpu_load", lambda: CpuLoad(threads=1, cores=2, load=1.3, others=1.0))
    assert "one_thread" not in take.estimate_seconds(rows(64), GEOMETRY, cfg, "cpu")


def test_the_one_thread_timing_runs_on_one_thread_and_gives_the_threads_back(monkeypatch):
    seen = []
    monkeypatch.setattr(estimate_module, "_timed",
                        lambda step, dev, *a: seen.append(torch.get_num_threads()) or (1e-3, 1.0))
    threads = torch.get_num_threads()
    cfg = take.TAKEConfig(**SMALL, warmup_epochs=1, update_epochs=0, cluster_epochs=1)
    estimate_module.step_seconds(rows(64), GEOMETRY, cfg, "cpu", loaded=False, threads=1)
    assert seen and set(seen) == {1} and torch.get_num_threads() == threads


def test_a_resumed_run_is_estimated_and_said_as_what_is_left(fixed_steps, monkeypatch, caplog):
    """After pretraining epoch 160 of 150 warm-up + 50 update epochs, 40 update epochs are left: the estimate counts
    those, and the warning says it is the rest of a resumed training."""
    x, views = rows(96), np.zeros((96, 4, 64), np.float32)  # 3 batches of 32 per epoch
    cfg = take.TAKEConfig(**SMALL, warmup_epochs=150, update_epochs=50, cluster_epochs=0)
    fresh = take.estimate_seconds(x, GEOMETRY, cfg, "cpu", views=views)
    assert fresh["pretrain"] == pytest.approx(3 * (150 * 0.010 + 50 * 0.050))
    assert take.estimate_seconds(x, GEOMETRY, cfg, "cpu", views=views, done_epochs=160)["pretrain"] == \
        pytest.approx(3 * 40 * 0.050)
    assert take.estimate_seconds(x, GEOMETRY, cfg, "cpu", views=views, done_epochs=100)["pretrain"] == \
        pytest.approx(3 * (50 * 0.010 + 50 * 0.050))
    monkeypatch.setattr(nodes, "LONG_RUN_SECONDS", 0.0)
    with caplog.at_level(logging.INFO, logger=nodes.logger.name):
        e = nodes.warn_if_long(x, GEOMETRY, cfg, {"faster": None, "n_clusters": 10}, "cpu", "mnist", views=views,
                               done_epochs=160)
    assert e["done_epochs"] == 160
    [info] = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert info.startswith("take: the rest of the training estimated at")
    assert "resuming after pretraining epoch 160 of 200; pretraining" in info
    [text] = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert text.startswith(f"take on mnist: the rest of this training will take about {nodes.duration(e['total'])} "
                           "(resuming after pretraining epoch 160 of 200; 96 rows;")


def test_the_pretraining_node_estimates_from_the_checkpoint_it_will_resume(monkeypatch, tmp_path):
    """pretrain_take reads the epoch of the checkpoint that take.pretrain resumes from (the same key), before any
    epoch runs."""
    from deep_kmeans.io import DirectoryStore

    x = rows(64)
    cfg = take.TAKEConfig(**SMALL, warmup_epochs=4, update_epochs=0, cluster_epochs=0, checkpoint_every=1)
    store = DirectoryStore(tmp_path / "ckpt")
    with pytest.raises(KeyboardInterrupt):
        take.pretrain(x, None, GEOMETRY, cfg, 0, "cpu", False, store=store, data_key="fp", stop_after=3)
    seen = []
    monkeypatch.setattr(nodes, "warn_if_long", lambda *a, **kw: seen.append(kw["done_epochs"]))
    features = {"x": x, "views": None, "geometry": GEOMETRY.to_dict(), "name": "digits", "fingerprint": "fp",
                "preprocess": {"kind": "gray"}}
    config = {"config": cfg.to_dict(), "train_rows": np.arange(64), "n_clusters": 10, "faster": None}
    hashed = []  # the key the estimate reads is the key the training resumes from: the data hashed once
    pretrain_module = importlib.import_module("deep_kmeans.methods.take.pretrain")  # take.pretrain: the function
    digest = pretrain_module._digest
    monkeypatch.setattr(pretrain_module, "_digest", lambda *a: hashed.append(1) or digest(*a))
    pretrained, _ = nodes.pretrain_take(features, config, 0, "cpu", False, store)
    assert seen == [3] and len(hashed) == 1
    assert pretrained["data_kind"] == "gray"  # for the clustering stage's start (take.start_for_data)
    # it resumed from that checkpoint and finished; its final state stays for a rerun until clustering ends
    assert store.keys() == [pretrained["pretrain_checkpoint"]]
    nodes.pretrain_take(features, config, 0, "cpu", False, store)
    assert seen == [3, 4]  # nothing left to pretrain
    store.delete(pretrained["pretrain_checkpoint"])
    nodes.pretrain_take(features, config, 0, "cpu", False, store)  # no checkpoint: a fresh start
    assert seen == [3, 4, 0]
    # another seed is another training: its estimate does not count this one's checkpoint
    nodes.pretrain_take(features, config, 1, "cpu", False, store)
    assert seen == [3, 4, 0, 0]


def test_a_run_resumed_in_its_joint_phase_counts_the_joint_epochs_left(fixed_steps, monkeypatch, caplog):
    """Pretraining done and 2 of 3 joint epochs too: the estimate counts the start (encoding and K-means run
    again) and one joint epoch, and the log says where the run resumes."""
    x = rows(96)  # 3 batches of 32 per epoch
    cfg = take.TAKEConfig(**SMALL, warmup_epochs=4, update_epochs=2, cluster_epochs=3, knet_init="kmeans")
    e = take.estimate_seconds(x, GEOMETRY, cfg, "cpu", done_epochs=6, done_cluster_epochs=2)
    encode = 96 * 1e-4
    assert e["pretrain"] == 0 and e["start"] == pytest.approx(encode + 0.5)
    assert e["cluster"] == pytest.approx(1 * (3 * 0.020 + encode + 0.5))
    assert e["done_cluster_epochs"] == 2
    with caplog.at_level(logging.INFO, logger=nodes.logger.name):
        nodes.warn_if_long(x, GEOMETRY, cfg, {"faster": None, "n_clusters": 10}, "cpu", "mnist", done_epochs=6,
                           done_cluster_epochs=2)
    [info] = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert "resuming after pretraining epoch 6 of 6 and joint epoch 2 of 3; pretraining 0 s" in info


def test_the_pretraining_node_reads_the_joint_checkpoint_that_the_clustering_will_resume(monkeypatch, tmp_path):
    """A run cut off in its joint phase: the rerun's pretraining node (whose pretraining is done) finds that
    checkpoint before the start exists, by the options, data and seed it records; another seed or other joint
    options find none, nor does a run with resume off."""
    import dataclasses

    from deep_kmeans.io import DirectoryStore

    x = rows(64)
    cfg = take.TAKEConfig(**SMALL, warmup_epochs=1, update_epochs=0, cluster_epochs=3, knet_init="kmeans",
                          checkpoint_every=1)
    store = DirectoryStore(tmp_path / "ckpt")
    features = {"x": x, "views": None, "geometry": GEOMETRY.to_dict(), "name": "digits", "fingerprint": "fp",
                "preprocess": {"kind": "gray"}}
    config = {"config": cfg.to_dict(), "train_rows": np.arange(64), "n_clusters": 4, "faster": None}
    seen = []
    monkeypatch.setattr(nodes, "warn_if_long", lambda *a, **kw: seen.append((kw["done_epochs"],
                                                                              kw["done_cluster_epochs"])))
    pretrained, _ = nodes.pretrain_take(features, config, 0, "cpu", False, store)
    assert seen == [(0, 0)]
    init = take.kmeans_initialise(x, pretrained, GEOMETRY, cfg, 4, seed=0, device="cpu")
    with pytest.raises(KeyboardInterrupt):
        take.cluster(x, pretrained, init["start_centers"], GEOMETRY, cfg, seed=0, device="cpu", progress=False,
                     store=store, data_key="fp", stop_after=2, init_labels=init["start_labels"])
    assert take.saved_cluster_epoch(store, x, cfg, 0, "fp") == 2
    nodes.pretrain_take(features, config, 0, "cpu", False, store)
    assert seen[-1] == (1, 2)  # pretraining's final state kept, and joint epoch 2 of 3
    assert take.saved_cluster_epoch(store, x, cfg, 1, "fp") == 0
    assert take.saved_cluster_epoch(store, x, dataclasses.replace(cfg, lambda3=cfg.lambda3 / 2), 0, "fp") == 0
    assert take.saved_cluster_epoch(store, x, dataclasses.replace(cfg, resume=False), 0, "fp") == 0
    assert take.saved_cluster_epoch(None, x, cfg, 0, "fp") == 0
    # and the joint phase does resume there: the same key the estimate read
    _, history = take.cluster(x, pretrained, init["start_centers"], GEOMETRY, cfg, seed=0, device="cpu",
                              progress=False, store=store, data_key="fp", init_labels=init["start_labels"])
    assert len(history["cluster/loss"]) == 3 and take.saved_cluster_epoch(store, x, cfg, 0, "fp") == 0
