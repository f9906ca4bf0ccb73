#!/usr/bin/env python
"""Speed of TAKE's training and inference, and of our DEC/IDEC/DCN against ClustPy's, in ONE process.

    .venv/bin/python benchmarks/speed.py                       # sizes picked for the device
    .venv/bin/python benchmarks/speed.py --size small --sections tae,knet

Every figure compared with another is measured in the same run, on the same device and data, and
reported as a ratio. Sections (``--sections``, default all):

``tae``      TAE throughput (samples/s, one epoch = N samples; the update phase feeds 5 inputs per
             sample: the original and its 4 views) and peak memory of the warm-up, update and joint
             clustering phases, for the grayscale configuration (MNIST 28×28, 16 patches of 7×7,
             D=128, depth 8, 8 heads) and the ResNet-feature one (2048-d zero-padded to 48×48, 36 patches
             of 8×8, depth 2, 2 heads). Synthetic data of the right shape (uniform [0, 1), views = the
             input plus noise): throughput does not depend on the values.
``knet``     KNet inference (20 unrolled steps, batches of 2048) vs scikit-learn ``KMeans.predict`` with
             the same centres, on synthetic 10-d blobs; their assignment agreement.
``peers``    ClustPy 0.0.3's DEC/IDEC/DCN vs our ``fit_dec/fit_idec/fit_dcn``: same data (MNIST subset,
             digits where MNIST is absent), same autoencoder (d-500-500-2000-10), batch 256, same
             epoch budget (pretraining + clustering epochs), one K-means run for the initial centres;
             each keeps its own optimiser defaults otherwise. Seconds per epoch (whole fit / epochs)
             and final ACC (ClustPy: ``dec_labels_``/``dcn_labels_``, the method's own assignment).
``scaling``  cost vs N (3 sizes): seconds per warm-up and clustering epoch, K-means initialisation.
``patches``  cost vs the number of patches: MNIST geometry with patch 14/7/4 → 4/16/49 patches.
``amp``      ``TAKEConfig.amp`` (bfloat16 autocast, CUDA only) off vs on: throughput, and a short real
             TAKE run with the same seed (ACC with each, and with another seed for the noise).
``compile``  ``TAKEConfig.compile`` (``torch.compile`` of the TAE, ``nn.Module.compile`` in place) off vs
             on: steady-state throughput, the cost of
             the first (compiling) epoch, and the same short real run's ACC.
``profile``  (only when named) per phase of the loops: samples/s, host syncs per step and per call, and on
             CUDA kernel launches per step, the GPU-busy share and the syncs the CUDA runtime reports; the
             paper's MNIST TAE on CUDA, the default digits run on CPU (benchmarks/_profile.py).

Timing (benchmarks/_timing.py): each TAKE phase's ``epoch_bar`` is replaced (in this process) by a timer that records each
epoch's wall time around the project's own loop, with ``torch.cuda.synchronize``; the first
epoch of a phase is dropped (warm-up, allocation, compilation) and the median of the rest kept.
Peak memory: ``torch.cuda.max_memory_allocated`` on CUDA (reset per phase); on CPU the process's
peak resident set (VmHWM, reset per phase through /proc/self/clear_refs) minus its RSS before the
phase. Output: ``benchmarks/results/speed-<device>-<date>.json`` and ``.md`` (``--out-dir``), rewritten
after every section.
"""

from __future__ import annotations

import os
os.environ.setdefault("TQDM_DISABLE", "1")  # ClustPy's progress bars (read when tqdm is imported)
import argparse
import math
import sys
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

import _profile  # noqa: E402
from _timing import EpochTimer, peak_memory, real_data, steady, sync, synthetic, take_cfg  # noqa: E402

from deep_kmeans.data.registry import Geometry  # noqa: E402
from deep_kmeans.evaluation.metrics import cluster_accuracy  # noqa: E402
from deep_kmeans.methods import take as T  # noqa: E402
from deep_kmeans.runtime import resolve_device  # noqa: E402

SECTIONS = ["tae", "knet", "peers", "scaling", "patches", "amp", "compile"]
EXTRA_SECTIONS = ["profile"]  # run only when named in --sections

GRAY = dict(geometry=Geometry(dim=784, channels=1, side=28, patch=7),
            cfg=dict(embed_dim=128, depth=8, heads=8, decoder_depth=2, decoder_heads=2))
RESNET = dict(geometry=Geometry(dim=2048, channels=1, side=48, patch=8),
              cfg=dict(embed_dim=128, depth=2, heads=2, decoder_depth=2, decoder_heads=2))
# The CPU-sized TAE (conf/base parameters_take.yml, overrides.digits), used on CPU where the paper's is too slow.
SMALL_TAE = dict(embed_dim=32, depth=2, heads=2, decoder_depth=1, mlp_ratio=2.0, head_hidden=64, head_out=32)

SIZES = {
    # small: 2 shared CPU cores, a few minutes in all
    "small": dict(tae_n=512, tae_epochs=3, knet_n=50_000, peers_data="digits", peers_n=None, peers_epochs=(10, 5),
                  scaling_n=[256, 512, 1024], scaling_cfg="small", patches_n=512, patches_cfg="small",
                  real_data="digits", real_n=None, real_epochs=(6, 3, 3), real_cfg="digits"),
    # tiny: a smoke test of the script itself (figures meaningless)
    "tiny": dict(tae_n=64, tae_epochs=2, knet_n=5000, peers_data="digits", peers_n=None, peers_epochs=(1, 1),
                 scaling_n=[64, 128, 256], scaling_cfg="small", patches_n=64, patches_cfg="small",
                 real_data="digits", real_n=None, real_epochs=(1, 1, 1), real_cfg="digits",
                 profile_steps=2, profile_n=384, profile_epochs=2),
    # gpu-short: the second GPU call (profile, compile, amp) on a smaller budget
    "gpu-short": dict(tae_n=8192, tae_epochs=2, knet_n=500_000, peers_data="mnist", peers_n=10000, peers_epochs=(20, 10),
                      scaling_n=[4096, 16384, 65536], scaling_cfg="paper", patches_n=8192, patches_cfg="paper",
                      real_data="mnist", real_n=5000, real_epochs=(6, 2, 2), real_cfg="paper", amp_configs=["gray"]),
    # gpu-run: benchmarks/gpu_run.sh's share of its one 10-minute call (the tae and profile sections, ~1-2 min)
    "gpu-run": dict(tae_n=8192, tae_epochs=2, knet_n=500_000, peers_data="mnist", peers_n=10000, peers_epochs=(20, 10),
                    scaling_n=[4096, 16384, 65536], scaling_cfg="paper", patches_n=8192, patches_cfg="paper",
                    real_data="mnist", real_n=5000, real_epochs=(6, 2, 2), real_cfg="paper",
                    profile_n=8192, profile_epochs=2, profile_steps=10),
    # large: one GPU, a few minutes in all
    "large": dict(tae_n=16384, tae_epochs=3, knet_n=500_000, peers_data="mnist", peers_n=10000, peers_epochs=(20, 10),
                  scaling_n=[4096, 16384, 65536], scaling_cfg="paper", patches_n=8192, patches_cfg="paper",
                  real_data="mnist", real_n=10000, real_epochs=(10, 5, 5), real_cfg="paper"),
}


# ---------------------------------------------------------------------------------------------- helpers


def phase_times(x, views, geometry, cfg_kw, dev, epochs, seed=0, amp=False) -> dict:
    """Warm-up, update and clustering phases of the project's loops, timed epoch by epoch."""
    n = len(x)
    out: dict = {"n": n, "n_patches": geometry.n_patches}
    # warm-up only (L_r on the originals)
    cfg = take_cfg(cfg_kw, warmup_epochs=epochs, update_epochs=0, cluster_epochs=epochs, amp=amp)
    mem: dict = {}
    with peak_memory(dev, mem):
        state, _ = T.pretrain(x, None, geometry, cfg, seed=seed, device=str(dev), progress=False)
    t = steady(EpochTimer.last.times)
    out["warmup"] = {"epoch_s": t, "samples_per_s": n / t, "first_epoch_s": EpochTimer.last.times[0], **mem}
    # update only (L_r over 5 inputs + L_ccl + L_cl)
    if views is not None:
        cfgu = take_cfg(cfg_kw, warmup_epochs=0, update_epochs=epochs, amp=amp)
        mem = {}
        with peak_memory(dev, mem):
            T.pretrain(x, views, geometry, cfgu, seed=seed, device=str(dev), progress=False)
        t = steady(EpochTimer.last.times)
        out["update"] = {"epoch_s": t, "samples_per_s": n / t, "inputs_per_s": 5 * n / t,
                         "first_epoch_s": EpochTimer.last.times[0], **mem}
    t0 = time.perf_counter()
    init = T.kmeans_initialise(x, state, geometry, cfg, 10, seed=seed, device=str(dev))
    out["kmeans_init_s"] = time.perf_counter() - t0
    mem = {}
    with peak_memory(dev, mem):
        cstate, _ = T.cluster(x, state, init["centers"], geometry, cfg, seed=seed, device=str(dev), progress=False)
    t = steady(EpochTimer.last.times)
    out["cluster"] = {"epoch_s": t, "samples_per_s": n / t, "first_epoch_s": EpochTimer.last.times[0], **mem}
    sync(dev)
    t0 = time.perf_counter()
    T.predict(x, cstate, geometry, cfg, device=str(dev))
    sync(dev)
    out["predict_samples_per_s"] = n / (time.perf_counter() - t0)
    return out


# ---------------------------------------------------------------------------------------------- sections


def section_tae(dev, size, report):
    res = {}
    epochs = size["tae_epochs"]
    for name, conf in (("gray_mnist_16patches_depth8", GRAY), ("resnet2048_36patches_depth2", RESNET)):
        g = conf["geometry"]
        x, v = synthetic(size["tae_n"], g.dim)
        cfg = dict(conf["cfg"])
        if dev.type == "cpu" and name.startswith("gray"):
            pass  # the paper's configuration, as asked; small N keeps it short
        res[name] = phase_times(x, v, g, cfg, dev, epochs)
        res[name]["config"] = cfg
        print(f"  tae {name}: warm-up {res[name]['warmup']['samples_per_s']:.0f}/s, update "
              f"{res[name]['update']['samples_per_s']:.0f}/s, cluster {res[name]['cluster']['samples_per_s']:.0f}/s",
              flush=True)
    a, b = res["gray_mnist_16patches_depth8"], res["resnet2048_36patches_depth2"]
    res["ratios"] = {f"resnet/gray {p} throughput": b[p]["samples_per_s"] / a[p]["samples_per_s"]
                     for p in ("warmup", "update", "cluster")}
    res["ratios"].update({f"{p}/warmup epoch time (gray)": a[p]["epoch_s"] / a["warmup"]["epoch_s"]
                          for p in ("update", "cluster")})
    report["tae"] = res


def section_knet(dev, size, report):
    from sklearn.cluster import KMeans
    from sklearn.datasets import make_blobs

    from deep_kmeans.models.knet import KNet

    n, k, d = size["knet_n"], 10, 10
    z, _ = make_blobs(n_samples=n, centers=k, n_features=d, cluster_std=2.0, random_state=0)
    z = z.astype(np.float32)
    km = KMeans(n_clusters=k, random_state=0, n_init=1).fit(z[:20000])
    centers = km.cluster_centers_.astype(np.float32)
    res = {"n": n, "k": k, "d": d, "batch": 2048, "knet_iters": 20, "alpha": "auto",
           "data": "make_blobs(cluster_std=2.0), centres from KMeans on 20,000 of them"}
    t0 = time.perf_counter()
    ref = km.predict(z)
    res["sklearn_predict_s"] = time.perf_counter() - t0
    for where in sorted({"cpu", dev.type}):
        d_ = torch.device(where if where == "cpu" else dev)
        knet = KNet(torch.from_numpy(centers), n_iter=20, alpha="auto", lam=0.5).to(d_).eval()
        zt = torch.from_numpy(z)
        with torch.no_grad():
            knet(zt[:2048].to(d_))  # warm-up
            sync(d_)
            t0 = time.perf_counter()
            labels = torch.cat([knet(zt[i:i + 2048].to(d_)).argmax(1).cpu() for i in range(0, n, 2048)]).numpy()
            sync(d_)
            t = time.perf_counter() - t0
        res[f"knet_{where}_s"] = t
        res[f"knet_{where}_agreement_with_sklearn"] = float((labels == ref).mean())
        res[f"ratio knet_{where}/sklearn time"] = t / res["sklearn_predict_s"]
        print(f"  knet on {where}: {t:.3f}s vs sklearn {res['sklearn_predict_s']:.3f}s, agreement "
              f"{res[f'knet_{where}_agreement_with_sklearn']:.4f}", flush=True)
        # the same with the paper's fixed step alpha = 1e-3
        knet_p = KNet(torch.from_numpy(centers), n_iter=20, alpha=1e-3, lam=0.5).to(d_).eval()
        with torch.no_grad():
            lp = torch.cat([knet_p(zt[i:i + 2048].to(d_)).argmax(1).cpu() for i in range(0, n, 2048)]).numpy()
        res[f"knet_{where}_alpha1e-3_agreement_with_sklearn"] = float((lp == ref).mean())
    report["knet"] = res


def section_peers(dev, size, report):
    res: dict = {}
    try:
        os.environ.setdefault("TQDM_DISABLE", "1")
        import clustpy
        from clustpy.deep import DCN, DEC, IDEC
        res["clustpy"] = clustpy.__version__
    except Exception as e:  # noqa: BLE001
        res["error"] = f"clustpy not importable: {type(e).__name__}: {e}"
        report["peers"] = res
        print("  peers:", res["error"], flush=True)
        return
    from deep_kmeans.methods.dcn import fit_dcn
    from deep_kmeans.methods.dec import fit_dec
    from deep_kmeans.methods.idec import fit_idec

    x, y, _, g, name = real_data(size["peers_data"], size["peers_n"])
    ep, ec = size["peers_epochs"]
    n, k, bs = len(x), 10, 256
    steps = math.ceil(n / bs)
    res.update(data=name, n=n, pretrain_epochs=ep, cluster_epochs=ec, batch=bs)
    ours_common = dict(pretrain_epochs=ep, batch_size=bs, kmeans_n_init=1)
    ours = {
        "dec": (fit_dec, {**ours_common, "update_interval": steps, "max_iter": ec * steps, "tol": 0.0}),
        "idec": (fit_idec, {**ours_common, "update_interval": steps, "max_iter": ec * steps, "tol": 0.0}),
        "dcn": (fit_dcn, {**ours_common, "cluster_epochs": ec, "tol": 0.0}),
    }
    theirs = {"dec": (DEC, "dec_labels_"), "idec": (IDEC, "dec_labels_"), "dcn": (DCN, "dcn_labels_")}
    for m in ("dec", "idec", "dcn"):
        row = {}
        fit, params = ours[m]
        sync(dev)
        t0 = time.perf_counter()
        r = fit(x, k, g, params, seed=0, device=str(dev), progress=False)
        sync(dev)
        row["ours_s"] = time.perf_counter() - t0
        row["ours_acc"] = cluster_accuracy(y, r.labels)
        row["ours_params"] = params
        cls, attr = theirs[m]
        torch.manual_seed(0)
        sync(dev)
        t0 = time.perf_counter()
        est = cls(n_clusters=k, batch_size=bs, pretrain_epochs=ep, clustering_epochs=ec, device=dev,
                  random_state=0).fit(x)
        sync(dev)
        row["theirs_s"] = time.perf_counter() - t0
        row["theirs_acc"] = cluster_accuracy(y, getattr(est, attr))
        row["theirs_acc_final_kmeans"] = cluster_accuracy(y, est.labels_)
        row["ours_s_per_epoch"] = row["ours_s"] / (ep + ec)
        row["theirs_s_per_epoch"] = row["theirs_s"] / (ep + ec)
        row["ratio ours/theirs time"] = row["ours_s"] / row["theirs_s"]
        row["ratio ours/theirs acc"] = row["ours_acc"] / row["theirs_acc"] if row["theirs_acc"] else None
        res[m] = row
        print(f"  {m}: ours {row['ours_s']:.1f}s ACC {row['ours_acc']:.4f} | clustpy {row['theirs_s']:.1f}s "
              f"ACC {row['theirs_acc']:.4f}", flush=True)
    res["differences"] = ("ours: DEC clustering SGD lr 0.01 m 0.9, IDEC Adam 1e-3 γ 0.1, DCN SGD lr 1e-4 m 0.9 λ 1 "
                          "(the papers'); target P refreshed once per epoch over all data. ClustPy: Adam lr 1e-4 "
                          "for every clustering phase, IDEC/DCN weight 0.1, DEC/IDEC target P from each batch's Q. "
                          "Both: Adam 1e-3 pretraining, MSE, one K-means run (ours n_init=1; ClustPy's KMeans "
                          "default, n_init='auto' = 1)")
    report["peers"] = res


def section_scaling(dev, size, report):
    base = dict(GRAY["cfg"]) if size["scaling_cfg"] == "paper" else dict(SMALL_TAE)
    res = {"config": base, "rows": []}
    for n in size["scaling_n"]:
        x, _ = synthetic(n, 784, views=False)
        r = phase_times(x, None, GRAY["geometry"], base, dev, epochs=2)
        res["rows"].append({"n": n, "warmup_epoch_s": r["warmup"]["epoch_s"], "cluster_epoch_s": r["cluster"]["epoch_s"],
                            "kmeans_init_s": r["kmeans_init_s"], "warmup_peak_mib": r["warmup"]["peak_mib"],
                            "cluster_peak_mib": r["cluster"]["peak_mib"],
                            "warmup_samples_per_s": r["warmup"]["samples_per_s"],
                            "cluster_samples_per_s": r["cluster"]["samples_per_s"]})
        print(f"  N={n}: warm-up epoch {r['warmup']['epoch_s']:.3f}s, cluster epoch {r['cluster']['epoch_s']:.3f}s, "
              f"kmeans init {r['kmeans_init_s']:.2f}s", flush=True)
    r0, r1 = res["rows"][0], res["rows"][-1]
    res["ratios"] = {"N ratio": r1["n"] / r0["n"], "warmup epoch time ratio": r1["warmup_epoch_s"] / r0["warmup_epoch_s"],
                     "cluster epoch time ratio": r1["cluster_epoch_s"] / r0["cluster_epoch_s"],
                     "kmeans init time ratio": r1["kmeans_init_s"] / r0["kmeans_init_s"]}
    report["scaling"] = res


def section_patches(dev, size, report):
    base = dict(GRAY["cfg"]) if size["patches_cfg"] == "paper" else dict(SMALL_TAE)
    res = {"config": base, "n": size["patches_n"], "rows": []}
    x, _ = synthetic(size["patches_n"], 784, views=False)
    for patch in (14, 7, 4):
        g = Geometry(dim=784, channels=1, side=28, patch=patch)
        r = phase_times(x, None, g, base, dev, epochs=2)
        res["rows"].append({"patch": patch, "n_patches": g.n_patches, "warmup_samples_per_s": r["warmup"]["samples_per_s"],
                            "cluster_samples_per_s": r["cluster"]["samples_per_s"],
                            "warmup_peak_mib": r["warmup"]["peak_mib"], "cluster_peak_mib": r["cluster"]["peak_mib"]})
        print(f"  {g.n_patches} patches: warm-up {r['warmup']['samples_per_s']:.0f}/s, cluster "
              f"{r['cluster']['samples_per_s']:.0f}/s", flush=True)
    ref = res["rows"][1]
    res["ratios"] = {f"{row['n_patches']} vs 16 patches warm-up time": ref["warmup_samples_per_s"] / row["warmup_samples_per_s"]
                     for row in res["rows"]}
    report["patches"] = res


def short_real_run(size, dev, seed=0, amp=False, compile=False) -> dict:
    x, y, v, g, name = real_data(size["real_data"], size["real_n"])
    w, u, c = size["real_epochs"]
    if size["real_cfg"] == "digits":
        conf = C.load_conf("take")["take"]
        base = C.params_for(conf, "digits")
        base.pop("split", None)
    else:
        base = {**GRAY["cfg"], "lambda1": 0.01, "lambda2": 0.01, "lambda3": 0.001}
    cfg = take_cfg(base, warmup_epochs=w, update_epochs=u, cluster_epochs=c, amp=amp, compile=compile)
    t0 = time.perf_counter()
    state, _ = T.pretrain(x, v, g, cfg, seed=seed, device=str(dev), progress=False)
    init = T.kmeans_initialise(x, state, g, cfg, 10, seed=seed, device=str(dev))
    cstate, _ = T.cluster(x, state, init["centers"], g, cfg, seed=seed, device=str(dev), progress=False)
    labels, _ = T.predict(x, cstate, g, cfg, device=str(dev))
    return {"data": name, "n": len(x), "epochs": [w, u, c], "seed": seed, "amp": amp,
            "acc": cluster_accuracy(y, labels), "init_acc": cluster_accuracy(y, init["labels"]),
            "wall_s": time.perf_counter() - t0, "labels": labels}


def section_amp(dev, size, report):
    res: dict = {}
    if dev.type != "cuda":
        res["note"] = "TAKEConfig.amp autocasts to bfloat16 on CUDA only; on CPU it is a no-op (not measured)"
        report["amp"] = res
        print("  amp: CUDA only, skipped", flush=True)
        return
    for name, conf in (("gray", GRAY), ("resnet", RESNET)):
        if name not in size.get("amp_configs", ["gray", "resnet"]):
            continue
        g = conf["geometry"]
        x, v = synthetic(size["tae_n"], g.dim)
        off = phase_times(x, v, g, conf["cfg"], dev, size["tae_epochs"], amp=False)
        on = phase_times(x, v, g, conf["cfg"], dev, size["tae_epochs"], amp=True)
        res[name] = {p: {"fp32_samples_per_s": off[p]["samples_per_s"], "amp_samples_per_s": on[p]["samples_per_s"],
                         "speedup": on[p]["samples_per_s"] / off[p]["samples_per_s"],
                         "fp32_peak_mib": off[p]["peak_mib"], "amp_peak_mib": on[p]["peak_mib"]}
                     for p in ("warmup", "update", "cluster")}
        print(f"  amp {name}: speed-up " + ", ".join(f"{p} {res[name][p]['speedup']:.2f}x" for p in res[name]), flush=True)
    runs = [short_real_run(size, dev, seed=0, amp=False), short_real_run(size, dev, seed=0, amp=True),
            short_real_run(size, dev, seed=1, amp=False)]
    res["real"] = [{k: v for k, v in r.items() if k != "labels"} for r in runs]
    res["real_label_agreement_fp32_vs_amp_seed0"] = float(cluster_accuracy(runs[0]["labels"], runs[1]["labels"]))
    print("  amp real: " + ", ".join(f"seed {r['seed']} amp {r['amp']} ACC {r['acc']:.4f}" for r in runs), flush=True)
    report["amp"] = res


def section_compile(dev, size, report):
    res: dict = {}
    base = dict(GRAY["cfg"]) if dev.type == "cuda" else dict(SMALL_TAE)
    g = GRAY["geometry"]
    x, v = synthetic(size["tae_n"], g.dim)
    eager = phase_times(x, v, g, base, dev, size["tae_epochs"])
    torch._dynamo.reset()
    comp = phase_times(x, v, g, {**base, "compile": True}, dev, size["tae_epochs"])
    res["config"] = base
    res["synthetic"] = {p: {"eager_samples_per_s": eager[p]["samples_per_s"],
                            "compiled_samples_per_s": comp[p]["samples_per_s"],
                            "speedup": comp[p]["samples_per_s"] / eager[p]["samples_per_s"],
                            "eager_first_epoch_s": eager[p]["first_epoch_s"],
                            "compiled_first_epoch_s": comp[p]["first_epoch_s"]}
                        for p in ("warmup", "update", "cluster")}
    print("  compile: speed-up " + ", ".join(f"{p} {res['synthetic'][p]['speedup']:.2f}x" for p in res["synthetic"]),
          flush=True)
    r_eager = short_real_run(size, dev, seed=0)
    torch._dynamo.reset()
    r_comp = short_real_run(size, dev, seed=0, compile=True)
    res["real"] = [{k: v for k, v in r.items() if k != "labels"} | {"compiled": c}
                   for r, c in ((r_eager, False), (r_comp, True))]
    res["real_label_agreement"] = float(cluster_accuracy(r_eager["labels"], r_comp["labels"]))
    print(f"  compile real: eager ACC {r_eager['acc']:.4f} ({r_eager['wall_s']:.1f}s), compiled ACC "
          f"{r_comp['acc']:.4f} ({r_comp['wall_s']:.1f}s)", flush=True)
    report["compile"] = res


def section_profile(dev, size, report):
    _profile.section(dev, size, report, GRAY)  # benchmarks/_profile.py says what it measures


# ---------------------------------------------------------------------------------------------- report


def markdown(report: dict) -> str:
    p = report["provenance"]
    m = p["machine"]
    L = [f"# Speed — {m.get('gpu') or m['cpu']} ({m['device']}) — {p['date']}", "",
         f"Command: `{p['command']}`", "",
         "Versions: " + ", ".join(f"{k} {v}" for k, v in p["versions"].items())
         + f"; commit {p['git']['commit'][:12]}; sha256(src+conf) {p['src_conf_sha256'][:16]}; "
         f"load average at start {report.get('loadavg_start')}; size preset `{report['size']}`.", ""]
    if "tae" in report:
        L += ["## TAE throughput (samples/s; one epoch = N samples) and peak memory (MiB)", "",
              "| config | N | patches | warm-up /s | update /s (×5 inputs) | cluster /s | predict /s | peak MiB warm-up / update / cluster |",
              "|---|---|---|---|---|---|---|---|"]
        for name, r in report["tae"].items():
            if name == "ratios":
                continue
            L.append(f"| {name} | {r['n']} | {r['n_patches']} | {r['warmup']['samples_per_s']:.0f} | "
                     f"{r['update']['samples_per_s']:.0f} | {r['cluster']['samples_per_s']:.0f} | "
                     f"{r['predict_samples_per_s']:.0f} | {r['warmup']['peak_mib']:.0f} / {r['update']['peak_mib']:.0f} / "
                     f"{r['cluster']['peak_mib']:.0f} |")
        L += ["", "Ratios: " + "; ".join(f"{k} {v:.2f}" for k, v in report["tae"]["ratios"].items()), ""]
    if "knet" in report:
        k = report["knet"]
        L += ["## KNet inference vs scikit-learn KMeans.predict (same centres)", "",
              f"N={k['n']}, K={k['k']}, d={k['d']}; sklearn predict {k['sklearn_predict_s']:.3f}s.", ""]
        for key, v in k.items():
            if key.startswith("knet_") or key.startswith("ratio"):
                L.append(f"- {key}: {v:.4f}" if isinstance(v, float) else f"- {key}: {v}")
        L.append("")
    if "peers" in report:
        pr = report["peers"]
        L += ["## Peers: ours vs ClustPy (same data, same epoch budget)", ""]
        if "error" in pr:
            L.append(pr["error"])
        else:
            L += [f"Data {pr['data']} N={pr['n']}, {pr['pretrain_epochs']} pretraining + {pr['cluster_epochs']} clustering epochs, "
                  f"batch {pr['batch']}, ClustPy {pr['clustpy']}.", "",
                  "| method | ours s/epoch | ClustPy s/epoch | time ours/theirs | ours ACC | ClustPy ACC | ACC ours/theirs |",
                  "|---|---|---|---|---|---|---|"]
            for mth in ("dec", "idec", "dcn"):
                r = pr.get(mth)
                if r:
                    L.append(f"| {mth} | {r['ours_s_per_epoch']:.3f} | {r['theirs_s_per_epoch']:.3f} | "
                             f"{r['ratio ours/theirs time']:.2f} | {r['ours_acc']:.4f} | {r['theirs_acc']:.4f} | "
                             f"{r['ratio ours/theirs acc']:.2f} |")
            L += ["", f"Differences kept: {pr['differences']}."]
        L.append("")
    if "scaling" in report:
        s = report["scaling"]
        L += [f"## Cost vs N (config {s['config']})", "",
              "| N | warm-up epoch s | cluster epoch s | K-means init s | peak MiB warm-up / cluster |", "|---|---|---|---|---|"]
        for r in s["rows"]:
            L.append(f"| {r['n']} | {r['warmup_epoch_s']:.3f} | {r['cluster_epoch_s']:.3f} | {r['kmeans_init_s']:.2f} | "
                     f"{r['warmup_peak_mib']:.0f} / {r['cluster_peak_mib']:.0f} |")
        L += ["", "Ratios (largest/smallest N): " + "; ".join(f"{k} {v:.2f}" for k, v in s["ratios"].items()), ""]
    if "patches" in report:
        s = report["patches"]
        L += [f"## Cost vs number of patches (MNIST 28×28, N={s['n']}, config {s['config']})", "",
              "| patch | patches | warm-up /s | cluster /s | peak MiB warm-up / cluster |", "|---|---|---|---|---|"]
        for r in s["rows"]:
            L.append(f"| {r['patch']} | {r['n_patches']} | {r['warmup_samples_per_s']:.0f} | {r['cluster_samples_per_s']:.0f} | "
                     f"{r['warmup_peak_mib']:.0f} / {r['cluster_peak_mib']:.0f} |")
        L.append("")
    if "amp" in report:
        a = report["amp"]
        L += ["## amp (bfloat16 autocast) before/after", ""]
        if "note" in a:
            L.append(a["note"])
        else:
            L += ["| config | phase | fp32 /s | amp /s | speed-up | peak MiB fp32 → amp |", "|---|---|---|---|---|---|"]
            for name in ("gray", "resnet"):
                for ph, r in a.get(name, {}).items():
                    L.append(f"| {name} | {ph} | {r['fp32_samples_per_s']:.0f} | {r['amp_samples_per_s']:.0f} | "
                             f"{r['speedup']:.2f} | {r['fp32_peak_mib']:.0f} → {r['amp_peak_mib']:.0f} |")
            L += ["", "Short real run: " + "; ".join(f"seed {r['seed']} amp={r['amp']}: ACC {r['acc']:.4f} "
                                                    f"(init {r['init_acc']:.4f}, {r['wall_s']:.1f}s)" for r in a["real"])
                  + f"; label agreement fp32 vs amp (seed 0, Hungarian) {a['real_label_agreement_fp32_vs_amp_seed0']:.4f}."]
        L.append("")
    if "compile" in report:
        c = report["compile"]
        L += ["## torch.compile of the TAE before/after", ""]
        if "synthetic" in c:
            L += [f"Config {c['config']}.", "", "| phase | eager /s | compiled /s | speed-up | first epoch s eager → compiled |",
                  "|---|---|---|---|---|"]
            for ph, r in c["synthetic"].items():
                L.append(f"| {ph} | {r['eager_samples_per_s']:.0f} | {r['compiled_samples_per_s']:.0f} | {r['speedup']:.2f} | "
                         f"{r['eager_first_epoch_s']:.1f} → {r['compiled_first_epoch_s']:.1f} |")
            if "real" in c:
                L += ["", "Short real run (same seed): " + "; ".join(
                    f"compiled={r['compiled']}: ACC {r['acc']:.4f} ({r['wall_s']:.1f}s)" for r in c["real"])
                      + f"; label agreement (Hungarian) {c['real_label_agreement']:.4f}."]
        L.append("")
    if "profile" in report:
        L += _profile.markdown(report["profile"])
    if report.get("errors"):
        L += ["## Errors", ""] + [f"- {k}: {v.splitlines()[-1]}" for k, v in report["errors"].items()]
    return "\n".join(L) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--size", choices=list(SIZES), default=None, help="default: large on CUDA, small on CPU")
    ap.add_argument("--sections", default=",".join(SECTIONS))
    ap.add_argument("--out-dir", default=str(C.REPO / "benchmarks" / "results"))
    ap.add_argument("--tag", default="")
    args = ap.parse_args(argv)
    dev = resolve_device(args.device)
    EpochTimer.device = dev
    size_name = args.size or ("large" if dev.type == "cuda" else "small")
    size = SIZES[size_name]
    sections = [s.strip() for s in args.sections.split(",") if s.strip()]
    bad = sorted(set(sections) - set(SECTIONS) - set(EXTRA_SECTIONS))
    if bad:
        ap.error(f"unknown sections {bad}; known {SECTIONS}")
    report = {"provenance": C.provenance(str(dev)), "size": size_name, "size_preset": size, "sections": sections,
              "loadavg_start": os.getloadavg(), "errors": {}}
    stem = f"speed-{dev.type}-{C.today()}{('-' + args.tag) if args.tag else ''}"
    out_json, out_md = Path(args.out_dir) / f"{stem}.json", Path(args.out_dir) / f"{stem}.md"
    started = time.perf_counter()
    for s in sections:
        t0 = time.perf_counter()
        print(f"[{s}]", flush=True)
        try:
            globals()[f"section_{s}"](dev, size, report)
        except Exception:  # noqa: BLE001 - report it and go on with the next section
            report["errors"][s] = traceback.format_exc()
            print(f"  {s} FAILED:\n{report['errors'][s]}", flush=True)
        report.setdefault("section_wall_s", {})[s] = time.perf_counter() - t0
        report["total_wall_s"] = time.perf_counter() - started
        report["loadavg_end"] = os.getloadavg()
        C.write_json(out_json, report)
        out_md.write_text(markdown(report))
    print(f"wrote {out_md} ({time.perf_counter() - started:.0f}s)")
    return 0 if not report["errors"] else 1


if __name__ == "__main__":
    sys.exit(main())
