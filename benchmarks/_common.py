"""What both benchmark scripts share: import path, provenance, configuration files, output files.

Nothing here changes the project; it only reads ``conf/base`` and ``src/`` and writes under
``benchmarks/results`` (or ``--out-dir``).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO / "src") not in sys.path:  # run from a checkout without `pip install -e .` (the GPU machine)
    sys.path.insert(0, str(REPO / "src"))


def today() -> str:
    return _dt.date.today().isoformat()


def now() -> str:
    return _dt.datetime.now().isoformat(timespec="seconds")


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def tree_sha256(*folders: str) -> str:
    """sha256 over the paths and bytes of every file under ``folders`` (``.py``/``.yml``), sorted.

    Identifies the code that ran also where there is no ``.git`` (the GPU machine gets a copy of
    the working tree) and when the tree has uncommitted changes.
    """
    h = hashlib.sha256()
    for folder in folders:
        for path in sorted((REPO / folder).rglob("*")):
            if path.is_file() and path.suffix in (".py", ".yml", ".yaml") and "__pycache__" not in path.parts:
                h.update(str(path.relative_to(REPO)).encode() + b"\0")
                h.update(path.read_bytes())
    return h.hexdigest()


def git_commit() -> dict:
    """HEAD and whether src/ or conf/ differ from it; ``DEEP_KMEANS_COMMIT`` where there is no .git."""
    commit = _git("rev-parse", "HEAD")
    if commit is None:
        return {"commit": os.environ.get("DEEP_KMEANS_COMMIT", "unknown"), "source": "DEEP_KMEANS_COMMIT env",
                "dirty_paths": os.environ.get("DEEP_KMEANS_DIRTY", "unknown")}
    status = _git("status", "--porcelain", "--", "src", "conf") or ""
    # "XY path" lines; _git strips the output, so the first line may have lost its leading blank:
    # split off the status field instead of slicing at a fixed column.
    return {"commit": commit, "source": "git",
            "dirty_paths": [line.split(None, 1)[1] for line in status.splitlines() if line.strip()]}


def device_info(device: str) -> dict:
    import torch

    from deep_kmeans.runtime import resolve_device

    dev = resolve_device(device)
    info = {"device": str(dev), "torch_threads": torch.get_num_threads(), "cpu_count": os.cpu_count(),
            "cpu": _cpu_model(), "platform": platform.platform()}
    if dev.type == "cuda":
        p = torch.cuda.get_device_properties(dev)
        info.update(gpu=p.name, gpu_memory_gib=round(p.total_memory / 2**30, 1), cuda=torch.version.cuda,
                    multiprocessors=p.multi_processor_count)
    return info


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def versions() -> dict:
    import numpy
    import scipy
    import sklearn
    import torch

    import deep_kmeans

    v = {"python": platform.python_version(), "torch": torch.__version__, "numpy": numpy.__version__,
         "scipy": scipy.__version__, "scikit-learn": sklearn.__version__, "deep_kmeans": deep_kmeans.__version__}
    try:
        import clustpy

        v["clustpy"] = clustpy.__version__
    except Exception:  # noqa: BLE001 - optional
        pass
    return v


def provenance(device: str) -> dict:
    return {
        "date": now(),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "versions": versions(),
        "git": git_commit(),
        "src_conf_sha256": tree_sha256("src/deep_kmeans", "conf/base"),
        "machine": device_info(device),
        "host": platform.node(),
    }


def load_conf(name: str, env: str | None = None) -> dict:
    """``conf/base/parameters_<name>.yml`` as a dict (plain YAML: these files hold no resolvers), with the
    ``<name>`` key of ``conf/<env>/parameters*.yml`` deep-merged over it, as the project's soft merge does."""
    import yaml

    path = REPO / "conf" / "base" / f"parameters_{name}.yml"
    conf = yaml.safe_load(path.read_text()) or {}
    if env:
        folder = REPO / "conf" / env
        if not folder.is_dir():
            raise SystemExit(f"no configuration environment conf/{env}")
        for extra in sorted(folder.glob("parameters*.yml")):
            layer = yaml.safe_load(extra.read_text()) or {}
            if name in layer:
                conf = _deep_merge(conf, {name: layer[name]})
    return conf


def _deep_merge(base: dict, top: dict) -> dict:
    out = dict(base)
    for key, value in top.items():
        out[key] = _deep_merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=1, default=_json_default))
    tmp.replace(path)


def _json_default(o):
    import numpy as np

    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    return repr(o)


def fmt(mean: float | None, std: float | None = None, digits: int = 4) -> str:
    if mean is None:
        return "—"
    return f"{mean:.{digits}f}" if std is None else f"{mean:.{digits}f} ± {std:.{digits}f}"


# ---- the project's config helpers (Kedro-free, so they import on the GPU machine too) -------------

from deep_kmeans.data.loaders import raw_dir_for  # noqa: E402
from deep_kmeans.methods.config import params_for, resolve_n_clusters  # noqa: E402

HELPERS = "deep_kmeans.methods.config, deep_kmeans.data.loaders"
