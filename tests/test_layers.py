"""The package's layers import only downward (docs/architecture.md).

runtime, store → data → features → models → methods / evaluation → io → pipelines → the Kedro entry points.
Nothing below io (the Kedro datasets) imports Kedro, and models/ holds torch modules only: no training
loops from methods/, no scikit-learn K-means.
"""

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "deep_kmeans"

RANK = {"runtime": 0, "store": 0, "errors": 0, "__init__": 0, "data": 1, "features": 2, "models": 3, "methods": 4,
        "evaluation": 4, "io": 5, "serving": 5, "pipelines": 6, "hooks": 7, "catalog_hooks": 7, "runners": 7,
        "settings": 7, "pipeline_registry": 7, "__main__": 7, "schema": 7, "cli": 7, "checkpoint_cli": 7,
        "session": 7, "ledger": 7, "run_record": 7, "mlflow_ui": 7}


def layer(module: str) -> str:
    """``deep_kmeans.methods.take`` → ``methods``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def imports(path: Path) -> list[tuple[int, str]]:
    """Every absolute module a file imports (at any depth: lazy imports count), with its line."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.append((node.lineno, node.module))
        elif isinstance(node, ast.ImportFrom) and node.level:  # relative: stays in its own package
            pass
    return out


FILES = sorted(p for p in SRC.rglob("*.py") if "__pycache__" not in p.parts)


def module_of(path: Path) -> str:
    rel = path.relative_to(SRC.parent).with_suffix("")
    return ".".join(rel.parts)


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(SRC)))
def test_imports_only_downward(path):
    own = layer(module_of(path))
    bad = []
    for line, name in imports(path):
        if name.startswith("deep_kmeans."):
            target = layer(name)
            if RANK.get(target, 99) > RANK[own]:
                bad.append(f"line {line}: {own} imports {name} ({target} is above {own})")
            if own == "models" and target == "evaluation":
                bad.append(f"line {line}: models imports {name}")
        if RANK[own] < RANK["io"] and (name == "kedro" or name.startswith(("kedro.", "kedro_"))):
            bad.append(f"line {line}: {own} imports {name} (only io/ and pipelines/ may use Kedro)")
        if own == "models" and (name.startswith(("sklearn.cluster", "tqdm")) or name.startswith("deep_kmeans.methods")):
            bad.append(f"line {line}: models imports {name} (training belongs in methods/)")
    assert not bad, "\n".join(bad)


def test_every_family_method_has_one_module_and_one_pipeline():
    methods = {p.stem for p in (SRC / "methods").glob("*.py")} - {"__init__", "kit", "config", "autoencoder",
                                                                   "distributed"}
    pipelines = {p.name for p in (SRC / "pipelines").iterdir() if (p / "pipeline.py").exists()}
    conf = {p.stem.removeprefix("parameters_") for p in (SRC.parents[1] / "conf" / "base").glob("parameters_*.yml")}
    assert methods, "no methods found"
    assert methods <= pipelines, f"methods without a pipeline folder: {sorted(methods - pipelines)}"
    assert methods <= conf, f"methods without conf/base/parameters_<name>.yml: {sorted(methods - conf)}"
