#!/usr/bin/env bash
# The GPU runs of docs/benchmarks.md, each in ONE call of at most 10 minutes on a machine with the
# CUDA image (python3 with torch, scikit-learn, PyYAML; no Kedro, no network). Two modes:
#
# MODE=paper (the default): TAKE with `take.preset=paper` (exactly the paper: its TAE, 150/50/50 epochs, KNet's
#   α = 1e-3, new views every update epoch, M learned) on all 70,000 MNIST digits, seed ${SEED:-0}, checkpointed
#   every 5 epochs into CKPT (default benchmarks/results/gpu-checkpoints). A call stops itself before the
#   10 minutes are up and copies the checkpoints to $OUT/checkpoints; put them back into CKPT (the device tool
#   returns them under files_at) and carry CKPT into the next call, which resumes where this one stopped
#   (methods/kit.Checkpointer: same options, same data, same seed). The call that finishes writes the
#   quality table (final epoch) to $OUT.
# MODE=budget: benchmarks/speed.py (sizes `large`), at most SPEED_S seconds, then benchmarks/quality.py
#   --scale full on MNIST, TAKE, 3 seeds, with the largest schedule of quality.SCHEDULES that the speed run
#   predicts to fit in what is left, then K-means on the same pixels (3 seeds) in the rest of the time.
#
# Both install the carried nltk wheel (deep_kmeans.data imports it) and build ClustPy from its sdist first.
# Needs data/01_raw/mnist/mnist.pkl.gz and benchmarks/results/pkgs/{nltk-*.whl,clustpy-*.tar.gz}
# (git-ignored: carried). Results and the log go to $OUT.
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

  if [ "${MODE:-paper}" = paper ]; then
    CKPT=${CKPT:-benchmarks/results/gpu-checkpoints}
    mkdir -p "$CKPT"
    echo "== TAKE, preset paper, ${DATASET:-mnist}, seed ${SEED:-0}: $(ls "$CKPT" | wc -l) checkpoint file(s) to resume from"
    REM=$((TOTAL_S - (SECONDS - START) - 30))
    timeout --signal=INT "$REM" "$PY" benchmarks/quality.py --scale full --datasets "${DATASET:-mnist}" \
      --methods take --seeds "${SEED:-0}" --preset paper --checkpoints "$CKPT" --checkpoint-every 5 \
      --out-dir "$OUT" --tag "${DATASET:-mnist}-take-paper" ${QUALITY_ARGS:-}
    rc=$?
    if [ "$rc" = 0 ]; then echo "finished: the final epoch's scores are in $OUT"; else
      echo "stopped (rc $rc) before the end: call again with the checkpoints below carried back into $CKPT"; fi
    mkdir -p "$OUT/checkpoints" && cp -a "$CKPT"/. "$OUT/checkpoints/" 2>/dev/null
    ls -la "$OUT/checkpoints"
    echo "== end at $((SECONDS - START))s"
    exit 0
  fi

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
