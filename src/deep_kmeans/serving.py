"""TAKE as an MLflow model that works outside the project: ``mlflow.pyfunc.load_model("runs:/<id>/model")``.

The pyfunc model carries what the run trained (the TAE, KNet and the feature preprocessing of the training
data) and assigns rows of a DataFrame: the columns of the training table (any order) for your own data,
or the model input itself (pixels in [0, 1], feature vectors) for the built-in data sets. ``predict``
returns one cluster id per row. The run logs it at artifact path ``model`` (catalog entry
``take.mlflow_model``, kedro-mlflow's ``MlflowModelTrackingDataset``); ``mlflow models serve -m
runs:/<id>/model --env-manager local`` serves it (``scripts/serve_check.sh``).
"""

from __future__ import annotations

import mlflow
import numpy as np
import pandas as pd

from deep_kmeans.data.registry import Geometry
from deep_kmeans.features.build import features_like
from deep_kmeans.methods import take


class TAKEPyfunc(mlflow.pyfunc.PythonModel):
    """``predict(DataFrame) -> cluster ids`` with a TAKE model record (the catalog's ``take.model``)."""

    def __init__(self, model: dict):
        self.model = {k: v for k, v in model.items() if k != "train_rows"}

    def model_input(self, model_input: pd.DataFrame) -> np.ndarray:
        """The rows in the model's feature space (the training preprocessing applied)."""
        preprocess = self.model.get("preprocess") or {"kind": "gray"}
        df = model_input if isinstance(model_input, pd.DataFrame) else pd.DataFrame(np.asarray(model_input))
        if preprocess["kind"] == "vector":
            raw = {"kind": "vector", "x": df.to_numpy(dtype=np.float64),
                   "columns": [str(c) for c in df.columns] if preprocess.get("columns") else None}
            return features_like(raw, preprocess)
        x = df.to_numpy(dtype=np.float32)  # the model input itself (pixels, backbone or encoder features)
        dim = Geometry.from_dict(self.model["geometry"]).dim
        if x.ndim != 2 or x.shape[1] != dim:
            raise ValueError(f"expected {dim} feature columns (the model input), got {x.shape[-1]}")
        return x

    def predict(self, context, model_input: pd.DataFrame, params: dict | None = None) -> list[int]:
        x = self.model_input(model_input)
        cfg = take.TAKEConfig.from_params(self.model["config"])
        labels, _ = take.predict(x, self.model, Geometry.from_dict(self.model["geometry"]), cfg, device="cpu")
        return labels.astype(int).tolist()
