"""A long TAKE run says so before it starts, with the faster preset's estimate (pipelines/take/nodes.py)."""

import logging
import math

import numpy as np
import pytest

from deep_kmeans.data.registry import Geometry
from deep_kmeans.methods import take
from deep_kmeans.pipelines.take import nodes

GEOMETRY = Geometry(dim=64, channels=1, side=8, patch=2)
SMALL = dict(embed_dim=16, depth=1, heads=2, decoder_depth=1, decoder_heads=2, mlp_ratio=2.0, head_hidden=16,
             head_out=8, batch_size=32)


def test_the_estimate_extrapolates_the_timed_step_over_the_schedule():
    x = np.random.default_rng(0).random((100, 64), dtype=np.float32)
    cfg = take.TAKEConfig(**SMALL, warmup_epochs=4, update_epochs=2, cluster_epochs=3)
    e = take.estimate_seconds(x, GEOMETRY, cfg, device="cpu")
    epoch = e["step"] * math.ceil(100 / 32)
    assert e["pretrain"] == pytest.approx(epoch * (4 + 2 * take.UPDATE_STEP_COST))
    assert e["cluster"] == pytest.approx(epoch * 3 * take.CLUSTER_STEP_COST)
    assert e["total"] == pytest.approx(e["pretrain"] + e["cluster"])
    # no views: the update epochs cost what warm-up epochs do; no KNet: no clustering phase
    flat = take.estimate_seconds(x, GEOMETRY, take.TAKEConfig(**SMALL, warmup_epochs=4, update_epochs=2,
                                                              assignment="kmeans"), device="cpu", has_views=False)
    assert flat["pretrain"] == pytest.approx(flat["step"] * math.ceil(100 / 32) * 6)
    assert flat["cluster"] == 0


def test_a_long_run_warns_with_the_faster_preset(monkeypatch, caplog):
    x = np.random.default_rng(0).random((64, 64), dtype=np.float32)
    cfg = take.TAKEConfig(**SMALL, warmup_epochs=150, update_epochs=50, cluster_epochs=50)
    faster = take.TAKEConfig(**SMALL, warmup_epochs=4, update_epochs=1, cluster_epochs=1).to_dict()
    monkeypatch.setattr(nodes, "LONG_RUN_SECONDS", 0.0)
    with caplog.at_level(logging.WARNING, logger=nodes.logger.name):
        nodes.warn_if_long(x, GEOMETRY, cfg, {"faster": faster}, "cpu", "mnist", has_views=True)
    [record] = [r for r in caplog.records if r.levelno == logging.WARNING]
    text = record.getMessage()
    assert "take on mnist: this training will take about" in text and "150 warm-up, 50 update" in text
    assert "--params=take.preset=cpu" in text and "4/1/1 epochs" in text
    # under the threshold: nothing, and a run already on the faster preset is not offered it
    caplog.clear()
    monkeypatch.setattr(nodes, "LONG_RUN_SECONDS", 1e9)
    nodes.warn_if_long(x, GEOMETRY, cfg, {"faster": None}, "cpu", "mnist", has_views=True)
    assert not [r for r in caplog.records if r.levelno == logging.WARNING]


def test_the_config_offers_the_cpu_preset_unless_it_is_chosen():
    features = {"name": "digits", "x": np.zeros((20, 64), np.float32), "y": np.arange(20) % 2, "classes": [0, 1]}
    params = {"warmup_epochs": 150, "presets": {"cpu": {"warmup_epochs": 40}}, "preset": None}
    assert nodes.resolve_take_config(params, features, 2, 0)["faster"]["warmup_epochs"] == 40
    assert nodes.resolve_take_config({**params, "preset": "cpu"}, features, 2, 0)["faster"] is None


def test_durations_read_as_people_write_them():
    assert [nodes.duration(s) for s in (40, 720, 3 * 3600 + 300)] == ["40 s", "12 min", "3 h 05 min"]
