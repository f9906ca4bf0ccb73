"""The project's command line: Kedro loads the click group ``cli`` of ``<package>/cli.py`` over its own commands
(https://docs.kedro.org/en/stable/extend/common_use_cases/), so ``kedro run`` is the :data:`run` below.

``run`` is Kedro's own ``run`` command, with its options and its implementation
(``kedro.framework.cli.project.run``), and one difference: a user error (a :class:`~deep_kmeans.errors.UserError`:
an invalid parameter, an unknown data set, missing or broken input data) prints a short message on stderr and
exits with code 2, without a traceback. Any other exception is a bug and keeps its traceback.
"""

from __future__ import annotations

import sys

import click
from kedro.framework.cli.project import run as kedro_run

from deep_kmeans.checkpoint_cli import checkpoints
from deep_kmeans.errors import user_error_in

#: The exit code of a run stopped by a user error (click uses 2 for usage errors too).
USER_ERROR_EXIT = 2


@click.group(name="deep_kmeans")
def cli() -> None:
    """The deep_kmeans project's commands."""


def report_user_error(error: BaseException, stream=None) -> None:
    """The short message of a user error: what is wrong and what to do, no traceback."""
    text = str(error).strip() or type(error).__name__
    click.echo(f"Error: {text}", file=stream or sys.stderr)


def _run(*args, **kwargs):
    try:
        return kedro_run.callback(*args, **kwargs)
    except Exception as error:  # noqa: BLE001 - only user errors are caught; the rest is re-raised as it was
        user = user_error_in(error)
        if user is None:
            raise
        report_user_error(user)
        sys.exit(USER_ERROR_EXIT)


#: Kedro's ``run``: the same options and help, the same implementation, user errors reported short.
run = click.Command(
    name="run",
    callback=_run,
    params=list(kedro_run.params),
    help=kedro_run.help,
    short_help=kedro_run.short_help,
    context_settings=kedro_run.context_settings,
)
cli.add_command(run)

cli.add_command(checkpoints)  # kedro checkpoints list|clean
