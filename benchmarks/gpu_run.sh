#!/usr/bin/env bash
# Issue 25's GPU measurement in ONE call of at most 10 minutes, on a bare machine with PyTorch, NumPy and
# scikit-learn (the device tool's CUDA image: also numba, llvmlite, PyYAML, tqdm, torchvision) but no Kedro, no
# MLflow and no network:
#   1. setup: the carried pure-Python wheels (nltk + defusedxml, umap-learn, pynndescent) into /tmp/site, where
#      the machine lacks them;
#   2. benchmarks/speed.py --sections profile,tae (size gpu-run, at most SPEED_S s): per phase of the paper
#      preset's loops samples/s, host syncs, CUDA syncs, kernel launches per step and the GPU-busy share; then
#      samples/s of every phase for the paper's MNIST TAE and the ResNet-feature one;
#   3. benchmarks/quality.py on all 70,000 MNIST digits, the features built once: K-means and UMAP + GMM on the
#      pixels, then TAKE with take.preset=paper (its TAE, 150/50/50 epochs, fresh views), end to end, seed SEED,
#      in what is left of TOTAL_S but BASE_MIN s;
#   4. the baseline on this card, in what is left (at most BASE_S s): the tae section of the loop before issue 25
#      (BASELINE, a tree of commit 372d6b2 with its own speed.py), so that gpu_results.py gives now / before;
#   5. benchmarks/gpu_results.py: ONE results file, $OUT/gpu-results.md (summary against the issue's targets,
#      both reports, their JSON records); the console log is $OUT/gpu-log.txt.
#
# Needs (git-ignored, so carried): data/01_raw/mnist/mnist.pkl.gz (17 MB; bash scripts/fetch_offline_data.sh),
# benchmarks/results/pkgs/*.whl (2 MB), fetched once on a machine with PyPI, and the baseline tree (1 MB):
#   pip download --no-deps --only-binary=:all: -d benchmarks/results/pkgs \
#       nltk==3.10.4 defusedxml==0.7.1 umap-learn==0.5.12 pynndescent==0.7.0
#   rm -rf benchmarks/results/baseline && mkdir -p benchmarks/results/baseline && git archive 372d6b2 src benchmarks \
#       conf | tar -x -C benchmarks/results/baseline && echo 372d6b2 > benchmarks/results/baseline/COMMIT
# With the device tool:  run(command="bash benchmarks/gpu_run.sh", timeout_s=600,
#                            carry=["data/01_raw/mnist", "benchmarks/results/pkgs", "benchmarks/results/baseline"])
#
# TINY=1: the same steps at smoke-test size on whatever device there is (digits, 600 rows, 1/1/1 epochs; speed.py
# --size tiny): what the CPU machine checks. Knobs: OUT, PYTHON, TOTAL_S (570), SPEED_S (150), BASE_S (75),
# BASE_MIN (50), BASELINE, SEED (0), DATASET (mnist), QUALITY_ARGS (added to quality.py, e.g. "--set take.amp=true").
set -u
START=$SECONDS
OUT=${OUT:-benchmarks/results/gpu}
PY=${PYTHON:-python3}
PKGS=${PKGS:-benchmarks/results/pkgs}
BASELINE=${BASELINE:-benchmarks/results/baseline}
BASE_S=${BASE_S:-75}     # the baseline runs after the clustering, in what is left, at most BASE_S s
BASE_MIN=${BASE_MIN:-50} # what the clustering leaves it at least
SEED=${SEED:-0}
PARTS=$(mktemp -d)
if [ "${TINY:-0}" = 1 ]; then
  TOTAL_S=${TOTAL_S:-400}; SPEED_S=${SPEED_S:-200}; DATASET=${DATASET:-digits}
  SPEED_SIZE=tiny; BASE_SIZE=tiny; SIZE_ARGS="--n-samples 600 --epochs 1,1,1"
else
  TOTAL_S=${TOTAL_S:-570}; SPEED_S=${SPEED_S:-150}; DATASET=${DATASET:-mnist}
  SPEED_SIZE=gpu-run; BASE_SIZE=gpu-short; SIZE_ARGS=""  # the old speed.py's gpu-short: the same tae rows, epochs
fi
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 TQDM_DISABLE=1 TQDM_MININTERVAL=20
{
  echo "== setup $(date -Is)"
  command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
  "$PY" -c "import sys, torch; print(sys.version.split()[0], 'torch', torch.__version__, torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'no cuda')"
  mkdir -p /tmp/site
  for spec in nltk:nltk defusedxml:defusedxml umap:umap_learn pynndescent:pynndescent; do
    module=${spec%%:*}; wheel=${spec##*:}
    if ! "$PY" -c "import $module" 2>/dev/null; then
      "$PY" -m pip install -q --no-index --no-deps --no-compile --target /tmp/site "$PKGS"/"$wheel"-*.whl \
        && echo "installed $wheel from $PKGS" || echo "no $wheel: carry $PKGS (see the header)"
    fi
  done
  export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
  ls data/01_raw/mnist/ 2>/dev/null || echo "no data/01_raw/mnist: carry it (see the header)"
  echo "setup done at $((SECONDS - START))s"

  echo "== speed (profile, tae; size $SPEED_SIZE) at $((SECONDS - START))s"
  timeout "$SPEED_S" "$PY" benchmarks/speed.py --sections profile,tae --size "$SPEED_SIZE" \
    --out-dir "$PARTS/speed" || echo "speed rc $? (a timeout is 124: the record holds the sections it finished)"

  echo "== quality ($DATASET: kmeans, umap_gmm, then TAKE preset paper, seed $SEED) at $((SECONDS - START))s"
  REM=$((TOTAL_S - (SECONDS - START) - 15 - BASE_MIN))  # BASE_MIN s kept for the baseline
  timeout --signal=INT --kill-after=10 "$REM" "$PY" benchmarks/quality.py --scale full --datasets "$DATASET" \
    --methods kmeans,umap_gmm,take --preset paper --seeds "$SEED" --progress --out-dir "$PARTS/quality" \
    --tag "$DATASET-paper" $SIZE_ARGS ${QUALITY_ARGS:-} \
    || echo "quality rc $? (124 or 130: stopped at ${REM}s, TAKE unfinished; the record holds the runs before it)"

  echo "== baseline (the tae section of $BASELINE, size $BASE_SIZE) at $((SECONDS - START))s"
  BASE_REM=$((TOTAL_S - (SECONDS - START) - 10)); [ "$BASE_REM" -gt "$BASE_S" ] && BASE_REM=$BASE_S
  if [ "$BASE_REM" -lt 30 ]; then
    echo "no time left for the baseline (${BASE_REM}s): no ratios on this card"
  elif [ -f "$BASELINE/benchmarks/speed.py" ]; then
    case "$PY" in */*) PY_ABS=$(cd "$(dirname "$PY")" && pwd)/$(basename "$PY") ;; *) PY_ABS=$PY ;; esac
    mkdir -p "$PARTS/baseline" && cp "$BASELINE/COMMIT" "$PARTS/baseline/COMMIT" 2>/dev/null
    # its own src first on the path; run from its root so that its speed.py finds its own conf
    (cd "$BASELINE" && PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" timeout "$BASE_REM" "$PY_ABS" \
      benchmarks/speed.py --sections tae --size "$BASE_SIZE" --out-dir "$PARTS/baseline") \
      || echo "baseline rc $? (124: out of time; no ratios)"
  else
    echo "no $BASELINE/benchmarks/speed.py: carry the baseline tree for ratios on this card (see the header)"
  fi

  echo "== results at $((SECONDS - START))s"
  "$PY" benchmarks/gpu_results.py "$PARTS" "$OUT/gpu-results.md" --wall-s $((SECONDS - START))
  rm -rf "$PARTS"
  echo "== end at $((SECONDS - START))s"
} 2>&1 | tee "$OUT/gpu-log.txt"
