"""The project's Kedro session (``settings.SESSION_CLASS``): Kedro's own, with a session id that no other session
of the same project holds.

Kedro names a session by the time it starts, to the millisecond, and that id is the run's save version (the
folder every versioned output is written to) and the MLflow run's ``kedro`` id. Two runs started together, as in
``kedro run --params=seed=1 & kedro run --params=seed=2``, can start in the same millisecond: the second run then
stops at its first output ("Save path ... must not exist if versioning is enabled"), or worse, the two share
folders. Here each new id is claimed under the project's lock and is later than every id claimed before it; a
run that starts in a millisecond already claimed waits for the next one.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from filelock import FileLock
from kedro.framework.session import KedroSession
from kedro.io.core import VERSION_FORMAT, generate_timestamp
from kedro.utils import find_kedro_project

logger = logging.getLogger(__name__)

def _machine_file(project_path: Path, suffix: str) -> Path:
    """A file of this project's in the system's temporary folder, so that the project itself holds none."""
    digest = hashlib.sha256(str(Path(project_path).resolve()).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"deep_kmeans-{digest}{suffix}"


@contextlib.contextmanager
def project_lock(project_path: Path):
    """An exclusive lock for this project among the processes of this machine."""
    with FileLock(_machine_file(project_path, ".lock")):
        yield


def last_version_file(project_path: Path) -> Path:
    """Where the last id claimed in ``project_path`` is kept."""
    return _machine_file(project_path, ".last_version")

#: A clock set back by more than this (NTP, a laptop's sleep) restarts the sequence instead of waiting it out.
MAX_WAIT_S = 2.0


def _seconds(version: str) -> float:
    # Kedro's ids drop the microseconds' last three digits ("...05.123Z"); strptime reads them as microseconds.
    return datetime.strptime(version[:-1] + "000Z", VERSION_FORMAT).replace(tzinfo=timezone.utc).timestamp()


def claim_version(project_path: Path, proposed: str) -> str:
    """``proposed`` (a Kedro timestamp) if it is later than every id claimed in ``project_path`` before, else the
    first later millisecond. Processes claim one at a time (a file lock), so no two get the same id."""
    state = last_version_file(project_path)
    with project_lock(project_path):
        last = state.read_text(encoding="utf-8").strip() if state.exists() else ""
        version = proposed
        if last and version <= last:
            now = generate_timestamp()
            if now > last:  # the proposal went stale (a process slow to claim, a loaded machine): the clock moved on
                version = now
            elif _seconds(last) - _seconds(now) > MAX_WAIT_S:
                logger.warning("The clock is behind the last run's start (%s, now %s): run ids start over from now.",
                               last, now)
                version = now
            else:
                while version <= last:
                    time.sleep(0.001)
                    version = generate_timestamp()
        state.write_text(version, encoding="utf-8")
    return version


class UniqueVersionSession(KedroSession):
    """:class:`~kedro.framework.session.KedroSession` whose ``session_id`` is claimed with :func:`claim_version`."""

    def __init__(self, session_id: str, package_name: str | None = None, project_path: Path | str | None = None,
                 save_on_close: bool = False, conf_source: str | None = None):
        # the project path as Kedro's own __init__ resolves it
        project = Path(project_path or find_kedro_project(Path.cwd()) or Path.cwd()).resolve()
        super().__init__(session_id=claim_version(project, session_id), package_name=package_name,
                         project_path=project, save_on_close=save_on_close, conf_source=conf_source)
