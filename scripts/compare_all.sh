#!/usr/bin/env bash
# Every method on one data set over several seeds, as MLflow runs, then the `compare` table and plot:
#   bash scripts/compare_all.sh [dataset] [seed ...]        (default: digits 0 1 2)
# METHODS="take kmeans" restricts the methods; KEDRO_ARGS="--env=offline" adds arguments to every run.
# The table lands in data/08_reporting/<dataset>/compare/ and in the compare run's MLflow artifacts.
set -euo pipefail
cd "$(dirname "$0")/.."
export KEDRO_DISABLE_TELEMETRY=true HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
KEDRO=${KEDRO:-.venv/bin/kedro}
DATASET=${1:-digits}
shift || true
SEEDS=("$@")
[ ${#SEEDS[@]} -gt 0 ] || SEEDS=(0 1 2)
METHODS=${METHODS:-take kmeans dec idec dcn dekm emaec ulhe_dc dckm}
for seed in "${SEEDS[@]}"; do
  for m in $METHODS; do
    echo "== $DATASET: $m, seed $seed" >&2
    # shellcheck disable=SC2086
    "$KEDRO" run ${KEDRO_ARGS:-} --pipeline="$m" --params="dataset=$DATASET,seed=$seed,progress=false"
  done
done
# shellcheck disable=SC2086
"$KEDRO" run ${KEDRO_ARGS:-} --pipeline=compare --params="dataset=$DATASET"
