"""kedro-viz as a user sees it, in a real headless browser: every pipeline draws, datasets show their file
path, and the plots, tables and scores preview. Saves screenshots to data/08_reporting/viz_check/.

    pip install -e ".[ui-check]" && apt-get install chromium   # once (Playwright drives the system's Chromium)
    kedro run --pipeline=take                                   # so there is something to preview
    python scripts/viz_check.py [--chromium /usr/bin/chromium] [--port 4142]

Exits 1 and names what is missing when a check fails. The kedro-viz server it starts (and the child process that
serves for it) is stopped when it ends, whether the check passed or failed.
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _browser import Server, fresh_browser, require_playwright, run_check  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
# dataset → what kedro-viz must show for it
EXPECTED = {"take.confusion_plot": "ImagePreview", "take.embedding_plot": "ImagePreview",
            "take.assignments_table": "TablePreview", "take.scores": "JSONPreview"}


def api(port: int, path: str):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=30) as r:
        return json.load(r)


def dismiss_hints(page) -> None:
    """Close kedro-viz's first-visit tour (its "feature hints"), which would cover part of the flowchart."""
    close = page.locator(".feature-hints__header button, .feature-hints [class*='close']")
    if close.count():
        try:
            close.first.click(timeout=2000)
        except Exception:  # noqa: BLE001 - gone or hidden: nothing to close
            pass
        page.wait_for_timeout(500)


def visit(browser, url: str, shot: Path):
    """A fresh page on ``url`` (kedro-viz reads its URL parameters only when the app starts), screenshotted."""
    page = browser.new_page()
    page.goto(url)
    page.wait_for_timeout(5000)
    dismiss_hints(page)
    page.screenshot(path=str(shot))
    return page


def check(port: int, chromium: str | None, out: Path) -> list[str]:
    """Every check against the running server: the problems found (none: passed)."""
    problems = []
    main_graph = api(port, "/api/main")
    nodes = {n["name"]: n for n in main_graph["nodes"]}
    pipelines = [p["id"] for p in main_graph["pipelines"]]
    print(f"{len(pipelines)} pipelines: {', '.join(pipelines)}")
    for name, kind in EXPECTED.items():
        if name not in nodes:
            problems.append(f"{name}: not in the graph")
            continue
        meta = api(port, f"/api/nodes/{nodes[name]['id']}")
        path, preview_type = meta.get("filepath"), meta.get("preview_type")
        print(f"{name:28} {preview_type or '-':13} {path or 'File Path N/A'}")
        if not path:
            problems.append(f"{name}: no file path")
        if preview_type != kind or not meta.get("preview"):
            problems.append(f"{name}: preview {preview_type!r}, expected {kind} with data (run the pipeline first)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p, fresh_browser(p, chromium) as browser:
        # kedro-viz's URL: pid = pipeline, sid = selected node, expandAllPipelines opens the namespaces
        # (take.evaluate) that are otherwise drawn as one box each; the sweep stays collapsed, one box per
        # copy (sweep.<method>_s<seed>): expanded, its ~650 elements are more than a screen can show
        base = f"http://127.0.0.1:{port}/?expandAllPipelines=true"
        for pipeline in ("take", "kmeans", "compare"):
            visit(browser, f"{base}&pid={pipeline}", out / f"pipeline_{pipeline}.png").close()
        visit(browser, f"http://127.0.0.1:{port}/?pid=sweep", out / "pipeline_sweep.png").close()
        node_id = nodes["take.confusion_plot"]["id"] if "take.confusion_plot" in nodes else None
        if node_id:
            page = visit(browser, f"{base}&pid=take&sid={node_id}", out / "take_confusion_plot_selected.png")
            if page.locator("img").count() == 0:
                problems.append("take.confusion_plot: the browser shows no image in the metadata panel")
    print(f"screenshots in {out}/")
    return problems


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--chromium", default=None, help="the Chromium to drive (default: chromium on PATH)")
    ap.add_argument("--port", type=int, default=4142)
    ap.add_argument("--project", type=Path, default=ROOT, help="the project to show (default: this checkout)")
    ap.add_argument("--out", type=Path, default=None,
                    help="screenshots (default: <project>/data/08_reporting/viz_check)")
    args = ap.parse_args()
    require_playwright()
    out = args.out or args.project / "data" / "08_reporting" / "viz_check"
    out.mkdir(parents=True, exist_ok=True)
    kedro = Path(sys.executable).parent / "kedro"
    server = Server([str(kedro), "viz", "run", "--no-browser", "--host", "127.0.0.1", "--port", str(args.port)],
                    url=f"http://127.0.0.1:{args.port}/api/main", port=args.port, cwd=args.project,
                    log=out / "kedro_viz.log")
    return run_check("viz_check", server, lambda: check(args.port, args.chromium, out))


if __name__ == "__main__":
    sys.exit(main())
