"""The project's MLflow hook: one MLflow run per ``kedro run`` that records what applied and how it ended.

:class:`RunHook` is kedro-mlflow's own hook (``settings.py`` registers it in place of the plugin's
instance) with what this project adds:

* **status**: FINISHED for a finished run, FAILED for a failed node (kedro-mlflow; tag ``error``), KILLED
  for Ctrl-C (SIGINT), SIGTERM and SIGHUP (tag ``ended_by``). Kedro hands none of them to a hook
  (``KedroSession.run`` catches ``Exception`` only) and MLflow's exit handler would end the run FINISHED,
  so SIGTERM and SIGHUP are turned into a ``KeyboardInterrupt`` (:class:`RunTerminated`) and the run still
  open when the interpreter exits is ended KILLED, after the per-epoch losses of the phases that finished
  are logged.
  SIGKILL cannot be caught: each run carries ``host`` and ``pid`` tags, and the next run of the experiment
  marks every RUNNING run whose process on this host is gone as KILLED (tag ``found_dead``).
* **name and parameters**: the run is named ``<pipeline> · <dataset> · seed <seed>`` (``compare · digits · seeds
  0 1 2`` for a run over seeds); the parameters logged are those that apply to the data set and its input kind
  (:mod:`deep_kmeans.run_record`).
* **tags**: ``dataset``, ``pipeline``, ``device``, ``seed``, ``data_seed``, ``git_commit``, ``host``, ``pid``,
  ``torch_threads``, ``load_average`` (the run also says its threads, and a busy machine, in its log); the
  experiment carries what MLflow 3's UI needs to show its runs (:mod:`deep_kmeans.mlflow_ui`).
* **summary**: a few lines at the end of the run: the scores read back from the MLflow run, the wall time,
  the command that starts the MLflow UI, the links that open it on this run and on the runs table, the files
  the run wrote and ``kedro viz run``.
"""

from __future__ import annotations

import atexit
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import mlflow
from kedro.framework.hooks import hook_impl
from kedro_mlflow.framework.hooks.mlflow_hook import MlflowHook
from mlflow.entities import RunStatus
from mlflow.tracking import MlflowClient

from deep_kmeans.methods.config import command_line_wins  # noqa: F401  (re-exported: its home was here)
from deep_kmeans.errors import tracking_store_problem
from deep_kmeans.mlflow_ui import run_url, runs_url, tags_to_set
from deep_kmeans.pipelines.sweep.nodes import log_metric_records, mark_unfinished_children
from deep_kmeans.run_record import RunInput, applicable_params, run_name, spanned_seeds
from deep_kmeans.session import project_lock

logger = logging.getLogger(__name__)

# The catalog entry through which the sweep's and the tuner's nodes learn the run they open children under.
PARENT_RUN = "parent_run"

# The per-epoch losses a node hands on before the evaluation logs them (``<method>.<phase>_losses``,
# ``<method>.loss_history``), and the metric-history dataset that logs them (``<method>.history``).
_LOSSES = re.compile(r"^(?P<method>[^.]+)\.(?P<phase>\w+_losses|loss_history)$")
_LOGGED = re.compile(r"^(?P<method>[^.]+)\.history$")
_SCORES = re.compile(r"^(?P<method>[^.]+)\.scores$")

SCORES = ("acc", "nmi", "ari")
# Without ground truth (your own data), the evaluation logs internal scores instead, on the input and on z.
LABEL_FREE = tuple(f"{score}_{space}" for space in ("z", "input")
                   for score in ("silhouette", "calinski_harabasz", "davies_bouldin"))
BASELINES = (("init_acc", "K-means on the pretrained z"), ("start_acc", "KNet's start"),
             ("input_kmeans_acc", "K-means on the input"))


def start_described(params: dict, metrics: dict) -> str:
    """Where KNet started, from the run's ``take.knet_init`` (and, for ``auto``, the agreement it chose by)."""
    from deep_kmeans.methods.take.joint import start_name

    return f"KNet's start: {start_name(params.get('take.knet_init'), metrics.get('start_agreement'))}"


class RunTerminated(KeyboardInterrupt):
    """SIGTERM (or SIGHUP), raised in the main thread so that the run unwinds the way Ctrl-C does."""


def git_commit(path: str | Path) -> str:
    """The commit of the project checkout (with ``-dirty`` when it has changes), or ``unknown``."""
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=path, capture_output=True, text=True,
                             timeout=5, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=path,
                               capture_output=True, text=True, timeout=5).stdout.strip()
        return sha + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def process_alive(pid: int, since: float | None = None) -> bool:
    """Whether process ``pid`` of this host still runs (a zombie does not; nor does a process that
    started after ``since``, a Unix time: the pid was reused)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        pass
    except OSError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    try:
        fields = stat.read_text().rsplit(")", 1)[1].split()
        if fields[0] in ("Z", "X"):
            return False
        if since is not None:
            boot = next(float(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines()
                        if line.startswith("btime"))
            started = boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")
            if started > since + 2:
                return False
    except (OSError, IndexError, ValueError, StopIteration):
        pass  # no /proc (macOS): os.kill said it exists
    return True


def _pop_run(run_id: str, status: str) -> None:
    """End ``run_id`` with ``status`` as often as it sits on top of MLflow's stack of active runs."""
    while (active := mlflow.active_run()) is not None and active.info.run_id == run_id:
        mlflow.end_run(status)


def _say(text: str, stream=None) -> None:
    """Print, unless the terminal is gone (SIGHUP): the run's status matters more than the message."""
    try:
        print(text, file=stream or sys.stdout, flush=True)
    except (OSError, ValueError):
        pass


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes}m {secs:02d}s" if minutes else f"{seconds:.1f}s"


class RunHook(MlflowHook):
    """kedro-mlflow's hook, plus honest endings, the parameters that apply, tags and a summary."""

    def __init__(self):
        super().__init__()
        self._open_run: str | None = None  # our run, from its start until kedro-mlflow or we end it
        self._signal: str | None = None
        self._previous_handlers: dict[int, Any] = {}
        self._atexit_registered = False
        self._reset()

    def _reset(self) -> None:
        self._dataset: str | None = None
        self._input = RunInput(None)
        self._seed = None
        self._pipelines: list[str] = []
        self._save_version: str | None = None
        self._project_path = Path.cwd()
        self._started = time.monotonic()
        self._pending: dict[str, dict] = {}  # per-epoch losses handed on but not yet logged, by dataset

    # ---- context and experiment -------------------------------------------------------------------

    @hook_impl
    def after_context_created(self, context) -> None:
        # A run of this process interrupted in-process (Ctrl-C in a notebook) is still on MLflow's stack of
        # active runs: end it before kedro-mlflow would adopt it as "already active".
        self._end_interrupted("KeyboardInterrupt")
        # kedro-mlflow opens the tracking store here; on a new sqlite store, two runs started at once would
        # both create its tables (MLflow's migrations) and one would fail: the store's setup is one at a time.
        with project_lock(Path(context.project_path)):
            try:
                super().after_context_created(context)
            except Exception as err:  # a damaged mlflow.db: named, exit code 2; anything else stays a bug
                problem = tracking_store_problem(err, str(mlflow.get_tracking_uri()))
                if problem is None:
                    raise
                raise problem from err
            if not self._already_active_mlflow:
                self._tag_experiment()

    def _tag_experiment(self) -> None:
        """What MLflow's UI needs to open the experiment on its runs (:mod:`deep_kmeans.mlflow_ui`)."""
        try:
            experiment = self.mlflow_config.tracking.experiment._experiment
            missing = {} if experiment is None else tags_to_set(experiment.tags or {}, experiment.experiment_id)
            for key, value in missing.items():
                self.mlflow_config.server._mlflow_client.set_experiment_tag(experiment.experiment_id, key, value)
        except Exception as err:  # a tracking server that refuses tags: the run matters more
            logger.debug("could not tag the experiment: %s", err)

    # ---- pipeline start -------------------------------------------------------------------------

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline, catalog) -> None:
        from deep_kmeans.runtime import cpu_load, resolve_device

        self._reset()

        def param(name, default=None):
            try:
                return catalog.load(f"params:{name}")
            except Exception:  # a project without that parameter
                return default

        self._dataset = param("dataset")
        self._input = RunInput.of(self._dataset, catalog)
        self._seed = param("seed")
        names = run_params.get("pipeline_names") or [run_params.get("pipeline_name") or "__default__"]
        self._pipelines = [names] if isinstance(names, str) else list(names)
        self._save_version = run_params.get("run_id")
        self._project_path = Path(run_params.get("project_path") or ".")
        run = self.mlflow_config.tracking.run
        if run.name is None and run.id is None and not self._already_active_mlflow:
            run.name = run_name(self._pipelines, self._dataset, self._seed, spanned_seeds(self._pipelines, param))

        super().before_pipeline_run(run_params, pipeline, catalog)
        machine = cpu_load()
        logger.info("Running with %s", machine.describe())
        busy = machine.warning()
        if busy:
            logger.warning(busy)
        if not self._is_mlflow_enabled:
            if PARENT_RUN in pipeline.inputs():
                catalog.save(PARENT_RUN, None)  # the node that needs it says that tracking is off
            return
        try:
            device = str(resolve_device(param("device", "auto")))
        except ValueError as err:  # reported properly by the node that uses the device
            device = f"invalid ({err})"
        mlflow.set_tags({
            "dataset": str(self._dataset),
            "device": device,
            "seed": str(self._seed),
            "data_seed": str(param("data_seed")),
            "pipeline": "+".join(self._pipelines),
            "git_commit": git_commit(self._project_path),
            "host": socket.gethostname(),
            "pid": str(os.getpid()),
            "torch_threads": str(machine.threads),
            "load_average": "unknown" if machine.load is None else f"{machine.load:.2f} on {machine.cores} cores",
            "other_processes_cores": "unknown" if machine.others is None else f"{machine.others:.2f}",
        })
        if PARENT_RUN in pipeline.inputs():
            catalog.save(PARENT_RUN, self._parent_run_record(self._project_path))
        self._mark_dead_runs()
        if not self._already_active_mlflow:
            self._open_run = self.run_id
            self._install_signal_handlers()
            if not self._atexit_registered:
                # Registered after MLflow's own exit handler (which would end the run FINISHED), so it runs first.
                atexit.register(self._at_exit)
                self._atexit_registered = True

    def _mark_dead_runs(self) -> None:
        """End as KILLED every RUNNING run of the experiment whose process on this host is gone."""
        client = self.mlflow_config.server._mlflow_client
        host = socket.gethostname()
        try:
            experiment_id = self.mlflow_config.tracking.experiment._experiment.experiment_id
            stale = client.search_runs([experiment_id], max_results=1000,
                                       filter_string=f"attributes.status = 'RUNNING' and tags.host = '{host}'")
        except Exception as err:
            logger.debug("could not look for dead runs: %s", err)
            return
        for run in stale:
            pid = run.data.tags.get("pid", "")
            if run.info.run_id == self.run_id or not pid.isdigit():
                continue
            if process_alive(int(pid), since=run.info.start_time / 1000):
                continue
            client.set_tag(run.info.run_id, "found_dead",
                           f"process {pid} on {host} was gone when run {self.run_id} started (killed, e.g. SIGKILL, "
                           f"or crashed); marked KILLED then")
            client.set_terminated(run.info.run_id, RunStatus.to_string(RunStatus.KILLED))
            logger.info("Marked MLflow run %s KILLED: its process (pid %s) had died without ending it",
                        run.info.run_id, pid)

    def _parent_run_record(self, project_path: Path) -> dict:
        """What the sweep's and the tuner's nodes need to open child runs in any process: the run id, its
        experiment and an absolute tracking URI (a relative sqlite path would move with a worker's cwd)."""
        uri = str(mlflow.get_tracking_uri())
        if uri.startswith("sqlite:///") and not Path(uri[len("sqlite:///"):]).is_absolute():
            uri = f"sqlite:///{(project_path / uri[len('sqlite:///'):]).resolve()}"
        run = MlflowClient().get_run(self.run_id)
        return {"run_id": self.run_id, "experiment_id": run.info.experiment_id, "tracking_uri": uri,
                "git_commit": run.data.tags.get("git_commit", "unknown")}

    # ---- parameters: the ones that apply ------------------------------------------------------

    @hook_impl
    def before_node_run(self, node, catalog, inputs: dict[str, Any], is_async: bool) -> None:
        applicable = {
            k: applicable_params(k[len("params:"):] if k.startswith("params:") else k, v, self._input)
            if k.startswith("params:") or k == "parameters" else v
            for k, v in inputs.items()
        }
        super().before_node_run(node, catalog, applicable, is_async)

    # ---- losses not yet logged ----------------------------------------------------------------

    @hook_impl
    def after_dataset_saved(self, dataset_name: str, data: Any) -> None:
        match = _LOSSES.match(dataset_name)
        if match and isinstance(data, dict):
            self._pending[dataset_name] = data
        if _SCORES.match(dataset_name) and isinstance(data, dict) and data.get("warning") and mlflow.active_run():
            # a collapsed clustering (fewer clusters used than asked): on the run itself, not only in its files
            mlflow.set_tag("warning", data["warning"])
        match = _LOGGED.match(dataset_name)
        if match:  # the evaluation logged the whole history of that method
            method = match["method"]
            self._pending = {k: v for k, v in self._pending.items() if not k.startswith(f"{method}.")}

    def _log_pending_losses(self, run_id: str) -> None:
        """Log, as metric histories, the per-epoch losses of the phases that finished (what the evaluation
        would have logged at the end); a method's merged ``loss_history`` supersedes its phases."""
        from deep_kmeans.pipelines.evaluation.nodes import history_metrics

        histories: dict[str, dict] = {}
        for name, history in self._pending.items():
            method = _LOSSES.match(name)["method"]
            if name.endswith(".loss_history"):
                histories[method] = dict(history)
            elif f"{method}.loss_history" not in self._pending:
                histories.setdefault(method, {}).update(history)
        self._pending = {}
        records = {key: points for history in histories.values() for key, points in history_metrics(history).items()}
        log_metric_records(MlflowClient(), run_id, records)

    # ---- endings ------------------------------------------------------------------------------

    @hook_impl
    def after_pipeline_run(self, run_params: dict[str, Any], pipeline, catalog) -> None:
        self._restore_signal_handlers()
        run_id = self.run_id if self._is_mlflow_enabled else None
        super().after_pipeline_run(run_params, pipeline, catalog)
        if run_id and not self._already_active_mlflow:
            # kedro-mlflow pushes the run on MLflow's stack once per node and pops it once: pop the rest, or
            # MLflow's exit handler ends it again (a later end time) and a next session in this process logs into it.
            _pop_run(run_id, RunStatus.to_string(RunStatus.FINISHED))
        self._open_run = None
        if run_id:
            self._print_summary(run_id)

    @hook_impl
    def on_pipeline_error(self, error: Exception, run_params: dict[str, Any], pipeline, catalog) -> None:
        self._restore_signal_handlers()
        run_id = self.run_id if self._is_mlflow_enabled else None
        if run_id:
            try:
                self._log_pending_losses(run_id)
                MlflowClient().set_tag(run_id, "error", f"{type(error).__name__}: {error}"[:5000])
                experiment_id = MlflowClient().get_run(run_id).info.experiment_id
                mark_unfinished_children(MlflowClient(), run_id, experiment_id, f"{type(error).__name__}: {error}")
            except Exception as err:
                logger.debug("could not record the error in the run: %s", err)
        super().on_pipeline_error(error, run_params, pipeline, catalog)
        self._open_run = None
        if run_id:
            self._print_summary(run_id)

    def _install_signal_handlers(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        self._signal = None
        # Only where nobody chose another handler: Python's own for SIGINT, the default for SIGTERM.
        wanted = [(signal.SIGINT, signal.default_int_handler), (signal.SIGTERM, signal.SIG_DFL)]
        if hasattr(signal, "SIGHUP"):  # the terminal went away
            wanted.append((signal.SIGHUP, signal.SIG_DFL))
        for signum, default in wanted:
            if signal.getsignal(signum) is default:
                self._previous_handlers[signum] = default
                signal.signal(signum, self._on_signal)

    def _restore_signal_handlers(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for signum, handler in self._previous_handlers.items():
            if signal.getsignal(signum) == self._on_signal:
                signal.signal(signum, handler)
        self._previous_handlers = {}

    def _on_signal(self, signum, frame) -> None:
        self._signal = signal.Signals(signum).name
        self._restore_signal_handlers()  # a second signal acts as it would have
        if signum != signal.SIGINT:
            raise RunTerminated(f"{self._signal} received")
        raise KeyboardInterrupt

    def _at_exit(self) -> None:
        self._end_interrupted(self._signal or "exit during the run")

    def _end_interrupted(self, reason: str) -> None:
        """End our run KILLED if it is still RUNNING: the pipeline was left by a ``KeyboardInterrupt``
        (Ctrl-C, SIGTERM) or a ``SystemExit``, which Kedro hands to no hook."""
        run_id, self._open_run = self._open_run, None
        if run_id is None:
            return
        try:
            client = MlflowClient()
            if client.get_run(run_id).info.status != "RUNNING":
                return
            self._log_pending_losses(run_id)
            client.set_tag(run_id, "ended_by", reason)
            _pop_run(run_id, RunStatus.to_string(RunStatus.KILLED))
            client.set_terminated(run_id, RunStatus.to_string(RunStatus.KILLED))
            self._restore_signal_handlers()
            _say(f"\nInterrupted ({reason}): MLflow run {run_id} marked KILLED; the losses of the finished "
                 f"phases are kept.")
        except Exception as err:  # exiting: say it, do not hide the interruption behind a traceback
            _say(f"\nInterrupted ({reason}): could not mark MLflow run {run_id} KILLED: {err}", sys.stderr)

    # ---- summary --------------------------------------------------------------------------------

    def _ui_lines(self, experiment_id: str, run_id: str) -> list[str]:
        uri = str(self.mlflow_config.server.mlflow_tracking_uri or mlflow.get_tracking_uri())
        if uri.startswith(("http://", "https://")):
            return [f"  open {run_url(uri, experiment_id, run_id)}",
                    f"  every run, with its scores: {runs_url(uri, experiment_id)}"]
        if uri.startswith("sqlite:///"):
            db = Path(uri[len("sqlite:///"):])
            try:
                uri = f"sqlite:///{db.resolve().relative_to(Path.cwd().resolve())}"
            except ValueError:
                pass
        host, port = self.mlflow_config.ui.host or "127.0.0.1", self.mlflow_config.ui.port or "5000"
        # `mlflow` where the environment's one is on PATH, else its path (relative to here when inside)
        exe, mlflow_exe = "mlflow", Path(sys.executable).parent / "mlflow"
        on_path = shutil.which("mlflow")
        if mlflow_exe.exists() and (on_path is None or Path(on_path).resolve() != mlflow_exe.resolve()):
            try:
                exe = str(mlflow_exe.relative_to(Path.cwd()))
            except ValueError:
                exe = str(mlflow_exe)
        options = "" if (host, str(port)) == ("127.0.0.1", "5000") else f" --host {host} --port {port}"
        base = f"http://{host}:{port}"
        return [f"  {exe} ui --backend-store-uri {uri}{options}",
                f"  then open {run_url(base, experiment_id, run_id)}",
                f"  every run, with its scores: {runs_url(base, experiment_id)}"]

    def _written_files(self) -> list[str]:
        """The versioned files this run wrote, grouped by folder: ``<folder>/<file>/<version>/<file>``."""
        if not self._save_version:
            return []
        root = self._project_path / "data"
        by_folder: dict[Path, list[str]] = {}
        for dirpath, dirnames, _ in os.walk(root):
            if self._save_version in dirnames:
                dirnames.remove(self._save_version)
                here = Path(dirpath)
                by_folder.setdefault(here.parent, []).append(here.name)
        width = max((len(str(f.relative_to(self._project_path))) for f in by_folder), default=0) + 2
        return [f"  {str(folder.relative_to(self._project_path)) + '/':<{width}}{', '.join(sorted(files))}"
                for folder, files in sorted(by_folder.items())]

    def _print_summary(self, run_id: str) -> None:
        try:
            run = MlflowClient().get_run(run_id)
        except Exception as err:
            logger.debug("no summary: %s", err)
            return
        metrics = run.data.metrics
        lines = ["", f"{run.info.run_name} — {run.info.status} in {_duration(time.monotonic() - self._started)}"]
        if "error" in run.data.tags:
            lines.append(f"  {run.data.tags['error'].splitlines()[0][:200]}")
        if "warning" in run.data.tags:
            lines.append(f"  WARNING: {run.data.tags['warning']}")
        scores = [f"{k} {metrics[k]:.4f}" for k in SCORES if k in metrics] or [
            f"{k} {metrics[k]:.4g}" for k in LABEL_FREE if k in metrics]
        if scores:
            lines.append("  " + "   ".join(scores))
        described = {"start_acc": start_described(run.data.params, metrics)}
        baselines = [f"{k} {metrics[k]:.4f} ({described.get(k, what)})" for k, what in BASELINES if k in metrics]
        if baselines:
            lines.append("  " + "   ".join(baselines))
        lines.append(f"MLflow run {run_id}")
        lines += self._ui_lines(run.info.experiment_id, run_id)
        files = self._written_files()
        if files:
            lines.append(f"Files of this run (version {self._save_version}):")
            lines += files
            lines += self._reports()
        lines.append("The pipeline, with previews of these files: kedro viz run  (then http://127.0.0.1:4141)")
        print("\n".join(lines), flush=True)

    def _reports(self) -> list[str]:
        """Full paths of this run's Markdown tables and plots under data/08_reporting (a ``compare`` run's table
        and bar plot), with each table printed: what a user opens first."""
        found = sorted((self._project_path / "data" / "08_reporting").glob(f"**/{self._save_version}/*"))
        reports = [f for f in found if f.suffix in (".md", ".png") and f.parent.parent.parent.name == "compare"]
        lines = []
        for f in reports:
            lines.append(f"  {f.relative_to(self._project_path)}")
            if f.suffix == ".md":
                lines += ["", f.read_text().rstrip(), ""]
        return lines
