#!/usr/bin/env bash
# Serve the latest finished TAKE run's MLflow model (not a collapsed one) and ask it for clusters over HTTP:
#   bash scripts/serve_check.sh [run_id]
# Needs a finished `kedro run --pipeline=take` in ./mlflow.db (the default digits run is fine). Starts
# `mlflow models serve --env-manager local` on port ${PORT:-5055}, POSTs the first 5 training rows to
# /invocations and prints the cluster ids it answers; exits non-zero if serving or the answer fails.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="$PWD/${VENV:-.venv}/bin"
export PATH="$BIN:$PATH"  # mlflow models serve starts uvicorn from the venv
PORT="${PORT:-5055}"
export MLFLOW_TRACKING_URI="${MLFLOW_TRACKING_URI:-sqlite:///mlflow.db}"
RUN_ID="${1:-$("$BIN/python" - <<'PY'
import mlflow
runs = mlflow.search_runs(experiment_names=["deep_kmeans"], filter_string="tags.pipeline = 'take' and status = 'FINISHED'",
                          order_by=["start_time DESC"], max_results=100)
# a run whose clustering collapsed (tag `warning`) is not served by default: name its id to serve it anyway
if "tags.warning" in runs:
    runs = runs[runs["tags.warning"].isna()]
if runs.empty:
    raise SystemExit("no finished take run without a collapse in this tracking store: run `kedro run --pipeline=take` first")
print(runs.iloc[0].run_id)
PY
)}"
echo "serving runs:/$RUN_ID/model on port $PORT"
"$BIN/mlflow" models serve -m "runs:/$RUN_ID/model" --env-manager local -p "$PORT" > /tmp/serve_check.log 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 1 120); do
  curl -sf "http://127.0.0.1:$PORT/ping" > /dev/null && break
  sleep 1
done
PAYLOAD="$("$BIN/python" - "$RUN_ID" <<'PY'
import json, sys
import mlflow
model = mlflow.pyfunc.load_model(f"runs:/{sys.argv[1]}/model")
inner = model.unwrap_python_model().model
dim = inner["geometry"]["dim"]
cols = (inner.get("preprocess") or {}).get("columns")
from sklearn.datasets import load_digits
x = (load_digits().data[:5] / 16.0).tolist() if dim == 64 and not cols else [[0.0] * dim] * 5
print(json.dumps({"dataframe_split": {"columns": cols or list(range(dim)), "data": x}}))
PY
)"
ANSWER="$(curl -sf -X POST -H 'Content-Type: application/json' --data "$PAYLOAD" "http://127.0.0.1:$PORT/invocations")"
echo "answer: $ANSWER"
echo "$ANSWER" | grep -q '"predictions"'
