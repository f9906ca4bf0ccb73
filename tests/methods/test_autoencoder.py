"""What the autoencoder methods share (methods/autoencoder.py): the pretraining loop, the parameter
readers, the autoencoder kind, and embed()/ParamReader from the kit as they use them."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from deep_kmeans.data.registry import Geometry
from deep_kmeans.methods.autoencoder import (
    EpochMeans, pretrain_autoencoder, read_ae_params, read_cluster_params, resolve_ae_kind,
)
from deep_kmeans.methods.kit import ParamReader, embed, label_change_rate
from deep_kmeans.models.autoencoders import MLPAutoencoder, is_image_geometry

pytestmark = pytest.mark.usefixtures("one_thread")


def test_pretrain_history_decreases_and_is_reproducible(blobs):
    x, _, _ = blobs
    runs = []
    for _ in range(2):
        torch.manual_seed(0)
        ae = MLPAutoencoder([16, 32, 4])
        hist = pretrain_autoencoder(ae, x, epochs=8, batch_size=32, seed=3, device="cpu", progress=False)
        runs.append((hist, embed(ae, x, device="cpu")))
    hist = runs[0][0]
    assert set(hist) == {"pretrain/loss", "pretrain/rec"}
    assert len(hist["pretrain/loss"]) == 8
    assert hist["pretrain/loss"][-1] < hist["pretrain/loss"][0]
    assert runs[0][0] == runs[1][0]
    np.testing.assert_array_equal(runs[0][1], runs[1][1])
    assert runs[0][1].shape == (len(x), 4) and runs[0][1].dtype == np.float32


def test_pretrain_custom_loss_and_augment(blobs):
    x, _, _ = blobs
    seen = []

    def loss_fn(model, xb, z, xr):
        rec, extra = F.mse_loss(xr, xb), z.pow(2).sum(1).mean()
        return rec + 0.01 * extra, {"rec": rec, "extra": extra}

    def augment(xb, idx):
        seen.append(len(idx))
        return xb + 0.01

    ae = MLPAutoencoder([16, 8, 2])
    hist = pretrain_autoencoder(ae, x, epochs=2, batch_size=50, loss_fn=loss_fn, augment=augment,
                                device="cpu", progress=False)
    assert set(hist) == {"pretrain/loss", "pretrain/rec", "pretrain/extra"}
    assert seen == [50, 50, 20] * 2


def test_pretrain_rejects_bad_values(blobs):
    x, _, _ = blobs
    with pytest.raises(ValueError, match="epochs"):
        pretrain_autoencoder(MLPAutoencoder([16, 2]), x, epochs=-1, progress=False)
    with pytest.raises(ValueError, match="optimizer"):
        pretrain_autoencoder(MLPAutoencoder([16, 2]), x, epochs=1, optimizer="rmsprop", progress=False)


def test_param_reader_errors_name_the_parameter_and_the_fix(blobs):
    _, _, g = blobs
    p = ParamReader({"pretrain_epochs": -3}, "dec")
    with pytest.raises(ValueError, match=r"dec\.pretrain_epochs.*parameters_dec\.yml"):
        read_ae_params(p, g)
    with pytest.raises(ValueError, match=r"dekm\.ae = 'conv'.*ae: mlp"):
        read_ae_params(ParamReader({"ae": "conv"}, "dekm"), g)
    with pytest.raises(ValueError, match=r"x\.lr"):
        ParamReader({"lr": "fast"}, "x").float("lr", 0.1)
    with pytest.raises(ValueError, match=r"x\.hidden"):
        ParamReader({"hidden": [10, 0]}, "x").ints("hidden", [1])
    cfg = read_ae_params(ParamReader({"unknown_key": 1, "overrides": {"digits": {}}}, "dec"), g)
    assert cfg["pretrain_epochs"] == 200 and cfg["kind"] == "mlp"
    with pytest.raises(ValueError, match=r"dcn\.tol"):
        read_cluster_params(ParamReader({"tol": 2.0}, "dcn"), optimizer="sgd", lr=1e-4, tol=0.0)
    assert read_cluster_params(ParamReader({}, "dcn"), optimizer="sgd", lr=1e-4, tol=0.0) == {
        "optimizer": "sgd", "lr": 1e-4, "momentum": 0.9, "tol": 0.0, "kmeans_n_init": 10}


def test_epoch_means_weight_by_batch_size():
    acc = EpochMeans()
    acc.add({"loss": torch.tensor(1.0), "rec": 2.0}, 3)
    acc.add({"loss": torch.tensor(5.0), "rec": 2.0}, 1)
    assert acc.means() == {"loss": 2.0, "rec": 2.0}
    assert EpochMeans().means() == {}


def test_resolve_ae_kind():
    img = Geometry(dim=64, channels=1, side=8, patch=2)
    feat = Geometry(dim=60, channels=1, side=8, patch=2)
    small = Geometry(dim=16, channels=1, side=4, patch=2)
    assert is_image_geometry(img) and not is_image_geometry(feat)
    assert resolve_ae_kind("auto", img) == "conv"
    assert resolve_ae_kind("auto", feat) == "mlp"
    assert resolve_ae_kind("auto", small) == "mlp"
    assert resolve_ae_kind("conv", feat) == "conv"
    with pytest.raises(ValueError):
        resolve_ae_kind("transformer", img)


def test_label_change_rate_matches_renumbered_clusters():
    assert label_change_rate([0, 0, 1, 1], [1, 1, 0, 0]) == 1.0
    assert label_change_rate([0, 0, 1, 1], [1, 1, 0, 0], matched=True) == 0.0
    assert label_change_rate([0, 0, 1, 1], [1, 1, 0, 1], matched=True) == 0.25
