"""The errors that are the user's to fix (a bad parameter, an unknown data set, a broken input file).

``kedro run`` (the project's :mod:`deep_kmeans.cli`) prints such an error as a short message and exits with
code 2, without a traceback; any other exception is a bug and keeps its traceback. Each user error class
also derives from the built-in class its callers expect (``ValueError``, ``FileNotFoundError``), so code that
catches those keeps working.
"""

from __future__ import annotations

import errno

__all__ = ["EnvironmentProblem", "InputMismatchError", "ParameterError", "UserError", "user_error_in"]


class UserError(Exception):
    """Marks an exception as the user's to fix: reported in a few lines, exit code 2, no traceback."""


class ParameterError(UserError, ValueError):
    """One or more invalid parameters; ``problems`` holds one line per parameter (its name, the value given
    and what is allowed)."""

    def __init__(self, message: str, problems: list[str] | None = None):
        super().__init__(message)
        self.problems = list(problems or [message])


class InputMismatchError(UserError, ValueError):
    """New rows that do not match what a model was trained on (other or missing columns, another width, no
    rows, text where numbers belong); the message names what the model expects."""


class EnvironmentProblem(UserError, OSError):
    """The machine refused what the run needs (a folder it may not write, a full disk): the user's to fix."""


#: Libraries whose own exceptions wrap a user error as their context (OmegaConf's resolver errors).
WRAPPERS = ("omegaconf", "kedro")
#: Operating-system refusals that are the user's to fix, not bugs: no permission, a read-only file system, a full disk.
REFUSALS = {errno.EACCES: "no permission to write there", errno.EPERM: "the operation is not permitted there",
            errno.EROFS: "the file system is read-only", errno.ENOSPC: "no space left on the device",
            errno.EDQUOT: "the disk quota is exceeded"}


def refusal(error: BaseException) -> EnvironmentProblem | None:
    """An :class:`EnvironmentProblem` naming the file, when ``error`` is an ``OSError`` of :data:`REFUSALS`."""
    if not isinstance(error, OSError) or error.errno not in REFUSALS:
        return None
    where = error.filename or "a file of the run"
    return EnvironmentProblem(f"cannot write {where}: {REFUSALS[error.errno]} ({error.strerror}). Make that folder "
                              "writable (or free space) and rerun; the run's MLflow record says FAILED.")


class TrackingStoreError(UserError, RuntimeError):
    """The MLflow tracking store cannot be opened (a damaged ``mlflow.db``): named, with what to do."""


def tracking_store_problem(error: BaseException, uri: str) -> TrackingStoreError | None:
    """A :class:`TrackingStoreError` naming the store, when opening the MLflow store at ``uri`` failed on the
    database itself (sqlite's "file is not a database", "database disk image is malformed", "unable to open
    database file"); None for anything else (a bug keeps its traceback)."""
    seen, cause = set(), error
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if type(cause).__name__ in ("DatabaseError", "OperationalError") and type(cause).__module__.split(".")[0] in (
                "sqlite3", "sqlalchemy"):
            break
        cause = cause.__cause__ or cause.__context__
    else:
        return None
    text = str(getattr(cause, "orig", None) or cause).splitlines()[0]
    where = uri[len("sqlite:///"):] if uri.startswith("sqlite:///") else uri
    return TrackingStoreError(
        f"the MLflow tracking store {where} cannot be opened ({text}): it is damaged or not an MLflow database. "
        f"Move it away (e.g. `mv {where} {where}.broken`) and rerun to start a new store, or point "
        "conf/local/mlflow.yml (server.mlflow_tracking_uri) at a working one.")


def user_error_in(error: BaseException | None) -> UserError | None:
    """The :class:`UserError` that ``error`` is or was raised from (``raise ... from``), else None; an OS
    refusal (:data:`REFUSALS`: a read-only output folder, a full disk) counts, as an :class:`EnvironmentProblem`.

    An exception raised while another was being handled counts only where a library that wraps errors raised
    it (:data:`WRAPPERS`): a bug in a handler of a user error stays a bug."""
    seen = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, UserError):
            return error
        if (problem := refusal(error)) is not None:
            return problem
        seen.add(id(error))
        wrapper = type(error).__module__.split(".")[0] in WRAPPERS
        error = error.__cause__ or (error.__context__ if wrapper else None)
    return None
