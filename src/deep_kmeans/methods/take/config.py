"""TAKE's configuration: every hyperparameter, what each allows, and what each phase's checkpoint key hashes."""

from __future__ import annotations

import dataclasses
import logging
import math
from dataclasses import dataclass

from deep_kmeans.data.registry import Geometry
from deep_kmeans.methods.kit import ParamReader
from deep_kmeans.models.knet import MOMENTA, OUTPUTS, SCALES

CENTER_UPDATES = ("learn", "refit", "mean")

logger = logging.getLogger(__name__)


@dataclass
class TAKEConfig:
    """Every hyperparameter of TAKE. The TAE, losses and schedule default to the paper's MNIST settings (take.md);
    KNet and the joint phase to ours (the `paper` preset holds the paper's readings)."""

    # TAE (3.1.1)
    embed_dim: int = 128
    latent_dim: int = 10
    depth: int = 8
    heads: int = 8
    decoder_depth: int = 2
    decoder_heads: int = 2
    mlp_ratio: float = 4.0
    dropout: float = 0.0  # in attention and the MLPs of every block (the paper uses none)
    head_hidden: int = 256
    head_out: int = 128
    # Schedule (4.1)
    warmup_epochs: int = 150
    update_epochs: int = 50
    cluster_epochs: int = 50
    # Sizing for data of any size (your own data): at most this many rows × epochs, all phases together, for
    # a 16-patch input (wider inputs, more patches, count more per row). A larger data set gets
    # proportionally fewer epochs (never fewer than 1 per phase, never more than given). None: as given.
    sample_budget: int | None = None
    # ... and at the other end: at least this many clustering steps (batches), for data so small that its clustering
    # epochs are a few steps each (150 rows: 2 steps an epoch). None: the epochs as given.
    min_cluster_steps: int | None = None
    batch_size: int = 256
    lr: float = 1e-3
    cluster_lr: float | None = None  # learning rate of the clustering phase; None = lr (the paper)
    grad_clip: float = 1.0  # max gradient norm in the clustering phase ("with gradient clipping")
    # Losses
    lambda1: float = 0.01  # L_ccl weight
    lambda2: float = 0.01  # L_cl weight
    lambda3: float = 1e-3  # L_k weight
    tau: float = 0.07
    reconstruction: str = "cosine"  # cosine | mse (Tables 6-7)
    use_ccl: bool = True  # ablation (Tables 10-11)
    use_cl: bool = True
    # KNet (3.2)
    knet_iters: int = 20
    knet_alpha: float | str = "auto"
    knet_lambda: float = 0.5
    # The joint phase (3.3). The defaults are ours; the `paper` preset restores the paper's readings
    # (docs/take_joint_phase.md sets the paper's text beside each option and what it measured).
    # How the centres M follow z. learn: M is a KNet parameter trained by the optimiser with the TAE (the paper;
    # knet_lr gives it its own learning rate). refit: M is held fixed within an epoch (z still gets L_k's gradient
    # through KNet) and re-fitted after every epoch by Lloyd iterations on z of all data, warm-started at the current
    # M (DCN's alternation). mean: after every epoch M becomes the mean of z over each cluster of KNet's own
    # assignment (one hard-count step, which keeps KNet's partition instead of pulling it to K-means' optimum).
    knet_centers: str = "mean"
    knet_lr: float | None = None  # knet_centers learn: M's learning rate; None = the clustering phase's
    knet_tied: bool = True  # W1, W2, Q derived from M at every forward (False: M only initialises them)
    knet_scale: str = "unit"  # unit: z and M divided by σ(z) (scale-free KNet and L_k) | none: z as it is (paper)
    knet_momentum: str = "fista"  # fista (standard) | paper (eq. 10 as printed: its first step cancels itself)
    knet_output: str = "projected"  # projected: s̃(T) on the simplex | extrapolated: s(T) of eq. 9, as eq. 13 writes
    # Where KNet starts. kmeans: K-means on the pretrained z (the paper). umap_gmm: N2D's head on z (UMAP to K
    # dimensions + a Gaussian mixture), M = the mean of z over each of its clusters. auto: the head where it finds
    # the same partition again with another seed (joint.START_AGREEMENT), else K-means: label-free, per run.
    # input: N2D's head on the input rows (pixels, features, the table; flattened) instead of z, M = the mean of z
    # over its clusters: for inputs whose z holds less cluster structure than they do (beyond the paper)
    knet_init: str = "umap_gmm"
    # Self-training on the start (beyond the paper): every row (or with knet_confidence > 0 the confident ones: the
    # share of their 10 nearest rows in z that share their start label ≥ knet_confidence) keeps its start cluster as
    # a target, learned by a prototype classifier on KNet's centres (softmax of −‖z − m_k‖²/knet_target_temperature
    # in KNet's units) with weight knet_target_weight beside L_r. 0: off (the paper).
    knet_target_weight: float = 1.0
    knet_target_temperature: float = 0.1
    # What self-training aims at. start: each row's start cluster, all through the phase. sharpened: DEC's target
    # distribution (Xie et al. 2016, eq. 3) of the prototype classifier's own soft assignment q, recomputed after
    # every epoch, p_ik ∝ q_ik² / Σ_i q_ik: confident rows pull harder, and a row may change cluster
    # self: each row's cluster under that classifier, recomputed after every epoch, trained only where its top
    # probability reaches knet_confidence (SCAN's self-labelling)
    knet_target: str = "start"
    # Self-training on one of each row's stored views too, towards the row's target (views teach which rows belong
    # together; without them a target can only confirm itself)
    knet_view_targets: bool = False
    knet_confidence: float = 0.0
    cluster_warmup: float = 0.0  # epochs over which the clustering phase's learning rate rises linearly from 0
    # The pretraining's view terms (λ1 L_ccl + λ2 L_cl, its contrastive head and its c̃) kept in the joint phase on
    # the stored views, with this weight, as an anchor of z (beyond the paper, whose eq. 15 is L_r + λ3 L_k). 0: off
    cluster_contrastive: float = 0.0
    # knet: TAE + KNet jointly (the method); kmeans: pretrain + K-means only (Table 12); umap_gmm: pretrain, then
    # N2D's head on z (UMAP to K dimensions + a Gaussian mixture; measured above KNet's assignment on digits)
    assignment: str = "knet"
    umap_neighbors: int = 30  # assignment umap_gmm: UMAP's n_neighbors on z
    kmeans_n_init: int | str = 10  # K-means starts on z (scikit-learn's default when the paper ran)
    # Pixel data sets: draw new crops/rotations of each batch every update epoch instead of reusing the
    # 4 views stored with the features (the paper augments once). Not for backbone/text features, whose
    # views must go through the backbone.
    fresh_views: bool = False
    baseline_kmeans: bool = True  # also score K-means on the raw input in the run (the plain baseline)
    # Running
    amp: bool = False  # bfloat16 autocast on CUDA
    # torch.compile the TAE: 1.3-2x the steady-state throughput on CPU (docs/benchmarks.md), but about 30 s
    # of compilation up front, so worth it for runs of many minutes, not for the digits preset.
    compile: bool = False
    predict_batch_size: int = 2048
    checkpoint_every: int = 10
    resume: bool = True

    @classmethod
    def from_params(cls, params: dict | None, reader: ParamReader | None = None) -> "TAKEConfig":
        """Build from a parameter dict, checked by :func:`read_take_params` (types, ranges, unknown keys with the
        closest known name) and :meth:`check_shapes`. ``reader``: a collecting :class:`ParamReader` (the run's
        parameter check), which gathers the problems instead of raising on the first."""
        p = reader if reader is not None else ParamReader(params, "take")
        values = read_take_params(p)
        p.reject_unknown(ignore=("overrides", "split"))
        cfg = cls(**values)
        cfg.check_shapes(p)
        return cfg

    def check_shapes(self, p: ParamReader) -> None:
        """The checks across fields: the token width splits into the attention heads."""
        for heads in ("heads", "decoder_heads"):
            if self.embed_dim % getattr(self, heads):
                p._fail(heads, getattr(self, heads),
                        f"a divisor of embed_dim = {self.embed_dim} (embed_dim must be divisible by heads and "
                        f"decoder_heads)")
        if not self.knet_tied and self.knet_centers != "learn":
            # untied, KNet's forward no longer reads M: re-fitting M would move only L_k's centres
            p._fail("knet_tied", self.knet_tied, f"true with knet_centers = {self.knet_centers!r} (an untied KNet "
                    "learns W1, W2 and Q itself: use knet_centers=learn, or knet_tied=true)")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @property
    def uses_stored_views(self) -> bool:
        """Whether the joint phase reads the rows' stored views (``knet_view_targets``, ``cluster_contrastive``),
        so a caller loads them for :func:`~deep_kmeans.methods.take.joint.cluster`."""
        return self.knet_view_targets or self.cluster_contrastive > 0

    def training_options(self, phase: str) -> dict:
        """The options that change the training of ``phase`` (``pretrain`` or ``cluster``), what its checkpoint
        key hashes: an option that only changes how the run is carried out, scored or predicted
        (:data:`NOT_TRAINING_KEYS`) can change between an interrupted run and its rerun without losing the
        resume. The clustering phase starts from the pretrained TAE, so its options include pretraining's."""
        names = PRETRAIN_KEYS + (CLUSTER_TRAINING_KEYS if phase == "cluster" else ())
        if phase not in ("pretrain", "cluster"):
            raise ValueError(f"phase must be 'pretrain' or 'cluster', got {phase!r}")
        return {k: getattr(self, k) for k in names
                if k not in KEYED_ONLY_WHEN_SET or getattr(self, k) != KEYED_ONLY_WHEN_SET[k]}


# What each phase's checkpoint key hashes (TAKEConfig.training_options); every field of TAKEConfig is in exactly
# one of the three (tests/methods/test_take.py checks it, so a new option must be placed).
PRETRAIN_KEYS = ("embed_dim", "latent_dim", "depth", "heads", "decoder_depth", "decoder_heads", "mlp_ratio", "dropout",
                 "head_hidden", "head_out", "warmup_epochs", "update_epochs", "batch_size", "lr", "lambda1", "lambda2",
                 "tau", "reconstruction", "use_ccl", "use_cl", "fresh_views", "amp")
CLUSTER_TRAINING_KEYS = ("cluster_epochs", "cluster_lr", "grad_clip", "lambda3", "knet_iters", "knet_alpha",
                         "knet_lambda", "knet_centers", "knet_lr", "knet_tied", "knet_scale", "knet_momentum",
                         "knet_output", "knet_target_weight", "knet_target_temperature", "knet_target",
                         "knet_view_targets", "knet_confidence", "cluster_warmup", "cluster_contrastive")
# Options added after checkpoints of their phase were written: at this value (the training before the option
# existed) they stay out of the key, so a run interrupted before the option came still resumes
KEYED_ONLY_WHEN_SET = {"cluster_contrastive": 0.0}
# assignment, umap_neighbors, kmeans_n_init and knet_init act outside the checkpointed loops (the clustering phase
# runs for assignment knet only; where it starts enters the key as the centres); compile changes the speed, not the
# module; predict_batch_size chunks inference; the rest are how the run is carried out.
NOT_TRAINING_KEYS = ("assignment", "umap_neighbors", "kmeans_n_init", "knet_init", "baseline_kmeans", "compile",
                     "predict_batch_size", "checkpoint_every", "resume",
                     # applied to the epochs before training (sized_for_data): the epochs are in the key
                     "sample_budget", "min_cluster_steps")


def read_take_params(p: ParamReader) -> dict:
    """Every :class:`TAKEConfig` field read from ``p``, typed and range-checked: the one definition of what each
    TAKE parameter allows (the nodes, the estimator and the run's parameter check all read through it)."""
    d = {f.name: f.default for f in dataclasses.fields(TAKEConfig)}
    ints = {"embed_dim": 1, "latent_dim": 1, "depth": 1, "heads": 1, "decoder_depth": 1, "decoder_heads": 1,
            "head_hidden": 1, "head_out": 1, "warmup_epochs": 0, "update_epochs": 0, "cluster_epochs": 0,
            # the contrastive loss needs negatives: 2 rows per batch at least
            "batch_size": 2, "knet_iters": 1, "umap_neighbors": 2, "predict_batch_size": 1, "checkpoint_every": 0}
    v = {k: p.int(k, d[k], min=lo, nullable=False) for k, lo in ints.items()}
    v["sample_budget"] = p.int("sample_budget", d["sample_budget"], min=1)  # null: the epochs as given
    v["min_cluster_steps"] = p.int("min_cluster_steps", d["min_cluster_steps"], min=1)  # null: as given
    v["mlp_ratio"] = p.float("mlp_ratio", d["mlp_ratio"], min=0.0, exclusive_min=True, nullable=False)
    v["dropout"] = p.float("dropout", d["dropout"], min=0.0, max=1.0, exclusive_max=True, nullable=False)
    v["lr"] = p.float("lr", d["lr"], min=0.0, exclusive_min=True, nullable=False)
    v["cluster_lr"] = p.float("cluster_lr", None, min=0.0, exclusive_min=True)  # null: lr
    v["knet_lr"] = p.float("knet_lr", None, min=0.0, exclusive_min=True)  # null: the clustering phase's
    v["knet_target_weight"] = p.float("knet_target_weight", d["knet_target_weight"], min=0.0, nullable=False)
    v["knet_target_temperature"] = p.float("knet_target_temperature", d["knet_target_temperature"], min=0.0,
                                           exclusive_min=True, nullable=False)
    v["knet_confidence"] = p.float("knet_confidence", d["knet_confidence"], min=0.0, max=1.0, nullable=False)
    v["cluster_warmup"] = p.float("cluster_warmup", d["cluster_warmup"], min=0.0, nullable=False)
    v["cluster_contrastive"] = p.float("cluster_contrastive", d["cluster_contrastive"], min=0.0, nullable=False)
    v["knet_scale"] = p.choice("knet_scale", d["knet_scale"], SCALES, nullable=False)
    v["knet_momentum"] = p.choice("knet_momentum", d["knet_momentum"], MOMENTA, nullable=False)
    v["knet_output"] = p.choice("knet_output", d["knet_output"], OUTPUTS, nullable=False)
    v["tau"] = p.float("tau", d["tau"], min=0.0, exclusive_min=True, nullable=False)
    for k in ("grad_clip", "lambda1", "lambda2", "lambda3"):
        v[k] = p.float(k, d[k], min=0.0, nullable=False)
    v["knet_alpha"] = p.float("knet_alpha", d["knet_alpha"], min=0.0, exclusive_min=True, also=("auto",),
                              nullable=False)
    v["knet_lambda"] = p.float("knet_lambda", d["knet_lambda"], min=0.0, max=1.0, nullable=False)  # λ of eq. 7
    v["kmeans_n_init"] = p.int("kmeans_n_init", d["kmeans_n_init"], min=1, also=("auto",), nullable=False)
    v["reconstruction"] = p.choice("reconstruction", d["reconstruction"], ("cosine", "mse"), nullable=False)
    v["knet_centers"] = p.choice("knet_centers", d["knet_centers"], CENTER_UPDATES, nullable=False)
    v["knet_target"] = p.choice("knet_target", d["knet_target"], ("start", "sharpened", "self"), nullable=False)
    v["knet_init"] = p.choice("knet_init", d["knet_init"], ("kmeans", "umap_gmm", "auto", "input"),
                                 nullable=False)
    v["assignment"] = p.choice("assignment", d["assignment"], ("knet", "kmeans", "umap_gmm"), nullable=False)
    for k in ("knet_tied", "knet_view_targets", "use_ccl", "use_cl", "fresh_views", "baseline_kmeans", "amp",
              "compile", "resume"):
        v[k] = p.bool(k, d[k], nullable=False)
    missing = set(d) - set(v)
    assert not missing, f"read_take_params does not read {sorted(missing)}"
    return v


def sized_for_data(cfg: TAKEConfig, n_rows: int, geometry: Geometry) -> tuple[TAKEConfig, str | None]:
    """``cfg`` with its epochs sized to the data, and a line saying so (None when nothing changed): scaled down to
    ``cfg.sample_budget`` (rows × epochs at 16 patches per row), and the clustering epochs raised to
    ``cfg.min_cluster_steps`` batches. Deterministic: the same data, the same epochs."""
    notes = []
    epochs = (cfg.warmup_epochs, cfg.update_epochs, cfg.cluster_epochs)
    patches = (geometry.side // geometry.patch) ** 2
    cost = n_rows * max(1.0, patches / 16) * sum(epochs)
    if cfg.sample_budget is not None and cost > cfg.sample_budget:
        factor = cfg.sample_budget / cost
        warmup, update, cluster = (max(1, round(e * factor)) if e else 0 for e in epochs)
        cfg = dataclasses.replace(cfg, warmup_epochs=warmup, update_epochs=update, cluster_epochs=cluster)
        notes.append(f"take: {n_rows:,} rows of {patches} patches are more than sample_budget={cfg.sample_budget:,} "
                     f"allows at {'/'.join(map(str, epochs))} epochs: training {warmup}/{update}/{cluster} "
                     "warm-up/update/clustering epochs (--params=take.sample_budget=null trains the epochs as given)")
    steps = max(1, math.ceil(n_rows / cfg.batch_size))  # a clustering epoch's batches (joint.cluster)
    if cfg.min_cluster_steps is not None and 0 < cfg.cluster_epochs * steps < cfg.min_cluster_steps:
        cluster = math.ceil(cfg.min_cluster_steps / steps)
        notes.append(f"take: {n_rows:,} rows make {steps} batch{'es' if steps > 1 else ''} of {cfg.batch_size} an "
                     f"epoch: training {cluster} clustering epochs, not {cfg.cluster_epochs}, for "
                     f"min_cluster_steps={cfg.min_cluster_steps} steps (--params=take.min_cluster_steps=null trains "
                     "the epochs as given)")
        cfg = dataclasses.replace(cfg, cluster_epochs=cluster)
    return cfg, "; ".join(notes) or None


# Kinds of features (the features record's ``preprocess.kind``) that are text: sentence embeddings, tf-idf rows.
TEXT_KINDS = ("text", "tfidf")


def start_for_data(cfg: TAKEConfig, kind: str | None) -> tuple[TAKEConfig, str | None]:
    """``knet_init: auto`` on text → ``kmeans``, and a line saying so (None when nothing changed). N2D's head on text
    embeddings was the worse start on every text set measured (Reuters' tf-idf, AG News' titles, and 400 and 2,000
    of them as a .csv of your own), and often stable enough that ``auto``'s test kept it (a second seed agreeing at
    ARI 0.80-0.90): the AG News and Reuters blocks say ``kmeans`` for the same reason. A start given by name stays."""
    if cfg.knet_init != "auto" or kind not in TEXT_KINDS:
        return cfg, None
    return dataclasses.replace(cfg, knet_init="kmeans"), (
        "take: knet_init auto on text: KNet starts from K-means on z (UMAP + GMM on z was the worse start on every "
        "text set measured; --params=take.knet_init=umap_gmm starts from it)")


def read_take_split(p: ParamReader) -> float | None:
    """``take.split.train_fraction`` (Table 5): a fraction in (0, 1) of the rows to train on, or null (all)."""
    fraction = p.float("train_fraction", None, min=0.0, max=1.0, exclusive_min=True, exclusive_max=True)
    p.reject_unknown()
    return fraction

