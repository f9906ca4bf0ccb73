"""The errors that are the user's to fix (a bad parameter, an unknown data set, a broken input file).

``kedro run`` (the project's :mod:`deep_kmeans.cli`) prints such an error as a short message and exits with
code 2, without a traceback; any other exception is a bug and keeps its traceback. Each user error class
also derives from the built-in class its callers expect (``ValueError``, ``FileNotFoundError``), so code that
catches those keeps working.
"""

from __future__ import annotations

__all__ = ["ParameterError", "UserError", "user_error_in"]


class UserError(Exception):
    """Marks an exception as the user's to fix: reported in a few lines, exit code 2, no traceback."""


class ParameterError(UserError, ValueError):
    """One or more invalid parameters; ``problems`` holds one line per parameter (its name, the value given
    and what is allowed)."""

    def __init__(self, message: str, problems: list[str] | None = None):
        super().__init__(message)
        self.problems = list(problems or [message])


#: Libraries whose own exceptions wrap a user error as their context (OmegaConf's resolver errors).
WRAPPERS = ("omegaconf", "kedro")


def user_error_in(error: BaseException | None) -> UserError | None:
    """The :class:`UserError` that ``error`` is or was raised from (``raise ... from``), else None.

    An exception raised while another was being handled counts only where a library that wraps errors raised
    it (:data:`WRAPPERS`): a bug in a handler of a user error stays a bug."""
    seen = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, UserError):
            return error
        seen.add(id(error))
        wrapper = type(error).__module__.split(".")[0] in WRAPPERS
        error = error.__cause__ or (error.__context__ if wrapper else None)
    return None
