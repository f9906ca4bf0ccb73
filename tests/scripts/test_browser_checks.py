"""The browser checks (scripts/viz_check.py, scripts/mlflow_check.py) stop every server they start, the children
that serve for it included, whether the check passed or failed; without Playwright they say how to get it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"
sys.path.insert(0, str(SCRIPTS))
from _browser import Server, ServerError, free_port, group_alive, listening  # noqa: E402

# Serves from a child process, as `kedro viz run` does (and uvicorn's workers for `mlflow ui`).
FORKING_SERVER = textwrap.dedent("""
    import http.server, subprocess, sys
    port = int(sys.argv[1])
    if sys.argv[2] == "parent":
        subprocess.Popen([sys.executable, __file__, sys.argv[1], "child"]).wait()
    else:
        http.server.HTTPServer(("127.0.0.1", port), http.server.SimpleHTTPRequestHandler).serve_forever()
""")


@pytest.fixture
def forking_server(tmp_path):
    script = tmp_path / "server.py"
    script.write_text(FORKING_SERVER)
    port = free_port()
    server = Server([sys.executable, str(script), str(port), "parent"], url=f"http://127.0.0.1:{port}/", port=port,
                    cwd=tmp_path)
    yield server, port
    server.stop()  # whatever a test left


def wait_until(condition, seconds: float = 10) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


def test_stopping_the_process_alone_would_leave_its_child_listening(forking_server):
    """Why the group is stopped: SIGTERM to the process we started (what `kill <pid>` of `kedro viz run` does) ends
    it, and the child that serves keeps the port."""
    server, port = forking_server
    server.start()
    os.kill(server.process.pid, signal.SIGTERM)
    server.process.wait(timeout=10)
    assert listening(port)  # the child still serves
    server.stop()
    assert wait_until(lambda: not listening(port))


def test_a_check_that_passes_leaves_no_process_and_no_port(forking_server):
    server, port = forking_server
    with server:
        assert listening(port)
        pgid = server.process.pid
    assert not listening(port) and not group_alive(pgid)


def test_a_check_that_fails_leaves_no_process_and_no_port(forking_server):
    server, port = forking_server
    with pytest.raises(AssertionError, match="the check failed"):
        with server:
            pgid = server.process.pid
            raise AssertionError("the check failed")
    assert not listening(port) and not group_alive(pgid)


def test_a_server_that_never_answers_is_stopped_and_said_in_one_line(tmp_path):
    port = free_port()
    server = Server([sys.executable, "-c", "import time; time.sleep(60)"], url=f"http://127.0.0.1:{port}/",
                    port=port, timeout=2)
    with pytest.raises(ServerError, match="did not answer"):
        with server:
            pass
    assert server.process is None  # stopped, and reaped


@pytest.mark.parametrize("script", ["viz_check.py", "mlflow_check.py"])
def test_without_playwright_a_check_says_how_to_install_it_and_starts_nothing(tmp_path, script):
    blocker = tmp_path / "blocked" / "playwright"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text("raise ImportError('not installed')\n")
    port = free_port()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(blocker.parent), os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run([sys.executable, str(SCRIPTS / script), "--port", str(port), "--out", str(tmp_path / "shots")],
                         capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode != 0
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert lines == [f"{script}: Playwright is missing: pip install -e \".[ui-check]\" (Playwright) and a Chromium "
                     "(apt-get install chromium)"], out.stderr
    assert not listening(port)


@pytest.mark.slow
def test_viz_check_stops_kedro_viz_and_its_serving_child_when_the_check_fails(blank_project, tmp_path):
    """The real script on a project with no run yet: the previews are missing, so the check fails; kedro viz
    (whose server is a child process it spawns) must be gone all the same."""
    import shutil

    pytest.importorskip("playwright")
    if not shutil.which("chromium"):
        pytest.skip("no chromium on PATH (apt-get install chromium)")
    port = free_port()
    command = [sys.executable, str(SCRIPTS / "viz_check.py"), "--project", str(blank_project), "--port", str(port),
               "--out", str(tmp_path / "shots")]
    out = subprocess.run(command, capture_output=True, text=True, timeout=900)
    assert out.returncode == 1, out.stdout + out.stderr
    assert "MISSING take.confusion_plot: preview" in out.stderr
    assert not listening(port)
