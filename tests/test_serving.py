"""The MLflow model's input checks (deep_kmeans.serving), without training: its signature, the refusals of
``predict`` and what ``mlflow models serve`` answers (its request handler, called as the server calls it)."""

import json

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.exceptions import MlflowException

from deep_kmeans.serving import TAKEPyfunc, input_metadata, input_signature

COLUMNS = ["f0", "f1", "count"]
TABLE_MODEL = {  # what take.model holds of a table's preprocessing (the weights are not needed to refuse input)
    "geometry": {"dim": 16, "channels": 1, "side": 4, "patch": 2},
    "preprocess": {"kind": "vector", "columns": COLUMNS,
                   "standardizer": {"how": "zscore", "shift": [0.0] * 3, "scale": [1.0] * 3},
                   "table_schema": {"columns": {"f0": "double", "f1": "double", "count": "long"},
                                    "id_column": ["sample", "string"], "label_column": ["kind", "string"]}},
}

BUILTIN_MODEL = {"geometry": {"dim": 64, "channels": 1, "side": 8, "patch": 2}, "preprocess": None}


def frame(**extra):
    return pd.DataFrame({"f0": [0.1, 0.2], "f1": [1.0, 2.0], "count": [3, 4], **extra})


def test_the_signature_names_the_columns_and_the_metadata_their_training_types():
    """Every column optional and of any type, so that MLflow lets the input through to the model's one-line
    checks; the training types are in the metadata."""
    inputs = input_signature(TABLE_MODEL).inputs
    assert [(c.name, repr(c.type), c.required) for c in inputs.inputs] == [
        (name, "Any", False) for name in ("f0", "f1", "count", "sample", "kind")]
    assert input_metadata(TABLE_MODEL) == {
        "input": "a table with the columns f0, f1, count (numbers, any order); sample, kind (the id and label "
                 "columns at training) are dropped",
        "input_columns": {"f0": "double", "f1": "double", "count": "long"}, "dropped_columns": ["sample", "kind"]}
    assert input_signature(BUILTIN_MODEL) is None  # MLflow's tensor specs refuse float64 rows: the model checks
    assert input_metadata(BUILTIN_MODEL)["input_width"] == 64


@pytest.mark.parametrize("bad,message", [
    (frame().drop(columns=["f1"]), "missing f1. Expected the columns f0, f1, count"),
    (frame().rename(columns={"f1": "g1"}), "missing f1; unexpected g1. Expected the columns f0, f1, count"),
    (frame(extra=[1.0, 2.0]), "unexpected extra. Expected the columns f0, f1, count"),
    (frame().iloc[:0], "no rows: give one row per sample. Expected the columns f0, f1, count"),
    (frame().assign(f0=["r0", "r1"]), "column f0 holds str values such as 'r0', not numbers. Expected the columns"),
    (frame().assign(f1=pd.Series([1.0, "x"], dtype=object)), "column f1 holds str values such as 'x', not numbers"),
    (frame().assign(f1=pd.Series([None, 1.0], dtype=object)), "NaN or infinite values in column f1"),  # JSON null
    (frame().assign(f1=pd.Series([pd.NA, np.True_], dtype=object)), "NaN or infinite values in column f1"),
    (frame().assign(count=pd.array([3, None], dtype="Int64")), "NaN or infinite values in column count"),
    (frame().assign(f1=[np.nan, 1.0]), "NaN or infinite values in column f1"),
    (np.ones((2, 3)), "expected a table (a DataFrame with named columns), got ndarray. Expected the columns"),
])
def test_predict_refuses_input_in_one_line_naming_the_expected_columns(bad, message):
    with pytest.raises(MlflowException) as err:
        TAKEPyfunc(TABLE_MODEL).model_input(bad)
    assert message in err.value.message and "\n" not in err.value.message
    assert err.value.get_http_status_code() == 400


def test_the_id_and_label_columns_named_at_training_are_dropped():
    x = TAKEPyfunc(TABLE_MODEL).model_input(frame(sample=["r0", "r1"], kind=["a", "b"]))
    np.testing.assert_allclose(x, [[0.1, 1.0, 3.0], [0.2, 2.0, 4.0]], rtol=1e-6)


def test_built_in_input_is_checked_for_its_width_and_rows():
    model = TAKEPyfunc(BUILTIN_MODEL)
    with pytest.raises(MlflowException, match=r"expected rows of 64 feature columns \(the model input\), got an "
                                              r"input of shape \(2, 63\)"):
        model.model_input(np.ones((2, 63), np.float32))
    with pytest.raises(MlflowException, match="no rows"):
        model.model_input(np.ones((0, 64), np.float32))


@pytest.fixture(scope="module")
def logged(tmp_path_factory):
    """The table model and a built-in set's model, logged with their signatures and metadata and loaded back as
    ``mlflow models serve`` loads them."""
    folder = tmp_path_factory.mktemp("serving")
    mlflow.set_tracking_uri(f"sqlite:///{folder / 'mlflow.db'}")
    try:
        experiment = mlflow.create_experiment("serving")  # not the active experiment a Kedro test left behind
        loaded = {}
        with mlflow.start_run(experiment_id=experiment):
            for name, record in (("table", TABLE_MODEL), ("builtin", BUILTIN_MODEL)):
                model = TAKEPyfunc(record)
                info = mlflow.pyfunc.log_model(name=name, python_model=model, signature=model.signature(),
                                               metadata=model.metadata())
                loaded[name] = mlflow.pyfunc.load_model(info.model_uri)
        yield loaded
    finally:
        mlflow.set_tracking_uri(None)


@pytest.fixture(scope="module")
def served(logged):
    return logged["table"]


def test_a_built_in_sets_model_takes_float32_and_float64_rows_and_refuses_another_width(logged):
    """No tensor spec (MLflow's refuses float64 rows, a DataFrame's default): both reach the model proper,
    which this weightless record cannot run; another width is the model's one line."""
    model = logged["builtin"]
    for rows in (np.ones((2, 64), np.float32), np.ones((2, 64)), pd.DataFrame(np.ones((2, 64)))):
        with pytest.raises(KeyError, match="config"):
            model.predict(rows)
    with pytest.raises(MlflowException) as err:
        model.predict(np.ones((2, 63)))
    assert err.value.message == ("expected rows of 64 feature columns (the model input), got an input of shape "
                                 "(2, 63)")


@pytest.mark.parametrize("payload,says", [
    ({"dataframe_split": {"columns": ["f0", "count"], "data": [[0.1, 3]]}},
     "missing f1. Expected the columns f0, f1, count"),
    ({"dataframe_split": {"columns": ["f0", "f1", "count"], "data": [["r0", 1.0, 3]]}},
     "column f0 holds str values such as 'r0', not numbers. Expected the columns f0, f1, count (numbers)"),
    ({"dataframe_split": {"columns": ["f0", "f1", "count"], "data": [[0.1, 1.0, 3], [0.2, "r1", 4]]}},
     "column f1 holds str values such as 'r1', not numbers"),
    ({"dataframe_split": {"columns": ["f0", "f1", "count"], "data": []}},
     "no rows: give one row per sample. Expected the columns f0, f1, count"),
    ({"dataframe_split": {"columns": ["a", "b"], "data": [[1, 2]]}}, "missing f0, f1, count"),
    ({"inputs": [[0.1, 1.0, 3]]}, "missing f0, f1, count. Expected the columns f0, f1, count"),
])
def test_the_server_answers_bad_input_400_with_the_message_and_no_stack_trace(served, payload, says):
    """``mlflow models serve`` answers a request by ``scoring_server.invocations``; an MlflowException it raises
    becomes the response: its HTTP status and ``serialize_as_json()``. Before 2026-12-04 a bad row raised a plain
    exception inside the model, which the server answered with a generic message and the stack trace."""
    from mlflow.pyfunc.scoring_server import invocations

    with pytest.raises(MlflowException) as err:
        invocations(json.dumps(payload), "application/json", served, served.metadata.get_input_schema())
    body = json.loads(err.value.serialize_as_json())
    assert err.value.get_http_status_code() == 400
    assert body["error_code"] in ("INVALID_PARAMETER_VALUE", "BAD_REQUEST")  # the model's, or the parser's
    assert says in body["message"] and "stack_trace" not in body
    # the server puts the input it got before every model's message ("Failed to predict data '...'. \nError: "):
    # the model's one line is the last line, and MLflow's schema enforcement (input and schema again) is not there
    assert says in body["message"].splitlines()[-1] and "Failed to enforce schema" not in body["message"]


def test_predict_refuses_in_one_line_through_mlflow(served):
    """What ``mlflow.pyfunc.load_model(...).predict`` gives: the model's own line, not MLflow's enforcement
    message that prints the input and the schema over several lines."""
    for bad, says in [(frame().drop(columns=["f1"]), "missing f1. Expected the columns f0, f1, count"),
                      (frame().assign(count=["a", "b"]), "column count holds str values such as 'a'"),
                      (frame().iloc[:0], "no rows"), (frame().assign(count=[2.5, 3.0]), None)]:
        if says is None:  # a number in a column of integers at training: a number, taken
            with pytest.raises(KeyError, match="config"):
                served.predict(bad)
            continue
        with pytest.raises(MlflowException) as err:
            served.predict(bad)
        assert says in err.value.message and "\n" not in err.value.message, err.value.message
        assert err.value.get_http_status_code() == 400


def test_the_training_table_with_its_id_and_label_columns_passes_the_signature(served):
    """The user's own training table (its id and label columns too) is accepted: those two are dropped before
    assigning (before 2026-12-04: `could not convert string to float: 'r0'`). It reaches the model proper,
    which this test's weightless record cannot run."""
    with pytest.raises(KeyError, match="config"):  # past every input check, into take.predict
        served.predict(frame(sample=["r0", "r1"], kind=["a", "b"]))


@pytest.fixture
def text_model(tiny_bert, tmp_path):
    """What take.model holds of a text table's preprocessing: its text columns and its sentence encoder (a folder)."""
    tokenizer, bert = tiny_bert
    encoder = tmp_path / "encoder"
    tokenizer.save_pretrained(encoder)
    bert.save_pretrained(encoder)
    return {"geometry": {"dim": 32, "channels": 1, "side": 4, "patch": 2},
            "preprocess": {"kind": "text", "columns": ["title", "body"],
                           "params": {"text_encoder": str(encoder), "text_pooling": "mean", "text_max_length": 64},
                           "table_schema": {"columns": {"title": "string", "body": "string"}, "id_column": None,
                                            "label_column": ["topic", "long"]}}}


def test_a_text_model_takes_its_text_columns_and_embeds_them_as_at_training(text_model, tiny_bert):
    """The served model joins a row's text cells with '. ' as the training data did, embeds them with the training
    encoder (loaded once, at the first prediction, and never pickled with the model), and refuses in one line."""
    import pickle

    from deep_kmeans.features.text import text_features

    assert [c.name for c in input_signature(text_model).inputs.inputs] == ["title", "body", "topic"]
    meta = input_metadata(text_model)
    assert meta["input_columns"] == {"title": "string", "body": "string"} and meta["dropped_columns"] == ["topic"]
    assert "sentence encoder" in meta["input"]
    served = TAKEPyfunc(text_model)
    rows = pd.DataFrame({"body": ["is red", None], "title": ["the good car", "a big dog"], "topic": [1, 2]})
    x = served.model_input(rows)
    tokenizer, bert = tiny_bert
    np.testing.assert_allclose(x, text_features(["the good car. is red", "a big dog"], tokenizer, bert),
                               rtol=1e-5, atol=1e-6)
    encoder = served._encoder
    served.model_input(rows)
    assert served._encoder is encoder  # loaded once
    assert pickle.loads(pickle.dumps(served))._encoder is None  # the model file holds no encoder weights
    for bad, message in ((rows.drop(columns=["body"]), "missing body. Expected the columns title, body"),
                         (rows.iloc[:0], "no rows: give one row per sample"),
                         (rows.assign(title=["", " "], body=[None, ""]), "row 0, 1 has no text in title, body")):
        with pytest.raises(MlflowException) as err:
            served.model_input(bad)
        assert message in err.value.message and "\n" not in err.value.message
