"""stemmed_tfidf: tokenising, stop words, stemming, vocabulary size and tf-idf rows."""

from __future__ import annotations

import numpy as np
import pytest

from deep_kmeans.data.tfidf import stemmed_tfidf

TEXTS = [
    "The companies are running and the company runs.",
    "Oil prices: crude oil rose 5 pct; OPEC's output x fell.",
    "Trade deficit and trade surplus, imports and exports.",
    "Running runs runner",
]


def test_shapes_norms_and_vocabulary():
    x, vocab = stemmed_tfidf(TEXTS)
    assert x.dtype == np.float32 and x.shape == (4, len(vocab)) and len(vocab) < 2000
    assert (x >= 0).all() and np.isfinite(x).all()
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1, rtol=1e-5)
    assert vocab == sorted(vocab)
    assert {"run", "compani", "oil", "trade"} <= set(vocab)
    assert not {"the", "and", "are", "x", "s", "5"} & set(vocab)  # stop words, 1-letter, digits


def test_max_features_keeps_the_most_frequent_stems():
    x, vocab = stemmed_tfidf(TEXTS, max_features=3)
    # run ×4 (running, runs ×2 each; 'runner' stays 'runner'); compani, oil, trade ×2 each
    assert x.shape == (4, 3) and "run" in vocab
    assert vocab == sorted(vocab)
    assert set(vocab) == {"run", "compani", "oil"}  # ties at count 2 broken alphabetically


def test_deterministic_and_idf_weighting():
    a, va = stemmed_tfidf(TEXTS)
    b, vb = stemmed_tfidf(list(TEXTS))
    np.testing.assert_array_equal(a, b)
    assert va == vb
    x, vocab = stemmed_tfidf(["common rare", "common other", "common thing"])
    row = dict(zip(vocab, x[0]))
    assert row["rare"] > row["common"] > 0


def test_document_without_kept_stems_is_zero_row():
    x, _ = stemmed_tfidf(["alpha beta", "the and of"])
    assert np.count_nonzero(x[1]) == 0


def test_errors():
    with pytest.raises(ValueError, match="at least one text"):
        stemmed_tfidf([])
    with pytest.raises(ValueError, match="positive"):
        stemmed_tfidf(["a"], max_features=0)
    with pytest.raises(ValueError, match="no words left"):
        stemmed_tfidf(["the and", "12 34"])
