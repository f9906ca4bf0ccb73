#!/usr/bin/env python
"""The ONE results file of ``benchmarks/gpu_run.sh``: a summary held against issue 25's targets, then the reports
speed.py and quality.py wrote into the call's parts folder, then their JSON records whole.

    python benchmarks/gpu_results.py PARTS_DIR OUT_FILE --wall-s SECONDS

Standard library only: it runs whatever the other parts left, also after one of them ran out of time.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
from pathlib import Path

# Issue 25: samples/s of the paper's MNIST TAE (D 128, depth 8, 8 heads, batch 256) on one H200; the update
# phase with its views drawn on the GPU (fresh views, the paper preset's); the whole paper run on MNIST-70k.
TARGETS = {"warmup": 100_000, "update_fresh": 50_000, "cluster": 50_000}
RUN_TARGET_S, RUN_MOONSHOT_S = 240, 90
PAPER_EPOCHS = {"warmup": 150, "update_fresh": 50, "cluster": 50}


def load(parts: Path, pattern: str) -> list[tuple[Path, dict]]:
    out = []
    for path in sorted(parts.glob(pattern)):
        try:
            out.append((path, json.loads(path.read_text())))
        except (OSError, ValueError) as e:
            print(f"unreadable {path}: {e}")
    return out


def speed_summary(speed: dict, n_rows: int) -> list[str]:
    m, p = speed["provenance"]["machine"], speed["provenance"]["versions"]
    L = [f"Device: {m.get('gpu') or m['cpu']} ({m['device']}); " + ", ".join(f"{k} {v}" for k, v in p.items()), ""]
    profile = speed.get("profile") or {}
    phases, config = profile.get("phases") or {}, profile.get("config")
    tae = speed.get("tae") or {}
    L += [f"| phase | samples/s (profile section, config `{config}`) | target (paper config) | met | GPU busy "
          "| host syncs /step | CUDA syncs /step | launches /step | tae section: gray / resnet samples/s |",
          "|---|---|---|---|---|---|---|---|---|"]
    tae_phase = {"warmup": "warmup", "update": "update", "update_fresh": None, "cluster": "cluster"}
    for phase, row in phases.items():
        target = TARGETS.get(phase) if config == "paper" else None
        sps = row["samples_per_s"]
        cells = [phase, f"{sps:,.0f}", f"{target:,}" if target else "—",
                 ("yes" if sps >= target else "no") if target else "—",
                 f"{100 * row['gpu_busy']:.0f}%" if row.get("gpu_busy") is not None else "—",
                 f"{row['host_syncs']['per_step']:.2f}",
                 f"{row['cuda_syncs']['per_step']:.2f}" if "cuda_syncs" in row else "—",
                 f"{row['launches_per_step']:.0f}" if "launches_per_step" in row else "—"]
        key = tae_phase.get(phase)
        gray, resnet = tae.get("gray_mnist_16patches_depth8", {}), tae.get("resnet2048_36patches_depth2", {})
        cells.append(f"{gray[key]['samples_per_s']:,.0f} / {resnet[key]['samples_per_s']:,.0f}"
                     if key and key in gray and key in resnet else "—")
        L.append("| " + " | ".join(cells) + " |")
    if config == "paper" and all(p in phases for p in PAPER_EPOCHS):
        predicted = sum(n_rows * e / phases[p]["samples_per_s"] for p, e in PAPER_EPOCHS.items())
        L += ["", f"At these rates the paper's 150/50/50 epochs on {n_rows:,} rows take {predicted:.0f} s of "
                  f"training (target ≤ {RUN_TARGET_S} s for the whole run, moonshot ≤ {RUN_MOONSHOT_S} s)."]
    return L + [""]


def baseline_summary(before: dict, now: dict, commit: str) -> list[str]:
    """samples/s of speed.py's tae section (the paper's MNIST TAE and the ResNet-feature one, the same rows and
    epochs) in the loop before issue 25 (``gpu_run.sh``'s BASELINE tree, ``commit``) and now, on this card."""
    def sizes(record):
        size = record.get("size_preset") or {}
        return size.get("tae_n", "?"), size.get("tae_epochs", "?")

    (rows, epochs), (now_rows, now_epochs) = sizes(before), sizes(now)
    differ = ("" if (rows, epochs) == (now_rows, now_epochs)
              else f"; now {now_rows} rows, {now_epochs} epochs: NOT the same sizes")
    L = [f"Before: the loop of {commit} (before issue 25), with its own speed.py; now: this tree, on the same card. "
         f"tae section: {rows} rows of synthetic data, {epochs} epochs a phase, stored views in the update phase"
         f"{differ}.", "",
         "| configuration | phase | before samples/s | now samples/s | now / before |", "|---|---|---|---|---|"]
    for name, old in (before.get("tae") or {}).items():
        new = (now.get("tae") or {}).get(name)
        if not isinstance(old, dict) or "warmup" not in old or not new:
            continue
        for phase in ("warmup", "update", "cluster"):
            if phase in old and phase in new:
                a, b = old[phase]["samples_per_s"], new[phase]["samples_per_s"]
                L.append(f"| {name} | {phase} | {a:,.0f} | {b:,.0f} | {b / a:.1f}× |")
        if "predict_samples_per_s" in old and "predict_samples_per_s" in new:
            a, b = old["predict_samples_per_s"], new["predict_samples_per_s"]
            L.append(f"| {name} | predict | {a:,.0f} | {b:,.0f} | {b / a:.1f}× |")
    return L + [""]


def quality_summary(quality: dict, n_rows: int) -> list[str]:
    L = ["| data | method | seed | ACC | NMI_max | ARI | wall s | phases s |", "|---|---|---|---|---|---|---|---|"]
    for r in quality.get("runs", []):
        if r.get("error"):
            L.append(f"| {r['dataset']} | {r['method']} | {r['seed']} | | | | {r['wall_s']:.1f} | error: "
                     f"{r['error'][:160]} |")
            continue
        sc, phases = r["scores"], r.get("phases") or {}
        L.append(f"| {r['dataset']} | {r['method']} | {r['seed']} | {sc['acc']:.4f} | {sc['nmi_max']:.4f} | "
                 f"{sc['ari']:.4f} | {r['wall_s']:.1f} | " + ", ".join(f"{k} {v:.1f}" for k, v in phases.items()) + " |")
    ran = {r["method"] for r in quality.get("runs", [])}
    for m in quality.get("settings", {}).get("methods", []):
        if m not in ran:
            L.append(f"| | {m} | | | | | | did not finish: the call's time ran out (see the log) |")
    take = [r for r in quality.get("runs", []) if r["method"] == "take" and not r.get("error")]
    if take and n_rows < 70_000:
        L += ["", f"TAKE's whole run: {take[0]['wall_s']:.0f} s on {n_rows:,} rows (a smoke test: no target)."]
    elif take:
        wall = take[0]["wall_s"]
        L += ["", f"TAKE's whole run: {wall:.0f} s (target ≤ {RUN_TARGET_S} s: {'met' if wall <= RUN_TARGET_S else 'not met'}"
                  f"; moonshot ≤ {RUN_MOONSHOT_S} s: {'met' if wall <= RUN_MOONSHOT_S else 'not met'})."]
    return L + [""]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("parts")
    ap.add_argument("out")
    ap.add_argument("--wall-s", type=float, default=None)
    args = ap.parse_args(argv)
    parts = Path(args.parts)
    speeds, qualities = load(parts, "speed/*.json"), load(parts, "quality/*.json")
    baselines = load(parts, "baseline/*.json")
    n_rows = next((d["n"] for _, q in qualities for d in q.get("data", {}).values()), 70_000)
    L = ["# benchmarks/gpu_run.sh: results", "",
         f"Written {dt.datetime.now().isoformat(timespec='seconds')}; the call's wall time "
         f"{args.wall_s:.0f} s." if args.wall_s is not None else "", ""]
    L += ["## Speed against issue 25's targets", ""]
    L += speed_summary(speeds[0][1], n_rows) if speeds else ["speed.py left no record (see the log).", ""]
    L += ["## Against the loop before issue 25, on this card", ""]
    commit = parts / "baseline" / "COMMIT"
    commit = commit.read_text().strip() if commit.exists() else "the BASELINE tree"
    try:
        L += (baseline_summary(baselines[0][1], speeds[0][1], commit) if baselines and speeds
              else ["No baseline record (the BASELINE tree was not carried, or it ran out of time: see the log).", ""])
    except (KeyError, TypeError, AttributeError, ZeroDivisionError) as e:  # the rest of the file still gets written
        L += [f"The baseline record could not be read ({type(e).__name__}: {e}); it is in the records below.", ""]
    L += ["## Clustering, the same data", ""]
    for _, q in qualities:
        L += quality_summary(q, n_rows)
    if not qualities:
        L += ["quality.py left no record (see the log).", ""]
    for path, _ in speeds + baselines + qualities:
        md = path.with_suffix(".md")
        if md.exists():
            L += ["---", "", *("#" + line if line.startswith("#") else line for line in md.read_text().splitlines()), ""]
    records = {"speed": [d for _, d in speeds], "baseline": [d for _, d in baselines],
               "quality": [d for _, d in qualities]}
    L += ["## Records", "", "```json", json.dumps(records, indent=1, default=str), "```", ""]
    Path(args.out).write_text("\n".join(L))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
