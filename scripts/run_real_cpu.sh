#!/usr/bin/env bash
# TAKE and K-means on the real data sets we can obtain offline, at a CPU scale (2 cores):
# 3,000-sample subsets where the set is large, a small TAE and short schedules. Results: docs/results.md.
#   bash scripts/run_real_cpu.sh [dataset ...]     (default: all five)
set -euo pipefail
cd "$(dirname "$0")/.."
export KEDRO_DISABLE_TELEMETRY=true HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
KEDRO=${KEDRO:-.venv/bin/kedro}
N=${N:-3000}
SEED=${SEED:-0}
# The small TAE of the digits preset, with a short schedule (the paper: 150/50/50 epochs, depth 8 or 2).
small() {
  local d=$1
  echo "take.overrides.$d.embed_dim=64,take.overrides.$d.depth=2,take.overrides.$d.heads=2,take.overrides.$d.decoder_depth=1,take.overrides.$d.mlp_ratio=2.0,take.overrides.$d.warmup_epochs=15,take.overrides.$d.update_epochs=5,take.overrides.$d.cluster_epochs=5,take.overrides.$d.tau=0.5,take.overrides.$d.kmeans_n_init=10"
}
run() {  # dataset, extra params
  local d=$1 extra=$2
  echo "== $d: take" >&2
  "$KEDRO" run --env=offline --pipeline=take --params="dataset=$d,seed=$SEED,progress=false,$(small "$d")$extra"
  echo "== $d: kmeans on the same features" >&2
  "$KEDRO" run --env=offline --pipeline=kmeans --params="dataset=$d,seed=$SEED,progress=false$extra"
}
sets=("$@")
[ ${#sets[@]} -gt 0 ] || sets=(mnist fashion_mnist reuters21578 agnews cifar10)
for d in "${sets[@]}"; do
  case $d in
    mnist|fashion_mnist) run "$d" ",data.options.$d.n_samples=$N" ;;
    cifar10) run "$d" ",data.options.cifar10.n_samples=$N" ;;
    agnews) run "$d" "" ;;   # WordNet synonym views: data/nltk_data (bash scripts/fetch_offline_data.sh)
    reuters21578) run "$d" "" ;;
    *) echo "unknown or not offline: $d" >&2; exit 2 ;;
  esac
done
