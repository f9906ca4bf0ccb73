"""Test-wide settings: no telemetry, no hub downloads, the shared offline data folder, and a tiny BERT."""

import os
from pathlib import Path

import pytest
import torch

os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "true")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATASETS = PROJECT_ROOT.parent / "shared" / "datasets"
# The tiny BERT's vocabulary (tiny_bert)
WORDS = ["the", "a", "good", "big", "car", "dog", "is", "red", "runs", "fast", "news", "world",
         "sports", "fine", "nice", "large", "huge", "automobile", ".", ","]
SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


@pytest.fixture(scope="session")
def project_root() -> Path:
    return PROJECT_ROOT


@pytest.fixture(scope="session")
def shared_datasets() -> Path:
    if not SHARED_DATASETS.is_dir():
        pytest.skip(f"the offline data copies are not at {SHARED_DATASETS} (only our machines have ../shared)")
    return SHARED_DATASETS


@pytest.fixture(autouse=True)
def unsampled_load(monkeypatch):
    """Runs read the load average, without the quarter second of sleep that measures other processes' cores
    (runtime.cpu_load): hundreds of runs here; what the sampling measures is tested in test_runtime.py."""
    monkeypatch.setattr("deep_kmeans.runtime.OTHERS_SAMPLE_SECONDS", 0.0)


@pytest.fixture(scope="module")
def one_thread():
    """One torch intra-op thread for a test module: on two shared cores, two OpenMP threads competing with
    other processes make small nets (and a ResNet50 forward) several times slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def blank_project(project_root, tmp_path) -> Path:
    """A scratch copy of the project with what Kedro needs to start (pyproject.toml, conf/base, an empty
    conf/local): no data, no runs."""
    import shutil

    dest = tmp_path / "project"
    dest.mkdir()
    shutil.copy(project_root / "pyproject.toml", dest)
    (dest / "src").mkdir()  # kedro wants it; the package itself is imported from the install
    shutil.copytree(project_root / "conf" / "base", dest / "conf" / "base")
    (dest / "conf" / "local").mkdir()
    return dest


@pytest.fixture
def offline_hf(monkeypatch, tmp_path):
    """Hugging Face offline, with an empty cache: nothing can reach the network."""
    from huggingface_hub import constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)  # read at import time, so patch it too
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf" / "hub"))


@pytest.fixture
def tiny_bert(tmp_path, offline_hf):
    """(tokenizer, model): a 1-layer, 32-wide BERT on a 25-word WordPiece vocabulary."""
    from transformers import BertConfig, BertModel, BertTokenizerFast

    vocab = tmp_path / "vocab.txt"
    vocab.write_text("\n".join(SPECIAL + WORDS) + "\n")
    tokenizer = BertTokenizerFast(vocab_file=str(vocab))
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(SPECIAL + WORDS), hidden_size=32, num_hidden_layers=1,
                        num_attention_heads=2, intermediate_size=37, max_position_embeddings=64)
    return tokenizer, BertModel(config).eval()
