"""TAKE's training phases on a tiny real set: determinism, resume, parameter checks."""

import dataclasses
import logging

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

from deep_kmeans.data.registry import geometry_for
from deep_kmeans.io import DirectoryStore
from deep_kmeans.methods import take as T
from deep_kmeans.methods.kit import run_key

TINY = dict(embed_dim=16, depth=1, heads=2, decoder_depth=1, decoder_heads=2, mlp_ratio=2.0, head_hidden=16,
            head_out=8, warmup_epochs=2, update_epochs=2, cluster_epochs=3, batch_size=64, lambda1=0.1,
            lambda2=0.1, lambda3=0.1, checkpoint_every=1)


@pytest.fixture(scope="module")
def digits():
    d = load_digits()
    rng = np.random.default_rng(0)
    idx = np.sort(rng.choice(len(d.target), 240, replace=False))
    x = (d.images[idx] / 16).reshape(len(idx), -1).astype(np.float32)
    views = np.stack([np.roll(x, s, axis=1) for s in (1, -1, 8, -8)], axis=1)  # cheap stand-in views
    return x, views, d.target[idx], geometry_for("digits", 64)


def run_all(x, views, g, cfg, seed, store=None):
    pre, _ = T.pretrain(x, views, g, cfg, seed, "cpu", False, store=store, data_key="d")
    init = T.kmeans_initialise(x, pre, g, cfg, 10, seed, "cpu")
    state, hist = T.cluster(x, pre, init["centers"], g, cfg, seed, "cpu", False, store=store, data_key="d")
    return T.predict(x, state, g, cfg, "cpu")[0], state, hist


@pytest.mark.slow
def test_same_seed_same_assignments_different_seed_differs(digits):
    x, views, _, g = digits
    cfg = T.TAKEConfig.from_params(TINY)
    a, _, hist = run_all(x, views, g, cfg, seed=3)
    b, _, _ = run_all(x, views, g, cfg, seed=3)
    c, _, _ = run_all(x, views, g, cfg, seed=4)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    # the first epoch compares with the initial assignment, not with "nothing assigned yet"
    assert len(hist["cluster/l_k"]) == 3 and 0.0 <= hist["cluster/changed"][0] < 1.0


def test_refit_centers_are_the_centroids_of_the_final_z(digits):
    x, views, _, g = digits
    cfg = T.TAKEConfig.from_params({**TINY, "knet_centers": "refit"})
    _, state, hist = run_all(x, views, g, cfg, seed=3)
    z = T.encode(T.load_tae(state, g, cfg), x)
    M = state["knet"]["M"].numpy()  # (d, K), after the last epoch's Lloyd refit
    nearest = ((z[:, None, :] - M.T[None]) ** 2).sum(-1).argmin(1)
    for k in np.unique(nearest):
        np.testing.assert_allclose(M[:, k], z[nearest == k].mean(0), atol=1e-3)


@pytest.mark.slow
def test_pretrain_history_has_every_term(digits):
    x, views, _, g = digits
    _, hist = T.pretrain(x, views, g, T.TAKEConfig.from_params(TINY), 0, "cpu", False)
    assert len(hist["pretrain/l_r"]) == 4
    assert hist["pretrain/l_cl"][:2] == [None, None] and None not in hist["pretrain/l_cl"][2:]  # warm-up: L_r only
    _, hist = T.pretrain(x, None, g, T.TAKEConfig.from_params(TINY), 0, "cpu", False)
    assert set(hist) == {"pretrain/loss", "pretrain/l_r"}  # no views: L_r only


@pytest.mark.slow
def test_resume_after_interruption_gives_the_uninterrupted_result(digits, tmp_path, caplog):
    x, views, _, g = digits
    cfg = T.TAKEConfig.from_params(TINY)
    store = DirectoryStore(tmp_path / "ckpt")
    full, full_hist = T.pretrain(x, views, g, cfg, 0, "cpu", False, store=store, data_key="d")
    assert store.keys() == []  # a finished phase leaves no checkpoint behind
    with pytest.raises(KeyboardInterrupt):
        T.pretrain(x, views, g, cfg, 0, "cpu", False, store=store, data_key="d", stop_after=3)
    assert len(store.keys()) == 1
    resumed, hist = T.pretrain(x, views, g, cfg, 0, "cpu", False, store=store, data_key="d")
    for k in full["tae"]:
        torch.testing.assert_close(resumed["tae"][k], full["tae"][k])
    assert hist == full_hist
    assert store.keys() == []

    init = T.kmeans_initialise(x, full, g, cfg, 10, 0, "cpu")
    done, _ = T.cluster(x, full, init["centers"], g, cfg, 0, "cpu", False, store=store, data_key="d")
    with pytest.raises(KeyboardInterrupt):
        T.cluster(x, full, init["centers"], g, cfg, 0, "cpu", False, store=store, data_key="d", stop_after=1)
    with caplog.at_level(logging.INFO, logger="deep_kmeans.methods.take.joint"):
        again, _ = T.cluster(x, full, init["centers"], g, cfg, 0, "cpu", False, store=store, data_key="d")
    torch.testing.assert_close(again["knet"]["M"], done["knet"]["M"])
    assert f"the joint phase resumes from its checkpoint after epoch 1 of {cfg.cluster_epochs}" in caplog.text


def test_a_kept_final_pretraining_is_returned_without_training_until_cleared(digits, tmp_path, monkeypatch):
    """keep_final: a run cut off after pretraining (in K-means or the joint phase) reruns without pretraining
    again, and gets what the pretraining gave, bit for bit."""
    import sys

    pretrain_module = sys.modules["deep_kmeans.methods.take.pretrain"]  # the package's `pretrain` is the function
    x, views, _, g = digits
    cfg = T.TAKEConfig.from_params({**TINY, "cluster_epochs": 0})
    store = DirectoryStore(tmp_path / "ckpt")
    full, full_hist = T.pretrain(x, views, g, cfg, 0, "cpu", False, store=store, data_key="d", keep_final=True)
    ckpt = T.pretrain_checkpointer(x, views, cfg, 0, store, "d")
    assert store.keys() == [ckpt.key] and ckpt.saved_epoch() == 4
    monkeypatch.setattr(pretrain_module, "_epoch", lambda *a, **kw: pytest.fail("trained again"))
    again, hist = T.pretrain(x, views, g, cfg, 0, "cpu", False, store=store, data_key="d", keep_final=True)
    for k in full["tae"]:
        torch.testing.assert_close(again["tae"][k], full["tae"][k], rtol=0, atol=0)
    assert hist == full_hist
    ckpt.clear()
    assert store.keys() == [] and ckpt.saved_epoch() == 0


@pytest.mark.parametrize("params,match", [
    ({"knet_lambda": 1.5}, r"\[0, 1\]"),
    ({"knet_lambda": -0.1}, r"\[0, 1\]"),
    ({"batch_size": 1}, "batch_size"),
    ({"warmup_epochs": -1}, "warmup_epochs"),
    ({"reconstruction": "l1"}, "cosine"),
    ({"knet_centers": "fixed"}, "knet_centers"),
    ({"assignment": "gmm"}, "knet"),
    ({"knet_alpha": "fast"}, "knet_alpha"),
    ({"embed_dim": 30, "heads": 4}, "divisible"),
    ({"learning_rate": 0.1}, "unknown take parameter"),
    ({"knet_iters": 0}, "knet_iters"),
    ({"lr": "fast"}, r"take.lr = .fast. is invalid: expected a number > 0"),
    ({"warmup_epochs": 2.5}, "warmup_epochs = 2.5 is invalid: expected an integer"),
])
def test_bad_parameters_are_clear_errors(params, match):
    with pytest.raises(ValueError, match=match):
        T.TAKEConfig.from_params(params)


def test_bad_inputs_fail_before_training(digits):
    x, views, _, g = digits
    cfg = T.TAKEConfig.from_params(TINY)
    bad = x.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        T.pretrain(bad, None, g, cfg, 0, "cpu", False)
    with pytest.raises(ValueError, match="features but the geometry"):
        T.pretrain(x[:, :60], None, g, cfg, 0, "cpu", False)
    with pytest.raises(ValueError, match="views must have shape"):
        T.pretrain(x, views[:, :2], g, cfg, 0, "cpu", False)
    pre, _ = T.pretrain(x, None, g, T.TAKEConfig.from_params({**TINY, "warmup_epochs": 0, "update_epochs": 0}),
                        0, "cpu", False)
    with pytest.raises(ValueError, match="at least 2"):
        T.kmeans_initialise(x, pre, g, cfg, 1, 0, "cpu")
    with pytest.raises(ValueError, match="larger than the number of samples"):
        T.kmeans_initialise(x[:5], pre, g, cfg, 6, 0, "cpu")


def digits_features(x, views):
    return {"name": "digits", "extractor": "pixels", "x": x, "views": views,
            "geometry": {"dim": 64, "channels": 1, "side": 8, "patch": 2}}


@pytest.mark.slow
def test_fresh_views_are_seeded_resumable_and_change_training(digits, tmp_path):
    x, views, _, g = digits
    cfg = T.TAKEConfig.from_params({**TINY, "fresh_views": True})
    augment = T.view_augmenter(digits_features(x, views), cfg, {"crop_scale": [0.6, 1.0], "max_rotation": 15.0})
    xb = torch.from_numpy(x[:5])
    gen = torch.Generator().manual_seed(0)
    v = augment(xb, gen)
    assert v.shape == (5, 4, 64) and 0.0 <= float(v.min()) and float(v.max()) <= 1.0
    assert not torch.equal(augment(xb, gen), v)  # new views at every call

    store = DirectoryStore(tmp_path / "ckpt")
    full, full_hist = T.pretrain(x, views, g, cfg, 0, "cpu", False, store=store, data_key="d", augment=augment)
    again, _ = T.pretrain(x, views, g, cfg, 0, "cpu", False, augment=augment)
    static, static_hist = T.pretrain(x, views, g, cfg, 0, "cpu", False)
    for k in full["tae"]:
        torch.testing.assert_close(again["tae"][k], full["tae"][k])  # same seed, same fresh views
    assert full_hist["pretrain/l_cl"][2:] != static_hist["pretrain/l_cl"][2:]  # not the stored views
    # an interrupted run resumes with the generator where it stopped: the uninterrupted result
    with pytest.raises(KeyboardInterrupt):
        T.pretrain(x, views, g, cfg, 0, "cpu", False, store=store, data_key="d", stop_after=3, augment=augment)
    resumed, hist = T.pretrain(x, views, g, cfg, 0, "cpu", False, store=store, data_key="d", augment=augment)
    for k in full["tae"]:
        torch.testing.assert_close(resumed["tae"][k], full["tae"][k])
    assert hist == full_hist


def test_fresh_views_fall_back_to_stored_views_off_pixels(digits, caplog):
    x, views, _, _ = digits
    features = {**digits_features(x, views), "name": "agnews", "extractor": "minilm"}
    cfg = T.TAKEConfig.from_params({**TINY, "fresh_views": True})
    with caplog.at_level("WARNING", logger="deep_kmeans.methods.take"):
        assert T.view_augmenter(features, cfg) is None
    assert "pixel data sets" in caplog.text and "agnews" in caplog.text
    assert T.view_augmenter({**digits_features(x, None)}, cfg) is None  # views disabled: none are made up
    # off, or no update phase to use them: nothing to draw
    assert T.view_augmenter(digits_features(x, views), T.TAKEConfig.from_params(TINY)) is None
    assert T.view_augmenter(digits_features(x, views), T.TAKEConfig.from_params(
        {**TINY, "fresh_views": True, "update_epochs": 0})) is None


def test_compile_option_compiles_the_tae_in_place(monkeypatch):
    # torch.compile itself costs ~30 s on CPU; what is ours to test is that the option reaches the module
    # and leaves its state_dict keys (what checkpoints and saved models hold) unchanged.
    compiled = []
    monkeypatch.setattr(torch.nn.Module, "compile", lambda self, *a, **k: compiled.append(type(self).__name__))
    g = geometry_for("digits", 64)
    eager = T.build_tae(g, T.TAKEConfig.from_params(TINY))
    assert compiled == []
    tae = T.build_tae(g, T.TAKEConfig.from_params({**TINY, "compile": True}))
    assert compiled == ["TransformerAutoencoder"]
    assert tae.state_dict().keys() == eager.state_dict().keys()


@pytest.mark.slow
def test_joint_phase_keeps_its_start_and_beats_kmeans_on_z(digits):
    """The default joint phase (KNet from UMAP + GMM on z, self-training on that start, M = its clusters' means):
    the final assignment keeps the start's score (the rule: at most 0.005 below) and ends above K-means on z."""
    from deep_kmeans.evaluation.metrics import cluster_accuracy

    x, _, y, g = digits
    cfg = T.TAKEConfig.from_params({**TINY, "warmup_epochs": 15, "update_epochs": 0, "cluster_epochs": 6,
                                    "lambda3": 0.01, "kmeans_n_init": 5, "umap_neighbors": 10})
    pre, _ = T.pretrain(x, None, g, cfg, 0, "cpu", False)
    init = T.kmeans_initialise(x, pre, g, cfg, 10, 0, "cpu")
    state, hist = T.cluster(x, pre, init["start_centers"], g, cfg, 0, "cpu", False,
                            init_labels=init["start_labels"], confidence=init["start_confidence"])
    final = T.predict(x, state, g, cfg, "cpu")[0]
    start, kmeans = cluster_accuracy(y, init["start_labels"]), cluster_accuracy(y, init["labels"])
    assert cluster_accuracy(y, final) >= start - 0.005 and cluster_accuracy(y, final) > kmeans, (
        kmeans, start, cluster_accuracy(y, final))
    assert len(hist["joint/start_agreement"]) == 6


def test_knet_init_umap_gmm_starts_knet_from_the_heads_clusters(digits):
    """knet_init: umap_gmm: KNet starts from N2D's head on z (its labels, and M = the mean of z over each of its
    clusters), while K-means on z stays the logged initialisation; the same seed gives the same start."""
    from deep_kmeans.methods.kit import kmeans_init

    x, _, _, g = digits
    cfg = T.TAKEConfig.from_params({**TINY, "warmup_epochs": 3, "update_epochs": 0, "cluster_epochs": 2,
                                    "knet_init": "umap_gmm", "umap_neighbors": 10, "knet_centers": "refit"})
    pre, _ = T.pretrain(x, None, g, cfg, 0, "cpu", False)
    init = T.kmeans_initialise(x, pre, g, cfg, 10, 0, "cpu")
    head = T.fit_head(init["z"], cfg, 10, 0, False)
    np.testing.assert_array_equal(init["start_labels"], head["labels"])
    for k in np.unique(head["labels"]):
        np.testing.assert_allclose(init["start_centers"][k], init["z"][head["labels"] == k].mean(0), rtol=1e-5)
    _, km_labels, _ = kmeans_init(init["z"], 10, seed=0, n_init=cfg.kmeans_n_init)
    np.testing.assert_array_equal(init["labels"], km_labels)
    again = T.kmeans_initialise(x, pre, g, cfg, 10, 0, "cpu")
    np.testing.assert_array_equal(again["start_labels"], init["start_labels"])
    # the paper's start (and any other head than KNet) leaves the start at K-means'
    plain = T.kmeans_initialise(x, pre, g, T.dataclasses.replace(cfg, knet_init="kmeans"), 10, 0, "cpu")
    assert plain["start_labels"] is plain["labels"] and plain["start_centers"] is plain["centers"]
    # the joint phase starts there: its first epoch's change is counted against the labels it is given (the
    # head's), not against K-means' or a relabelling of them (which read 1.0 before); the same seed trains the
    # same way whatever the count starts from, so a shifted labelling must count more changes
    # (without self-training on the start's labels, which would learn the shifted labelling instead)
    plain_joint = T.dataclasses.replace(cfg, knet_target_weight=0.0)
    _, hist = T.cluster(x, pre, init["start_centers"], g, plain_joint, 0, "cpu", False,
                        init_labels=init["start_labels"])
    shifted = (init["start_labels"] + 1) % 10
    _, other = T.cluster(x, pre, init["start_centers"], g, plain_joint, 0, "cpu", False, init_labels=shifted)
    assert hist["cluster/l_k"] == other["cluster/l_k"]
    assert 0.0 <= hist["cluster/changed"][0] < other["cluster/changed"][0] <= 1.0
    assert hist["cluster/changed"][0] + other["cluster/changed"][0] >= 1.0  # no sample keeps both labels


def test_knet_init_input_starts_knet_from_the_head_on_the_input_rows(digits):
    """knet_init: input: the head is fitted on the input rows (flattened), not on z; M is the mean of z over each
    of its clusters; K-means on z stays the logged initialisation; the same seed gives the same start."""
    x, _, _, g = digits
    cfg = T.TAKEConfig.from_params({**TINY, "warmup_epochs": 2, "update_epochs": 0, "cluster_epochs": 1,
                                    "knet_init": "input", "umap_neighbors": 10})
    pre, _ = T.pretrain(x, None, g, cfg, 0, "cpu", False)
    init = T.kmeans_initialise(x, pre, g, cfg, 10, 0, "cpu")
    head = T.fit_head(x.reshape(len(x), -1), cfg, 10, 0, False)
    np.testing.assert_array_equal(init["start_labels"], head["labels"])
    assert not np.array_equal(init["start_labels"], T.fit_head(init["z"], cfg, 10, 0, False)["labels"])
    for k in np.unique(head["labels"]):
        np.testing.assert_allclose(init["start_centers"][k], init["z"][head["labels"] == k].mean(0), rtol=1e-5)
    plain = T.kmeans_initialise(x, pre, g, T.dataclasses.replace(cfg, knet_init="kmeans"), 10, 0, "cpu")
    np.testing.assert_array_equal(init["labels"], plain["labels"])
    np.testing.assert_array_equal(T.kmeans_initialise(x, pre, g, cfg, 10, 0, "cpu")["start_labels"],
                                  init["start_labels"])


def test_head_start_keeps_the_kmeans_centre_of_a_cluster_the_head_leaves_empty(monkeypatch):
    z = np.array([[0.0, 0.0], [0.0, 2.0], [4.0, 0.0], [4.0, 2.0]], np.float32)
    kmeans_centers = np.array([[9.0, 9.0], [8.0, 8.0], [7.0, 7.0]], np.float32)
    monkeypatch.setattr("deep_kmeans.methods.take.joint.fit_head", lambda *a, **k: {"labels": np.array([0, 0, 2, 2])})
    centers, labels = T.head_start(z, T.TAKEConfig(), kmeans_centers)
    np.testing.assert_array_equal(labels, [0, 0, 2, 2])
    np.testing.assert_allclose(centers, [[0.0, 1.0], [8.0, 8.0], [4.0, 1.0]])


def test_every_option_is_placed_in_or_out_of_the_checkpoint_keys():
    placed = T.PRETRAIN_KEYS + T.CLUSTER_TRAINING_KEYS + T.NOT_TRAINING_KEYS
    assert sorted(placed) == sorted(f.name for f in T.dataclasses.fields(T.TAKEConfig))
    assert len(set(placed)) == len(placed)


def test_an_option_added_later_leaves_the_key_of_a_training_without_it_as_it_was():
    """A joint phase checkpointed before take.cluster_contrastive existed still resumes: the key of the defaults is
    the one that code wrote (take-cluster-309eda0e6313c688, computed at commit 51d3a41); set, the option is keyed."""
    def key(cfg):
        return run_key("take-cluster", cfg.training_options("cluster"), "fp", 0, "d1", "d2", "d3")

    assert key(T.TAKEConfig()) == "take-cluster-309eda0e6313c688"
    assert "cluster_contrastive" not in T.TAKEConfig().training_options("cluster")
    assert T.TAKEConfig(cluster_contrastive=0.5).training_options("cluster")["cluster_contrastive"] == 0.5
    assert key(T.TAKEConfig(cluster_contrastive=0.5)) != key(T.TAKEConfig())


@pytest.mark.parametrize("options, reads", [({}, False), ({"knet_view_targets": True}, True),
                                             ({"cluster_contrastive": 0.5}, True),
                                             ({"cluster_contrastive": 0.0, "knet_view_targets": False}, False)])
def test_the_joint_phase_reads_stored_views_only_for_the_options_that_train_on_them(options, reads):
    assert T.TAKEConfig(**options).uses_stored_views is reads


def pretrained_and_interrupted(digits, cfg, tmp_path):
    """An uninterrupted pretraining (state, history), and a store holding the checkpoint of the same
    pretraining interrupted after 3 epochs."""
    x, views, _, g = digits
    store = DirectoryStore(tmp_path / "ckpt")
    full, full_hist = T.pretrain(x, views, g, cfg, 0, "cpu", False)
    with pytest.raises(KeyboardInterrupt):
        T.pretrain(x, views, g, cfg, 0, "cpu", False, store=store, data_key="d", stop_after=3)
    return full, full_hist, store


def test_resume_survives_options_that_do_not_change_the_training(digits, tmp_path, caplog):
    x, views, _, g = digits
    cfg = T.TAKEConfig.from_params(TINY)
    full, full_hist, store = pretrained_and_interrupted(digits, cfg, tmp_path)
    # scoring, prediction and checkpointing options change between the interrupted run and its rerun
    other = T.TAKEConfig.from_params({**TINY, "predict_batch_size": 7, "baseline_kmeans": False,
                                      "kmeans_n_init": 1, "umap_neighbors": 5, "checkpoint_every": 2,
                                      "assignment": "kmeans"})
    with caplog.at_level("INFO", logger="deep_kmeans.methods.kit"):
        resumed, hist = T.pretrain(x, views, g, other, 0, "cpu", False, store=store, data_key="d")
    assert "Resuming take-pretrain" in caplog.text
    for k in full["tae"]:
        torch.testing.assert_close(resumed["tae"][k], full["tae"][k], rtol=0, atol=0)
    assert hist == full_hist and store.keys() == []  # finished: its checkpoint is removed

    # the clustering phase: same, and its key follows the pretrained model and the centres
    init = T.kmeans_initialise(x, full, g, cfg, 10, 0, "cpu")
    done, done_hist = T.cluster(x, full, init["centers"], g, cfg, 0, "cpu", False)
    with pytest.raises(KeyboardInterrupt):
        T.cluster(x, full, init["centers"], g, cfg, 0, "cpu", False, store=store, data_key="d", stop_after=1)
    caplog.clear()
    with caplog.at_level("INFO", logger="deep_kmeans.methods.kit"):
        again, again_hist = T.cluster(x, full, init["centers"], g, T.TAKEConfig.from_params(
            {**TINY, "predict_batch_size": 5, "baseline_kmeans": False}), 0, "cpu", False, store=store, data_key="d")
    assert "Resuming take-cluster" in caplog.text
    torch.testing.assert_close(again["knet"]["M"], done["knet"]["M"], rtol=0, atol=0)
    assert again_hist == done_hist and store.keys() == []


def test_an_option_that_changes_the_training_changes_the_key(digits, tmp_path, caplog):
    x, views, _, g = digits
    cfg = T.TAKEConfig.from_params(TINY)
    store = DirectoryStore(tmp_path / "ckpt")
    with pytest.raises(KeyboardInterrupt):
        T.pretrain(x, views, g, cfg, 0, "cpu", False, store=store, data_key="d", stop_after=1)
    (stale,) = store.keys()
    for changed in ({"lr": 2e-3}, {"batch_size": 32}):
        with pytest.raises(KeyboardInterrupt):
            T.pretrain(x, views, g, T.TAKEConfig.from_params({**TINY, **changed}), 0, "cpu", False, store=store,
                       data_key="d", stop_after=1)
    with pytest.raises(KeyboardInterrupt):  # other training rows, same shape
        T.pretrain(x[::-1].copy(), views, g, cfg, 0, "cpu", False, store=store, data_key="d", stop_after=1)
    assert len(store.keys()) == 4 and stale in store.keys()


class _Planted:
    """A pickle that runs a shell command when unpickled."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        import os

        return os.system, (f"touch {self.marker}",)


@pytest.mark.parametrize("damage", ["planted", "truncated"])
def test_a_bad_checkpoint_is_named_discarded_and_the_phase_restarts(digits, tmp_path, caplog, damage):
    import pickle

    x, views, _, g = digits
    cfg = T.TAKEConfig.from_params(TINY)
    full, full_hist, store = pretrained_and_interrupted(digits, cfg, tmp_path)
    (key,) = store.keys()
    path = store.path / f"{key}.pt"
    marker = tmp_path / "owned"
    if damage == "planted":
        path.write_bytes(pickle.dumps(_Planted(marker)))
    else:
        path.write_bytes(path.read_bytes()[:-200])
    with caplog.at_level("WARNING", logger="deep_kmeans.store"):
        again, hist = T.pretrain(x, views, g, cfg, 0, "cpu", False, store=store, data_key="d")
    assert not marker.exists()
    assert str(path) in caplog.text and "Discarding" in caplog.text
    for k in full["tae"]:  # started from scratch: the uninterrupted result
        torch.testing.assert_close(again["tae"][k], full["tae"][k], rtol=0, atol=0)
    assert hist == full_hist and store.keys() == []


def test_the_epochs_are_sized_to_the_data_by_the_sample_budget(caplog):
    """take.sample_budget (your own data: 300,000): rows × epochs × max(1, patches / 16) at most, epochs scaled
    down in proportion, at least 1 per phase that has any; nothing changes for data that fits."""
    import logging

    from deep_kmeans.data.registry import Geometry
    from deep_kmeans.pipelines.take.nodes import resolve_take_config

    cfg = T.TAKEConfig.from_params({"warmup_epochs": 40, "update_epochs": 10, "cluster_epochs": 10,
                                    "sample_budget": 300_000})
    small = Geometry(dim=20, channels=1, side=8, patch=2)  # 16 patches: a 20-column table
    assert T.sized_for_data(cfg, 600, small) == (cfg, None)  # 600 × 60 = 36,000: as given
    sized, note = T.sized_for_data(cfg, 50_000, small)  # 3,000,000 → factor 0.1
    assert (sized.warmup_epochs, sized.update_epochs, sized.cluster_epochs) == (4, 1, 1)
    assert "50,000 rows" in note and "4/1/1" in note
    wide = Geometry(dim=784, channels=1, side=28, patch=4)  # 49 patches count 49/16 per row
    sized, _ = T.sized_for_data(cfg, 5_000, wide)  # 5,000 × 3.0625 × 60 = 918,750 → factor 0.3265
    assert (sized.warmup_epochs, sized.update_epochs, sized.cluster_epochs) == (13, 3, 3)
    assert T.sized_for_data(T.TAKEConfig.from_params({"sample_budget": None}), 10**6, small)[1] is None
    no_update = T.TAKEConfig.from_params({"warmup_epochs": 40, "update_epochs": 0, "cluster_epochs": 10,
                                          "sample_budget": 10})
    assert T.sized_for_data(no_update, 1000, small)[0].update_epochs == 0  # a phase left out stays out
    # the node applies it, before any training, and says so
    features = {"name": "custom", "x": np.random.default_rng(0).normal(size=(50_000, 20)).astype(np.float32), "y": None,
                "geometry": small.to_dict()}
    params = {"overrides": {"custom": {"warmup_epochs": 40, "update_epochs": 10, "cluster_epochs": 10,
                                       "sample_budget": 300_000}}}
    with caplog.at_level(logging.INFO):
        config = resolve_take_config(params, features, 5, 0)
    assert (config["config"]["warmup_epochs"], config["config"]["cluster_epochs"]) == (4, 1)
    assert "sample_budget=300,000" in caplog.text


def test_tiny_data_get_enough_clustering_steps():
    """take.min_cluster_steps (your own data: 150, the steps digits' 10 epochs make): 150 rows in batches of 128 are
    2 steps an epoch, so 10 clustering epochs become 75; digits' 1,797 rows (15 steps an epoch) keep their 10."""
    from deep_kmeans.data.registry import Geometry

    small = Geometry(dim=4, channels=1, side=4, patch=1)
    cfg = T.TAKEConfig.from_params({"warmup_epochs": 30, "update_epochs": 45, "cluster_epochs": 10, "batch_size": 128,
                                    "sample_budget": 300_000, "min_cluster_steps": 150})
    sized, note = T.sized_for_data(cfg, 150, small)
    assert (sized.warmup_epochs, sized.update_epochs, sized.cluster_epochs) == (30, 45, 75)
    assert "150 rows make 2 batches of 128" in note and "75 clustering epochs, not 10" in note
    assert T.sized_for_data(cfg, 1_797, small) == (cfg, None)
    assert T.sized_for_data(cfg, 100, small)[0].cluster_epochs == 150  # one batch an epoch
    # both rules at once: a budget cut to 1 clustering epoch of 3 steps, then raised to 50 epochs
    both, note = T.sized_for_data(dataclasses.replace(cfg, sample_budget=1_000), 300, small)
    assert (both.warmup_epochs, both.update_epochs, both.cluster_epochs) == (1, 2, 50) and "; " in note
    unset = dataclasses.replace(cfg, min_cluster_steps=None)
    assert T.sized_for_data(unset, 150, small) == (unset, None)
    no_cluster = dataclasses.replace(cfg, cluster_epochs=0)
    assert T.sized_for_data(no_cluster, 150, small)[0].cluster_epochs == 0  # a phase left out stays out


def test_the_clustering_stage_trains_the_epochs_sized_to_the_data():
    """The clustering stage rebuilds its config from params:take (cluster_config): its clustering epochs are sized
    as the pretraining's were, by the budget (50,000 rows: 1, not 10) and by min_cluster_steps (150 rows: 75)."""
    from deep_kmeans.data.registry import Geometry
    from deep_kmeans.pipelines.take.nodes import cluster_config, resolve_take_config

    small = Geometry(dim=20, channels=1, side=8, patch=2)
    params = {"overrides": {"custom": {"warmup_epochs": 30, "update_epochs": 45, "cluster_epochs": 10,
                                       "batch_size": 128, "sample_budget": 300_000, "min_cluster_steps": 150}}}
    for rows, epochs in ((50_000, (2, 3, 1)), (150, (30, 45, 75))):
        x = np.random.default_rng(0).normal(size=(rows, 20)).astype(np.float32)
        features = {"name": "custom", "x": x, "y": None, "geometry": small.to_dict()}
        config = resolve_take_config(params, features, 5, 0)
        pretrained = {"config": config["config"], "dataset": "custom", "train_rows": config["train_rows"],
                      "geometry": small.to_dict()}
        clustering = cluster_config(pretrained, params)
        assert tuple(clustering[k] for k in ("warmup_epochs", "update_epochs", "cluster_epochs")) == epochs
        assert clustering == config["config"]


@pytest.mark.parametrize("kind, knet_init, started", [
    ("text", "auto", "kmeans"), ("tfidf", "auto", "kmeans"),      # auto on text: K-means on z
    ("text", "umap_gmm", "umap_gmm"), ("text", "input", "input"),  # a start given by name stays
    ("vector", "auto", "auto"), ("gray", "auto", "auto"), (None, "auto", "auto"),  # other data: auto decides per run
])
def test_auto_on_text_starts_from_kmeans_on_z(kind, knet_init, started):
    cfg = T.TAKEConfig(knet_init=knet_init)
    chosen, note = T.start_for_data(cfg, kind)
    assert chosen == dataclasses.replace(cfg, knet_init=started)
    assert (note is not None) == (started != knet_init)
    if note:
        assert "knet_init auto on text" in note and "take.knet_init=umap_gmm" in note


def test_your_own_text_starts_from_kmeans_in_both_stages(caplog):
    """The Kedro route: the pretraining's config and the clustering stage's (cluster_config, rebuilt from params:take)
    both start your own text from K-means on z, and say so; a table keeps auto. The pretrained record carries the kind
    of data to the clustering stage."""
    import logging

    from deep_kmeans.data.registry import Geometry
    from deep_kmeans.pipelines.take.nodes import cluster_config, resolve_take_config

    small = Geometry(dim=20, channels=1, side=8, patch=2)
    params = {"overrides": {"custom": {"knet_init": "auto"}}}
    x = np.random.default_rng(0).normal(size=(100, 20)).astype(np.float32)
    for kind, start in (("text", "kmeans"), ("vector", "auto")):
        features = {"name": "custom", "x": x, "y": None, "geometry": small.to_dict(), "preprocess": {"kind": kind}}
        caplog.clear()
        with caplog.at_level(logging.INFO):
            config = resolve_take_config(params, features, 5, 0)
            pretrained = {"config": config["config"], "dataset": "custom", "train_rows": config["train_rows"],
                          "geometry": small.to_dict(), "data_kind": kind}
            clustering = cluster_config(pretrained, params)
        assert config["config"]["knet_init"] == clustering["knet_init"] == start
        assert caplog.text.count("knet_init auto on text") == (2 if kind == "text" else 0)


@pytest.mark.parametrize("found_again", [True, False], ids=["the head finds its partition again", "it does not"])
def test_knet_init_auto_starts_from_the_head_only_where_another_seed_finds_the_same_partition(monkeypatch, caplog,
                                                                                             found_again):
    """knet_init: auto: UMAP + GMM on z where a second fit (the next seed) agrees with the first (ARI ≥
    START_AGREEMENT), else K-means on z; the statistic is returned (and logged as a metric), no label is read."""
    import logging

    from deep_kmeans.methods.take import joint

    rng = np.random.default_rng(0)
    z = np.concatenate([rng.normal(c, 0.1, (20, 2)) for c in (0.0, 3.0, 6.0)]).astype(np.float32)
    cut = np.arange(60) % 3  # a partition K-means on z would never make: tells the two starts apart

    def fit_head(z, cfg, n_clusters, seed, progress):
        return {"labels": cut if found_again or seed == 0 else np.arange(60) // 20}

    monkeypatch.setattr(joint, "fit_head", fit_head)
    monkeypatch.setattr(joint, "encode", lambda *a, **k: z)
    monkeypatch.setattr(joint, "load_tae", lambda *a, **k: None)
    cfg = T.TAKEConfig(knet_init="auto", umap_neighbors=10, kmeans_n_init=1)
    with caplog.at_level(logging.INFO, logger=joint.logger.name):
        init = T.kmeans_initialise(np.zeros((60, 4), np.float32), {}, None, cfg, 3, seed=0, device="cpu")
    if found_again:
        assert init["start_agreement"] == pytest.approx(1.0)
        np.testing.assert_array_equal(init["start_labels"], cut)
        assert "KNet starts from UMAP + GMM on z" in caplog.text
    else:
        assert init["start_agreement"] < joint.START_AGREEMENT
        assert init["start_labels"] is init["labels"] and init["start_centers"] is init["centers"]
        assert "KNet starts from K-means on z" in caplog.text
    # the other starts compute no agreement
    plain = T.kmeans_initialise(np.zeros((60, 4), np.float32), {}, None, dataclasses.replace(cfg, knet_init="umap_gmm"),
                                3, seed=0, device="cpu")
    assert plain["start_agreement"] is None
