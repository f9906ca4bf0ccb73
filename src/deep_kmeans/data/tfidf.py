"""Tf-idf of the most frequent Porter stems, the document representation of the Reuters sets.

DEC (and TAKE after it) feed REUTERS-10k to the network as tf-idf over the 2,000 most frequent word
stems. The same recipe turns the offline Reuters-21578 copy into vectors of the same kind. Porter
stemming comes from nltk's ``PorterStemmer``, which needs no downloaded nltk data.
"""

from __future__ import annotations

import re
from collections import Counter

import numpy as np
from nltk.stem import PorterStemmer
from scipy import sparse
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, TfidfTransformer

_WORD = re.compile(r"[a-z]+")


def stem_tokens(text: str, stemmer: PorterStemmer, cache: dict[str, str]) -> list[str]:
    """Lowercase alphabetic words of length ≥ 2 that are not English stop words, Porter-stemmed.

    ``cache`` memoises the stemmer (the same few thousand words recur in every document), which makes
    stemming a 10k-document corpus take seconds rather than a minute.
    """
    stems = []
    for word in _WORD.findall(text.lower()):
        if len(word) < 2 or word in ENGLISH_STOP_WORDS:
            continue
        stem = cache.get(word)
        if stem is None:
            stem = cache[word] = stemmer.stem(word)
        stems.append(stem)
    return stems


def top_stems(docs: list[list[str]], max_features: int) -> list[str]:
    """The ``max_features`` stems with the highest total count, ties broken alphabetically; sorted.

    Breaking ties by the stem itself (not by dict order) keeps the vocabulary deterministic.
    """
    counts = Counter(stem for doc in docs for stem in doc)
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:max_features]
    return sorted(stem for stem, _ in ranked)


def count_matrix(docs: list[list[str]], vocabulary: list[str]) -> sparse.csr_matrix:
    """Document × stem counts restricted to ``vocabulary`` (other stems are dropped)."""
    index = {stem: j for j, stem in enumerate(vocabulary)}
    rows, cols = [], []
    for i, doc in enumerate(docs):
        for stem in doc:
            j = index.get(stem)
            if j is not None:
                rows.append(i)
                cols.append(j)
    data = np.ones(len(rows), dtype=np.float64)
    m = sparse.csr_matrix((data, (rows, cols)), shape=(len(docs), len(vocabulary)))
    m.sum_duplicates()
    return m


def stemmed_tfidf(texts: list[str], max_features: int = 2000) -> tuple[np.ndarray, list[str]]:
    """Dense float32 tf-idf (N, V) of the ``max_features`` most frequent stems, rows L2-normalised.

    V = ``max_features`` unless the corpus has fewer distinct stems (tiny corpora), in which case all
    of them are kept. Returns the matrix and the vocabulary (the stem of each column). Tf-idf uses
    scikit-learn's ``TfidfTransformer`` defaults (smooth idf, L2 rows); a document with none of the
    kept stems is a zero row.
    """
    if max_features < 1:
        raise ValueError(f"max_features must be positive, got {max_features}")
    if not texts:
        raise ValueError("stemmed_tfidf needs at least one text")
    stemmer, cache = PorterStemmer(), {}
    docs = [stem_tokens(t, stemmer, cache) for t in texts]
    vocabulary = top_stems(docs, max_features)
    if not vocabulary:
        raise ValueError("no words left after tokenising, stop-word removal and stemming: the texts are empty")
    counts = count_matrix(docs, vocabulary)
    x = TfidfTransformer().fit_transform(counts)
    return np.asarray(x.toarray(), dtype=np.float32), vocabulary
