"""MLflow's UI as a first-time user meets it, in a real headless browser with a fresh profile: the links a run
prints open the runs table with the scores as columns and a TAKE run's page, and MLflow's compare page shows the
plots two runs share. Saves screenshots to data/08_reporting/mlflow_check/.

    pip install -e ".[ui-check]" && apt-get install chromium   # once (Playwright drives the system's Chromium)
    kedro run --pipeline=take && kedro run --pipeline=take --params=seed=1   # two runs to compare
    python scripts/mlflow_check.py [--backend-store-uri sqlite:///mlflow.db] [--port 5055] [--chromium PATH]

Also records, without failing on it, where MLflow's own entry points land (its home page, ``#/experiments/<id>``):
in MLflow 3.17 a fresh browser lands on the GenAI overview there, whatever the experiment's tags say, which is
why a run prints the links this script follows (deep_kmeans.mlflow_ui). Exits 1 and names what is missing when a
check fails; the ``mlflow ui`` server it starts, children included, is stopped when it ends, pass or fail.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _browser import Server, fresh_browser, require_playwright, run_check  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))  # a checkout without `pip install -e .`
from deep_kmeans.mlflow_ui import SCORE_COLUMNS, compare_url, run_url, runs_url  # noqa: E402

PLOTS = ("confusion.png", "embedding.png", "losses.png")
NOTE_LINK = "open the runs with their scores"  # the link in the experiment's description (mlflow_ui.experiment_tags)
SETTLE_MS = 8000  # MLflow's app fetches the experiment, then its runs, then redraws


def runs_to_show(uri: str) -> tuple[str, list]:
    """The experiment ``deep_kmeans`` and its finished TAKE runs, newest first."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("deep_kmeans")
    if experiment is None:
        raise SystemExit(f"mlflow_check: no experiment deep_kmeans in {uri}: run `kedro run --pipeline=take` first")
    runs = client.search_runs([experiment.experiment_id], "attributes.status = 'FINISHED' and tags.pipeline = 'take'",
                              order_by=["attributes.start_time DESC"])
    if not runs:
        raise SystemExit(f"mlflow_check: no finished TAKE run in {uri}: run `kedro run --pipeline=take` first")
    return experiment.experiment_id, runs


def open_page(playwright, chromium, url: str, shot: Path, click: str | None = None, show: str | None = None,
              then_click: str | None = None, then_shot: Path | None = None, search: tuple[str, str] | None = None):
    """``url`` in a fresh browser: (the URL it settled on, the page's text, its column headers); screenshotted after
    a click on the text ``click`` and scrolled to the text ``show`` where given (MLflow's pages scroll in a panel).
    With ``then_click``: screenshotted, then the link of that text followed, and what it opens returned (and
    screenshotted to ``then_shot``). ``search``: (a search box's placeholder, what to type in it), shown."""
    with fresh_browser(playwright, chromium) as browser:
        page = browser.new_page()
        page.goto(url)
        page.wait_for_timeout(SETTLE_MS)
        if then_click:
            page.screenshot(path=str(shot))
            got_it = page.get_by_role("button", name="Got it")  # MLflow's first-visit tip covers the page, as a user
            if got_it.count():                                 # would close it first
                got_it.first.click()
                page.wait_for_timeout(500)
            with browser.expect_page() as opened:  # MLflow opens a description's links in a new tab
                page.get_by_text(then_click).first.click()
            page = opened.value
            page.wait_for_timeout(SETTLE_MS)
            shot = then_shot
        if search and page.get_by_placeholder(search[0]).count():
            box = page.get_by_placeholder(search[0]).first
            box.fill(search[1])
            box.evaluate("e => e.scrollIntoView({block: 'start'})")  # the filtered rows below it on screen
            page.wait_for_timeout(2000)
        for text, act in ((click, "click"), (show, "show")):
            found = page.get_by_text(text, exact=True) if text else None
            if found is not None and found.count():
                found.first.scroll_into_view_if_needed()
                if act == "click":  # an event, not a pointer: MLflow's side panels lie over the file list
                    found.first.dispatch_event("click")
                page.wait_for_timeout(3000)
        page.screenshot(path=str(shot))
        headers = list(dict.fromkeys(h.strip() for h in page.locator("[role=columnheader]").all_inner_texts()))
        return page.url, page.inner_text("body"), headers


def check(base: str, uri: str, chromium: str | None, out: Path) -> list[str]:
    from playwright.sync_api import sync_playwright

    experiment_id, runs = runs_to_show(uri)
    take_run = runs[0]
    problems = []
    with sync_playwright() as p:
        landed, text, _ = open_page(p, chromium, f"{base}/", out / "mlflow_home_default.png")
        print(f"MLflow's own home page lands on {landed}  (informative: MLflow decides)")
        if NOTE_LINK not in text:
            problems.append("the home page's list of experiments does not say where the runs are")
        # MLflow's own link to the experiment, then the link in the experiment's description
        url = f"{base}/#/experiments/{experiment_id}"
        landed, text, headers = open_page(p, chromium, url, out / "mlflow_experiment_default.png",
                                          then_click=NOTE_LINK, then_shot=out / "mlflow_experiment_description_link.png")
        print(f"MLflow's own experiment link {url}, then the description's link, lands on {landed}\n"
              f"  columns: {', '.join(h for h in headers if h)}")
        if [m for m in SCORE_COLUMNS if m not in headers]:
            problems.append(f"the experiment description's link did not open the runs with their scores: {landed}")

        landed, text, headers = open_page(p, chromium, runs_url(base, experiment_id), out / "mlflow_runs.png")
        print(f"runs table: {landed}\n  columns: {', '.join(h for h in headers if h)}")
        missing = [m for m in SCORE_COLUMNS if m not in headers]
        if missing:
            problems.append(f"the runs table has no column {', '.join(missing)} (columns: {headers})")
        if take_run.info.run_name not in text:
            problems.append(f"the runs table does not list the run {take_run.info.run_name!r}")
        if "/runs" not in landed or "overview" in landed:
            problems.append(f"the runs link landed on {landed}, not the runs table")

        landed, text, _ = open_page(p, chromium, run_url(base, experiment_id, take_run.info.run_id),
                                    out / "mlflow_take_run.png", search=("Search metrics", "acc"))
        print(f"TAKE run {take_run.info.run_name} ({take_run.info.run_id}): {landed}")
        acc = take_run.data.metrics.get("acc")
        if take_run.info.run_name not in text or "Metrics" not in text:
            problems.append("the run page shows no run name or no metrics")
        if "workflowType=machine_learning" not in landed:
            problems.append(f"the run link landed outside the model-training view: {landed}")
        if acc is not None and repr(acc)[:6] not in text:  # as MLflow prints it: every digit, not rounded
            problems.append(f"the run page does not show its acc {acc!r}")

        same = [r for r in runs[1:] if r.data.tags.get("dataset") == take_run.data.tags.get("dataset")]
        if same or len(runs) >= 2:  # two runs of one data set where there are, the same plots then
            pair = [take_run.info.run_id, (same or runs[1:])[0].info.run_id]
            landed, text, _ = open_page(p, chromium, compare_url(base, experiment_id, pair), out / "mlflow_compare.png",
                                        click=PLOTS[0], show="Artifacts")
            print(f"compare {pair}: {landed}")
            if "No common artifacts" in text:
                problems.append("the compare page says 'No common artifacts'")
            missing = [f for f in PLOTS if f not in text]
            if missing:
                problems.append(f"the compare page does not list the shared plots {', '.join(missing)}")
        else:
            print("compare: one TAKE run only; run a second (--params=seed=1) to check the compare page")
    print(f"screenshots in {out}/")
    return problems


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backend-store-uri", default=None, help="default: sqlite:///<project>/mlflow.db")
    ap.add_argument("--project", type=Path, default=ROOT, help="the project whose runs to show (default: here)")
    ap.add_argument("--port", type=int, default=5055)
    ap.add_argument("--chromium", default=None, help="the Chromium to drive (default: chromium on PATH)")
    ap.add_argument("--out", type=Path, default=None,
                    help="screenshots (default: <project>/data/08_reporting/mlflow_check)")
    args = ap.parse_args()
    require_playwright()
    uri = args.backend_store_uri or f"sqlite:///{(args.project / 'mlflow.db').resolve()}"
    out = args.out or args.project / "data" / "08_reporting" / "mlflow_check"
    out.mkdir(parents=True, exist_ok=True)
    mlflow = Path(sys.executable).parent / "mlflow"
    base = f"http://127.0.0.1:{args.port}"
    server = Server([str(mlflow), "ui", "--backend-store-uri", uri, "--host", "127.0.0.1", "--port", str(args.port)],
                    url=f"{base}/health", port=args.port, cwd=args.project, log=out / "mlflow_ui.log")
    return run_check("mlflow_check", server, lambda: check(base, uri, args.chromium, out))


if __name__ == "__main__":
    sys.exit(main())
