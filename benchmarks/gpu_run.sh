#!/usr/bin/env bash
# The GPU run of docs/benchmarks.md, in ONE call of at most 10 minutes on a machine with the
# CUDA image (python3 with torch, scikit-learn, PyYAML; no Kedro, no network):
#   1. install the carried nltk wheel (deep_kmeans.data imports it) and build ClustPy from its sdist;
#   2. benchmarks/speed.py (sizes `large`), at most SPEED_S seconds;
#   3. benchmarks/quality.py --scale full on all 70,000 MNIST digits, TAKE, 3 seeds, with the
#      largest schedule of quality.SCHEDULES that the speed run predicts to fit in what is left;
#   4. K-means on the same pixels (3 seeds) in the rest of the time.
# Needs data/01_raw/mnist/mnist.pkl.gz and benchmarks/results/pkgs/{nltk-*.whl,clustpy-*.tar.gz}
# (both git-ignored: carried). Results and the log go to $OUT.
set -u
START=$SECONDS
OUT=${OUT:-benchmarks/results/gpu}
PY=${PYTHON:-python3}
TOTAL_S=${TOTAL_S:-570}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 TQDM_DISABLE=1
{
  echo "== setup $(date -Is)"
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1 | head -3
  "$PY" -c "import sys, torch; print(sys.version.split()[0], torch.__version__, torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'no cuda')"
  mkdir -p /tmp/site
  "$PY" -m pip install -q --no-index --no-deps --target /tmp/site benchmarks/results/pkgs/nltk-*.whl \
    || echo "nltk install failed"
  "$PY" -m pip install -q --no-index --no-deps --no-build-isolation --target /tmp/site \
    benchmarks/results/pkgs/clustpy-*.tar.gz || echo "clustpy build failed: the peers section will say so"
  export PYTHONPATH=/tmp/site
  echo "setup done at $((SECONDS - START))s"

  echo "== speed"
  timeout "${SPEED_S:-250}" "$PY" benchmarks/speed.py --out-dir "$OUT" ${SPEED_ARGS:-} || echo "speed rc $?"

  echo "== quality (TAKE) at $((SECONDS - START))s"
  REM=$((TOTAL_S - (SECONDS - START) - ${KMEANS_RESERVE_S:-75}))
  SPEED_JSON=$(ls "$OUT"/speed-cuda-*.json 2>/dev/null | head -1)
  if [ -n "$SPEED_JSON" ]; then PICK="--budget-s $REM --speed-json $SPEED_JSON"; else PICK="--epochs ${EPOCHS:-20,6,6}"; fi
  timeout $((REM + 20)) "$PY" benchmarks/quality.py --scale full --datasets "${DATASET:-mnist}" --methods take \
    --seeds 0 1 2 $PICK --out-dir "$OUT" --tag "${DATASET:-mnist}-take" ${QUALITY_ARGS:-} || echo "quality rc $?"

  echo "== quality (K-means) at $((SECONDS - START))s"
  REM=$((TOTAL_S - (SECONDS - START)))
  if [ "$REM" -gt 10 ]; then
    timeout "$REM" "$PY" benchmarks/quality.py --scale full --datasets "${DATASET:-mnist}" --methods kmeans \
      --seeds 0 1 2 --out-dir "$OUT" --tag "${DATASET:-mnist}-kmeans" ${QUALITY_ARGS:-} || echo "kmeans rc $?"
  fi
  echo "== end at $((SECONDS - START))s"
} 2>&1 | tee "$OUT/gpu-log.txt"
