"""TAKE as an MLflow model that works outside the project: ``mlflow.pyfunc.load_model("runs:/<id>/model")``.

The pyfunc model carries what the run trained (the TAE, KNet and the feature preprocessing of the training
data) and assigns rows of a DataFrame: the columns of the training table (any order) for your own data,
or the model input itself (pixels in [0, 1], feature vectors) for the built-in data sets. ``predict``
returns one cluster id per row. The run logs it at artifact path ``model`` (catalog entry
``take.mlflow_model``, kedro-mlflow's ``MlflowModelTrackingDataset``) after the evaluation, so the logged model
carries the run's own final metrics (MLflow links the run's step-0 metrics to a model when it is logged);
``mlflow models serve -m runs:/<id>/model --env-manager local`` serves it (``scripts/serve_check.sh``).

It is logged with an input signature (:func:`input_signature`) that names what the model takes and lets
everything reach ``predict``, which checks the input itself: MLflow's own enforcement, which runs before
``predict`` and before ``mlflow models serve`` answers, refuses in a multi-line message that prints the input
and the schema and, for a tensor, refuses float64 rows the model would take. So for a table the signature lists
the training columns (features first, then the id and label columns named at training) as optional columns of
any type, and the columns' training types are in the model's metadata (:func:`input_metadata`, in ``MLmodel``);
the built-in sets and array files take rows of the model input's width, which the metadata gives (no signature:
MLflow's tensor specs do not cast). A model trained on text columns takes those columns (strings) and embeds
them with its sentence encoder, loaded by name on the serving machine at the first prediction. ``predict``
refuses what does not fit (missing columns, no rows, text in a number column, NaN, another width) with an
``MlflowException`` with ``INVALID_PARAMETER_VALUE``: one line naming what the model expects, which the server
answers with HTTP 400 and no stack trace. MLflow drops columns the signature does not name (with its warning)
before ``predict`` sees them.
"""

from __future__ import annotations

import mlflow
import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.models import ModelSignature
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE
from mlflow.types import ColSpec, Schema
from mlflow.types.schema import AnyType

from deep_kmeans.data.registry import Geometry
from deep_kmeans.errors import UserError
from deep_kmeans.data.custom import joined_texts
from deep_kmeans.features.build import column_mismatch, features_like, text_encoder_of
from deep_kmeans.methods import take


def bad_input(message: str) -> MlflowException:
    """A refusal of the input: HTTP 400 from ``mlflow models serve``, with this message and no stack trace."""
    return MlflowException(message, error_code=INVALID_PARAMETER_VALUE)


def first_non_number(values: pd.Series):
    """The first value of a column that is not a number, or None. A column of another dtype may still hold only
    numbers (JSON rows with a null: object), which are taken; None, pandas' NA and NaN are left to the NaN check."""
    if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        return None
    return next((v for v in values
                 if not (v is None or v is pd.NA or isinstance(v, (bool, int, float, np.number, np.bool_)))), None)


def carried_columns(preprocess: dict) -> list[tuple[str, str]]:
    """The id and label columns named at training (name, type): accepted beside the features, then dropped."""
    schema = preprocess.get("table_schema") or {}
    return [tuple(schema[role]) for role in ("id_column", "label_column") if schema.get(role)]


def input_signature(model: dict) -> ModelSignature | None:
    """The model's input signature for MLflow: a table's feature columns, then its id and label columns named at
    training, each optional and of any type, so that MLflow passes them on and ``predict`` checks them (one line
    naming the expected columns); None for the built-in sets and array files (rows of the model input's width,
    :func:`input_metadata`)."""
    preprocess = model.get("preprocess") or {"kind": "gray"}
    if preprocess["kind"] not in ("vector", "text") or not preprocess.get("columns"):
        return None
    names = list(preprocess["columns"]) + [name for name, _ in carried_columns(preprocess)]
    return ModelSignature(inputs=Schema([ColSpec(AnyType(), name, required=False) for name in names]))


def input_metadata(model: dict) -> dict:
    """What the model takes, for the ``metadata`` of its ``MLmodel``: a table's columns with the types they had
    at training (``long`` for integer columns, ``double`` otherwise) and the id and label columns it drops; or the
    width of the rows it takes."""
    preprocess = model.get("preprocess") or {"kind": "gray"}
    if preprocess["kind"] == "text" and preprocess.get("columns"):
        dropped = [name for name, _ in carried_columns(preprocess)]
        encoder = (preprocess.get("params") or {}).get("text_encoder")
        return {"input": f"a table with the text columns {', '.join(preprocess['columns'])} (a row's cells joined "
                         f"with '. ' as at training), embedded by the sentence encoder {encoder!r}, which the "
                         "serving machine loads" + (f"; {', '.join(dropped)} (the id and label columns at training) "
                                                    "are dropped" if dropped else ""),
                "input_columns": {c: "string" for c in preprocess["columns"]}, "dropped_columns": dropped}
    if preprocess["kind"] == "vector" and preprocess.get("columns"):
        types = (preprocess.get("table_schema") or {}).get("columns") or {}
        dropped = [name for name, _ in carried_columns(preprocess)]
        return {"input": f"a table with the columns {', '.join(preprocess['columns'])} (numbers, any order)"
                         + (f"; {', '.join(dropped)} (the id and label columns at training) are dropped" if dropped
                            else ""),
                "input_columns": {c: types.get(c, "double") for c in preprocess["columns"]},
                "dropped_columns": dropped}
    if preprocess["kind"] == "vector":
        width = len(preprocess["standardizer"]["shift"])
        return {"input": f"rows of {width} numbers (the raw rows of the array it was trained on)",
                "input_width": width}
    width = Geometry.from_dict(model["geometry"]).dim
    return {"input": f"rows of {width} numbers (the model input: pixels in [0, 1] or feature vectors)",
            "input_width": width}


class TAKEPyfunc(mlflow.pyfunc.PythonModel):
    """``predict(DataFrame) -> cluster ids`` with a TAKE model record (the catalog's ``take.model``).

    ``scores``: the run's scores record; a collapsed run's ``warning`` is kept with the model
    (``collapse_warning``) so that whoever loads it can see it."""

    def __init__(self, model: dict, scores: dict | None = None):
        self.model = {k: v for k, v in model.items() if k != "train_rows"}
        self.collapse_warning = (scores or {}).get("warning")
        self._encoder = None  # a text model's sentence encoder, loaded at its first prediction

    def __getstate__(self) -> dict:
        # the encoder's weights are not the model's: the serving machine loads them by name
        return {**self.__dict__, "_encoder": None}

    def text_encoder(self, preprocess: dict) -> tuple:
        if getattr(self, "_encoder", None) is None:
            self._encoder = text_encoder_of(preprocess, device="cpu")
        return self._encoder

    def signature(self) -> ModelSignature | None:
        return input_signature(self.model)

    def metadata(self) -> dict:
        return input_metadata(self.model)

    def model_input(self, model_input) -> np.ndarray:
        """The rows in the model's feature space (the training preprocessing applied); a bad input is an
        ``MlflowException`` (:func:`bad_input`) naming what the model expects."""
        preprocess = self.model.get("preprocess") or {"kind": "gray"}
        if preprocess["kind"] == "vector" and preprocess.get("columns"):
            return self._table_rows(model_input, preprocess)
        if preprocess["kind"] == "text" and preprocess.get("columns"):
            return self._text_rows(model_input, preprocess)
        x = np.asarray(model_input.to_numpy() if isinstance(model_input, pd.DataFrame) else model_input)
        width = (len(preprocess["standardizer"]["shift"]) if preprocess["kind"] == "vector"
                 else Geometry.from_dict(self.model["geometry"]).dim)
        what = "columns (the raw rows of the array it was trained on)" if preprocess["kind"] == "vector" else \
            "feature columns (the model input)"
        if x.ndim != 2 or x.shape[1] != width:
            raise bad_input(f"expected rows of {width} {what}, got an input of shape {x.shape}")
        if len(x) == 0:
            raise bad_input(f"no rows: give one row of {width} {what} per sample")
        if x.dtype.kind not in "fiub":
            raise bad_input(f"expected numbers, got {x.dtype} values: rows of {width} {what}")
        if preprocess["kind"] == "vector":
            return features_like({"kind": "vector", "x": x.astype(np.float64), "columns": None}, preprocess)
        return x.astype(np.float32)

    @staticmethod
    def _named_columns(model_input, preprocess: dict) -> pd.DataFrame:
        """The input's training columns (the id and label columns named at training dropped), with rows; else a
        bad input naming the columns."""
        want = list(preprocess["columns"])
        expected = f"Expected the columns {', '.join(want)}"
        if not isinstance(model_input, pd.DataFrame):
            raise bad_input(f"expected a table (a DataFrame with named columns), got {type(model_input).__name__}. "
                            f"{expected}")
        carried = [name for name, _ in carried_columns(preprocess)]
        df = model_input.drop(columns=[c for c in model_input.columns if str(c) in carried])
        df.columns = [str(c) for c in df.columns]
        problem = column_mismatch(list(df.columns), want)
        if problem:
            raise bad_input(problem)
        if len(df) == 0:
            raise bad_input(f"no rows: give one row per sample. {expected}")
        return df

    def _text_rows(self, model_input, preprocess: dict) -> np.ndarray:
        want = list(preprocess["columns"])
        texts = joined_texts(self._named_columns(model_input, preprocess), want)
        empty = [i for i, t in enumerate(texts) if not t.strip()]
        if empty:
            raise bad_input(f"row {', '.join(map(str, empty[:5]))} has no text in {', '.join(want)}: give one text "
                            "per row")
        return features_like({"kind": "text", "texts": texts, "columns": want}, preprocess, device="cpu",
                             progress=False, encoder=self.text_encoder(preprocess))

    @staticmethod
    def _table_rows(model_input, preprocess: dict) -> np.ndarray:
        want = list(preprocess["columns"])
        expected = f"Expected the columns {', '.join(want)}"
        df = TAKEPyfunc._named_columns(model_input, preprocess)
        text = {c: v for c in want for v in [first_non_number(df[c])] if v is not None}
        if text:
            sample = next(iter(text.values()))
            raise bad_input(f"column {', '.join(text)} holds {type(sample).__name__} values such as {sample!r}, not "
                            f"numbers. {expected} (numbers)")
        # numbers held as objects (JSON with nulls) or nullable integers: their gaps become NaN, refused below
        x = df[want].apply(pd.to_numeric).to_numpy(dtype=np.float64, na_value=np.nan)
        if not np.isfinite(x).all():
            bad = [c for c, ok in zip(want, np.isfinite(x).all(axis=0)) if not ok]
            raise bad_input(f"NaN or infinite values in column {', '.join(bad)}: clean or drop those rows")
        try:
            return features_like({"kind": "vector", "x": x, "columns": want}, preprocess)
        except UserError as err:
            raise bad_input(str(err)) from None

    def predict(self, context, model_input: pd.DataFrame, params: dict | None = None) -> list[int]:
        x = self.model_input(model_input)
        cfg = take.TAKEConfig.from_params(self.model["config"])
        labels, _ = take.predict(x, self.model, Geometry.from_dict(self.model["geometry"]), cfg, device="cpu")
        return labels.astype(int).tolist()
