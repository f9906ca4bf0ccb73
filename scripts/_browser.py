"""What the browser checks (viz_check.py, mlflow_check.py) share: a server they start and stop with every
process it forked, and a fresh headless Chromium.

A server is started in a process group of its own, and stopped by signalling the whole group: ``kedro viz run``
serves from a child process it spawns, and ``mlflow server`` from uvicorn's; stopping only the process we
started would leave that child listening (which is what ``kill <pid>`` of a ``kedro viz run`` does).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
INSTALL = 'pip install -e ".[ui-check]" (Playwright) and a Chromium (apt-get install chromium)'


def require_playwright() -> None:
    """Exit with one line saying how to install Playwright when it is missing (before any server starts)."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        sys.exit(f"{Path(sys.argv[0]).name}: Playwright is missing: {INSTALL}")


def free_port(start: int = 4150, end: int = 4999) -> int:
    """A port nothing listens on, in ``start``..``end`` (kedro-viz refuses ports above 49151, where the system's
    own ephemeral ones lie)."""
    for port in range(start, end + 1):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise ServerError(f"no free port in {start}..{end}")


def listening(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex((host, port)) == 0


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class ServerError(RuntimeError):
    """The server did not come up: said in one line, not a traceback."""


class Server:
    """``command`` running in its own process group, up once ``url`` answers (within ``timeout`` seconds)."""

    def __init__(self, command: list[str], url: str, port: int, cwd: Path | None = None, log: Path | None = None,
                 timeout: float = 180):
        self.command, self.url, self.port, self.cwd, self.log, self.timeout = command, url, port, cwd, log, timeout
        self.process: subprocess.Popen | None = None
        self._out = None

    def start(self) -> "Server":
        if listening(self.port):
            raise ServerError(f"port {self.port} is taken already: pick another with --port")
        self._out = open(self.log, "w") if self.log else None  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(self.command, cwd=self.cwd, stdout=self._out or subprocess.DEVNULL,
                                        stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServerError(f"{Path(self.command[0]).name} exited with code {self.process.returncode} before "
                                  f"answering at {self.url}" + (f" (its log: {self.log})" if self.log else ""))
            try:
                urllib.request.urlopen(self.url, timeout=5).close()
                return self
            except OSError:
                time.sleep(1)
        raise ServerError(f"{' '.join(self.command)} did not answer at {self.url} within {self.timeout:.0f} s")

    def stop(self, timeout: float = 30) -> None:
        """SIGTERM to the whole process group, SIGKILL to what is left after ``timeout``; then the port is free."""
        if self.process is None:
            return
        pgid = self.process.pid  # start_new_session: the group's id is the leader's pid
        for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 10)):
            try:
                os.killpg(pgid, sig)
            except ProcessLookupError:
                break
            deadline = time.monotonic() + wait
            while group_alive(pgid) and time.monotonic() < deadline:
                try:
                    self.process.wait(timeout=0.2)  # reap the leader; its children are reaped by init
                except subprocess.TimeoutExpired:
                    pass
            if not group_alive(pgid):
                break
        if self.process.poll() is None:
            self.process.wait(timeout=5)
        if self._out is not None:
            self._out.close()
        self.process, self._out = None, None

    def __enter__(self) -> "Server":
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc) -> None:
        self.stop()


def run_check(name: str, server: Server, check) -> int:
    """``check()`` (→ the problems it found) with ``server`` up, the server stopped whatever happens; the exit code:
    0 when nothing is missing, 1 otherwise or when the server did not come up (said in one line)."""
    try:
        with server:
            problems = check()
    except ServerError as err:
        print(f"{name}: {err}", file=sys.stderr)
        return 1
    for problem in problems:
        print("MISSING", problem, file=sys.stderr)
    return 1 if problems else 0


@contextmanager
def fresh_browser(playwright, chromium: str | None = None):
    """A Chromium with a new, empty profile (nothing remembered from an earlier visit, as a first-time user has),
    as a Playwright browser context; removed afterwards."""
    executable = chromium or shutil.which("chromium") or "/usr/bin/chromium"
    profile = tempfile.mkdtemp(prefix="ui-check-profile-")
    context = None
    try:
        context = playwright.chromium.launch_persistent_context(
            profile, executable_path=executable, headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1600, "height": 1000})
        yield context
    finally:
        if context is not None:
            context.close()
        shutil.rmtree(profile, ignore_errors=True)
