"""Fixtures for the feature tests: tiny images, a tiny PPDB file and POS tagger (the tiny BERT: tests/conftest.py).

Everything is written to tmp_path and built offline: no network, no downloaded weights.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

# PPDB 2.0 text format as nlpaug's Ppdb.read parses it: 6 fields separated by "|||":
# [constituent] ||| phrase ||| paraphrase ||| features ||| alignment ||| entailment
PPDB_LINES = [
    "[JJ] ||| good ||| fine ||| PPDB2.0Score=3.9 AGigaSim=0.71 ||| 0-0 ||| Equivalence",
    "[JJ] ||| good ||| nice ||| PPDB2.0Score=3.7 AGigaSim=0.65 ||| 0-0 ||| Equivalence",
    "[JJ] ||| big ||| large ||| PPDB2.0Score=4.1 AGigaSim=0.80 ||| 0-0 ||| Equivalence",
    "[JJ] ||| big ||| huge ||| PPDB2.0Score=3.5 AGigaSim=0.62 ||| 0-0 ||| Equivalence",
    "[NN] ||| car ||| automobile ||| PPDB2.0Score=3.8 AGigaSim=0.75 ||| 0-0 ||| Equivalence",
]
PPDB_SYNONYMS = {"good": {"fine", "nice"}, "big": {"large", "huge"}, "car": {"automobile"}}

# A perceptron tagger that knows only its tag dictionary: enough for nltk.pos_tag on our words.
TAGDICT = {"the": "DT", "a": "DT", "good": "JJ", "big": "JJ", "red": "JJ", "car": "NN", "dog": "NN",
           "news": "NN", "world": "NN", "is": "VBZ", "runs": "VBZ", "fast": "RB"}


@pytest.fixture
def gray_images() -> np.ndarray:
    return np.random.default_rng(0).random((5, 12, 12), dtype=np.float32)  # (N, H, W) in [0, 1]


@pytest.fixture
def rgb_images() -> np.ndarray:
    return np.random.default_rng(1).integers(0, 256, (4, 16, 12, 3), dtype=np.uint8)  # (N, H, W, 3)


@pytest.fixture
def ppdb_file(tmp_path):
    path = tmp_path / "ppdb-tiny.txt"
    path.write_text("\n".join(PPDB_LINES) + "\n")
    return path


@pytest.fixture
def nltk_root(tmp_path, monkeypatch):
    """An nltk data root holding only a tiny English POS tagger; NLTK_DATA points at it.

    nltk's search path and tagger cache are restored afterwards, so nothing leaks to other tests.
    """
    import nltk
    import nltk.tag

    root = tmp_path / "nltk_data"
    tagger = root / "taggers" / "averaged_perceptron_tagger_eng"
    tagger.mkdir(parents=True)
    name = "averaged_perceptron_tagger_eng"
    (tagger / f"{name}.weights.json").write_text(json.dumps({}))
    (tagger / f"{name}.tagdict.json").write_text(json.dumps(TAGDICT))
    (tagger / f"{name}.classes.json").write_text(json.dumps(sorted(set(TAGDICT.values()) | {"NN"})))
    monkeypatch.setenv("NLTK_DATA", str(root))
    monkeypatch.setattr(nltk.data, "path", [])  # only our root: real data elsewhere must not count
    nltk.tag._get_tagger.cache_clear()
    yield root
    nltk.tag._get_tagger.cache_clear()
