"""TAKE's joint phase on tiny synthetic blobs: the centres, a good start, the scale of z, the diagnostics."""

import numpy as np
import pytest
import torch

from deep_kmeans.evaluation.metrics import clustering_scores
from deep_kmeans.methods import take as T
from deep_kmeans.methods.take.diagnostics import matched_agreement

TINY = dict(embed_dim=16, depth=1, heads=2, decoder_depth=1, decoder_heads=2, mlp_ratio=2.0, head_hidden=16, head_out=8,
            latent_dim=4, warmup_epochs=15, update_epochs=0, cluster_epochs=4, batch_size=32, lr=3e-3, checkpoint_every=0,
            kmeans_n_init=5)
# what conf/base runs by default (parameters_take.yml): the joint phase's own settings
DEFAULT_JOINT = dict(knet_scale="unit", knet_centers="mean", knet_target_weight=1.0, lambda3=0.01)


@pytest.fixture(scope="module")
def pretrained(blobs):
    x, y, g = blobs
    cfg = T.TAKEConfig.from_params(TINY)
    state, _ = T.pretrain(x, None, g, cfg, seed=0, device="cpu", progress=False)
    return state


def joint(blobs, pretrained, centers, labels, seed=0, **options):
    x, y, g = blobs
    cfg = T.TAKEConfig.from_params({**TINY, **DEFAULT_JOINT, **options})
    state, history = T.cluster(x, pretrained, centers, g, cfg, seed=seed, device="cpu", progress=False,
                               init_labels=labels, y=y)
    final, z = T.predict(x, state, g, cfg, device="cpu")
    return state, history, final, z, cfg


def true_start(blobs, pretrained):
    """The best possible start: the true labels and the means of z over them."""
    x, y, g = blobs
    z = T.encode(T.load_tae(pretrained, g, T.TAKEConfig.from_params(TINY)), x, device="cpu")
    centers = np.stack([z[y == k].mean(0) for k in range(4)]).astype(np.float32)
    return z, centers, y.copy()


def four_views(x):
    """(N, 4, dim): 2 noisy copies for L_cl, 2 for L_ccl."""
    return np.stack([x + np.float32(0.05) * np.random.default_rng(v).standard_normal(x.shape, dtype=np.float32)
                     for v in range(4)], axis=1)


def deterministic_and_resumed(run, store):
    """``run(**kw)`` → (state, history) of one joint phase: run twice, the same model bit for bit; stopped after an
    epoch and rerun with ``store``, the uninterrupted model. → (the model, its history, the resumed run's)."""
    full, history = run()
    again, _ = run()
    for k, v in full["tae"].items():
        torch.testing.assert_close(again["tae"][k], v, rtol=0, atol=0)
    with pytest.raises(KeyboardInterrupt):
        run(store=store, data_key="d", stop_after=1)
    resumed, resumed_history = run(store=store, data_key="d")
    for k, v in full["tae"].items():
        torch.testing.assert_close(resumed["tae"][k], v, rtol=0, atol=0)
    return full, history, resumed_history


def test_a_perfect_start_is_kept(blobs, pretrained):
    _, centers, labels = true_start(blobs, pretrained)
    _, history, final, _, _ = joint(blobs, pretrained, centers, labels)
    assert clustering_scores(blobs[1], final)["acc"] == 1.0
    assert history["joint/start_agreement"][-1] == pytest.approx(1.0)


def test_the_centres_move_toward_their_cluster_means(blobs, pretrained):
    z0, centers, labels = true_start(blobs, pretrained)
    # start the centres half way to the data's mean: each sits off its cluster's mean
    off = (0.5 * centers + 0.5 * z0.mean(0)).astype(np.float32)
    before = np.linalg.norm(off - centers, axis=1).mean() / np.sqrt(((z0 - z0.mean(0)) ** 2).sum(1).mean())
    state, _, final, z, _ = joint(blobs, pretrained, off, labels)
    M = state["knet"]["M"].numpy().T
    means = np.stack([z[final == k].mean(0) for k in range(4)])
    after = np.linalg.norm(M - means, axis=1).mean() / np.sqrt(((z - z.mean(0)) ** 2).sum(1).mean())
    assert after < 0.1 * before


def test_scaling_z_by_ten_gives_the_same_assignments(blobs, pretrained):
    """KNet and L_k in KNet's units (knet_scale unit) see z / σ: a TAE whose z is 10× larger (its last encoder layer
    scaled up, the decoder's first scaled down: the same reconstructions) clusters the same."""
    _, centers, labels = true_start(blobs, pretrained)
    big = {k: v.clone() for k, v in pretrained["tae"].items()}
    big["to_latent.weight"] *= 10.0
    big["to_latent.bias"] *= 10.0
    big["from_latent.weight"] /= 10.0
    _, _, a, za, _ = joint(blobs, pretrained, centers, labels, knet_target_weight=0.0, lambda3=0.0, cluster_epochs=0)
    _, _, b, zb, _ = joint(blobs, {**pretrained, "tae": big}, centers * 10, labels, knet_target_weight=0.0,
                           lambda3=0.0, cluster_epochs=0)
    np.testing.assert_allclose(zb, 10 * za, rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(a, b)
    # trained: the same partition up to the few rows the optimiser's path moves (Adam's steps are not scale-free)
    _, _, a, _, _ = joint(blobs, pretrained, centers, labels)
    _, _, b, _, _ = joint(blobs, {**pretrained, "tae": big}, centers * 10, labels)
    assert matched_agreement(a, b, 4) >= 0.99


def test_every_epoch_logs_the_diagnostics_and_the_last_is_the_final_model(blobs, pretrained):
    x, y, g = blobs
    cfg = T.TAKEConfig.from_params({**TINY, **DEFAULT_JOINT})
    init = T.kmeans_initialise(x, pretrained, g, cfg, 4, seed=0, device="cpu")
    state, history = T.cluster(x, pretrained, init["start_centers"], g, cfg, seed=0, device="cpu", progress=False,
                               init_labels=init["start_labels"], confidence=init["start_confidence"], y=y)
    for key in ("knet_acc", "knet_nmi", "kmeans_acc", "kmeans_agreement", "nearest_agreement", "start_agreement",
                "center_spread", "z_variance", "center_spread_ratio", "entropy"):
        assert len(history[f"joint/{key}"]) == cfg.cluster_epochs, key
    for key in ("loss", "l_r", "l_k", "l_t", "changed"):
        assert len(history[f"cluster/{key}"]) == cfg.cluster_epochs, key
    assert all(0.0 <= e <= 1.0 for e in history["joint/entropy"])
    final, _ = T.predict(x, state, g, cfg, device="cpu")
    assert history["joint/knet_acc"][-1] == pytest.approx(clustering_scores(y, final)["acc"])


def test_the_labels_are_read_only_to_score(blobs, pretrained):
    """The same run with and without labels: the same model, bit for bit (no choice reads them)."""
    x, y, g = blobs
    cfg = T.TAKEConfig.from_params({**TINY, **DEFAULT_JOINT})
    init = T.kmeans_initialise(x, pretrained, g, cfg, 4, seed=0, device="cpu")
    runs = [T.cluster(x, pretrained, init["start_centers"], g, cfg, seed=0, device="cpu", progress=False,
                      init_labels=init["start_labels"], confidence=init["start_confidence"], y=labels)
            for labels in (y, None)]
    for k, v in runs[0][0]["tae"].items():
        torch.testing.assert_close(v, runs[1][0]["tae"][k], rtol=0, atol=0)
    assert "joint/knet_acc" not in runs[1][1] and "joint/start_agreement" in runs[1][1]


def test_too_few_rows_for_umap_start_from_kmeans_with_a_warning(blobs, pretrained, caplog):
    x, y, g = blobs
    cfg = T.TAKEConfig.from_params({**TINY, **DEFAULT_JOINT, "umap_neighbors": 200})  # more than the 120 rows
    assert cfg.knet_init == "umap_gmm"
    with caplog.at_level("WARNING"):
        init = T.kmeans_initialise(x, pretrained, g, cfg, 4, seed=0, device="cpu")
    assert "too few for KNet's UMAP + GMM start" in caplog.text
    np.testing.assert_array_equal(init["start_labels"], init["labels"])


@pytest.mark.parametrize("options", [{}, {"knet_target": "sharpened"},
                                     {"knet_target": "self", "knet_confidence": 0.5, "knet_view_targets": True},
                                     {"cluster_contrastive": 1.0}],
                         ids=["start", "sharpened", "self-with-views", "contrastive"])
def test_host_syncs_of_the_joint_phase_do_not_grow_with_the_steps(blobs, pretrained, options):
    """The joint loop reads the device once an epoch (the loss sums) plus its end-of-epoch work (σ, M's update,
    the diagnostics, the targets' refresh): 2 steps an epoch or 6, the same count. A read inside the step would
    cost a GPU stall per batch; the self-training anchor and its confident-row weights, the view term, KNet's α
    (the largest eigenvalue, by repeated squaring) and the clipping must all stay on the device."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from syncs import count_host_syncs

    x, y, g = blobs
    z, centers, labels = true_start(blobs, pretrained)
    views = np.stack([x + np.float32(0.05 * v) for v in range(1, 5)], axis=1)  # (N, 4, dim)
    counts = {}
    for batch in (60, 20):  # 120 rows: 2 and 6 steps an epoch
        cfg = T.TAKEConfig.from_params({**TINY, **DEFAULT_JOINT, "batch_size": batch, "cluster_epochs": 2,
                                        "knet_alpha": "auto", "grad_clip": 1.0, **options})
        with count_host_syncs() as syncs:
            T.cluster(x, pretrained, centers, g, cfg, seed=0, device="cpu", progress=False, init_labels=labels,
                      views=views)
        counts[batch] = syncs
    few, many = counts[60], counts[20]
    assert many.total == few.total, f"{many.total - few.total} more syncs with 4 more steps an epoch: {many.where}"
    # the loop's own read of the loss sums: one .tolist() an epoch
    loop = {site: n for site, n in many.where.items() if "methods/take/joint.py" in site and "tolist" in site}
    assert sum(loop.values()) == 2 and few.total > 2, many.where


def test_self_training_targets_by_hand():
    """Centres 0 and 2 on a line, τ = 1, z as it is: q = softmax(−‖z − m_k‖²). DEC's sharpened target
    p ∝ q² / Σ_i q, and the self-labelling targets (argmax q, kept where max q ≥ the threshold), computed by hand."""
    from deep_kmeans.methods.take.joint import self_targets, sharpened_targets
    from deep_kmeans.models.knet import KNet

    knet = KNet(torch.tensor([[0.0, 0.0], [2.0, 0.0]]), scale="none").eval()
    z = torch.tensor([[0.0, 0.0], [1.5, 0.0], [1.0, 0.0]])
    # squared distances to (m0, m1): (0, 4), (2.25, 0.25), (1, 1)
    q = np.array([[1 / (1 + np.exp(-4)), 0.0], [1 / (1 + np.exp(2)), 0.0], [0.5, 0.5]])
    q[:2, 1] = 1 - q[:2, 0]
    p = q ** 2 / q.sum(axis=0)
    p /= p.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(sharpened_targets(z, knet, 1.0).numpy(), p, rtol=1e-5)
    targets, sure = self_targets(z, knet, 1.0, 0.9)
    assert targets.tolist()[:2] == [0, 1]  # the third is a tie
    assert sure.tolist() == [True, False, False]  # max q: 0.982, 0.881, 0.5


def test_self_labelling_gives_back_confidently_wrong_start_rows_that_the_start_target_keeps(blobs, pretrained):
    """The MNIST block's ``knet_target: self``: a start that puts the 10 rows of blob 0 nearest blob 1 in cluster 1
    (ACC 0.917). Trained towards that start, two of them stay in cluster 1; with self-labelling every row's target
    after the first epoch is its own cluster under KNet's classifier, sure to 0.9, and every row comes back."""
    _, y, _ = blobs
    z, centers, labels = true_start(blobs, pretrained)
    blob0 = np.flatnonzero(y == 0)
    labels[blob0[np.argsort(((z[blob0] - centers[1]) ** 2).sum(1))[:10]]] = 1
    assert clustering_scores(y, labels)["acc"] == pytest.approx(110 / 120)
    kept = joint(blobs, pretrained, centers, labels, knet_target="start", knet_confidence=0.9)[2]
    relabelled = joint(blobs, pretrained, centers, labels, knet_target="self", knet_confidence=0.9)[2]
    assert clustering_scores(y, kept)["acc"] == pytest.approx(118 / 120)
    assert clustering_scores(y, relabelled)["acc"] == 1.0


@pytest.mark.parametrize("target", ["sharpened", "self"])
def test_refreshed_targets_with_views_are_deterministic_and_resume_exactly(blobs, pretrained, target, tmp_path):
    """Targets recomputed every epoch (and a view of each row trained towards them) are part of the run's state:
    the same seed gives the same model, and a run stopped after an epoch resumes to the uninterrupted result."""
    from deep_kmeans.io import DirectoryStore

    x, y, g = blobs
    views = four_views(x)
    _, centers, labels = true_start(blobs, pretrained)
    cfg = T.TAKEConfig.from_params({**TINY, **DEFAULT_JOINT, "knet_target": target, "knet_view_targets": True,
                                    "knet_confidence": 0.5, "cluster_epochs": 3, "checkpoint_every": 1})

    def run(**kw):
        return T.cluster(x, pretrained, centers, g, cfg, seed=0, device="cpu", progress=False, init_labels=labels,
                         views=views, **kw)

    full, _, _ = deterministic_and_resumed(run, DirectoryStore(tmp_path / "ckpt"))
    # the views are trained: without them the same options give another model
    cfg_plain = T.TAKEConfig.from_params({**cfg.to_dict(), "knet_view_targets": False})
    plain, _ = T.cluster(x, pretrained, centers, g, cfg_plain, seed=0, device="cpu", progress=False,
                         init_labels=labels, views=views)
    assert any(not torch.equal(plain["tae"][k], v) for k, v in full["tae"].items())


def test_the_contrastive_anchor_adds_the_pretrainings_view_terms_by_hand(blobs, pretrained):
    """cluster_contrastive w: the step's loss is L_r of the rows + λ3 L_k + w (λ1 L_ccl + λ2 L_cl), the view terms
    computed from the rows' and their views' z as the pretraining's update epochs compute them; L_r stays the rows'."""
    from deep_kmeans.methods.take.joint import _ClusterStep
    from deep_kmeans.methods.take.model import build_knet
    from deep_kmeans.models.losses import contrastive_loss, convex_combination_loss, reconstruction_loss
    from deep_kmeans.models.tae import ContrastiveHead

    x, _, g = blobs
    _, centers, _ = true_start(blobs, pretrained)
    cfg = T.TAKEConfig.from_params({**TINY, **DEFAULT_JOINT, "cluster_contrastive": 2.0, "lambda1": 0.3,
                                    "lambda2": 0.7, "knet_target_weight": 0.0})
    tae = T.load_tae(pretrained, g, cfg)
    knet = build_knet(centers, cfg)
    head = ContrastiveHead(cfg.latent_dim, cfg.head_hidden, cfg.head_out)
    head.load_state_dict(pretrained["head"])
    ccl = torch.nn.Parameter(torch.tensor([0.4, -0.2]))
    xb, vb = torch.from_numpy(x[:16]), torch.from_numpy(four_views(x)[:16])
    loss, terms, _ = _ClusterStep(tae, knet, cfg, head, ccl)(xb, vb=vb)
    with torch.no_grad():
        z, rec = tae(xb)
        zv = torch.stack([tae.encode(vb[:, i]) for i in range(4)], dim=1)
        l_r = reconstruction_loss(xb, rec, cfg.reconstruction)
        l_k = knet.loss(z, knet(z))
        c = torch.softmax(ccl, dim=0)  # eq. 3 by hand: ‖c0 z_rot0 + c1 z_rot1 − z‖², over the batch
        l_ccl = ((c[0] * zv[:, 2] + c[1] * zv[:, 3] - z) ** 2).sum(1).mean()
        l_cl = contrastive_loss(head(zv[:, 0]), head(zv[:, 1]), cfg.tau)
    assert l_ccl.item() == pytest.approx(convex_combination_loss(z, zv[:, 2:4], ccl).item(), rel=1e-5)
    l_c = 0.3 * l_ccl + 0.7 * l_cl
    assert terms[4].item() == pytest.approx(l_c.item(), rel=1e-4)
    assert terms[1].item() == pytest.approx(l_r.item(), rel=1e-5)
    assert loss.item() == pytest.approx((l_r + cfg.lambda3 * l_k + 2.0 * l_c).item(), rel=1e-4)


def test_the_contrastive_anchor_trains_on_the_views_deterministically_and_resumes(blobs, pretrained, tmp_path,
                                                                                   caplog):
    """The head and c̃ are part of the run's state: the same seed gives the same model, a run stopped after an epoch
    resumes to the uninterrupted result, l_c is logged every epoch; without views the option says it is off."""
    from deep_kmeans.io import DirectoryStore

    x, y, g = blobs
    views = four_views(x)
    _, centers, labels = true_start(blobs, pretrained)
    cfg = T.TAKEConfig.from_params({**TINY, **DEFAULT_JOINT, "cluster_contrastive": 1.0, "cluster_epochs": 3,
                                    "checkpoint_every": 1})

    def run(c=cfg, v=views, **kw):
        return T.cluster(x, pretrained, centers, g, c, seed=0, device="cpu", progress=False, init_labels=labels,
                         views=v, **kw)

    full, history, resumed_history = deterministic_and_resumed(run, DirectoryStore(tmp_path / "ckpt"))
    assert len(history["cluster/l_c"]) == 3 and all(v > 0 for v in history["cluster/l_c"])
    assert resumed_history["cluster/l_c"] == history["cluster/l_c"]
    off = T.TAKEConfig.from_params({**cfg.to_dict(), "cluster_contrastive": 0.0})
    plain, plain_history = run(off)
    assert "cluster/l_c" not in plain_history
    assert any(not torch.equal(plain["tae"][k], v) for k, v in full["tae"].items())  # the view terms train z
    with caplog.at_level("WARNING"):
        viewless, _ = run(v=None)
    assert "cluster_contrastive = 1: no stored views" in caplog.text
    for k, v in plain["tae"].items():  # without views: the joint phase of cluster_contrastive 0, bit for bit
        torch.testing.assert_close(viewless["tae"][k], v, rtol=0, atol=0)
