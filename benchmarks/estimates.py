#!/usr/bin/env python
"""TAKE's training estimate against the training it estimated: three real ``kedro run --pipeline=take`` runs.

    .venv/bin/python benchmarks/estimates.py                  # digits, MNIST-70k (cpu preset), a custom table
    .venv/bin/python benchmarks/estimates.py --quick          # the same three at toy sizes: checks the script

Cases (each a ``kedro run --pipeline=take`` of its own process, the user's route: Kedro, MLflow, the catalog):

- ``digits``: the default run, ``--params=dataset=digits``;
- ``mnist``: all 70,000 MNIST images with the cpu preset, ``--env=offline --params=dataset=mnist,take.preset=cpu``
  (``bash scripts/fetch_offline_data.sh`` puts MNIST in ``data/01_raw/mnist``);
- ``custom``: a table this script writes (20,000 rows × 24 columns, 6 Gaussian blobs, with a label column) to
  ``benchmarks/cache/estimates_table.csv``, ``--params=dataset=custom,custom.path=...,custom.label_column=label``.

For each, the estimate is what the run's ``warn_if_long`` returned (the figure the run printed), and the actual
times are the run's own nodes: pretraining = the ``take_pretrain`` node less the estimate's own probe; the rest
= ``take_kmeans_init`` + ``take_cluster`` (encoding, K-means on z, the UMAP + GMM head, the joint epochs). A ratio
is estimate / actual: within 2× is 0.5 to 2. The load average before and after each run says how busy the
machine was.

Under load: ``--load N`` keeps N busy processes (each a Python loop that holds one core) running from
``--load-lead`` seconds (default 60: the load average has risen, as on a machine that was busy before the run
started) before each case until it ends, so the estimate and the training it estimates meet the same load.

Threads: ``--threads N`` runs each case with ``OMP_NUM_THREADS=N`` (the run's torch threads). Beside busy
processes, two threads can be tens of times slower than one, so the run's estimate also times one thread
(``one_thread``), and ``--threads 1`` measures that alternative to the end.

Runs too long to finish: ``--stop-after S`` stops each case after S seconds (SIGTERM: MLflow marks the run KILLED)
and compares per epoch instead: each phase's estimated seconds per epoch (its batches × the step it timed) against
the median of the epochs the run finished, from a timer around the project's own epoch loops (the case's JSON is
rewritten after every epoch).

Writes ``benchmarks/results/estimates[-load<N>][-threads<N>]-<date>.md`` and ``.json`` (``--out-dir`` elsewhere) and
prints the table.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402  (sets up the import path of the project's src/)
from kedro.framework.hooks import hook_impl  # noqa: E402

CASES = ("digits", "mnist", "custom")
TABLE_ROWS, TABLE_COLUMNS, TABLE_BLOBS = 20_000, 24, 6
QUICK_TABLE_ROWS = 2_000
# --quick: toy sizes that finish in seconds each (the script's check, not a measurement)
QUICK_TAKE = {"warmup_epochs": 2, "update_epochs": 1, "cluster_epochs": 1}


def table(path: Path, rows: int) -> Path:
    """The custom case's table: ``rows`` × 24 columns around 6 Gaussian centres, and the blob as ``label``."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    labels = rng.integers(TABLE_BLOBS, size=rows)
    centres = rng.normal(scale=4.0, size=(TABLE_BLOBS, TABLE_COLUMNS))
    x = centres[labels] + rng.normal(size=(rows, TABLE_COLUMNS))
    frame = pd.DataFrame(x, columns=[f"f{i}" for i in range(TABLE_COLUMNS)]).assign(label=labels)
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)
    return path


def case_run(case: str, quick: bool) -> tuple[str | None, dict]:
    """The environment and the runtime parameters of one case (what ``--env`` and ``--params`` say)."""
    params: dict = {"progress": False}
    env = None
    if case == "digits":
        params["dataset"] = "digits"
        if quick:
            params["data"] = {"options": {"digits": {"n_samples": 300}}}
            params["take"] = {"overrides": {"digits": QUICK_TAKE}}
    elif case == "mnist":
        env = "offline"
        params.update(dataset="mnist", take={"preset": "cpu"})
        if quick:
            params["data"] = {"options": {"mnist": {"n_samples": 1000}}}
            params["take"]["presets"] = {"cpu": {"overrides": {"mnist": QUICK_TAKE}}}
    elif case == "custom":
        path = table(C.REPO / "benchmarks" / "cache" / f"estimates_table{'_quick' if quick else ''}.csv",
                     QUICK_TABLE_ROWS if quick else TABLE_ROWS)
        params.update(dataset="custom", custom={"path": str(path), "label_column": "label"})
        if quick:
            params["take"] = {"overrides": {"custom": QUICK_TAKE}}
    else:
        raise SystemExit(f"unknown case {case!r}: one of {', '.join(CASES)}")
    return env, params


class NodeTimes:
    """A Kedro hook: the wall seconds of every node of the run."""

    def __init__(self):
        self.started: dict[str, float] = {}
        self.seconds: dict[str, float] = {}

    @hook_impl
    def before_node_run(self, node) -> None:
        self.started[node.name] = time.perf_counter()

    @hook_impl
    def after_node_run(self, node) -> None:
        self.seconds[node.name] = time.perf_counter() - self.started.pop(node.name)


class TimedBar:
    """Wraps a phase's epoch bar: the wall seconds of every epoch go to ``record(phase, epoch, seconds)``."""

    def __init__(self, bar, phase: str, record):
        self.bar, self.phase, self.record = bar, phase, record

    def __iter__(self):
        for epoch in self.bar:
            start = time.perf_counter()
            yield epoch
            self.record(self.phase, epoch, time.perf_counter() - start)

    def __getattr__(self, name):
        return getattr(self.bar, name)


def child(case: str, quick: bool, out: Path) -> None:
    """One case in this process: the run, its estimate (as ``warn_if_long`` returned it), its epochs' and its
    nodes' times. The JSON is written after the estimate and after every epoch (a stopped run leaves its part)."""
    import importlib

    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    from deep_kmeans.pipelines.take import nodes

    estimates: list[dict] = []
    epochs: dict[str, list[float]] = {"pretrain": [], "cluster": []}
    warn_if_long = nodes.warn_if_long
    env, params = case_run(case, quick)

    def partial() -> None:
        C.write_json(out, {"case": case, "env": env, "params": params, "estimate": estimates[0] if estimates else None,
                           "epochs": epochs, "partial": True, "threads": os.environ.get("OMP_NUM_THREADS")})

    def recorded(*args, **kwargs):  # the run's own estimate, and how long the estimating itself took
        start = time.perf_counter()
        estimate = warn_if_long(*args, **kwargs)
        estimates.append({**estimate, "machine": vars(estimate["machine"]),
                          "estimating_seconds": time.perf_counter() - start})
        partial()
        return estimate

    def epoch_done(phase: str, epoch: int, seconds: float) -> None:
        epochs[phase].append(seconds)
        partial()

    for module, phase in (("pretrain", "pretrain"), ("joint", "cluster")):
        loop = importlib.import_module(f"deep_kmeans.methods.take.{module}")
        loop.epoch_bar = (lambda bar, phase: lambda *a, **kw: TimedBar(bar(*a, **kw), phase, epoch_done))(
            loop.epoch_bar, phase)

    nodes.warn_if_long = recorded
    timer = NodeTimes()
    load_before = os.getloadavg()[0]
    bootstrap_project(C.REPO)
    start = time.perf_counter()
    with KedroSession.create(project_path=C.REPO, env=env, runtime_params=params) as session:
        session._hook_manager.register(timer)
        session.run(pipeline_names=["take"])
    wall = time.perf_counter() - start
    [estimate] = estimates
    t = timer.seconds
    actual_pretrain = t["take_pretrain"] - estimate["estimating_seconds"]
    actual_rest = t["take_kmeans_init"] + t["take_cluster"]
    C.write_json(out, {"case": case, "env": env, "params": params, "estimate": estimate, "node_seconds": t,
                       "actual": {"pretrain": actual_pretrain, "rest": actual_rest,
                                  "total": actual_pretrain + actual_rest},
                       "epochs": epochs, "threads": os.environ.get("OMP_NUM_THREADS"),
                       "run_seconds": wall, "load_before": load_before, "load_after": os.getloadavg()[0]})


def seconds(value: float) -> str:
    return f"{value:.0f} s" if value >= 10 else f"{value:.1f} s"


def pair(estimate: float, actual: float) -> str:
    """``12 s / 10 s (1.20)``: estimate, actual and their ratio."""
    return f"{seconds(estimate)} / {seconds(actual)} ({ratio(estimate, actual)})"


def ratio(estimate: float, actual: float) -> str:
    if actual <= 0:
        return "—"
    r = estimate / actual
    return f"{r:.2f}" + ("" if 0.5 <= r <= 2.0 else " ✗")


def markdown(results: list[dict]) -> str:
    head = ("| case | rows | epochs w/u/c | measured on | pretraining est. / actual (ratio) | start + clustering "
            "est. / actual (ratio) | training est. / actual (ratio) | load before → after |\n"
            "|---|---:|---|---|---|---|---|---|")
    lines = [head]
    for r in results:
        if r.get("partial"):
            continue
        if "error" in r:
            lines.append(f"| {r['case']} | | | | failed: {r['error']} | | | |")
            continue
        e, a, m = r["estimate"], r["actual"], r["estimate"]["machine"]
        rest = e["start"] + e["cluster"]
        cfg = "/".join(map(str, e["epochs"]))
        load = "n/a" if m["load"] is None else f"{m['load']:.1f}"
        spread = e["steps"]["spread"]
        load += f", steps swung {spread:.0f}x" if spread >= 4 else ""
        threads = f"{m['threads']} thread{'s' if m['threads'] != 1 else ''}"
        lines.append(f"| {r['case']} | {e['rows']:,} | {cfg} | {e['device']}, {threads}, {m['cores']} cores, "
                     f"load {load} | {pair(e['pretrain'], a['pretrain'])} | {pair(rest, a['rest'])} "
                     f"| {pair(e['total'], a['total'])}{one_thread(e)} "
                     f"| {r['load_before']:.1f} → {r['load_after']:.1f} |")
    stopped = [r for r in results if r.get("partial") and r.get("estimate")]
    if stopped:
        lines += ["", "Stopped runs, per epoch: the estimate's seconds per epoch of each phase / the median of the "
                  "epochs the run finished (how many) (ratio).", "",
                  "| case | measured on | warm-up epoch | update epoch | clustering epoch | training est. | "
                  "with one thread est. |", "|---|---|---|---|---|---|---|"]
        lines += [stopped_line(r) for r in stopped]
    return "\n".join(lines)


def one_thread(estimate: dict) -> str:
    """``; one thread est. 20 s`` where the estimate also timed one thread (a loaded machine), else nothing."""
    one = estimate.get("one_thread")
    return f"; one thread est. {seconds(one['total'])}" if one else ""


def per_epoch(estimate: dict) -> dict[str, float]:
    """The estimate's seconds per epoch of each phase: its batches × the step it timed (no per-epoch extras: the
    clustering epoch's z, K-means and refit are spread from its total)."""
    steps, (w, u, c) = estimate["steps"], estimate["epochs"]
    batches = estimate["rows"] / steps["batch"]
    return {"warm-up": batches * steps["warmup"], "update": batches * steps["update"],
            "clustering": estimate["cluster"] / c if c else 0.0}


def stopped_line(r: dict) -> str:
    e, m = r["estimate"], r["estimate"]["machine"]
    w = e["epochs"][0]
    pre, cluster = r["epochs"]["pretrain"], r["epochs"]["cluster"]
    done = {"warm-up": pre[:w], "update": pre[w:], "clustering": cluster}
    expected = per_epoch(e)
    cells = []
    for phase in ("warm-up", "update", "clustering"):
        if done[phase]:
            actual = float(sorted(done[phase])[len(done[phase]) // 2])
            cells.append(f"{seconds(expected[phase])} / {seconds(actual)} ({len(done[phase])}) "
                         f"({ratio(expected[phase], actual)})")
        else:
            cells.append(f"{seconds(expected[phase])} / —")
    one = e.get("one_thread")
    threads = f"{m['threads']} thread{'s' if m['threads'] != 1 else ''}"
    others = "" if m.get("others") is None else f", others busy on {m['others']:.1f} cores"
    return (f"| {r['case']} | {e['device']}, {threads}, {m['cores']} cores{others} | {' | '.join(cells)} "
            f"| {seconds(e['total'])} | {seconds(one['total']) if one else '—'} |")


def run_case(command: list[str], env: dict, stop_after: float | None) -> int:
    """Runs one case's child; after ``stop_after`` seconds, stops it with SIGTERM (the run ends KILLED in MLflow;
    not SIGINT: a shell's background job ignores it). Returns its exit code."""
    child = subprocess.Popen(command, cwd=C.REPO, env=env)
    try:
        return child.wait(timeout=stop_after)
    except subprocess.TimeoutExpired:
        child.send_signal(signal.SIGTERM)
        try:
            return child.wait(timeout=120)
        except subprocess.TimeoutExpired:
            child.kill()
            return child.wait()


@contextlib.contextmanager
def busy_processes(n: int, lead: float):
    """``n`` processes that each hold a core, started ``lead`` seconds before the block and killed after it."""
    burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]
    try:
        if burners:
            time.sleep(lead)
        yield
    finally:
        for burner in burners:
            burner.kill()
            burner.wait()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", nargs="+", default=list(CASES), choices=CASES)
    ap.add_argument("--quick", action="store_true", help="toy sizes: checks that the script works, measures nothing")
    ap.add_argument("--load", type=int, default=0, help="busy processes beside each case (default 0: idle)")
    ap.add_argument("--load-lead", type=float, default=60.0, help="seconds the load runs before each case")
    ap.add_argument("--threads", type=int, default=None, help="OMP_NUM_THREADS for each case (default: unset)")
    ap.add_argument("--stop-after", type=float, default=None,
                    help="stop each case after this many seconds and compare per epoch (default: run to the end)")
    ap.add_argument("--out-dir", type=Path, default=C.REPO / "benchmarks" / "results")
    ap.add_argument("--child", choices=CASES, help=argparse.SUPPRESS)
    ap.add_argument("--json", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, args.quick, args.json)
        return 0
    results = []
    for case in args.cases:
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "case.json"
            command = [sys.executable, __file__, "--child", case, "--json", str(out)]
            command += ["--quick"] if args.quick else []
            print(f"{case}: {' '.join(command[1:])}" + (f" beside {args.load} busy processes" if args.load else ""),
                  flush=True)
            env = dict(os.environ, **({"OMP_NUM_THREADS": str(args.threads)} if args.threads else {}))
            with busy_processes(args.load, args.load_lead):
                returncode = run_case(command, env, args.stop_after)
            result = json.loads(out.read_text()) if out.exists() else None
            if result is None or (returncode and not result.get("partial")):
                results.append({"case": case, "error": f"exit code {returncode}"})
                continue
        results.append(result)
    table_md = markdown(results)
    print("\n" + table_md)
    stem = (f"estimates{'-quick' if args.quick else ''}{f'-load{args.load}' if args.load else ''}"
            f"{f'-threads{args.threads}' if args.threads else ''}-{C.today()}")
    (args.out_dir).mkdir(parents=True, exist_ok=True)
    (args.out_dir / f"{stem}.md").write_text(table_md + "\n")
    C.write_json(args.out_dir / f"{stem}.json", {"provenance": C.provenance("auto"), "results": results})
    print(f"\nwritten: {args.out_dir / stem}.md and .json")
    return 0 if all("error" not in r for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
