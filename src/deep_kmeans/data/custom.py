"""Your own data: a table (.csv, .parquet), an array (.npy, .npz) or a folder of images, as a ``raw_data`` record.

``dataset=custom`` runs every pipeline on it. What each source gives:

* ``.csv`` / ``.parquet``: the numeric columns are the features; ``label_column`` names optional
  ground-truth labels (any values: mapped to 0..K-1 in sorted order) and ``id_column`` an id carried to
  the outputs. Columns of free text (several words a cell, mostly distinct: :func:`is_text_column`) make a
  ``text`` record instead, embedded by the sentence encoder with synonym views as AG News is; other
  non-numeric columns (categories) are an error that names them (drop them or name them).
* ``.npy``: X, a 2-D numeric array (samples × features).
* ``.npz``: X under ``X`` (or ``x``), optional labels under ``y``, optional ids under ``ids``.
* a folder: every image below it (png, jpg, jpeg, bmp, gif, tif, webp), resized to
  ``image_size`` × ``image_size`` RGB; when every image sits in a sub-folder, the sub-folders are the
  classes. Images go through the ImageNet backbone of ``features.backbone``.

Every problem is reported before any long work, naming the file, what is wrong and the fix:
unreadable files, no rows, no numeric columns, NaN or infinite cells (``nan: error`` says how many and in
which columns; ``nan: drop`` drops those rows and says how many), a label column that does not exist, an
image folder without images, rows that are all identical (nothing to cluster). The record's kind is
``vector`` (tables and arrays) or ``rgb`` (images); ``image_layout`` says whether the rows of a table or array
are images (declared with ``image_shape=HxW[xC]``, or detected: :mod:`deep_kmeans.data.image_layout`).

Reading is bounded: before a byte is read, a path that is not a regular file or folder (a device such as a
link to ``/dev/zero``, a FIFO, a socket) is refused, and so is a file (or an image folder, or the arrays
of an ``.npz`` unpacked) larger than ``max_bytes`` (``auto``: an eighth of this machine's memory, since
the data is held a few times over while its features are built).
"""

from __future__ import annotations

import logging
import os
import stat
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from deep_kmeans.data.image_layout import image_layout
from deep_kmeans.data.validation import check_distinct_rows
from deep_kmeans.errors import UserError

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
TABLE_SUFFIXES = (".csv", ".parquet", ".pq")
ARRAY_SUFFIXES = (".npy", ".npz")
NAN_POLICIES = ("error", "drop")


@dataclass(frozen=True)
class CustomSource:
    """Where the user's data is: what the catalog entry ``custom_source`` hands to the data node.

    ``filepath`` is the file or folder (``--params=custom.path=PATH`` fills it, or point the
    ``custom_source`` entry at it in ``conf/local/catalog.yml``); empty when not configured.
    """

    filepath: str = ""

    @property
    def path(self) -> Path | None:
        return Path(self.filepath).expanduser() if self.filepath else None


class CustomDataError(UserError, ValueError):
    """The user's data cannot be used as it is; the message says what to change."""


def _fail(source, problem: str, fix: str) -> CustomDataError:
    return CustomDataError(f"{source}: {problem}. {fix}")


def auto_max_bytes() -> int:
    """``custom.max_bytes: auto``: an eighth of the physical memory (the data is held a few times over while
    its features are built); 4 GiB where the memory size is unknown."""
    try:
        return int(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")) // 8
    except (ValueError, OSError, AttributeError):  # not a POSIX system
        return 4 * 2 ** 30


def _gib(n: int) -> str:
    return f"{n / 2 ** 30:.2f} GiB" if n >= 2 ** 30 else f"{n / 2 ** 20:.1f} MiB"


def check_bounded(path: Path, max_bytes: int | str | None = "auto") -> None:
    """Refuse, before reading, what could not be read in bounded time and memory: anything but a regular file
    or a folder (a device, a link to one, a FIFO, a socket), and a file, image folder or unpacked ``.npz``
    larger than ``max_bytes`` (``auto``/None: :func:`auto_max_bytes`)."""
    limit = auto_max_bytes() if max_bytes in (None, "auto") else int(max_bytes)
    try:
        st = path.stat()  # follows links: a `data.csv` link to /dev/zero is a device
    except OSError as err:
        raise _fail(path, f"cannot be read ({err.strerror or err})", f"Give custom.path as {describe_sources()}.")
    if stat.S_ISDIR(st.st_mode):
        size = sum(f.stat().st_size for f in path.rglob("*")
                   if f.suffix.lower() in IMAGE_SUFFIXES and f.is_file())
    elif stat.S_ISREG(st.st_mode):
        size = st.st_size
    else:
        kind = ("a character device" if stat.S_ISCHR(st.st_mode) else "a block device" if stat.S_ISBLK(st.st_mode)
                else "a FIFO (named pipe)" if stat.S_ISFIFO(st.st_mode) else "a socket" if stat.S_ISSOCK(st.st_mode)
                else "not a regular file")
        target = f" (it points to {path.resolve()})" if path.is_symlink() else ""
        raise _fail(path, f"is {kind}{target}, not a file: it could be read without end",
                    f"Give custom.path as {describe_sources()}; copy streamed data to a file first.")
    if path.suffix.lower() == ".npz" and stat.S_ISREG(st.st_mode):
        size = max(size, _npz_unpacked_bytes(path))
    if size > limit:
        raise _fail(path, f"{_gib(size)} of data, more than custom.max_bytes={limit} ({_gib(limit)})",
                    "Raise custom.max_bytes (--params=custom.max_bytes=<bytes>) if this machine has the memory, or "
                    "sample the data first.")


def _npz_unpacked_bytes(path: Path) -> int:
    """The bytes of the arrays of an ``.npz`` once unpacked, from their headers (a compressed archive can hold
    far more than its file size); 0 when it is not a readable archive (the reader says why)."""
    import zipfile

    total = 0
    try:
        with zipfile.ZipFile(path) as archive:
            for name in archive.namelist():
                with archive.open(name) as fh:
                    version = np.lib.format.read_magic(fh)
                    read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                                   else np.lib.format.read_array_header_2_0)
                    shape, _, dtype = read_header(fh)
                    total += int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    except Exception:  # noqa: BLE001 - not an archive of arrays: np.load reports it
        return 0
    return total


def describe_sources() -> str:
    return ("a .csv or .parquet table, a .npy or .npz array, or a folder of images "
            f"({', '.join(IMAGE_SUFFIXES)})")


def read_custom(source: CustomSource | str | Path, *, label_column: str | None = None, id_column: str | None = None,
                nan: str = "error", image_size: int = 32, max_rows: int | None = None,
                max_bytes: int | str | None = "auto", optional_columns: bool = False, image_shape="auto",
                new_rows: bool = False) -> dict:
    """The ``raw_data`` record of the user's data (see the module docstring).

    The record has the usual keys plus ``ids`` (list of str, or None), ``columns`` (feature names of a table,
    or None) and ``table_schema`` (a table's column types and its id and label columns, what the MLflow model's
    signature is made of, or None); ``y`` is None and ``classes`` empty when there are no labels.
    ``optional_columns``: a label or id column that the table lacks is not an error (new rows to assign by a
    model trained with one: they may come without labels).
    ``new_rows``: rows for a trained model to assign (``take_predict``), so one row, or rows all alike, are fine:
    the checks that data can be clustered (distinct rows, differing texts) are for training.
    ``image_shape``: whether the rows of a table or array are images (``auto``: detected where unambiguous;
    ``none``; ``HxW[xC]``): the record's ``image_layout`` (:func:`deep_kmeans.data.image_layout.image_layout`),
    None for a table and for an image folder (which the backbone reads).
    """
    path = source.path if isinstance(source, CustomSource) else Path(source).expanduser()
    if path is None:
        raise CustomDataError(
            "dataset=custom needs your data: pass --params=\"dataset=custom,custom.path=PATH,n_clusters=K\" with PATH "
            f"{describe_sources()}, or point the `custom_source` entry at it in conf/local/catalog.yml")
    if nan not in NAN_POLICIES:
        raise _fail("custom.nan", f"{nan!r} is not a NaN policy", f"Use one of {', '.join(NAN_POLICIES)}.")
    if not path.exists():
        raise _fail(path, "no such file or folder", f"Give custom.path as {describe_sources()}.")
    check_bounded(path, max_bytes)
    if path.is_dir():
        if label_column or id_column:
            raise _fail(path, "label_column / id_column apply to tables, not image folders",
                        "Put each class's images in a sub-folder instead (class sub-folders give the labels).")
        record = read_image_folder(path, image_size=image_size)
        if not new_rows:
            check_distinct_rows(record["x"], None, str(path))
        return {**record, "image_layout": None}
    suffix = path.suffix.lower()
    if suffix in TABLE_SUFFIXES:
        record = read_table(path, label_column=label_column, id_column=id_column, nan=nan,
                            optional_columns=optional_columns)
    elif suffix in ARRAY_SUFFIXES:
        if label_column or id_column:
            raise _fail(path, "label_column / id_column apply to tables",
                        "In a .npz, store the labels under `y` and the ids under `ids`.")
        record = read_array(path, nan=nan)
    else:
        raise _fail(path, f"unsupported file type {suffix or '(none)'}", f"Give {describe_sources()}.")
    n_rows = len(record["texts"] if record["kind"] == "text" else record["x"])
    if max_rows is not None and n_rows > max_rows:
        raise _fail(path, f"{n_rows} rows, more than custom.max_rows={max_rows}",
                    "Raise custom.max_rows or sample the file first.")
    if record["kind"] == "text":
        if len(set(record["texts"])) < 2 and not new_rows:
            raise _fail(path, f"all {n_rows} texts are the same", "There is nothing to cluster: give differing texts.")
        logger.info("custom: %s holds text (columns %s): %d texts for features.text_encoder", path,
                    ", ".join(record["columns"]), n_rows)
        return {**record, "image_layout": None}
    if not new_rows:  # constant data: said here, before any feature or training
        check_distinct_rows(record["x"], None, str(path))
    record["image_layout"] = image_layout(record["x"], image_shape, str(path))
    return record


def _labels(values, source) -> tuple[np.ndarray, list[str]]:
    """Any label values → int64 0..K-1 in sorted order of their string form, and the class names."""
    values = np.asarray(values)
    if values.dtype.kind == "f" and not np.isfinite(values).all():
        raise _fail(source, "the labels have missing values", "Fill them or drop those rows.")
    names = np.asarray([str(v) for v in values.tolist()])
    classes, y = np.unique(names, return_inverse=True)
    return y.astype(np.int64), [str(c) for c in classes]


def _finite_rows(x: np.ndarray, columns: list[str], nan: str, source) -> np.ndarray:
    """The mask of rows to keep; an error naming the bad columns under ``nan: error``."""
    bad = ~np.isfinite(x)
    if not bad.any():
        return np.ones(len(x), dtype=bool)
    per_column = bad.sum(axis=0)
    worst = ", ".join(f"{columns[j]} ({int(per_column[j])})" for j in np.flatnonzero(per_column)[:10])
    n_rows = int(bad.any(axis=1).sum())
    if nan == "error":
        raise _fail(source, f"{int(bad.sum())} NaN or infinite cells in {n_rows} rows, in columns {worst}",
                    "Clean them, or pass --params=custom.nan=drop to drop those rows.")
    return ~bad.any(axis=1)


def _record(x, y, classes, source, kind: str, ids=None, columns=None, table_schema=None) -> dict:
    return {"name": "custom", "kind": kind, "x": x, "texts": None, "y": y, "classes": classes,
            "source": str(source), "ids": ids, "columns": columns, "table_schema": table_schema}


def column_type(dtype) -> str:
    """A column's type as an MLflow signature names it: ``long`` (integers), ``double``, ``boolean``, ``string``."""
    kind = getattr(dtype, "kind", "O")
    return {"i": "long", "u": "long", "f": "double", "b": "boolean"}.get(kind, "string")


def read_table(path: Path, *, label_column: str | None, id_column: str | None, nan: str,
               optional_columns: bool = False) -> dict:
    import pandas as pd

    try:
        df = pd.read_csv(path) if path.suffix.lower() == ".csv" else pd.read_parquet(path)
    except Exception as err:  # noqa: BLE001 - any reader error: name the file
        raise _fail(path, f"cannot be read as a table ({type(err).__name__}: {err})",
                    "Check that it is a valid CSV (comma-separated, one header row) or Parquet file.") from err
    if len(df) == 0:
        raise _fail(path, f"no rows (only a header: {', '.join(map(str, df.columns[:10]))})" if len(df.columns)
                    else "no rows and no columns", "Give a table with one row per sample under its header.")
    for role, name in (("label_column", label_column), ("id_column", id_column)):
        if name is not None and name not in df.columns:
            if optional_columns:  # new rows without the labels (or ids) the model was trained with
                label_column, id_column = (None, id_column) if role == "label_column" else (label_column, None)
                continue
            raise _fail(path, f"custom.{role}={name!r} is not a column",
                        f"The columns are: {', '.join(map(str, df.columns[:30]))}.")
    features = df.drop(columns=[c for c in (label_column, id_column) if c is not None])
    numeric = features.select_dtypes(include="number")
    other = [c for c in features.columns if c not in numeric.columns]
    texts = [c for c in other if is_text_column(features[c])]
    other = [str(c) for c in other if c not in texts]
    if numeric.shape[1] == 0 and not texts:
        raise _fail(path, "no numeric columns to cluster",
                    "The features must be numeric columns, or free text (several words a cell)")
    if other:
        raise _fail(path, f"non-numeric columns {', '.join(other[:10])}",
                    "Drop them from the file, or name the label / id column (custom.label_column, custom.id_column); "
                    "free text (several words a cell) goes through the sentence encoder")
    if texts and numeric.shape[1]:
        raise _fail(path, f"text columns ({', '.join(map(str, texts[:5]))}) beside numeric feature columns "
                    f"({', '.join(map(str, numeric.columns[:5]))})",
                    "Cluster one or the other: drop the numeric columns to cluster the texts (through the sentence "
                    "encoder), or the text columns to cluster the numbers")
    if texts:
        return _text_table(df, texts, label_column, id_column, path)
    x = numeric.to_numpy(dtype=np.float64)
    columns = [str(c) for c in numeric.columns]
    keep = _finite_rows(x, columns, nan, path)
    df, x = df[keep], x[keep]
    if len(x) == 0:
        raise _fail(path, "no rows left", "The table is empty, or every row has a NaN.")
    y, classes = (None, []) if label_column is None else _labels(df[label_column].to_numpy(), path)
    ids = None if id_column is None else [str(v) for v in df[id_column].tolist()]
    table_schema = {"columns": {str(c): column_type(numeric[c].dtype) for c in numeric.columns},
                    "id_column": None if id_column is None else [id_column, column_type(df[id_column].dtype)],
                    "label_column": None if label_column is None else [label_column,
                                                                       column_type(df[label_column].dtype)]}
    return _record(x.astype(np.float32), y, classes, path, "vector", ids=ids, columns=columns,
                   table_schema=table_schema)


# a column of free text, not a categorical one: most cells hold several words and most are distinct
TEXT_MIN_WORDS = 3.0


def is_text_column(values) -> bool:
    """Whether a non-numeric column holds free text (sentences, titles: at least ``TEXT_MIN_WORDS`` words a cell on
    average, and more than half of the cells distinct), which the sentence encoder embeds, rather than categories
    (``Biscoe``, ``male``), which are an error to name or drop."""
    cells = [v for v in values.tolist() if isinstance(v, str)]
    if not cells or len(cells) < len(values) / 2:
        return False
    words = np.mean([len(v.split()) for v in cells])
    return bool(words >= TEXT_MIN_WORDS and len(set(cells)) > len(cells) / 2)


def joined_texts(df, columns: list) -> list[str]:
    """One text a row: the row's non-empty cells of ``columns`` joined with ". " (what the sentence encoder reads)."""
    cells = df[columns].fillna("").astype(str)
    return [". ".join(v for v in row if v.strip()) for row in cells.itertuples(index=False)]


def _text_table(df, texts: list, label_column: str | None, id_column: str | None, path: Path) -> dict:
    """A table whose features are free text: a ``text`` record (the cells of several text columns joined with
    ". "), embedded by ``features.text_encoder`` with synonym-replacement views, as AG News is."""
    rows = joined_texts(df, texts)
    keep = np.array([bool(r.strip()) for r in rows])
    if not keep.any():
        raise _fail(path, f"the text columns {', '.join(map(str, texts))} are empty", "Give one text per row.")
    df = df[keep]
    y, classes = (None, []) if label_column is None else _labels(df[label_column].to_numpy(), path)
    ids = None if id_column is None else [str(v) for v in df[id_column].tolist()]
    columns = [str(c) for c in texts]
    table_schema = {"columns": {c: "string" for c in columns},
                    "id_column": None if id_column is None else [id_column, column_type(df[id_column].dtype)],
                    "label_column": None if label_column is None else [label_column,
                                                                       column_type(df[label_column].dtype)]}
    record = _record(None, y, classes, path, "text", ids=ids, columns=columns, table_schema=table_schema)
    return {**record, "texts": [r for r, k in zip(rows, keep) if k]}


def read_array(path: Path, *, nan: str) -> dict:
    try:
        if path.suffix.lower() == ".npy":
            arrays = {"X": np.load(path, allow_pickle=False)}
        else:
            with np.load(path, allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
    except Exception as err:  # noqa: BLE001
        raise _fail(path, f"cannot be read ({type(err).__name__}: {err})",
                    "Save it with numpy.save / numpy.savez (no pickled objects).") from err
    key = "X" if "X" in arrays else "x" if "x" in arrays else None
    if key is None:
        raise _fail(path, f"no array named X (found {', '.join(arrays) or 'none'})",
                    "Save the features as numpy.savez(path, X=features, y=labels).")
    x = arrays[key]
    if x.ndim != 2 or x.dtype.kind not in "fiub":
        raise _fail(path, f"X must be a 2-D numeric array (samples × features), got {x.dtype} of shape {x.shape}",
                    "Flatten images to rows, or give a folder of images instead.")
    x = x.astype(np.float64)
    keep = _finite_rows(x, [f"column {j}" for j in range(x.shape[1])], nan, path)
    y, classes = None, []
    if "y" in arrays:
        if len(arrays["y"]) != len(x):
            raise _fail(path, f"{len(x)} rows of X but {len(arrays['y'])} labels", "Give one label per row.")
        y, classes = _labels(arrays["y"][keep], path)
    ids = None
    if "ids" in arrays:
        ids = [str(v) for v in np.asarray(arrays["ids"])[keep].tolist()]
    return _record(x[keep].astype(np.float32), y, classes, path, "vector", ids=ids)


def read_image_folder(folder: Path, *, image_size: int = 32) -> dict:
    from PIL import Image, UnidentifiedImageError

    if image_size < 8:
        raise _fail("custom.image_size", f"{image_size} is too small", "Use at least 8 pixels.")
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise _fail(folder, "no images in this folder or below it",
                    f"Put image files ({', '.join(IMAGE_SUFFIXES)}) there, one sub-folder per class if known.")
    images = np.empty((len(files), image_size, image_size, 3), dtype=np.uint8)
    for i, f in enumerate(files):
        try:
            with Image.open(f) as im:
                images[i] = np.asarray(im.convert("RGB").resize((image_size, image_size), Image.BILINEAR))
        except (OSError, UnidentifiedImageError) as err:
            raise _fail(f, f"cannot be read as an image ({err})", "Delete or replace the file.") from err
    parents = [f.parent for f in files]
    y, classes = None, []
    if all(p != folder for p in parents):  # every image in a sub-folder: those are the classes
        y, classes = _labels([str(p.relative_to(folder).parts[0]) for p in parents], folder)
        if len(classes) < 2:
            y, classes = None, []  # one sub-folder holding everything is not a labelling
    ids = [str(f.relative_to(folder)) for f in files]
    return _record(images, y, classes, folder, "rgb", ids=ids)
