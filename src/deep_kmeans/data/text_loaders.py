"""Raw loaders of the text data sets: REUTERS-10k (RCV1), Reuters-21578 and AG News (see
:mod:`deep_kmeans.data.loaders` for what every loader promises)."""

from __future__ import annotations

import csv
import html
import logging
import re
import shutil
import urllib.request
from pathlib import Path

import numpy as np
from sklearn.datasets import fetch_rcv1

from deep_kmeans.data.validation import corrupt_file_error
from deep_kmeans.data.tfidf import stemmed_tfidf
from deep_kmeans.data.readers import SHARED_README, balanced_indices, missing_error, raw_record

log = logging.getLogger(__name__)

RCV1_ROOTS = ["CCAT", "GCAT", "MCAT", "ECAT"]  # DEC's order
REUTERS21578_TOPICS = ["earn", "acq", "crude", "trade"]
REUTERS21578_FILES = [f"reut2-{i:03d}.sgm" for i in range(22)]
AGNEWS_CLASSES = ["World", "Sports", "Business", "Sci/Tech"]
AGNEWS_URL = "https://raw.githubusercontent.com/mhjabreel/CharCnn_Keras/master/data/ag_news_csv/{name}"
RCV1_CACHE_FILES = ["samples_py3.pkl", "sample_id_py3.pkl", "sample_topics_py3.pkl", "topics_names_py3.pkl"]


# ---- REUTERS-10k (RCV1) -----------------------------------------------------------------------


def top_df_columns(x, n_terms: int) -> np.ndarray:
    """Column indices of the ``n_terms`` terms present in the most rows (ties: lower index), ascending."""
    df = np.asarray((x > 0).sum(axis=0)).ravel()
    return np.sort(np.argsort(-df, kind="stable")[:n_terms])


def l2_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm; all-zero rows stay zero."""
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(norms > 0, norms, 1)


def load_reuters10k_raw(raw_dir: str | Path, *, n_docs: int = 10000, n_terms: int = 2000, seed: int = 0,
                        download: bool = False) -> dict:
    """REUTERS-10k as DEC builds it from RCV1 (scikit-learn's ``fetch_rcv1``).

    Documents labelled with exactly one of the root categories CCAT, GCAT, MCAT, ECAT; a seeded random
    ``n_docs`` of them; the ``n_terms`` terms with the highest document frequency in that selection;
    rows L2-normalised. scikit-learn's RCV1 vectors are already log-tf-idf, so selecting columns and
    renormalising gives DEC's representation without the original token files.
    """
    raw_dir = Path(raw_dir)
    try:
        bunch = fetch_rcv1(data_home=str(raw_dir), download_if_missing=download)
    except OSError as e:
        raise missing_error(
            "reuters10k", raw_dir,
            f"scikit-learn's RCV1 cache RCV1/{{{','.join(RCV1_CACHE_FILES)}}} ({type(e).__name__}: {e})",
            "REUTERS-10k's source, RCV1, cannot be had offline (no package registry carries it). "
            "Use dataset=reuters21578 instead (Reuters-21578, copied in ../shared/datasets/reuters21578), "
            "or fetch RCV1 on a machine with internet and copy the RCV1 folder here",
            " (sklearn.datasets.fetch_rcv1, about 650 MB)",
        ) from e
    names = [str(n) for n in bunch.target_names]
    missing = [c for c in RCV1_ROOTS if c not in names]
    if missing:
        raise corrupt_file_error(raw_dir / "RCV1", f"the RCV1 topics lack the root categories {', '.join(missing)}")
    roots = bunch.target[:, [names.index(c) for c in RCV1_ROOTS]]
    roots = np.asarray(roots.todense() if hasattr(roots, "todense") else roots) > 0
    eligible = np.flatnonzero(roots.sum(axis=1) == 1)
    if n_docs > len(eligible):
        raise ValueError(f"RCV1 in {raw_dir} has only {len(eligible)} documents with a single root category, "
                         f"fewer than data.options.reuters10k.n_docs={n_docs}: lower it")
    chosen = np.sort(np.random.default_rng(seed).choice(eligible, size=n_docs, replace=False))
    x = bunch.data[chosen]
    cols = top_df_columns(x, n_terms)
    x = x[:, cols]
    x = np.asarray(x.toarray() if hasattr(x, "toarray") else x, dtype=np.float32)
    y = roots[chosen].argmax(axis=1)
    return raw_record("reuters10k", l2_rows(x).astype(np.float32), y, RCV1_ROOTS,
                   f"sklearn.datasets.fetch_rcv1(data_home={raw_dir})")


# ---- Reuters-21578 ----------------------------------------------------------------------------

_REUTERS_BLOCK = re.compile(r"<REUTERS\b[^>]*>(.*?)</REUTERS>", re.S)
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def _tag(block: str, name: str) -> str | None:
    m = re.search(rf"<{name}\b[^>]*>(.*?)</{name}>", block, re.S)
    return m.group(1) if m else None


def _sgml_text(s: str) -> str:
    """Unescape SGML entities (``&lt;``, ``&#3;``) and drop the control characters some encode."""
    return _CONTROL.sub(" ", html.unescape(s)).strip()


def parse_reuters_sgml(path: Path) -> list[dict]:
    """Every ``<REUTERS>`` document of one SGML file: its topics, title and body (None when absent)."""
    text = Path(path).read_text(encoding="latin-1")
    blocks = _REUTERS_BLOCK.findall(text)
    opened = len(re.findall(r"<REUTERS\b", text))
    if opened != len(blocks) or not blocks:
        raise corrupt_file_error(path, f"{opened} <REUTERS> documents opened but {len(blocks)} closed")
    docs = []
    for block in blocks:
        topics = _tag(block, "TOPICS")
        title, body = _tag(block, "TITLE"), _tag(block, "BODY")
        docs.append({
            "topics": re.findall(r"<D>(.*?)</D>", topics or ""),
            "title": None if title is None else _sgml_text(title),
            "body": None if body is None else _sgml_text(body),
        })
    return docs


def load_reuters21578_raw(raw_dir: str | Path, *, files: list[str] | None = None, n_terms: int = 2000,
                          require_body: bool = True, seed: int = 0, download: bool = False) -> dict:
    """Reuters-21578 single-topic documents of earn, acq, crude, trade as stemmed tf-idf.

    A document is kept when its TOPICS list is exactly one of the four topics and, with
    ``require_body`` (default), it has a ``<BODY>``: the 528 title-only ``BRIEF``/``UNPROC`` items would
    otherwise be near-empty vectors. On the full set this gives 6,548 documents (7,076 without).
    Text = title + body. The texts are kept in the record next to the tf-idf.
    """
    raw_dir = Path(raw_dir)
    files = list(files or REUTERS21578_FILES)
    absent = [f for f in files if not (raw_dir / f).is_file()]
    if absent:
        raise missing_error(
            "reuters21578", raw_dir,
            f"the SGML files {', '.join(files)} (missing: {', '.join(absent)})",
            f"copy ../shared/datasets/reuters21578/reut2-*.sgm into {raw_dir.resolve()} (see {SHARED_README})",
            "; there is no automatic download: get reuters21578.tar.gz from the UCI KDD archive "
            "(https://kdd.ics.uci.edu/databases/reuters21578/) and extract it here",
        )
    texts, labels = [], []
    for name in files:
        for doc in parse_reuters_sgml(raw_dir / name):
            if len(doc["topics"]) != 1 or doc["topics"][0] not in REUTERS21578_TOPICS:
                continue
            if require_body and doc["body"] is None:
                continue
            texts.append("\n".join(p for p in (doc["title"], doc["body"]) if p))
            labels.append(REUTERS21578_TOPICS.index(doc["topics"][0]))
    if not texts:
        raise ValueError(f"no earn/acq/crude/trade single-topic documents in {raw_dir} ({', '.join(files)})")
    x, _ = stemmed_tfidf(texts, max_features=n_terms)
    return raw_record("reuters21578", x, labels, REUTERS21578_TOPICS, str(raw_dir), texts=texts)


# ---- AG News ----------------------------------------------------------------------------------

_AG_ESCAPE = re.compile(r"(?<!&)#(\d{2,4});")


def clean_agnews_text(s: str) -> str:
    """Undo AG News' escapes: ``#36;`` for ``&#36;`` ('$'), HTML entities, and backslashes for line breaks."""
    s = html.unescape(_AG_ESCAPE.sub(r"&#\1;", s)).replace("\\", " ")
    return " ".join(s.split())


def read_agnews_csv(path: Path, n_classes: int) -> tuple[list[str], list[int]]:
    """Titles and 0-based labels of one AG News CSV (label 1..K, title, description; header optional)."""
    titles, labels = [], []
    try:
        with open(path, newline="", encoding="utf-8") as f:
            for line, row in enumerate(csv.reader(f), start=1):
                if line == 1 and row and not row[0].strip().isdigit():
                    continue  # a header row such as "Class Index,Title,Description"
                if len(row) < 3:
                    raise corrupt_file_error(path, f"row {line} has {len(row)} fields, expected 3 "
                                                   "(label, title, description)")
                label = row[0].strip()
                if not label.isdigit() or not 1 <= int(label) <= n_classes:
                    raise corrupt_file_error(path, f"row {line} has label {label!r}, expected 1..{n_classes}")
                title = clean_agnews_text(row[1])
                if title:
                    titles.append(title)
                    labels.append(int(label) - 1)
    except (UnicodeDecodeError, csv.Error) as e:
        raise corrupt_file_error(path, f"cannot read it as UTF-8 CSV ({e})") from e
    return titles, labels


def download_agnews(raw_dir: Path, names: list[str]) -> None:
    """Fetch AG News CSVs from the public ag_news_csv mirror (written via a temporary file)."""
    raw_dir.mkdir(parents=True, exist_ok=True)
    for name in names:
        target = raw_dir / name
        if target.is_file():
            continue
        url = AGNEWS_URL.format(name=name)
        log.info("downloading %s to %s", url, target)
        tmp = target.with_suffix(target.suffix + ".part")
        with urllib.request.urlopen(url, timeout=60) as response, open(tmp, "wb") as out:
            shutil.copyfileobj(response, out)
        tmp.replace(target)


def load_agnews_raw(raw_dir: str | Path, *, per_class: int = 2000, files: list[str] | None = None,
                    seed: int = 0, download: bool = False) -> dict:
    """A seeded, class-balanced sample of ``per_class`` AG News titles per class (8,000 by default).

    Reads the CSVs of ``files`` that exist (train.csv and/or test.csv). The paper uses 8,000 titles; the
    offline copy is the test split with 1,900 per class, hence the explicit error when it is too small.
    """
    raw_dir = Path(raw_dir)
    files = list(files or ["train.csv", "test.csv"])
    if download:
        download_agnews(raw_dir, [f for f in files if f in ("train.csv", "test.csv")])
    present = [f for f in files if (raw_dir / f).is_file()]
    if not present:
        raise missing_error(
            "agnews", raw_dir, f"at least one of {', '.join(files)} (CSV: label 1-4, title, description)",
            f"copy ../shared/datasets/agnews/test.csv and classes.txt into {raw_dir.resolve()} "
            "(the test split: 1,900 titles per class, so also set data.options.agnews.per_class=1900; "
            f"see {SHARED_README})",
            f" (from {AGNEWS_URL.format(name='{train,test}.csv')})",
        )
    classes = AGNEWS_CLASSES
    if (raw_dir / "classes.txt").is_file():
        classes = [c.strip() for c in (raw_dir / "classes.txt").read_text(encoding="utf-8").splitlines() if c.strip()]
    titles, labels = [], []
    for name in present:
        t, l = read_agnews_csv(raw_dir / name, len(classes))
        titles += t
        labels += l
    y = np.asarray(labels, dtype=np.int64)
    counts = np.bincount(y, minlength=len(classes))
    short = [f"{classes[k]}: {counts[k]}" for k in range(len(classes)) if counts[k] < per_class]
    if short:
        raise ValueError(
            f"AG News in {raw_dir} ({', '.join(present)}) has fewer than per_class={per_class} titles in some "
            f"classes ({'; '.join(short)} available). Lower data.options.agnews.per_class "
            f"(e.g. --params=data.options.agnews.per_class={int(counts.min())}) or add train.csv to {raw_dir}.")
    keep = balanced_indices(y, [per_class] * len(classes), seed)
    source = ", ".join(str(raw_dir / f) for f in present)
    return raw_record("agnews", None, y[keep], classes, source, texts=[titles[i] for i in keep])
