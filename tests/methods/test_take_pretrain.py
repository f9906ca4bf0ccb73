"""TAKE's pretraining loop: the same results on the CPU as before it became device-resident (issue 25), and no
host sync per step.

The reference ``take_pretrain_reference.pt`` beside this file holds what the committed loop of f94c3b3 (before
issue 25) gave for three short trainings on 240 digits (one torch thread): z of every row after pretraining,
the loss history, and a fingerprint of every trained tensor. Written with

    PYTHONPATH=src python tests/methods/test_take_pretrain.py write

(run it only to accept a deliberate change of the results). On our 2-core machine the new loop gives them bit
for bit; the tolerances below only leave room for another CPU's kernels. On an AMD EPYC (2026-12-05) z agreed to
1.4e-6 and the losses to 1e-6, while the trained tensors' sums moved by up to 2.1e-4 (a qkv bias whose Σ|w| is
6.2: its signed sum cancels, so it amplifies the kernels' other summation order); a change to the loop moves them
by percents.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

from deep_kmeans.data.registry import geometry_for
from deep_kmeans.methods import take as T

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/ (pytest puts it there too): syncs.py
from syncs import count_host_syncs  # noqa: E402

REFERENCE = Path(__file__).with_name("take_pretrain_reference.pt")
TINY = dict(embed_dim=16, depth=1, heads=2, decoder_depth=1, decoder_heads=2, mlp_ratio=2.0, head_hidden=16,
            head_out=8, warmup_epochs=1, update_epochs=1, cluster_epochs=1, batch_size=64, lambda1=0.1,
            lambda2=0.1, lambda3=0.1, checkpoint_every=0)
RUNS = {"stored_views": ({}, False), "fresh_views": ({"fresh_views": True}, True),
        "warmup_only_mse": ({"update_epochs": 0, "warmup_epochs": 2, "reconstruction": "mse"}, False)}
VIEW_PARAMS = {"crop_scale": [0.6, 1.0], "max_rotation": 15.0}


def digits(n: int = 240):
    d = load_digits()
    idx = np.sort(np.random.default_rng(0).choice(len(d.target), n, replace=False))
    x = (d.images[idx] / 16).reshape(len(idx), -1).astype(np.float32)
    views = np.stack([np.roll(x, s, axis=1) for s in (1, -1, 8, -8)], axis=1)  # cheap stand-in views
    return x, views, geometry_for("digits", 64)


def features(x, views) -> dict:
    return {"name": "digits", "extractor": "pixels", "x": x, "views": views,
            "geometry": {"dim": 64, "channels": 1, "side": 8, "patch": 2}}


def fingerprint(tensors: dict) -> dict:
    return {k: torch.tensor([v.double().sum(), v.double().abs().sum(), v.double().pow(2).sum()])
            for k, v in tensors.items()}


def pretrain_outputs() -> dict:
    x, views, g = digits()
    out = {}
    for name, (overrides, fresh) in RUNS.items():
        cfg = T.TAKEConfig.from_params({**TINY, **overrides})
        augment = T.view_augmenter(features(x, views), cfg, VIEW_PARAMS) if fresh else None
        state, history = T.pretrain(x, views, g, cfg, 0, "cpu", False, augment=augment)
        trained = {**{f"tae.{k}": v for k, v in state["tae"].items()},
                   **{f"head.{k}": v for k, v in state["head"].items()}, "ccl_logits": state["ccl_logits"]}
        out[name] = {"z": torch.from_numpy(T.encode(T.load_tae(state, g, cfg), x, 100, "cpu")),
                     "history": history, "fingerprint": fingerprint(trained)}
    return out


def test_cpu_pretraining_gives_what_the_committed_loop_gave(one_thread):
    reference = torch.load(REFERENCE, weights_only=True)
    now = pretrain_outputs()
    assert list(now) == list(reference)
    for name, ref in reference.items():
        got = now[name]
        torch.testing.assert_close(got["z"], ref["z"], rtol=1e-5, atol=1e-6, msg=name)
        assert list(got["history"]) == list(ref["history"])
        for key, values in ref["history"].items():
            assert [v is None for v in got["history"][key]] == [v is None for v in values]
            np.testing.assert_allclose([v for v in got["history"][key] if v is not None],
                                       [v for v in values if v is not None], rtol=1e-6, err_msg=f"{name} {key}")
        assert list(got["fingerprint"]) == list(ref["fingerprint"])
        for key, value in ref["fingerprint"].items():
            # (Σw, Σ|w|, Σw²) within 1e-4 of the tensor's scale Σ|w|: another CPU's kernels, not another loop
            scale = max(float(value[1]), 1.0)
            torch.testing.assert_close(got["fingerprint"][key], value, rtol=0, atol=1e-4 * scale, msg=f"{name} {key}")


@pytest.mark.parametrize("run", ["stored_views", "fresh_views"])
def test_host_syncs_per_epoch_do_not_grow_with_the_steps(run, one_thread):
    """One warm-up and one update epoch of 2 steps, then of 6 steps: the same number of host syncs (the read of
    the epoch's loss sums, and the set-up's), none per step."""
    overrides, fresh = RUNS[run]
    cfg = T.TAKEConfig.from_params({**TINY, **overrides, "batch_size": 16})
    x, views, g = digits()
    counts = {}
    for steps in (2, 6):
        n = steps * cfg.batch_size
        augment = T.view_augmenter(features(x[:n], views[:n]), cfg, VIEW_PARAMS) if fresh else None
        with count_host_syncs() as syncs:
            T.pretrain(x[:n], views[:n], g, cfg, 0, "cpu", False, augment=augment)
        counts[steps] = syncs
    few, many = counts[2], counts[6]
    assert many.total == few.total, f"{many.total - few.total} more syncs with 4 more steps an epoch: {many.where}"
    # what the loop itself does: per epoch the one .tolist() of the loss sums (warm-up and update), and the
    # state's copy to the CPU at the end (the rest is the modules' initialisation)
    loop = {site: n for site, n in many.where.items() if "methods/take/pretrain.py" in site}
    assert sorted(site.split()[-1] for site in loop) == ["cpu", "tolist"] and many.by_kind["tolist"] == 2, many.where


def test_host_syncs_grow_with_the_epochs_by_one_read_each(one_thread):
    x, views, g = digits()
    cfg = T.TAKEConfig.from_params({**TINY, "batch_size": 32})
    counts = []
    for epochs in (2, 5):
        with count_host_syncs() as syncs:
            T.pretrain(x[:96], views[:96], g, T.dataclasses.replace(cfg, warmup_epochs=epochs, update_epochs=0),
                       0, "cpu", False)
        counts.append(syncs.total)
    assert counts[1] - counts[0] == 3  # 3 more epochs, one .tolist() each


def test_encode_reads_the_device_once_whatever_the_batches(one_thread):
    x, views, g = digits()
    tae = T.build_tae(g, T.TAKEConfig.from_params(TINY))
    counts, zs = [], []
    for batch in (120, 40):  # 2 and 6 batches
        with count_host_syncs() as syncs:
            zs.append(T.encode(tae, x, batch, "cpu"))
        counts.append(syncs.by_kind)
    assert counts[0] == counts[1] == {"cpu": 1, "numpy": 1}
    np.testing.assert_allclose(zs[0], zs[1], rtol=1e-5, atol=1e-6)


if __name__ == "__main__" and sys.argv[1:] == ["write"]:
    torch.set_num_threads(1)
    torch.save(pretrain_outputs(), REFERENCE)
    print(f"wrote {REFERENCE} ({REFERENCE.stat().st_size} bytes)")
